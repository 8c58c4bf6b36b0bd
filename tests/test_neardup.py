"""neardup: text normalisation, LSH blocking, verification guards."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from digest import neardup
from digest.neardup import Comparison, Match, strip_title, text_of, words

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


def test_opposite_words_veto_only_titles_that_are_otherwise_alike() -> None:
    lede = "The striker scored twice in the second half at the Stade de France on Sunday."
    wins = text_of("PSG wins Paris derby against Paris FC", lede, NOON)
    loses = text_of("PSG loses Paris derby against Paris FC", lede, NOON)
    comparison = Comparison([wins, loses])
    score, veto = neardup.similarity(wins, loses, comparison.weight)
    assert score > neardup.STRONG and veto is not None and "opposite" in veto

    backs = text_of("EU countries back fresh Russia sanctions after Hungary drops veto", lede,
                    NOON)
    agrees = text_of("EU agrees sanctions package on shadow fleet", lede, NOON)
    assert neardup.similarity(backs, agrees, Comparison([backs, agrees]).weight)[1] is None


def test_different_title_numbers_are_different_events() -> None:
    lede = "Germany's statistics office said prices rose less than expected."
    a = text_of("German inflation eases to 2.1% in November", lede, NOON)
    b = text_of("German inflation eases to 2.4% in November", lede, NOON)
    veto = neardup.similarity(a, b, Comparison([a, b]).weight)[1]
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
    assert neardup.similarity(a, b, Comparison([a, b]).weight)[1] is None  # identical: 1.0


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
    assert comparison.join_ok(weak, [0], [4])  # two single texts: the link is all there is
    assert comparison.join_ok(Match(0, 4, neardup.STRONG), [0, 1, 2, 3], [4])
