"""Near-duplicates: which texts tell the same story in other words (wire copy, "UPDATE:"
prefixes, an edited headline, another outlet's rewrite), found without comparing all pairs.

1. Each text (a title plus the start of its summary) becomes a set of normalised words: case,
   accents and punctuation folded, Snowball-stemmed, stop words dropped; agency datelines
   ("NAIROBI (Reuters) -"), desk prefixes ("UPDATE 2-", "Live:") and generic live-page blurbs
   left out. Words written as names, and numbers, weigh NAME_BOOST times as much.
2. Blocking (`candidate_pairs`): MinHash signatures cut into LSH bands pair texts with nearly
   the same words; texts that share rare words (RARE_WORDS, RARE_ALONE) or the same headline
   are paired too. Cost grows with the number of texts, not their square.
3. Verification (`Comparison.verdict`): the IDF-weighted Jaccard similarity of a pair must
   reach the score THRESHOLDS set for how far apart the two were published, and no guard may
   say they report different events (opposite words; different numbers, or different names,
   in otherwise alike titles).
4. Joining (`Joiner`, `Comparison.join_ok`): a weak match joins two groups only if, over all
   their member pairs, the summed shared weight over the summed union weight reaches
   JOIN_MEAN, so one borderline link cannot merge two stories. Each group keeps a summary of
   its words, so a check costs the smaller group's words, never the product of the sizes.

Every knob is documented in the README ("Duplicates"). Pure functions of their arguments: no
I/O, no clock. The only importer of numpy.
"""

from __future__ import annotations

import array
import itertools
import math
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

import numpy as np

from digest import words

# --- the documented knobs (README "Duplicates") ---

# The score a pair needs depends on how far apart the two were published: another outlet's
# write-up of the same event comes out the same news cycle; a similar story days later is
# usually a follow-up, which readers want as a story of its own.
THRESHOLDS = ((12.0, 0.16), (36.0, 0.5))  # (within hours, score needed), nearest first
FAR_APART_THRESHOLD = 0.8  # further apart (or undated): the score needed
NAME_BOOST = 2.5  # names (capitalised inside a sentence) and numbers weigh 2.5x
STRONG = 0.5  # at or above: a match joins groups on its own; below, see Comparison.join_ok
JOIN_MEAN = 0.14  # a weak match joins two groups this alike over all their members
# Opposite words ("wins" / "loses") veto a pair only in titles this alike (plain Jaccard): "X
# wins" and "X loses" share the rest, while two write-ups of one event may use "backs" and
# "veto" about different actors.
OPPOSED_TITLES = 0.4
# Different numbers veto a pair when the titles' other words are this alike: "inflation eases
# to 2.1%" / "to 2.4%" are two months; "kills at least 7" / "death toll rises to 11" is one
# event, updated.
NUMBERS_ALIKE = 0.5
# Names the other text does not mention veto a pair whose titles' other words are this alike:
# "6.1 earthquake strikes Peru" / "... Japan" an hour apart, "'Anora' review: ..." / "'Conclave'
# review: ...".
NAMES_ALIKE = 0.75
LEDE_CHARS = words.LEDE_CHARS  # how much of the summary is read: the lede, not the article
BANDS, ROWS = 18, 4  # LSH: 18 bands of 4 MinHash values (72 hash functions)
LSH_RUN_MAX = 64  # more texts than this in one band are paired in a chain, not all pairs
RARE_WORDS = 6  # blocking also pairs texts sharing two of their 6 heaviest words ...
RARE_ALONE = 4  # ... or one word that at most 4 texts have
RARE_BUCKET_MAX = 16  # ... unless more than 16 texts share that pair (then it is not rare)

# Titles of items that gather several stories: they share words with each, so they merge only
# with a strong match, never through the same-news-cycle threshold.
# Market reports ("Stocks fall as Nvidia slides on China report") name the news that moved the
# market, so they are treated the same way.
_ROUNDUP = re.compile(
    r"\b(?:round-?ups?|what we'?re watching|briefing|newsletter|playbook|week in review|"
    r"the week|how major .{0,30} fared|markets? wrap|live blog|morning|evening|daily digest|"
    # earnings and movers round-ups: "Stocks making the biggest moves midday: Nvidia, Tesla"
    r"(?:stocks? )?making the biggest moves|biggest (?:stock )?movers|stocks to watch|"
    r"things (?:you need )?to know|earnings (?:wrap|preview|calendar|roundup|recap))\b"
    # a dated edition: "Semafor Africa: Wednesday, November 25"
    r"|\b(?:mon|tues|wednes|thurs|fri|satur|sun)day,? (?:jan|feb|mar|apr|may|jun|jul|aug|sep|"
    r"oct|nov|dec)[a-z]* \d",
    re.IGNORECASE)
# ... which a title can only match if it has one of these (lower case): searched first, as
# searching the pattern itself costs more than the rest of a title's work
_ROUNDUP_HINTS = ("round", "watch", "briefing", "newsletter", "playbook", "week", "fared",
                  "wrap", "blog", "morning", "evening", "digest", "day", "move", "know",
                  "earnings")
_MARKET_REPORT = re.compile(
    r"(?:(?:south |north |east |west )?(?:us|u\.s\.|uk|european|asian|global|world|emerging|"
    r"african|gulf|japanese|chinese|indian|nigerian|kenyan|german|french|british) )?"
    r"(?:stocks|shares|markets?|equities|wall street|oil|gold|bonds|treasuries|(?:the )?dollar|"
    r"bitcoin|ftse|dax|cac|nikkei|s&p|nasdaq|dow|jse|nse|naira|rand|shilling|cedi|euro|yen|sterling|pound)"
    r"(?: \S+){0,3}? (?:rise|rises|rose|fall|falls|fell|edge|edges|slip|slips|climb|climbs|"
    r"drop|drops|gain|gains|jump|jumps|slide|slides|slump|slumps|rally|rallies|steady|steadies|"
    r"firm|firms|weaken|weakens|hit|hits|extend|extends|retreat|retreats|surge|surges|"
    r"tumble|tumbles|sink|sinks)\b",
    re.IGNORECASE)
_GENERIC_LEDE = re.compile(
    r"\b(?:follow (?:our|along|the) live|live (?:coverage|updates|blog)|as it happen|"
    r"minute-by-minute|all the latest (?:news|updates))", re.IGNORECASE)
_YEAR = re.compile(r"(?:19|20)\d\d")


def roundup(title: str) -> bool:
    """Whether a title is a round-up, a briefing, a dated edition or a market report."""
    if _MARKET_REPORT.match(title):
        return True
    low = title.lower()
    return any(hint in low for hint in _ROUNDUP_HINTS) and _ROUNDUP.search(title) is not None


def _generic(lede: str) -> bool:
    """A live page's blurb ("Follow our live coverage of ..."), which says nothing about the
    story."""
    low = lede.lower()  # one of these words first: cheaper than the pattern
    return (("live" in low or "happen" in low or "minute" in low or "latest" in low)
            and _GENERIC_LEDE.search(lede) is not None)
_WORD = re.compile(r"[^\W_]+(?:[.,'’][^\W_]+)*")

# Words that reverse a headline's meaning: a pair of texts where one says a word of one side and
# the other a word of the other side (and neither says both) reports two different events.
_OPPOSITES: dict[str, tuple[str, int]] = {}
for _group, _yes, _no in (
    ("win", "win wins won winning victory beat beats triumph triumphs clinch clinches clinched",
     "lose loses lost losing defeat defeated defeats loss"),
    ("rise", "rise rises rose rising climb climbs climbed jump jumps jumped gain gains gained "
     "surge surges surged soar soars soared rally rallies rallied higher increase increases",
     "fall falls fell falling drop drops dropped slide slides slid slump slumps slumped plunge "
     "plunges plunged tumble tumbles tumbled sink sinks sank lower decrease decreases"),
    ("pass", "approve approves approved passes passed backs backed endorse endorses "
     "endorsed accept accepts accepted adopt adopts adopted ratify ratifies ratified",
     "reject rejects rejected block blocks blocked veto vetoes vetoed fail fails failed "
     "defeat defeated scrap scraps scrapped"),
    ("confirm", "confirm confirms confirmed admit admits admitted",
     "deny denies denied refute refutes refuted"),
    ("open", "open opens opened reopen reopens reopened", "close closes closed shut shuts"),
    ("start", "start starts started begin begins began launch launches launched resume resumes "
     "resumed", "end ends ended halt halts halted suspend suspends suspended stop stops stopped "
     "collapse collapses collapsed"),
    ("lift", "lift lifts lifted ease eases eased", "impose imposes imposed tighten tightens "
     "tightened"),
    ("raise", "raise raises raised hike hikes hiked", "cut cuts lower lowers lowered"),
    ("join", "join joins joined enter enters entered", "leave leaves quit quits exit exits"),
    ("allow", "allow allows allowed permit permits permitted", "ban bans banned forbid forbids"),
    ("buy", "buy buys bought acquire acquires acquired", "sell sells sold divest divests"),
):
    for _word in _yes.split():
        _OPPOSITES[_word] = (_group, 1)
    for _word in _no.split():
        _OPPOSITES.setdefault(_word, (_group, -1))
del _group, _yes, _no, _word

_OPPOSITES = {words.stem(w): side for w, side in _OPPOSITES.items()}


@dataclass(frozen=True, slots=True)
class Text:
    """A story's words as the comparison sees them."""

    title: frozenset[str]
    lede: frozenset[str]
    words: frozenset[str]  # title | lede: what MinHash blocks on
    numbers: frozenset[str]  # the numbers in the title, years left out
    when: float | None  # publication time, POSIX seconds
    roundup: bool = False  # a round-up or briefing: covers several stories at once
    names: frozenset[str] = frozenset()  # words written as names, and numbers


strip_title = words.strip_title


def _tokens(found: Sequence[words.Word]) -> tuple[set[str], set[str]]:
    """The stemmed words of a text (see `words.normalise`) and, among them, its names and
    numbers: words written with a capital inside a sentence (people, places, companies; not
    weekdays or months)."""
    out: set[str] = set()
    names: set[str] = set()
    first, stop = True, words.BREAK
    for word in found:
        if word is stop:
            first = True
            continue
        if word.stems:
            out.update(word.stems)
            named = word.names_first if first else word.names
            if named:
                names.update(named)
        first = False
    return out, names


def text_of(title: str, summary: str, when: datetime | None) -> Text:
    """Prepare one item for comparison: its title and the start of its summary."""
    return text_from(words.cut(title, summary), title, when)


def text_from(cut: words.Cut, title: str, when: datetime | None) -> Text:
    """`text_of` for a title and summary already cut into words."""
    title_words, title_names = _tokens(cut.title)
    lede_words: set[str] = set()
    lede_names: set[str] = set()
    if not _generic(cut.lede_text):
        lede_words, lede_names = _tokens(cut.lede)
    if lede_words <= title_words:
        lede_words = set()  # a summary that only repeats the title adds nothing
    return _text(frozenset(title_words), frozenset(lede_words), frozenset(title_names | lede_names),
                 roundup(title), when)


def _text(title: frozenset[str], lede: frozenset[str], names: frozenset[str], roundup: bool,
          when: datetime | None) -> Text:
    return Text(title, lede, title | lede,
                frozenset(w for w in title if w[0].isdigit() and not _YEAR.fullmatch(w)),
                when.timestamp() if when else None, roundup, names)


def pack(text: Text) -> str:
    """A Text as one line of words (its date left out), for `unpack`: words never hold
    spaces or tabs."""
    return "\t".join((" ".join(sorted(text.title)), " ".join(sorted(text.lede)),
                      " ".join(sorted(text.names)), "r" if text.roundup else ""))


def unpack(packed: str, when: datetime | None) -> Text:
    """The Text `pack` wrote, dated `when`; ValueError if it is not one."""
    title, lede, names, roundup = packed.split("\t")
    return _text(frozenset(title.split()), frozenset(lede.split()), frozenset(names.split()),
                 roundup == "r", when)


# --- blocking: MinHash signatures and LSH bands ---

_HASHES = BANDS * ROWS
_rng = np.random.default_rng(20261127)  # fixed: the same input always gives the same pairs
_MUL = _rng.integers(1, 2**63, _HASHES, dtype=np.uint64) | np.uint64(1)
_ADD = _rng.integers(0, 2**63, _HASHES, dtype=np.uint64)
_BAND_MUL = _rng.integers(1, 2**63, ROWS, dtype=np.uint64) | np.uint64(1)
_CHUNK = 1 << 16  # word occurrences gathered at once: bounds memory at _CHUNK x _HASHES x 4 bytes


class _Occurrences:
    """Every word of every text as a number (`vocabulary[number]`), text after text: what the
    blocking steps work on in numpy. Mapping is by `map` over builtins, no Python code a word
    (a 10,000-text window has about 270,000 words)."""

    def __init__(self, texts: Sequence[Text], vocabulary: list[str]) -> None:
        self.vocabulary = vocabulary
        ids = dict(zip(vocabulary, range(len(vocabulary)), strict=True))
        self.ids = ids
        self.lengths = np.fromiter(map(len, (t.words for t in texts)), dtype=np.intp,
                                   count=len(texts))
        self.words = np.fromiter(
            map(ids.__getitem__, itertools.chain.from_iterable(t.words for t in texts)),
            dtype=np.intp, count=int(self.lengths.sum()))
        self.owner = np.repeat(np.arange(len(texts)), self.lengths)  # the text of each word

    def numbers(self, words: Iterable[str]) -> np.ndarray:
        return np.fromiter(map(self.ids.__getitem__, words), dtype=np.intp)


_TABLE_ROWS = 4096  # words hashed at once by _signatures (2.4 MB of intermediates)


def _signatures(occ: _Occurrences) -> np.ndarray:
    """One row of _HASHES minimum hash values per text with words (in order; texts without
    words have no row).

    Each distinct word is hashed once (a table of vocabulary x _HASHES), from its CRC-32, the
    same on every run unlike hash(); a text's row is the minimum over its words' rows. The
    values are 32-bit: table and rows are kept so, and the table is worked out _TABLE_ROWS
    words at a time (its 64-bit intermediates for a 100,000-word vocabulary took 110 MB)."""
    crc = np.fromiter(map(zlib.crc32, map(str.encode, occ.vocabulary)), dtype=np.uint64,
                      count=len(occ.vocabulary))
    table = np.empty((len(crc), _HASHES), dtype=np.uint32)
    for lo in range(0, len(crc), _TABLE_ROWS):
        # multiply-shift hashing: (a*x + b) mod 2^64, high 32 bits; a column a hash function
        block = crc[lo:lo + _TABLE_ROWS, None] * _MUL[None, :] + _ADD[None, :]
        table[lo:lo + _TABLE_ROWS] = (block >> np.uint64(32)).astype(np.uint32)
    lengths = occ.lengths[occ.lengths > 0].tolist()
    out = np.empty((len(lengths), _HASHES), dtype=np.uint32)
    row = word = 0
    while row < len(lengths):  # _CHUNK words at a time (at least one text)
        end, total = row, 0
        while end < len(lengths) and (total == 0 or total + lengths[end] <= _CHUNK):
            total += lengths[end]
            end += 1
        offsets = np.cumsum([0, *lengths[row:end - 1]])
        out[row:end] = np.minimum.reduceat(table[occ.words[word:word + total]], offsets, axis=0)
        row, word = end, word + total
    return out


def candidate_pairs(texts: Sequence[Text], df: dict[str, int], weight: dict[str, float],
                    occ: _Occurrences | None = None) -> set[tuple[int, int]]:
    """Index pairs (i < j) worth verifying: those whose word sets share an LSH band (similar
    wording), those with the same headline words, and those that share two of their RARE_WORDS
    rarest words or one word at most RARE_ALONE texts have (the same names and numbers in
    other words: another outlet's write-up). As Python pairs; `_candidates` has them in two
    arrays, as `Comparison.matches` reads them."""
    first, second = _candidates(texts, df, weight, occ)
    return set(zip(first.tolist(), second.tolist(), strict=True))


def _candidates(texts: Sequence[Text], df: dict[str, int], weight: dict[str, float],
                occ: _Occurrences | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`candidate_pairs` as two arrays of text numbers, i < j, each pair once, ordered by i
    then j. Every step works on arrays of pair codes (i x n + j), made unique band by band: a
    50,000-item window with dense stories has 3.5 million raw pairs for 360,000 distinct ones
    (near-copies share most bands), which as Python tuples in a set took 100 MB."""
    occ = occ or _Occurrences(texts, list(df))
    n = len(texts)
    codes = _sorted_unique(_rare_word_codes(texts, df, weight, occ))
    present = np.flatnonzero(occ.lengths)
    if len(present) >= 2:
        signatures = _signatures(occ)
        for band in range(BANDS):
            rows = signatures[:, band * ROWS:(band + 1) * ROWS]
            keys = (rows * _BAND_MUL[None, :]).sum(axis=1, dtype=np.uint64)
            order = np.argsort(keys, kind="stable")  # a run's texts stay in ascending order
            codes = _sorted_unique(np.concatenate((codes, _run_codes(present[order],
                                                                     keys[order], n))))
    first, second = np.divmod(codes, max(n, 1))
    return first, second


def _sorted_unique(codes: np.ndarray) -> np.ndarray:
    """The distinct values, ascending (np.unique hashes: ten times slower on these)."""
    codes = np.sort(codes)
    out: np.ndarray = codes[np.r_[True, codes[1:] != codes[:-1]]] if codes.size else codes
    return out


def _run_codes(members: np.ndarray, keys: np.ndarray, n: int) -> np.ndarray:
    """The pair codes of the texts that share a band key (`members` ascending within a run of
    equal `keys`): every pair of a run of up to LSH_RUN_MAX texts; a chain, each text with
    the next, past that. Hundreds of texts in one band are copies of one text (a feed
    repeating an item): the chain is enough to join them all, without their square."""
    bounds = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1], True])
    starts, sizes = bounds[:-1], np.diff(bounds)
    long = sizes > LSH_RUN_MAX
    first, second = _pairs_in_runs(members, starts[~long], sizes[~long])
    chained = _ranges(starts[long], sizes[long] - 1)  # each position but a long run's last
    codes: np.ndarray = np.concatenate((first * n + second,
                                        members[chained] * n + members[chained + 1]))
    return codes


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """start, start + 1, ..., start + length - 1 for each (start, length), one after another."""
    total = int(lengths.sum())
    offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    out: np.ndarray = np.repeat(starts, lengths) + offsets
    return out


def _pairs_in_runs(members: np.ndarray, starts: np.ndarray, sizes: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (members[s + x], members[s + y]), x < y, within each run (start s, size);
    runs of one pair nothing. Runs of one size at a time: one index table each."""
    firsts, seconds = [np.empty(0, dtype=np.intp)], [np.empty(0, dtype=np.intp)]
    for size in np.unique(sizes[sizes > 1]).tolist():
        at = starts[sizes == size][:, None]
        x, y = np.triu_indices(size, 1)
        firsts.append(members[at + x[None, :]].ravel())
        seconds.append(members[at + y[None, :]].ravel())
    return np.concatenate(firsts), np.concatenate(seconds)


def _rare_word_pairs(texts: Sequence[Text], df: dict[str, int], weight: dict[str, float],
                     occ: _Occurrences) -> set[tuple[int, int]]:
    """The same-headline and rare-word pairs (`_rare_word_codes`) as Python pairs."""
    first, second = np.divmod(_rare_word_codes(texts, df, weight, occ), max(len(texts), 1))
    return set(zip(first.tolist(), second.tolist(), strict=True))


def _rare_word_codes(texts: Sequence[Text], df: dict[str, int], weight: dict[str, float],
                     occ: _Occurrences) -> np.ndarray:
    """The pair codes (i x n + j, i < j) of the texts in one bucket of at most
    RARE_BUCKET_MAX texts: the same headline words, or a pair of their RARE_WORDS heaviest
    words, or one of those that at most RARE_ALONE texts have; published within THRESHOLDS'
    last span of each other (or either undated)."""
    n = len(texts)
    # Each word another text has too, numbered heaviest first (ties by the word, so the
    # choice is the same on every run); a word no other text has pairs nothing.
    shared = sorted((w for w, c in df.items() if c > 1), key=lambda w: (-weight[w], w))
    members, starts, sizes = _title_buckets(texts)
    first, second = _pairs_in_runs(members, starts, sizes)
    if shared:
        members, starts, sizes = _rare_buckets(n, occ, shared, df)
        more = _pairs_in_runs(members, starts, sizes)
        first, second = np.concatenate((first, more[0])), np.concatenate((second, more[1]))
    # Beyond THRESHOLDS' last span a pair needs FAR_APART_THRESHOLD, and words that alike share
    # an LSH band: the rare-word pairs are only needed within it.
    when = np.fromiter((np.nan if t.when is None else t.when for t in texts), dtype=np.float64,
                       count=n)
    a, b = when[first], when[second]
    close = np.isnan(a) | np.isnan(b) | (np.abs(a - b) <= THRESHOLDS[-1][0] * 3600)
    codes: np.ndarray = first[close] * n + second[close]
    return codes


def _title_buckets(texts: Sequence[Text]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The texts with the same headline words (three or more), over different summaries: the
    members of each bucket of 2 to RARE_BUCKET_MAX texts in a row (ascending), the rows'
    starts and sizes."""
    buckets: dict[frozenset[str], list[int]] = {}
    for i, text in enumerate(texts):
        if len(text.title) >= 3:
            buckets.setdefault(text.title, []).append(i)
    kept = [b for b in buckets.values() if 1 < len(b) <= RARE_BUCKET_MAX]
    sizes = np.fromiter(map(len, kept), dtype=np.intp, count=len(kept))
    starts = np.cumsum(sizes) - sizes
    members = np.fromiter(itertools.chain.from_iterable(kept), dtype=np.intp,
                          count=int(sizes.sum()))
    return members, starts, sizes


def _rare_buckets(n: int, occ: _Occurrences, shared: list[str], df: dict[str, int]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The texts that share a pair of their RARE_WORDS heaviest `shared` words, or one of them
    that at most RARE_ALONE texts have: as `_title_buckets` gives them, buckets of 2 to
    RARE_BUCKET_MAX texts. In numpy (a 10,000-text window has about 150,000 (text, bucket)
    entries)."""
    m = len(shared)
    rank_of = np.full(len(occ.vocabulary), -1, dtype=np.int64)
    rank_of[occ.numbers(shared)] = np.arange(m)
    ranks = rank_of[occ.words]
    keep = ranks >= 0
    if not keep.any():
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    # by text, then heaviest first: one sort of a combined number
    owner, ranks = np.divmod(np.sort(occ.owner[keep] * m + ranks[keep]), m)
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    place = np.arange(owner.size) - np.repeat(starts, np.diff(np.r_[starts, owner.size]))
    first = place < RARE_WORDS
    rare = np.full((n, RARE_WORDS), -1, dtype=np.int64)  # each text's heaviest, in order
    rare[owner[first], place[first]] = ranks[first]
    # one number a bucket: a pair of words (a, b), a < b, is a*m + b; a word alone, m*m + a
    alone = np.fromiter((df[w] <= RARE_ALONE for w in shared), dtype=bool, count=m)
    lone = first & alone[ranks]
    codes, members = [ranks[lone] + m * m], [owner[lone]]
    for a in range(RARE_WORDS):
        for b in range(a + 1, RARE_WORDS):
            has = np.flatnonzero(rare[:, b] >= 0)
            codes.append(rare[has, a] * m + rare[has, b])
            members.append(has)
    code, member = np.divmod(np.sort(np.concatenate(codes) * n + np.concatenate(members)), n)
    bounds = np.flatnonzero(np.r_[True, code[1:] != code[:-1], True])
    sizes = np.diff(bounds)
    wanted = (sizes > 1) & (sizes <= RARE_BUCKET_MAX)
    return member.astype(np.intp, copy=False), bounds[:-1][wanted], sizes[wanted]


# --- verification ---


def document_frequency(texts: Sequence[Text]) -> dict[str, int]:
    """In how many of the texts each word occurs."""
    return Counter(itertools.chain.from_iterable(t.words for t in texts))


# issue 16: determinism. A text's words are a frozenset, iterated in an order that depends on
# the process's hash seed (PYTHONHASHSEED), so the sums of their weights (a text's total, the
# weight two texts share) came out a few ulps apart from one process to the next. Scores that
# are equal (two copies of a text: 1.0; a text as alike to two others) then sorted in another
# order, groups were joined in another order, `Comparison.join_ok` decided otherwise, and the
# same window gave other stories. So every weight is a multiple of 2**-20 (a change of at most
# 5e-7): any sum of them is exact, whatever the order, as long as it stays under 2**33 (a
# text's words weigh a few thousand at most).
_GRID = float(1 << 20)


def _on_grid(weight: float) -> float:
    return round(weight * _GRID) / _GRID


def idf_weights(df: dict[str, int], n: int) -> dict[str, float]:
    """Inverse document frequency: rare words (names, numbers, places) count for more than
    words every story uses. On a grid, so that sums of them do not depend on order."""
    return {w: _on_grid(math.log((n + 1) / c) + 1.0) for w, c in df.items()}


def _weighted_jaccard(a: Text, b: Text, weight: dict[str, float],
                      totals_a: tuple[float, float], totals_b: tuple[float, float]) -> float:
    """IDF-weighted Jaccard of the word sets (of the titles alone when either has no lede):
    shared weight / (weight of a + weight of b - shared weight)."""
    if a.lede and b.lede:
        x, y, wx, wy = a.words, b.words, totals_a[1], totals_b[1]
    else:
        x, y, wx, wy = a.title, b.title, totals_a[0], totals_b[0]
    if not x or not y:
        return 0.0
    shared = sum(weight.get(w, 1.0) for w in x & y)
    return shared / (wx + wy - shared) if shared else 0.0


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def _opposed(a: frozenset[str], b: frozenset[str]) -> str | None:
    """The word pair that makes two titles say opposite things, if any."""
    sides_a = {_OPPOSITES[w]: w for w in a - b if w in _OPPOSITES}
    sides_b = {_OPPOSITES[w]: w for w in b - a if w in _OPPOSITES}
    for (group, sign), word in sides_a.items():
        other = sides_b.get((group, -sign))
        if other and (group, -sign) not in sides_a and (group, sign) not in sides_b:
            return f"{word!r} vs {other!r}"
    return None


def needed(hours: float | None) -> float:
    """The score two texts published `hours` apart need to count as one story."""
    if hours is not None:
        for within, score in THRESHOLDS:
            if hours <= within:
                return score
    return FAR_APART_THRESHOLD


def _judge(a: Text, b: Text, score: float) -> tuple[float, str | None]:
    hours = abs(a.when - b.when) / 3600 if a.when is not None and b.when is not None else None
    need = needed(hours)
    if a.roundup or b.roundup:
        need = max(need, STRONG)
    if score < need:
        apart = f", published {hours:.0f} h apart" if hours is not None else ""
        return score, f"similarity {score:.2f} < {need:.2f}{apart}"
    opposed = _opposed(a.title, b.title) if _jaccard(a.title, b.title) >= OPPOSED_TITLES else None
    if opposed:
        return score, f"opposite words {opposed}"
    if (a.numbers and b.numbers and not a.numbers & b.numbers
            and _jaccard(a.title - a.numbers, b.title - b.numbers) >= NUMBERS_ALIKE):
        return score, "different numbers in the titles"
    if (_jaccard(a.title - a.names, b.title - b.names) >= NAMES_ALIKE
            and _unmentioned(a, b) and _unmentioned(b, a)):
        # "6.1 earthquake strikes Peru" / "6.1 earthquake strikes Japan": the same kind of
        # event, elsewhere or to someone else: two events
        return score, "different names in otherwise alike titles"
    return score, None


# what kind of piece it is, often capitalised in a title: no name
_GENRE_TEXT = """highlights recap review preview video photos pictures podcast analysis opinion
interview takeaways explainer game match report"""
_GENRES = frozenset(words.stem(w) for w in _GENRE_TEXT.split())


def _unmentioned(a: Text, b: Text) -> bool:
    """Whether a's title names someone or somewhere b does not mention at all (a word of b
    that starts alike counts: "Turkey" / "Turkish"). Not for a title in Title Case, whose
    capitals say nothing."""
    named = [w for w in a.title & a.names if not w[0].isdigit() and w not in _GENRES]
    if len(named) * 2 >= len(a.title):
        return False
    mentioned = {w[:4] for w in b.words}
    return any(w[:4] not in mentioned for w in named)


@dataclass(frozen=True, slots=True)
class Match:
    """Two texts found to be the same story."""

    a: int
    b: int
    score: float

    @property
    def strong(self) -> bool:
        """Alike enough to be the same story whatever else is known (see `join_ok`)."""
        return self.score >= STRONG


class Comparison:
    """The texts of one window (and of the sent stories), compared."""

    def __init__(self, texts: Sequence[Text]) -> None:
        self.texts = texts
        self.df = document_frequency(texts)
        self.weight = idf_weights(self.df, len(texts))
        # a word written as a name in most of its texts
        names = Counter(itertools.chain.from_iterable(t.names for t in texts))
        for w, count in names.items():
            if w in self.weight and count * 2 >= self.df[w]:
                self.weight[w] = _on_grid(self.weight[w] * NAME_BOOST)  # see _GRID

    @cached_property
    def _occurrences(self) -> _Occurrences:
        return _Occurrences(self.texts, list(self.df))

    @cached_property
    def _totals(self) -> list[tuple[float, float]]:
        """Each text's summed word weight: of its title words, and of all its words."""
        occ, texts = self._occurrences, self.texts
        weights = np.fromiter(map(self.weight.__getitem__, occ.vocabulary), dtype=np.float64,
                              count=len(occ.vocabulary))
        words = np.bincount(occ.owner, weights=weights[occ.words], minlength=len(texts))
        lengths = np.fromiter(map(len, (t.title for t in texts)), dtype=np.intp,
                              count=len(texts))
        title_words = occ.numbers(itertools.chain.from_iterable(t.title for t in texts))
        titles = np.bincount(np.repeat(np.arange(len(texts)), lengths),
                             weights=weights[title_words], minlength=len(texts))
        return list(zip(titles.tolist(), words.tolist(), strict=True))

    def score(self, i: int, j: int) -> float:
        texts, totals = self.texts, self._totals
        return _weighted_jaccard(texts[i], texts[j], self.weight, totals[i], totals[j])

    def verdict(self, i: int, j: int) -> tuple[float, str | None]:
        """How alike texts i and j are, 0..1, and why they are not one story, if they are not.

        The score is the IDF-weighted Jaccard similarity of the two word sets (title plus
        lede), or of the titles alone when either lacks a lede. It must reach `needed(hours
        apart)` (at least STRONG when either is a round-up), and the titles must not say
        opposite things ("wins" / "loses"), carry different numbers, or name different people
        or places in otherwise alike words.
        """
        return _judge(self.texts[i], self.texts[j], self.score(i, j))

    def matches(self) -> list[Match]:
        """Every verified near-duplicate pair (candidate_pairs, then `verdict`), best first
        (then by a, then by b)."""
        return list(self.best_first())

    def best_first(self) -> Iterator[Match]:
        """`matches`, one at a time: the window's pairs are held in arrays, not as Match
        objects (295,000 of them in a 50,000-item window with dense stories took 40 MB)."""
        first, second, scores = self._verified()
        for lo in range(0, len(scores), _CHUNK):
            yield from map(Match, first[lo:lo + _CHUNK].tolist(),
                           second[lo:lo + _CHUNK].tolist(), scores[lo:lo + _CHUNK].tolist())

    def _verified(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The pairs that pass `verdict` and their scores, best first, then by a, then by b.

        The candidates come ordered by a, then b: each text's words are read for its pairs
        one after another (a 50,000-item window verified 2.5 times faster that way than in a
        set's order), and a stable sort by score alone leaves ties in that order."""
        first, second = _candidates(self.texts, self.df, self.weight, self._occurrences)
        kept, scores = array.array("q"), array.array("d")  # 8 bytes each, not Python objects
        verdict = self.verdict
        for lo in range(0, len(first), _CHUNK):
            pairs = zip(first[lo:lo + _CHUNK].tolist(), second[lo:lo + _CHUNK].tolist(),
                        strict=True)
            for k, (i, j) in enumerate(pairs, lo):
                score, veto = verdict(i, j)
                if veto is None:
                    kept.append(k)
                    scores.append(score)
        at = np.frombuffer(kept, dtype=np.int64) if kept else np.empty(0, dtype=np.int64)
        score_of = np.frombuffer(scores, dtype=np.float64) if scores else np.empty(0)
        order = np.argsort(-score_of, kind="stable")
        return first[at][order], second[at][order], score_of[order]

    def join_ok(self, match: Match, left: Sequence[int], right: Sequence[int]) -> bool:
        """Whether a match may join the two groups its texts are in.

        A strong match always may. A weaker one (another outlet's write-up) joins two groups
        only if the groups are alike on average, not just at that one pair, so that one
        borderline link cannot pull a whole story into another ("OPEC+ holds output" and "Oil
        edges up after OPEC+ decision"): over every pair of a member of one and a member of
        the other, the shared word weight summed, over the union weight summed, must reach
        JOIN_MEAN (`_alike`). Worked out from each group's `_Profile`, in time linear in the
        members' words, never in the number of pairs; `Joiner` keeps the profiles of growing
        groups, so that a check costs the smaller group's distinct words.
        """
        if match.strong or (len(left) == 1 and len(right) == 1):
            return True
        return _alike(*_pair_sums(self.profile(left), self.profile(right), self._units)[:2])

    @cached_property
    def _units(self) -> dict[str, int]:
        """Each word's weight as a whole number of 2**-20 (the weights are on that grid: see
        _GRID), so that the profiles' sums are exact integers in any order and any size."""
        return {w: round(v * _GRID) for w, v in self.weight.items()}

    def profile(self, members: Iterable[int]) -> _Profile:
        """The `_Profile` of a group of texts."""
        out = _Profile()
        texts, totals = self.texts, self._totals
        for i in members:
            out.add(texts[i], totals[i])
        return out


def _counted(counts: dict[str, int], words: Iterable[str]) -> None:
    for w in words:
        counts[w] = counts.get(w, 0) + 1


def _merged(into: dict[str, int], other: dict[str, int]) -> None:
    for w, c in other.items():
        into[w] = into.get(w, 0) + c


class _Profile:
    """A group of texts summed up as `join_ok` weighs it: for each word, how many members have
    it, and the members' summed word weights, apart for members with a lede and members
    without (a pair is scored on all its words when both have a lede, else on the titles:
    `_weighted_jaccard`). Weights are in whole units of 2**-20 (`Comparison._units`): the
    sums are exact, so no order of adding (members, groups, words) can change a decision."""

    __slots__ = ("bare", "bare_titles", "bare_total", "led", "titles", "titles_total", "words",
                 "words_total")

    def __init__(self) -> None:
        self.led = 0  # members with a lede
        self.words: dict[str, int] = {}  # ... of which this many have the word (title or lede)
        self.titles: dict[str, int] = {}  # ... of which this many have it in the title
        self.words_total = 0  # ... their words' weight, summed
        self.titles_total = 0  # ... their title words' weight, summed
        self.bare = 0  # members without a lede: their title is all they have
        self.bare_titles: dict[str, int] = {}
        self.bare_total = 0

    @property
    def entries(self) -> int:
        """How many word counts it keeps: what merging it into another costs."""
        return len(self.words) + len(self.titles) + len(self.bare_titles)

    def add(self, text: Text, totals: tuple[float, float]) -> None:
        """Count one more member (`totals`: its title and words weight, Comparison._totals)."""
        if text.lede:
            self.led += 1
            _counted(self.words, text.words)
            _counted(self.titles, text.title)
            self.titles_total += round(totals[0] * _GRID)
            self.words_total += round(totals[1] * _GRID)
        else:
            self.bare += 1
            _counted(self.bare_titles, text.title)
            self.bare_total += round(totals[0] * _GRID)

    def absorb(self, other: _Profile) -> None:
        """Count the other group's members in too (two groups joined)."""
        self.led += other.led
        self.bare += other.bare
        _merged(self.words, other.words)
        _merged(self.titles, other.titles)
        _merged(self.bare_titles, other.bare_titles)
        self.words_total += other.words_total
        self.titles_total += other.titles_total
        self.bare_total += other.bare_total


def _dot(a: dict[str, int], b: dict[str, int], units: dict[str, int]) -> int:
    """Sum over words of weight x count in a x count in b: the shared weight summed over
    every pair of a member counted in a and one counted in b. Reads the smaller's keys."""
    return sum(units[w] * a[w] * b[w] for w in a.keys() & b.keys())


def _alike(shared: int, union: int) -> bool:
    """Whether two groups are alike on average: over all pairs of a member of one and a member
    of the other, the shared weight summed over the union weight summed (`_pair_sums`) reaches
    JOIN_MEAN. The ratio of the sums, not the mean of the pairs' scores, which no summary of
    a group gives; it weighs each pair by its words, and the two agree when a group's texts
    are about as long."""
    return union > 0 and shared / union >= JOIN_MEAN


def _pair_sums(a: _Profile, b: _Profile, units: dict[str, int]) -> tuple[int, int, int]:
    """Over all |a| x |b| pairs of members, each weighed as `_weighted_jaccard` weighs it (all
    words when both have a lede, else the titles): the shared weight summed, the union weight
    (the two texts' weights less the shared) summed, both in units of 2**-20; and how many
    word counts that read (at most the smaller group's distinct words, four times)."""
    shared = (_dot(a.words, b.words, units) + _dot(a.titles, b.bare_titles, units)
              + _dot(a.bare_titles, b.titles, units) + _dot(a.bare_titles, b.bare_titles, units))
    # each pair's two totals, summed over the pairs, kind by kind (lede, no lede)
    totals = (b.led * a.words_total + a.led * b.words_total
              + b.bare * a.titles_total + a.led * b.bare_total
              + b.led * a.bare_total + a.bare * b.titles_total
              + b.bare * a.bare_total + a.bare * b.bare_total)
    read = (min(len(a.words), len(b.words)) + min(len(a.titles), len(b.bare_titles))
            + min(len(a.bare_titles), len(b.titles))
            + min(len(a.bare_titles), len(b.bare_titles)))
    return shared, totals - shared, read


class Joiner:
    """The texts of a window joined into groups, one match at a time (best first: `matches`):
    a union-find whose groups keep their `_Profile`, so that deciding whether a weak match
    may join two groups (`Comparison.join_ok`) costs the smaller group's distinct words,
    never the product of the two groups' sizes, however big a story grows.

    A group's root is its lowest text, and groups only grow, so (root, size) names one state
    of one group: a refusal is remembered under the two states and not worked out again while
    neither group changes. Profiles are made when a group is first compared and kept up to
    date from then on (the smaller merged into the larger); a group never compared has none.
    `checks` and `words_read` count the profile comparisons made and the word counts they
    read (for the benchmark and tests: no pair of texts is scored here).
    """

    def __init__(self, comparison: Comparison, n: int) -> None:
        self.comparison = comparison
        self._parent = list(range(n))
        self._members: dict[int, list[int]] = {}  # root -> members, groups of two or more
        self._profiles: dict[int, _Profile] = {}  # root -> profile, groups compared before
        self._refused: set[tuple[int, int, int, int]] = set()
        self.checks = 0
        self.words_read = 0

    def find(self, i: int) -> int:
        parent = self._parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def size(self, root: int) -> int:
        members = self._members.get(root)
        return len(members) if members else 1

    def join(self, match: Match) -> bool:
        """Join the groups of the match's two texts if `join_ok`; whether it did (False too
        when they already are one group)."""
        ra, rb = self.find(match.a), self.find(match.b)
        if ra == rb or not (match.strong or self._may_join(ra, rb)):
            return False
        return self.union(ra, rb)

    def union(self, i: int, j: int) -> bool:
        """Join the groups of texts i and j whatever their words (the same URL, the same guid);
        whether they were two groups."""
        ra, rb = self.find(i), self.find(j)
        if ra == rb:
            return False
        root = min(ra, rb)
        self._parent[max(ra, rb)] = root
        members_a, members_b = self._members.pop(ra, [ra]), self._members.pop(rb, [rb])
        profile = self._joined_profile(self._profiles.pop(ra, None), members_a,
                                       self._profiles.pop(rb, None), members_b)
        if len(members_a) < len(members_b):  # the smaller list copied into the larger
            members_a, members_b = members_b, members_a
        members_a.extend(members_b)
        self._members[root] = members_a
        if profile is not None:
            self._profiles[root] = profile
        return True

    def _joined_profile(self, pa: _Profile | None, members_a: list[int], pb: _Profile | None,
                        members_b: list[int]) -> _Profile | None:
        """The profile of two groups joined: none when neither had one; else the larger one
        with the other's counted in (its profile's counts, or its members one by one when it
        was never compared)."""
        if pa is None and pb is None:
            return None
        if pa is None or (pb is not None and pa.entries < pb.entries):
            pa, members_a, pb, members_b = pb, members_b, pa, members_a
        assert pa is not None
        if pb is not None:
            pa.absorb(pb)
        else:
            texts, totals = self.comparison.texts, self.comparison._totals
            for i in members_b:
                pa.add(texts[i], totals[i])
        return pa

    def _may_join(self, ra: int, rb: int) -> bool:
        """`join_ok` for a weak match between the groups of roots ra and rb."""
        size_a, size_b = self.size(ra), self.size(rb)
        if size_a == 1 and size_b == 1:
            return True  # two single texts: the link is all there is
        state = (ra, size_a, rb, size_b) if ra < rb else (rb, size_b, ra, size_a)
        if state in self._refused:
            return False
        shared, union, read = _pair_sums(self._profile(ra), self._profile(rb),
                                         self.comparison._units)
        ok = _alike(shared, union)
        self.checks += 1
        self.words_read += read
        if not ok:
            self._refused.add(state)
        return ok

    def _profile(self, root: int) -> _Profile:
        profile = self._profiles.get(root)
        if profile is None:
            profile = self.comparison.profile(self._members.get(root, (root,)))
            if root in self._members:  # a single text's is made again when needed: no memory
                self._profiles[root] = profile
        return profile
