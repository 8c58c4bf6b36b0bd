"""neardup: text normalisation, LSH blocking, verification guards."""

from __future__ import annotations

import math
import random
import threading
from datetime import UTC, datetime, timedelta

import pytest

from digest import neardup
from digest.neardup import Comparison, Match, strip_title, text_of
from digest.words import scan


def words(text: str) -> list[str]:
    """Lower-case, accent-free, stemmed words (Snowball English), stop words and lone letters
    left out, in order: the near-duplicate words of a text."""
    return [stem for word in scan(text) for stem in word.stems]


NOON = datetime(2026, 11, 24, 12, tzinfo=UTC)


@pytest.mark.parametrize(("title", "stripped"), [
    ("UPDATE 2-Kenya passes finance bill", "Kenya passes finance bill"),
    ("Updated: Kenya passes finance bill", "Kenya passes finance bill"),
    ("BREAKING: Kenya passes finance bill", "Kenya passes finance bill"),
    ("Live updates: Kenya passes finance bill", "Kenya passes finance bill"),
    ("As it happened: Kenya passes finance bill", "Kenya passes finance bill"),
    ("EXCLUSIVE - UPDATE 1-Kenya passes finance bill", "Kenya passes finance bill"),
    ("Kenya passes finance bill - live", "Kenya passes finance bill"),
    ("Kenya passes finance bill: what it means", "Kenya passes finance bill: what it means"),
])
def test_desk_prefixes_and_suffixes_are_stripped(title: str, stripped: str) -> None:
    assert strip_title(title) == stripped


def test_words_fold_case_accents_punctuation_and_word_forms() -> None:
    assert words("Côte d’Ivoire’s SHIPPING ships shipped") == words("cote d'ivoire ship ship ship")
    assert words("The AI of the U.S.") == ["ai", "us"]  # stop words and lone letters go
    assert words("at least 7 killed") == ["least", "7", "kill"]  # one digit is still a number


def test_agency_datelines_are_not_part_of_the_lede() -> None:
    plain = text_of("T", "Lawmakers approved the bill.", NOON)
    for dateline in ("NAIROBI (Reuters) - ", "NAIROBI, Nov 24 (Reuters) - ",
                     "BERLIN, Germany (AP) — ", "(Reuters) - "):
        assert text_of("T", dateline + "Lawmakers approved the bill.", NOON).lede == plain.lede


def test_a_summary_repeating_the_title_is_no_lede() -> None:
    assert text_of("Kenya passes finance bill", "Kenya passes finance bill.", NOON).lede == set()


def test_blocking_finds_copies_without_comparing_all_pairs() -> None:
    rng = random.Random(7)
    vocabulary = [f"w{n}" for n in range(5000)]

    def story() -> str:
        return " ".join(rng.choice(vocabulary) for _ in range(30))

    texts = [text_of(story(), story(), NOON) for _ in range(2000)]
    copies = {5: 1500, 17: 1999, 300: 301}
    for original, copy in copies.items():
        texts[copy] = texts[original]
    comparison = Comparison(texts)
    pairs = neardup.candidate_pairs(texts, comparison.df, comparison.weight)
    assert set(copies.items()) <= pairs
    assert len(pairs) < 2000 * 1999 // 2 // 100  # far fewer than all 2M pairs


def test_many_copies_of_one_text_are_chained_not_paired_all_ways() -> None:
    copy = text_of("Qatar PM arrives in Venezuela", "The visit is the first since Maduro's ouster.",
                   NOON)
    texts = [copy] * 500
    comparison = Comparison(texts)
    pairs = neardup.candidate_pairs(texts, comparison.df, comparison.weight)
    assert len(pairs) < 2000  # not the 124,750 pairs of 500 texts
    assert {(i, i + 1) for i in range(499)} <= pairs  # enough to join all 500


def reference_rare_pairs(texts: list[neardup.Text], df: dict[str, int],
                         weight: dict[str, float]) -> set[tuple[int, int]]:
    """The rare-word and same-headline pairs as the README describes them, one text at a time
    (what neardup does in numpy)."""
    shared = sorted((w for w, n in df.items() if n > 1), key=lambda w: (-weight[w], w))
    rank = {w: n for n, w in enumerate(shared)}
    buckets: dict[object, list[int]] = {}
    for i, text in enumerate(texts):
        if len(text.title) >= 3:
            buckets.setdefault(("title", text.title), []).append(i)
        rare = sorted(rank[w] for w in text.words if w in rank)[:neardup.RARE_WORDS]
        for a, first in enumerate(rare):
            if df[shared[first]] <= neardup.RARE_ALONE:
                buckets.setdefault(("alone", first), []).append(i)
            for second in rare[a + 1:]:
                buckets.setdefault(("pair", first, second), []).append(i)
    span = neardup.THRESHOLDS[-1][0] * 3600
    pairs = set()
    for members in buckets.values():
        if 1 < len(members) <= neardup.RARE_BUCKET_MAX:
            for x, i in enumerate(members):
                for j in members[x + 1:]:
                    a, b = texts[i].when, texts[j].when
                    if a is None or b is None or abs(a - b) <= span:
                        pairs.add((i, j))
    return pairs


def test_rare_word_blocking_pairs_what_the_one_text_at_a_time_reference_pairs() -> None:
    rng = random.Random(11)
    names = [f"Name{n}" for n in range(300)]  # written as names: weigh more
    common = [f"word{n}" for n in range(800)]

    def sentence() -> str:
        return " ".join(rng.choice(names) if rng.random() < 0.2 else rng.choice(common)
                        for _ in range(rng.randint(0, 14)))

    texts = [text_of(sentence(), sentence(), NOON + timedelta(hours=rng.randint(0, 96))
                     if rng.random() < 0.9 else None) for _ in range(1500)]
    texts += texts[:40]  # some copies
    comparison = Comparison(texts)
    occurrences = neardup._Occurrences(texts, list(comparison.df))
    found = neardup._rare_word_pairs(texts, comparison.df, comparison.weight, occurrences)
    expected = reference_rare_pairs(texts, comparison.df, comparison.weight)
    assert len(expected) > 400 and found == expected


def test_rare_word_blocking_on_sparse_words_matches_the_reference_too() -> None:
    # Most words in one or two texts, as names and numbers are: what the rare-word buckets are
    # for. With a bucket of exactly RARE_BUCKET_MAX copies, headlines shared over other
    # summaries, and pairs just inside and just outside the time span.
    rng = random.Random(13)
    vocabulary = [f"Name{n}" for n in range(20000)]
    common = [f"word{n}" for n in range(40)]

    def sentence(size: int) -> str:
        return " ".join(rng.choice(vocabulary) for _ in range(size))

    texts = [text_of(sentence(6), sentence(10), NOON + timedelta(seconds=rng.randint(0, 400_000)))
             for _ in range(600)]
    texts += [texts[7]] * (neardup.RARE_BUCKET_MAX - 1)  # 16 in all
    headline = " ".join(common[:3])
    texts += [text_of(headline, sentence(8), NOON), text_of(headline, sentence(8), NOON)]
    span = timedelta(hours=neardup.THRESHOLDS[-1][0])
    texts += [text_of("Zeta Eta", "Theta", NOON), text_of("Zeta Eta", "Iota", NOON + span),
              text_of("Kappa Lambda", "Mu", NOON),
              text_of("Kappa Lambda", "Nu", NOON + span + timedelta(seconds=20))]
    texts += [text_of(" ".join(common), "", NOON) for _ in range(20)]  # common words
    comparison = Comparison(texts)
    occurrences = neardup._Occurrences(texts, list(comparison.df))
    found = neardup._rare_word_pairs(texts, comparison.df, comparison.weight, occurrences)
    expected = reference_rare_pairs(texts, comparison.df, comparison.weight)
    assert found == expected
    n = 600 + neardup.RARE_BUCKET_MAX - 1
    assert (7, 600) in found and (n, n + 1) in found and (n + 2, n + 3) in found
    assert (n + 4, n + 5) not in found


def test_opposite_words_veto_only_titles_that_are_otherwise_alike() -> None:
    lede = "The striker scored twice in the second half at the Stade de France on Sunday."
    wins = text_of("PSG wins Paris derby against Paris FC", lede, NOON)
    loses = text_of("PSG loses Paris derby against Paris FC", lede, NOON)
    score, veto = Comparison([wins, loses]).verdict(0, 1)
    assert score > neardup.STRONG and veto is not None and "opposite" in veto

    backs = text_of("EU countries back fresh Russia sanctions after Hungary drops veto", lede,
                    NOON)
    agrees = text_of("EU agrees sanctions package on shadow fleet", lede, NOON)
    assert Comparison([backs, agrees]).verdict(0, 1)[1] is None


def test_different_title_numbers_are_different_events() -> None:
    lede = "Germany's statistics office said prices rose less than expected."
    a = text_of("German inflation eases to 2.1% in November", lede, NOON)
    b = text_of("German inflation eases to 2.4% in November", lede, NOON)
    veto = Comparison([a, b]).verdict(0, 1)[1]
    assert veto == "different numbers in the titles"


@pytest.mark.parametrize(("hours", "needed"), [
    (0, neardup.THRESHOLDS[0][1]), (12, neardup.THRESHOLDS[0][1]),
    (13, neardup.THRESHOLDS[1][1]), (36, neardup.THRESHOLDS[1][1]),
    (37, neardup.FAR_APART_THRESHOLD), (None, neardup.FAR_APART_THRESHOLD),
])
def test_texts_further_apart_need_a_higher_score(hours: float | None, needed: float) -> None:
    assert neardup.needed(hours) == needed
    a = text_of("Ruto signs finance bill", "The president signed the bill into law.", NOON)
    when = None if hours is None else NOON + timedelta(hours=hours)
    b = text_of("Ruto signs finance bill", "The president signed the bill into law.", when)
    assert Comparison([a, b]).verdict(0, 1) == (1.0, None)  # identical


def test_a_weak_link_joins_groups_only_if_they_are_alike_on_average() -> None:
    lede_a = "Lawmakers approved the finance bill raising fuel and mobile money taxes in Nairobi."
    group = [
        text_of("Kenya passes finance bill", lede_a, NOON),
        text_of("Kenyan MPs back tax law", "Members of parliament voted through new levies on "
                "fuel as police dispersed crowds with tear gas outside the assembly.", NOON),
        text_of("Ruto hails vote", "President William Ruto praised members for a decision he "
                "called brave, speaking at State House.", NOON),
        text_of("Opposition vows court fight", "Raila Odinga's coalition said it would "
                "challenge the law before the High Court this week.", NOON),
    ]
    loose = text_of("Shilling steadies", "Traders said the finance bill raising fuel taxes "
                    "weighed on sentiment in Nairobi, leaving the currency flat.", NOON)
    comparison = Comparison([*group, loose])
    link = comparison.score(0, 4)
    assert neardup.THRESHOLDS[0][1] <= link < neardup.STRONG  # a weak link on its own ...
    weak = Match(0, 4, link)
    mean = sum(comparison.score(i, 4) for i in range(4)) / 4
    assert mean < neardup.JOIN_MEAN  # ... to a group it is not like on average
    assert not comparison.join_ok(weak, [0, 1, 2, 3], [4])
    assert not comparison.join_ok(weak, [4], [0, 1, 2, 3])  # either way round
    assert not comparison.join_ok(weak, [0, 2], [4]) and not comparison.join_ok(weak, [4], [0, 2])
    assert comparison.join_ok(weak, [0], [4])  # two single texts: the link is all there is
    assert comparison.join_ok(Match(0, 4, neardup.STRONG), [0, 1, 2, 3], [4])


# --- the words of a text ---


def test_words_in_another_thread_get_their_own_stemmer() -> None:
    # PyStemmer's stemmer may not be shared between threads: each thread makes its own.
    out: list[list[str]] = []
    worker = threading.Thread(target=lambda: out.append(words("Zanzibaris quarrelled")))
    worker.start()
    worker.join()
    assert out == [["zanzibari", "quarrel"]]


def test_thousands_separators_and_possessives() -> None:
    assert words("1,000 jobs") == ["1000", "job"]
    assert words("She's back") == ["back"]  # "she" is a stop word, possessive or not


def test_names_are_capitalised_words_inside_a_sentence_and_numbers() -> None:
    text = text_of("Ruto meets Odinga in Nairobi on Monday",
                   "Police said 7 died. Protesters marched in Kisumu", NOON)
    # not "Ruto" or "Police" (a sentence's first word), nor "Monday" (a calendar word)
    assert text.names == {"odinga", "nairobi", "7", "kisumu"}
    assert text.title == {"ruto", "meet", "odinga", "nairobi", "monday"}
    assert text.numbers == set() and text.when == NOON.timestamp()


def test_a_live_page_blurb_is_no_lede_and_a_round_up_is_marked() -> None:
    assert text_of("Kenya votes", "Follow our live coverage of the vote", NOON).lede == set()
    assert text_of("Morning briefing: Kenya votes", "", NOON).roundup
    assert not text_of("Kenya votes", "", NOON).roundup


LONG = " ".join(f"{name}{n}" for n in range(40) for name in ("kisumu", "levy", "mombasa"))


@pytest.mark.parametrize("dateline", [
    "", "NAIROBI (Reuters) - ",
    "JOHANNESBURG/CAPE TOWN/PRETORIA, South Africa, Nov 24 (Reuters Foundation) - ",
])
def test_the_lede_is_the_first_320_characters_after_a_dateline(dateline: str) -> None:
    lede = text_of("T", dateline + LONG, NOON).lede
    cut = LONG[:neardup.LEDE_CHARS]  # ends inside a word: that word is left out
    assert lede == set(words(cut)) - {words(cut)[-1]}
    assert len(lede) == len(cut.split()) - 1


def test_pack_and_unpack_keep_a_text_whole() -> None:
    for text in (text_of("Ruto meets Odinga in Nairobi", "Police said 7 died. Kisumu", NOON),
                 text_of("Morning briefing: Kenya votes", "", None)):
        packed = neardup.pack(text)
        assert neardup.unpack(packed, None if text.when is None else NOON) == text
    assert neardup.pack(text_of("Morning briefing: Kenya", "Odinga spoke", NOON)) == \
        "brief kenya morn\todinga spoke\t\tr"  # a lede's first word is no name
    assert neardup.pack(text_of("Kenya votes", "", NOON)) == "kenya vote\t\t\t"
    later = NOON + timedelta(hours=5)
    assert neardup.unpack("a b\t\t\t", later) == neardup.Text(
        frozenset({"a", "b"}), frozenset(), frozenset({"a", "b"}), frozenset(),
        later.timestamp())
    with pytest.raises(ValueError):
        neardup.unpack("a b\tc", NOON)


def test_idf_weights_are_on_a_grid() -> None:
    weights = neardup.idf_weights({"rare": 1, "common": 3}, 3)
    assert weights == {"rare": round((math.log(4) + 1) * 2**20) / 2**20,
                       "common": round((math.log(4 / 3) + 1) * 2**20) / 2**20}


def test_a_word_written_as_a_name_in_half_its_texts_weighs_more() -> None:
    named = text_of("Talks with Odinga", "", NOON)  # "Odinga" inside a sentence: a name
    plain = text_of("odinga talks", "", NOON)  # first word: not known to be a name
    two = Comparison([named, plain])
    assert two.weight["odinga"] == round(
        round((math.log(3 / 2) + 1) * 2**20) / 2**20 * neardup.NAME_BOOST * 2**20) / 2**20
    assert two.weight["talk"] == round((math.log(3 / 2) + 1) * 2**20) / 2**20
    three = Comparison([named, plain, plain])  # a name in one of three: not boosted
    assert three.weight["odinga"] == three.weight["talk"]


# --- verification ---

RUTO = "President William Ruto signed the finance bill into law at State House in Nairobi."
REWRITE = ("Kenya's head of state approved the contested tax measures on Friday, lawmakers "
           "said, as protests continued in Nairobi.")


def pair(a: neardup.Text, b: neardup.Text) -> tuple[float, str | None]:
    return Comparison([a, b]).verdict(0, 1)


def test_a_rewrite_is_one_story_the_same_day_but_not_days_apart() -> None:
    a = text_of("Ruto signs finance bill", RUTO, NOON)
    same_day = text_of("Kenya's president approves tax law", REWRITE, NOON)
    score = Comparison([a, same_day]).score(0, 1)
    assert neardup.THRESHOLDS[0][1] <= score < neardup.STRONG
    for hours, veto in ((6, None), (24, f"similarity {score:.2f} < 0.50, published 24 h apart"),
                        (None, f"similarity {score:.2f} < 0.80")):
        when = None if hours is None else NOON + timedelta(hours=hours)
        b = text_of("Kenya's president approves tax law", REWRITE, when)
        assert pair(a, b) == (score, veto), hours
    # 12 hours and a few seconds apart is past the first threshold
    b = text_of("Kenya's president approves tax law", REWRITE, NOON + timedelta(hours=12,
                                                                                  seconds=5))
    assert pair(a, b)[1] == f"similarity {score:.2f} < 0.50, published 12 h apart"
    # a round-up needs a strong match, even the same hour
    roundup = text_of("Morning briefing: Kenya's president approves tax law", REWRITE, NOON)
    assert pair(a, roundup)[1] is not None and pair(roundup, a)[1] is not None


def test_a_score_at_the_threshold_is_enough() -> None:
    # four words each in two texts (the third gives every word the same weight): 2 of 6
    a = text_of("alpha beta", "", NOON)
    b = text_of("alpha beta gamma delta", "", NOON + timedelta(hours=24))
    c = text_of("gamma delta", "", NOON + timedelta(days=30))
    comparison = Comparison([a, b, c])
    assert comparison.verdict(0, 1) == (0.5, None)  # 0.5 needed a day apart


def test_without_a_lede_on_either_side_titles_are_compared() -> None:
    bare = text_of("Ruto signs finance bill", "", NOON)
    full = text_of("Ruto signs finance bill", RUTO, NOON)
    comparison = Comparison([bare, full])
    assert comparison.verdict(0, 1) == (1.0, None) and comparison.verdict(1, 0) == (1.0, None)
    empty = Comparison([text_of("The", "", NOON), text_of("A", "", NOON)])
    assert empty.score(0, 1) == 0.0
    stop_titles = Comparison([text_of("What it is", RUTO, NOON), text_of("Why", RUTO, NOON)])
    assert stop_titles.verdict(0, 1) == (1.0, None)


def test_opposite_words_in_titles_that_are_not_alike_veto_nothing() -> None:
    lede = "The bloc agreed its twentieth package of measures against Moscow on Friday."
    ends = text_of("Hungary ends veto on Russia sanctions", lede, NOON)
    approves = text_of("EU approves Russia sanctions package after long standoff", lede, NOON)
    assert pair(ends, approves)[1] is None
    wins = text_of("PSG wins Paris derby", lede, NOON)
    loses = text_of("PSG loses in Paris", lede, NOON)  # titles 2 of 5 words alike: 0.4
    assert pair(wins, loses)[1] == "opposite words 'win' vs 'lose'"


def test_a_number_in_one_title_only_vetoes_nothing() -> None:
    lede = "Police fired tear gas at protesters in Nairobi on Tuesday."
    assert pair(text_of("At least 7 killed in Kenya protests", lede, NOON),
                text_of("People killed in Kenya protests", lede, NOON))[1] is None
    german = text_of("German inflation eases to 2.1%", lede, NOON)
    french = text_of("French inflation eases to 2.4%", lede, NOON)  # half the words alike
    assert pair(german, french)[1] == "different numbers in the titles"


def test_matches_are_the_verified_candidates_best_first() -> None:
    texts = [text_of("Ruto signs finance bill", RUTO, NOON),
             text_of("Kenya's president approves tax law", REWRITE, NOON),
             text_of("Ruto signs finance bill", RUTO, NOON),
             text_of("Nairobi marathon record falls", "A new course record was set.", NOON)]
    comparison = Comparison(texts)
    rewrite = comparison.score(0, 1)
    assert comparison.matches() == [Match(0, 2, 1.0), Match(0, 1, rewrite), Match(1, 2, rewrite)]


# --- blocking ---


def far_apart(texts: list[str]) -> list[neardup.Text]:
    """The texts, each 100 hours after the last: beyond the rare-word pairing's span, so only
    the MinHash bands pair them."""
    return [text_of(t, "", NOON + timedelta(hours=100 * n)) for n, t in enumerate(texts)]


def lsh_pairs(texts: list[neardup.Text]) -> set[tuple[int, int]]:
    comparison = Comparison(texts)
    return neardup.candidate_pairs(texts, comparison.df, comparison.weight)


RNG_WORDS = [f"w{n}" for n in range(3000)]


def sentences(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.sample(RNG_WORDS, 30)) for _ in range(count)]


def test_two_texts_alone_are_paired_by_their_bands() -> None:
    copy = sentences(1, 1)[0]
    assert lsh_pairs(far_apart([copy, copy])) == {(0, 1)}


def test_copies_are_paired_wherever_their_runs_fall() -> None:
    a, b, c, d = sentences(4, 2)
    assert lsh_pairs(far_apart([a, a, b, b])) == {(0, 1), (2, 3)}
    assert lsh_pairs(far_apart([c, a, d, a, b, d, a, a])) == {
        (1, 3), (1, 6), (1, 7), (3, 6), (3, 7), (6, 7), (2, 5)}


@pytest.mark.parametrize(("copies", "pairs"), [
    (20, 190), (64, 64 * 63 // 2), (65, 64),  # all pairs up to LSH_RUN_MAX; then a chain
])
def test_copies_in_one_band_are_paired_all_ways_up_to_a_limit(copies: int, pairs: int) -> None:
    found = lsh_pairs(far_apart(sentences(1, 3) * copies))
    assert len(found) == pairs and all(i < j for i, j in found)
    assert {(i, i + 1) for i in range(copies - 1)} <= found


def test_signatures_do_not_depend_on_how_words_are_chunked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    base = sentences(30, 4)
    texts = far_apart([*base, base[3], base[17], base[29], base[0]])
    expected = {(3, 30), (17, 31), (29, 32), (0, 33)}
    assert lsh_pairs(texts) == expected
    for chunk in (1, 29, 31, 95):  # words a chunk (a text has 30)
        monkeypatch.setattr(neardup, "_CHUNK", chunk)
        assert lsh_pairs(texts) == expected, chunk


# the near-copies found: those keeping 19 or more of the 30 words
NEAR_COPY_PAIRS = {(n, n + 16) for n in range(7, 16)}


def test_near_copies_are_paired_by_the_bands_they_share() -> None:
    # The same input always gives the same pairs: LSH on near-copies that keep 12 to 27 of
    # their 30 words, some alike enough to share a band, some not.
    rng = random.Random(5)
    base = sentences(16, 6)
    near = []
    for n, text in enumerate(base):
        kept = text.split()[:12 + n]
        near.append(" ".join(kept + rng.sample(RNG_WORDS, 30 - len(kept))))
    found = lsh_pairs(far_apart(base + near))
    assert found == NEAR_COPY_PAIRS


# --- joining groups: per-group profiles (issue 23: linear in dense stories) ---


def story(names: str, stem: str, count: int) -> list[neardup.Text]:
    """`count` headlines of one story: its two names and 6 of its 40 words, taken in turn (7
    words on from the one before, so any 30 of them already use all 40), a lede on every
    other one (the pair is then scored on all its words, else on the titles)."""
    vocabulary = [f"{stem}{chr(97 + k // 26)}{chr(97 + k % 26)}" for k in range(40)]

    def some(start: int, size: int) -> str:
        return " ".join(vocabulary[(start + r) % 40] for r in range(size))

    return [text_of(f"News: {names} {some(7 * k, 6)}",
                    f"Reports say {names} {some(7 * k + 11, 8)}." if k % 2 == 0 else "", NOON)
            for k in range(count)]


def grouped(comparison: Comparison, *groups: range) -> neardup.Joiner:
    """A Joiner with each range of texts already one group (joined whatever their words)."""
    joiner = neardup.Joiner(comparison, len(comparison.texts))
    for group in groups:
        for i in group[1:]:
            assert joiner.union(group[0], i)
    return joiner


def brute_force_sums(comparison: Comparison, left: range, right: range) -> tuple[float, float]:
    """Every pair scored one by one as _weighted_jaccard scores it: the shared weight and
    the union weight, summed."""
    shared = union = 0.0
    for i in left:
        for j in right:
            a, b = comparison.texts[i], comparison.texts[j]
            x, y = (a.words, b.words) if a.lede and b.lede else (a.title, b.title)
            shared += sum(comparison.weight[w] for w in x & y)
            union += sum(comparison.weight[w] for w in x | y)
    return shared, union


def weak_link_between_two_stories(size: int) -> tuple[neardup.Joiner, list[tuple[int, int]]]:
    """Two stories of `size` texts each, each already one group, and one weak match between
    them, refused: the Joiner, and the pairs of texts Comparison.score scored meanwhile."""
    texts = story("Varo Kell", "alf", size) + story("Tusk Morav", "bet", size)
    comparison = Comparison(texts)
    joiner = grouped(comparison, range(size), range(size, 2 * size))
    scored: list[tuple[int, int]] = []
    score = comparison.score
    comparison.score = lambda i, j: scored.append((i, j)) or score(i, j)  # type: ignore
    assert not joiner.join(Match(0, size, neardup.STRONG / 2))
    # the same two groups again: remembered, not worked out again
    assert not joiner.join(Match(size - 1, 2 * size - 1, neardup.STRONG / 2))
    assert joiner.find(0) != joiner.find(size)
    return joiner, scored


def test_a_join_check_scores_no_pair_and_costs_the_same_for_groups_of_30_or_300() -> None:
    small, scored_small = weak_link_between_two_stories(30)
    big, scored_big = weak_link_between_two_stories(300)
    assert scored_small == scored_big == []  # not 16 x 16 = 256 pairs, nor 300 x 300
    assert small.checks == big.checks == 1
    # what it reads is the groups' distinct words (the 2 names and 40 words of each story,
    # "news", "report"), four pairings at most: 30 texts already use them all
    assert small.words_read == big.words_read <= 4 * 44
    assert big.join(Match(1, 301, neardup.STRONG))  # a strong match always joins
    assert big.find(0) == big.find(300) == 0 and big.size(0) == 600


def test_the_groups_sums_are_those_of_every_pair_scored_one_by_one() -> None:
    # Texts with and without ledes, in groups of 1 to 40, sharing some words: the profile
    # arithmetic gives exactly what scoring all pairs gives (weights on the 2**-20 grid).
    rng = random.Random(23)
    words = [f"w{n}" for n in range(60)] + [f"Name{n}" for n in range(20)]

    def sentence(size: int) -> str:
        return " ".join(rng.choice(words) for _ in range(size))

    texts = [text_of(sentence(rng.randint(2, 9)), sentence(12) if rng.random() < 0.6 else "",
                     NOON) for _ in range(120)]
    comparison = Comparison(texts)
    for left, right in ((range(0, 1), range(1, 2)), (range(0, 40), range(40, 41)),
                        (range(41, 60), range(60, 100)), (range(100, 103), range(103, 120))):
        shared, union, _ = neardup._pair_sums(comparison.profile(left),
                                              comparison.profile(right), comparison._units)
        assert (shared / 2**20, union / 2**20) == brute_force_sums(comparison, left, right)
        mean = sum(comparison.score(i, j) for i in left for j in right) / (
            len(left) * len(right))
        assert abs(shared / union - mean) < 0.1  # the ratio of the sums, near the mean


def test_a_groups_profile_is_the_same_however_it_was_built() -> None:
    # Members counted in any order, groups merged in any order: the same counts and sums, so
    # the same decisions (issue 16: nothing may depend on an order).
    texts = story("Varo Kell", "alf", 24) + story("Varo Tusk", "alf", 24)
    comparison = Comparison(texts)
    members = list(range(48))
    built = [comparison.profile(members), comparison.profile(reversed(members))]
    merged = comparison.profile(members[:5])
    for lo in range(5, 48, 7):
        merged.absorb(comparison.profile(members[lo:lo + 7]))
    built.append(merged)
    shuffled = members[:]
    random.Random(1).shuffle(shuffled)
    built.append(comparison.profile(shuffled))
    state = [{name: getattr(p, name) for name in neardup._Profile.__slots__} for p in built]
    assert all(s == state[0] for s in state) and state[0]["led"] == 24
    other = comparison.profile(range(0, 48, 5))
    sums = {neardup._pair_sums(p, other, comparison._units) for p in built}
    assert len(sums) == 1


def test_a_refused_pair_of_groups_is_checked_again_once_one_has_grown() -> None:
    # Two stories refuse a weak link; the second group then takes in copies of the first
    # story (the same URL, say), and the same weak link now joins them.
    first, second = story("Varo Kell", "alf", 4), story("Tusk Morav", "bet", 4)
    comparison = Comparison([*first, *second, *story("Varo Kell", "alf", 12)])
    joiner = grouped(comparison, range(0, 4), range(4, 8))
    weak = Match(0, 4, neardup.STRONG / 2)
    assert not joiner.join(weak) and joiner.checks == 1
    for i in range(8, 20):  # never compared: counted into the second group's profile
        joiner.union(4, i)
    assert joiner.join(weak) and joiner.checks == 2
    assert {joiner.find(i) for i in range(20)} == {0}


def test_join_ok_and_the_joiner_decide_alike() -> None:
    texts = story("Varo Kell", "alf", 10) + story("Varo Tusk", "alf", 6) + story(
        "Tusk Morav", "bet", 6)
    comparison = Comparison(texts)
    weak = Match(0, 10, neardup.STRONG / 2)
    for left, right in ((range(0, 10), range(10, 16)), (range(0, 10), range(16, 22)),
                        (range(0, 3), range(10, 11))):
        joiner = grouped(comparison, left, right)
        expected = comparison.join_ok(Match(left[0], right[0], weak.score), left, right)
        assert joiner.join(Match(left[0], right[0], weak.score)) == expected
    assert comparison.join_ok(weak, range(0, 10), range(10, 16))  # one story, two angles
    assert not comparison.join_ok(weak, range(0, 10), range(16, 22))  # two stories


def test_candidates_come_once_each_ordered_by_first_then_second_text() -> None:
    texts = far_apart(sentences(40, 8) * 3)
    comparison = Comparison(texts)
    first, second = neardup._candidates(texts, comparison.df, comparison.weight)
    pairs = list(zip(first.tolist(), second.tolist(), strict=True))
    assert pairs == sorted(set(pairs)) and all(i < j for i, j in pairs)
    assert set(pairs) == lsh_pairs(texts) and len(pairs) == 40 * 3  # each text's 2 copies
    assert comparison.matches() == list(comparison.best_first())


# --- issue 23: the same kind of event, elsewhere or to someone else ---


@pytest.mark.parametrize(("first", "second"), [
    (("Magnitude 6.1 earthquake strikes Peru, no tsunami warning",
      "A magnitude 6.1 earthquake struck Peru on Tuesday, the USGS said."),
     ("Magnitude 6.1 earthquake strikes Japan, no tsunami warning",
      "A magnitude 6.1 earthquake struck Japan on Tuesday, the USGS said.")),
    (("At Cannes, critics hail Anora as a tender, furious comedy", ""),
     ("At Cannes, critics hail Conclave as a tender, furious comedy", "")),
])
def test_different_names_in_otherwise_alike_titles_are_two_events(
        first: tuple[str, str], second: tuple[str, str]) -> None:
    a = text_of(*first, NOON)
    b = text_of(*second, NOON + timedelta(hours=1))
    score, veto = Comparison([a, b]).verdict(0, 1)
    assert score >= neardup.needed(1.0) and veto == "different names in otherwise alike titles"


@pytest.mark.parametrize(("first", "second"), [
    # a demonym names the same place; a piece's kind is no name; Title Case says nothing
    ("Death toll rises to 41 in Turkey coal mine explosion",
     "Death toll rises to 41 in tragic Turkish coal mine explosion"),
    ("Red Wings beat Lightning 4-2 - Highlights", "Red Wings beat Lightning 4-2 - Recap"),
    ("Ruto Meets Odinga In Nairobi Talks", "Ruto Meets Raila In Mombasa Talks"),
])
def test_alike_titles_naming_the_same_subject_stay_one_story(first: str, second: str) -> None:
    a, b = text_of(first, "", NOON), text_of(second, "", NOON)
    assert Comparison([a, b]).verdict(0, 1)[1] != "different names in otherwise alike titles"


@pytest.mark.parametrize(("title", "is_roundup"), [
    ("Stocks making the biggest moves midday: Nvidia, Tesla, Walmart", True),
    ("Biggest stock movers today: Nvidia, Salesforce", True),
    ("Earnings recap: Nvidia beats, Salesforce misses", True),
    ("5 things to know before the stock market opens", True),
    ("Nvidia beats earnings forecasts on data-centre demand", False),
    ("Qatar PM arrives in Venezuela: what to know", False),  # one story, explained
])
def test_earnings_and_movers_round_ups_are_round_ups(title: str, is_roundup: bool) -> None:
    assert neardup.roundup(title) is is_roundup
