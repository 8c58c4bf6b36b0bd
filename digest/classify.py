"""Which section a story belongs to, with the words that decided it; pure: no I/O, no clock.

Each section has a vocabulary: built-in knowledge (`digest/lexicon/<name>.yaml`, read by
`lexicon.load_lexicon`: countries, capitals, cities, demonyms, regional bodies, leaders for
Africa and Europe; companies, products and technologies for tech) plus the section's own
`keywords`, minus its `exclude` list. Every term has a weight (1 weak .. 4 decisive).

A story's text is cut into words once; every word, and every run of words where a longer term
starts, is looked up in one table of all the sections' terms, longest first ("South Africa" is
one term, not also "Africa"). The fallback section has a word list too (sport, entertainment,
science): a story it wins goes to the fallback whatever place it names. Matching is by
whole words: ALL-CAPS terms (AI, EU, AU) only match in capitals; terms written with a capital
(names: "Apple", "Orange") match any case but all lower case ("apple growers"); other terms
match in any case; all without accents, as a plural ("chips") or a possessive ("Kenya's"), or
as part of a hyphenated word ("Kenya-based"). A section's score is the sum of the weights of the
distinct terms found (in the title and the summary's lede: its first LEDE_CHARS, after any
agency dateline, which counts too), a term in the title
counting twice; a section's `weight`, and a word list's `scale`, multiply its terms' weights.
The best score wins; a tie goes to the feed's own section when it is one of the tied, else to
the section listed first; below `min_score` the story goes to the fallback section
("Elsewhere") or is dropped.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from digest import words
from digest.models import Story
from digest.words import Word, fold

_serials = itertools.count()

AUTO = "auto"
ELSEWHERE_ID = "elsewhere"
ELSEWHERE_TITLE = "Elsewhere"
TITLE_WEIGHT = 2
ASIDE_WEIGHT = 1  # a title's words after ASIDES count as much as the summary's
ASIDES = frozenset(["in", "at", "after", "during", "amid", "near", "from", "despite"])
MIN_SCORE = 5.0  # the default score a story needs to enter a section
MAX_TERM_WORDS = 5


@dataclass(frozen=True, slots=True)
class SectionSpec:
    """What sorts stories into one section: (term, weight) pairs and terms left out."""

    id: str
    title: str
    terms: tuple[tuple[str, float], ...]
    exclude: tuple[str, ...] = ()
    weight: float = 1.0  # multiplies every term's weight


@dataclass(frozen=True, slots=True)
class Hit:
    section: str
    weight: float
    term: str  # as the lexicon writes it
    proper: bool = False  # written with a capital: a name, not a common word


class Lexicon:
    """Every section's terms in lookup tables: one-word terms by their folded form (lower case,
    no accents) or, for acronyms (all capitals), as written; longer terms by word tuples."""

    def __init__(self, sections: Sequence[SectionSpec]) -> None:
        self.order = [s.id for s in sections]
        # what the tables are made of: results kept for one lexicon are valid for another
        # with the same fingerprint (digest.features)
        self.fingerprint = hashlib.sha256(repr(
            [(s.id, s.terms, s.exclude, s.weight) for s in sections]).encode()).hexdigest()
        self.folded: dict[str, list[Hit]] = {}  # one word, folded
        self.exact: dict[str, list[Hit]] = {}  # one acronym, as written
        self.runs: dict[tuple[str, ...], list[Hit]] = {}  # several words, folded
        self.exact_runs: dict[tuple[str, ...], list[Hit]] = {}  # several words with acronyms
        for spec in sections:
            excluded = {_key(_words(term)) for term in spec.exclude}
            best: dict[tuple[bool, tuple[str, ...]], Hit] = {}
            for term, weight in spec.terms:
                tokens = _words(term)
                if not tokens or len(tokens) > MAX_TERM_WORDS or _key(tokens) in excluded:
                    continue
                acronym = _is_acronym(term)
                key = tuple(tokens) if acronym else _key(tokens)
                old = best.get((acronym, key))
                weight *= spec.weight
                if old is None or weight > old.weight:  # a term listed twice keeps its best
                    best[(acronym, key)] = Hit(spec.id, weight, term.strip(),
                                               any(c.isupper() for c in term))
            for (acronym, key), hit in best.items():
                if len(key) == 1:
                    (self.exact if acronym else self.folded).setdefault(key[0], []).append(hit)
                else:
                    (self.exact_runs if acronym else self.runs).setdefault(key, []).append(hit)
        # the first words of longer terms, with the longest such term: only there is a run of
        # words looked up
        self.starts: dict[str, int] = {}
        self.pairs: set[tuple[str, str]] = set()  # their first two words ("the", "hague")
        for key in (*self.runs, *(tuple(fold(w) for w in k) for k in self.exact_runs)):
            self.starts[key[0]] = max(self.starts.get(key[0], 0), len(key))
            self.pairs.add((key[0], key[1]))
            if len(key) == 2:  # a two-word term's plural: "Union summits"
                self.pairs.add((key[0], key[1] + "s"))
        self.serial = next(_serials)  # marks what it found of a word (`words.Word.looked_up`)

    def hits_in(self, found_words: Sequence[Word]) -> list[Hit]:
        """Every term found in a text cut into words (`words.scan`), the longest match first
        at each place."""
        found: list[Hit] = []
        pairs, serial = self.pairs, self.serial
        n, skip = len(found_words), 0
        for i, word in enumerate(found_words):
            if skip:
                skip -= 1
                continue
            looked_up = word.looked_up
            if looked_up[0] != serial:
                looked_up = self._look_up(word)
            if looked_up[2] and i + 1 < n and (word.folded, found_words[i + 1].folded) in pairs:
                size = self._longest_run(found_words, i, min(looked_up[2], n - i), found)
                if size:
                    skip = size - 1
                    continue
            if looked_up[1]:
                found.extend(looked_up[1])
        return found

    def _look_up(self, word: Word) -> tuple[int, Any, int]:
        """What this lexicon finds of one word, kept with the word (`Word.looked_up`)."""
        hits = self._one(word.text, word.folded) if word.text else None
        looked_up = word.looked_up = (self.serial, hits, self.starts.get(word.folded, 0))
        return looked_up

    def _longest_run(self, found_words: Sequence[Word], i: int, longest: int,
                     found: list[Hit]) -> int:
        for size in range(longest, 1, -1):
            run = found_words[i:i + size]
            key = tuple(w.folded for w in run)
            hits = self.runs.get(key)
            if not hits and key[-1].endswith("s"):  # "African Union summits"
                hits = self.runs.get((*key[:-1], key[-1][:-1]))
            if hits:
                hits = _names_only(hits, all(w.text.islower() for w in run))
            if not hits and self.exact_runs:
                hits = self.exact_runs.get(tuple(w.text for w in run))
            if hits:
                found.extend(hits)
                return size
        return 0

    def _one(self, word: str, folded: str) -> list[Hit] | None:
        hits = self.exact.get(word)
        if hits:
            return hits
        if len(word) > 2 and word[-1] == "s" and word[:-1].isupper():  # "GPUs", "MEPs"
            hits = self.exact.get(word[:-1])
            if hits:
                return hits
        common = word.islower()  # "apple", not "Apple" or "APPLE"
        hits = _names_only(self.folded.get(folded), common)
        if hits:
            return hits
        for cut in (1, 2):  # "chips", "businesses"
            if len(folded) > cut + 2 and folded.endswith("es"[2 - cut:]):
                hits = _names_only(self.folded.get(folded[:-cut]), common)
                if hits:
                    return hits
        if "-" in word:  # "Kenya-based", "Nvidia-backed"
            for part in word.split("-"):
                hits = self._one(part, fold(part))
                if hits:
                    return hits
        return None


def _names_only(hits: list[Hit] | None, common: bool) -> list[Hit] | None:
    """A term written with a capital (a name: "Apple", "Orange", "Snap") does not match a word
    written in lower case ("apple growers", "a snap election")."""
    if not hits or not common:
        return hits
    return [h for h in hits if not h.proper] or None


def _words(text: str) -> list[str]:
    """A term's words as written (`words.Word.text`)."""
    return [w.text for w in words.scan(text) if w.text]


def _key(tokens: Iterable[str]) -> tuple[str, ...]:
    return tuple(fold(t) for t in tokens)


def _is_acronym(term: str) -> bool:
    letters = [c for c in term if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


@dataclass(frozen=True, slots=True)
class Verdict:
    section: str | None  # None: below the threshold
    score: float
    reason: str
    terms: tuple[str, ...] = ()  # the winning section's terms, as found


# One term a story's text matched: (section, term as the lexicon writes it, points: its weight,
# twice that in the title). What a section's score is summed from; stored per item (features).
Found = tuple[str, str, float]


def found_terms(title: str, summary: str, lexicon: Lexicon) -> tuple[Found, ...]:
    """The distinct terms of every section found in a title and the start of its summary,
    title first; a term counts once, with the points of its first place."""
    return found_in(words.cut(title, summary), lexicon)


def _title_parts(title: Sequence[Word]) -> tuple[Sequence[Word], Sequence[Word]]:
    """A headline's subject and verb, and what follows its first word of place or
    circumstance ("in", "after", "during" ...): "Police arrest suspect | during Amazon
    search", "Microsoft 365 down for customers | in UK and Germany". What a story is about
    comes before; where and when it happened, after."""
    for i, word in enumerate(title):
        if i and word.folded in ASIDES:
            return title[:i], title[i:]
    return title, ()


def found_in(cut: words.Cut, lexicon: Lexicon) -> tuple[Found, ...]:
    """`found_terms` for a title and summary already cut into words."""
    found: list[Found] = []
    seen: set[tuple[str, str]] = set()
    head, aside = _title_parts(cut.title)
    subject = lexicon.hits_in(head)
    for hits, factor in ((subject, TITLE_WEIGHT),
                         (lexicon.hits_in(aside), ASIDE_WEIGHT if subject else TITLE_WEIGHT),
                         (lexicon.hits_in(cut.summary), 1)):
        for hit in hits:
            mark = (hit.section, hit.term)
            if mark not in seen:
                seen.add(mark)
                found.append((hit.section, hit.term, hit.weight * factor))
    return tuple(found)


def judge(found: Iterable[Found], order: Sequence[str], *, default: str | None = None,
          min_score: float = MIN_SCORE) -> Verdict:
    """The section the found terms point to: the best score (ties: `default` when tied, else
    the section listed first in `order`), if it reaches `min_score`."""
    scores: dict[str, float] = {}
    terms: dict[str, dict[str, float]] = {}
    for section, term, points in found:
        scores[section] = scores.get(section, 0.0) + points
        terms.setdefault(section, {})[term] = points
    if not scores:
        return Verdict(None, 0.0, "no section's words found")
    top = max(scores.values())
    tied = [s for s in order if scores.get(s) == top]
    winner = default if default in tied else tied[0]
    won = terms[winner]
    words = ", ".join(f"{t} {p:g}" for t, p in sorted(won.items(), key=lambda x: (-x[1], x[0])))
    others = ", ".join(f"{s} {scores[s]:g}" for s in order if s in scores and s != winner)
    reason = f"{winner} {top:g} ({words})" + (f"; also {others}" if others else "")
    if top < min_score:
        return Verdict(None, top, f"{reason}: below {min_score:g}", tuple(won))
    return Verdict(winner, top, reason, tuple(won))


def classify_stories(
    stories: Sequence[Story],
    lexicon: Lexicon,
    feed_sections: Mapping[str, str],
    *,
    fallback: str | None = ELSEWHERE_ID,
    always: bool = False,
    min_score: float = MIN_SCORE,
    found: Mapping[int, Sequence[Found]] | None = None,
) -> tuple[list[Story], list[str]]:
    """Give each story its section; returns the placed stories and a line per dropped one.

    A feed with a fixed section puts its stories there, unless `always` is set: then its
    stories are classified too, and the feed's section only breaks ties and catches what
    matches no section well enough. `found` holds `found_terms` already worked out for items
    (by item id, for this lexicon): a story led by one of them is not read again.
    """
    found = found or {}
    placed: list[Story] = []
    dropped: list[str] = []
    for story in stories:
        feed_url = story.items[0].feed_url if story.items else ""
        fixed = feed_sections.get(feed_url, AUTO)
        if fixed != AUTO and not always:
            placed.append(replace(story, section=fixed, section_reason=f"feed section {fixed}"))
            continue
        lead = story.items[0].id if story.items else None
        terms = found.get(lead) if lead is not None else None
        if terms is None:
            terms = found_terms(story.title, story.summary, lexicon)
        verdict = judge(terms, lexicon.order, default=None if fixed == AUTO else fixed,
                        min_score=min_score)
        if verdict.section == ELSEWHERE_ID:  # sport, entertainment, science
            verdict = replace(verdict, section=None)
        if verdict.section is not None:
            placed.append(replace(story, section=verdict.section, section_reason=verdict.reason,
                                  section_terms=verdict.terms))
        elif fixed != AUTO:
            placed.append(replace(story, section=fixed,
                                  section_reason=f"{verdict.reason}: feed section {fixed}"))
        elif fallback is not None:
            placed.append(replace(story, section=fallback,
                                  section_reason=f"{verdict.reason}: fallback {fallback}"))
        else:
            dropped.append(f"unmatched, dropped: {story.title!r} ({story.source}): "
                           f"{verdict.reason}")
    return placed, dropped
