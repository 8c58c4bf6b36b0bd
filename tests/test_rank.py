"""rank: recency x weight, deterministic given now; per-section and per-edition caps."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from digest.models import AlsoLink, Item, Story
from digest.rank import (
    OUTLIER_FACTOR,
    SectionLimit,
    coverage,
    html_cost,
    next_to_leave_out,
    score,
    select_sections,
    too_costly,
)

NOW = datetime(2026, 11, 30, 7, tzinfo=UTC)
DAY = timedelta(days=1)


def story(title: str, section: str, age: timedelta, weight: float = 1.0, source: str = "S",
          also: int = 0, summary: str = "") -> Story:
    when = NOW - age
    it = Item(feed_url="f", key=title, url=f"https://x.example/{title}", title=title,
              summary=summary, published=when, source=source, weight=weight)
    others = tuple(AlsoLink(f"Outlet {n}", f"https://o{n}.example/{title}") for n in range(also))
    return Story(title=title, url=it.url, source=source, published=when, summary=summary,
                 weight=weight, items=(it,), section=section, also=others)


def test_score_halves_every_half_life() -> None:
    fresh = story("a", "tech", timedelta(0))
    old = story("b", "tech", 2 * DAY)
    assert score(fresh, NOW, 2 * DAY) == 1.0
    assert abs(score(old, NOW, 2 * DAY) - 0.5) < 1e-9
    assert abs(score(story("c", "tech", 2 * DAY, weight=2.0), NOW, 2 * DAY) - 1.0) < 1e-9


def test_future_and_undated_stories_count_as_now() -> None:
    assert score(story("f", "tech", -DAY), NOW, DAY) == 1.0


def test_selection_caps_and_orders() -> None:
    stories = [story(f"t{i}", "tech", i * DAY / 4) for i in range(6)]
    stories += [story(f"e{i}", "europe", i * DAY / 3) for i in range(4)]
    stories += [story("x", "unknown-section", timedelta(0))]
    limits = [SectionLimit("tech", "Tech", 3), SectionLimit("africa", "Africa", 5),
              SectionLimit("europe", "Europe", 5)]
    sections = select_sections(stories, limits, now=NOW, half_life=DAY, max_stories=30)
    assert [s.id for s in sections] == ["tech", "europe"]  # configured order, empty left out
    assert [s.title for s in sections[0].stories] == ["t0", "t1", "t2"]
    assert [s.title for s in sections[1].stories] == ["e0", "e1", "e2", "e3"]
    scores = [s.score for s in sections[1].stories]
    assert scores == sorted(scores, reverse=True)


def test_edition_cap_keeps_the_best_across_sections() -> None:
    stories = [story("old-tech", "tech", 3 * DAY), story("new-tech", "tech", timedelta(0)),
               story("mid-eu", "europe", DAY)]
    limits = [SectionLimit("tech", "Tech", 5), SectionLimit("europe", "Europe", 5)]
    sections = select_sections(stories, limits, now=NOW, half_life=DAY, max_stories=2)
    chosen = {s.title for sec in sections for s in sec.stories}
    assert chosen == {"new-tech", "mid-eu"}


def test_weight_can_outrank_recency() -> None:
    heavy = story("heavy", "tech", DAY, weight=3.0)
    light = story("light", "tech", timedelta(0), weight=1.0)
    sections = select_sections([light, heavy], [SectionLimit("tech", "Tech", 5)], now=NOW,
                               half_life=DAY, max_stories=5)
    assert [s.title for s in sections[0].stories] == ["heavy", "light"]


def test_coverage_counts_outlets_on_a_log_scale() -> None:
    assert [coverage(story("c", "tech", DAY, also=n)) for n in (0, 1, 3, 7)] == [
        1.0, 1.5, 2.0, 2.5]
    widely = story("wide", "tech", DAY, also=3)  # four outlets, a day old
    alone = story("alone", "tech", timedelta(0))
    assert score(widely, NOW, DAY) == 1.0  # 0.5 recency x 2.0 coverage
    assert score(widely, NOW, DAY) == score(alone, NOW, DAY)


def test_boost_multiplies_stories_naming_a_word() -> None:
    nvidia = story("Nvidia results", "tech", timedelta(0), summary="The chipmaker grew.")
    other = story("Intel results", "tech", timedelta(0))
    assert score(nvidia, NOW, DAY, {"nvidia": 1.5, "chipmaker": 2.0}) == 2.0  # the largest
    assert score(other, NOW, DAY, {"nvidia": 1.5}) == 1.0
    assert score(story("Nvidiaish", "tech", timedelta(0)), NOW, DAY, {"Nvidia": 3}) == 1.0
    limits = [SectionLimit("tech", "Tech", 1, boost={"Nvidia": 3.0})]
    older = story("Nvidia outage", "tech", DAY)  # 0.5 x 3 beats a fresh story at 1
    sections = select_sections([other, older], limits, now=NOW, half_life=DAY, max_stories=5)
    assert [s.title for s in sections[0].stories] == ["Nvidia outage"]


def test_at_most_n_stories_per_source_in_a_section() -> None:
    stories = [story(f"wire{i}", "tech", i * DAY / 10, source="Wire") for i in range(5)]
    stories.append(story("blog", "tech", DAY, source="Blog"))
    limits = [SectionLimit("tech", "Tech", 5, max_per_source=2)]
    sections = select_sections(stories, limits, now=NOW, half_life=DAY, max_stories=30)
    assert [s.title for s in sections[0].stories] == ["wire0", "wire1", "blog"]


def test_a_section_below_its_minimum_is_left_out_and_its_places_reused() -> None:
    stories = [story("lone-africa", "africa", timedelta(0))]
    stories += [story(f"t{i}", "tech", (i + 1) * DAY / 10) for i in range(3)]
    limits = [SectionLimit("tech", "Tech", 5), SectionLimit("africa", "Africa", 5,
                                                            min_stories=2)]
    sections = select_sections(stories, limits, now=NOW, half_life=DAY, max_stories=3)
    assert [s.id for s in sections] == ["tech"]
    assert [s.title for s in sections[0].stories] == ["t0", "t1", "t2"]  # 3 places, all tech


def test_chosen_stories_carry_their_scores_and_sections_their_titles() -> None:
    stories = [story("fresh", "tech", timedelta(0), weight=2.0), story("old", "tech", 2 * DAY)]
    sections = select_sections(stories, [SectionLimit("tech", "Tech", 5)], now=NOW,
                               half_life=DAY, max_stories=5)
    assert [(s.id, s.title) for s in sections] == [("tech", "Tech")]
    assert [(s.title, s.score) for s in sections[0].stories] == [("fresh", 2.0), ("old", 0.25)]


def test_one_story_per_source_when_max_per_source_is_1() -> None:
    stories = [story(f"wire{i}", "tech", i * DAY / 10, source="Wire") for i in range(3)]
    stories += [story("blog", "tech", DAY, source="Blog"), story("zine", "tech", 2 * DAY,
                                                                 source="Zine")]
    limits = [SectionLimit("tech", "Tech", 5, max_per_source=1)]
    sections = select_sections(stories, limits, now=NOW, half_life=DAY, max_stories=30)
    assert [s.title for s in sections[0].stories] == ["wire0", "blog", "zine"]


def test_a_section_without_a_minimum_is_still_left_out_when_empty() -> None:
    limits = [SectionLimit("tech", "Tech", 5), SectionLimit("africa", "Africa", 5,
                                                            min_stories=0)]
    sections = select_sections([story("t", "tech", timedelta(0))], limits, now=NOW,
                               half_life=DAY, max_stories=5)
    assert [s.id for s in sections] == ["tech"]


@pytest.mark.parametrize(("title", "summary", "boosted"), [
    ("Nvidia beats forecasts", "Shares rose", True),  # first word; text ends in a letter
    ("Chip shares rally", "led by Nvidia", True),  # last word of the text
    ("Nvidiaish fans of Nvidia", "", True),  # inside a longer word first, then whole
    ("Nvidia fans wear Nvidiaish merch", "", True),  # whole first, then inside a word
    ("Nvidiaish fans of Nvidia buy Nvidiaish merch", "", True),  # whole only in the middle
    ("AntiNvidia rally", "", False),  # at the end of a longer word
    ("Nvidiaish rally", "Nvidiaholics", False),
])
def test_a_boost_word_counts_only_as_a_whole_word(title: str, summary: str,
                                                  boosted: bool) -> None:
    factor = score(story(title, "tech", timedelta(0), summary=summary), NOW, DAY,
                   {"nvidia": 3.0})
    assert factor == (3.0 if boosted else 1.0)


# --- the size budget's order: the costliest outlier, then the lowest-ranked ---


def _scored(title: str, value: float, **kw: object) -> Story:
    return replace(story(title, "tech", timedelta(0), **kw), score=value)  # type: ignore[arg-type]


def test_an_outlier_is_left_out_before_any_better_ranked_story() -> None:
    stories = [_scored(f"story {n}", 0.9 - n / 10) for n in range(5)]
    heavy = _scored("heavy", 0.95, summary="word " * 3000, also=40)
    chosen, why = next_to_leave_out([*stories, heavy])
    assert chosen is heavy and "costs about" in why
    assert html_cost(heavy) > OUTLIER_FACTOR * html_cost(stories[0])


def test_without_an_outlier_the_lowest_ranked_story_goes_first() -> None:
    stories = [_scored(f"story {n}", 0.9 - n / 10) for n in range(5)]
    stories.append(_scored("a little longer, not an outlier " * 2, 0.85))
    chosen, why = next_to_leave_out(stories)
    assert chosen.title == "story 4" and "lowest-ranked" in why
    tied = [_scored("b", 0.5), _scored("a", 0.5)]
    assert next_to_leave_out(tied)[0].title == "a"
    assert next_to_leave_out(list(reversed(tied)))[0].title == "a"
    with pytest.raises(ValueError):
        next_to_leave_out([])


def test_a_story_bigger_than_a_quarter_of_the_budget_can_never_fit() -> None:
    normal = _scored("normal", 0.5)
    huge = _scored("huge " * 10_000, 0.9)
    assert too_costly([normal, huge], 90_000) == [huge]
    assert too_costly([normal], 90_000) == []
