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


def _costing(cost: int, value: float = 0.5, name: str = "") -> Story:
    """A story whose html_cost is exactly `cost` (at least 42): 5 x title length + 37 + summary."""
    length, extra = divmod(cost - 37, 5)
    title = (name + "t" * length)[:length]
    made = _scored(title, value, summary="s" * extra)
    assert html_cost(made) == cost
    return made


def test_the_cost_of_a_story_counts_each_field_as_often_as_the_email_shows_it() -> None:
    plain = story("abc", "tech", timedelta(0), summary="s" * 500, also=1)
    pictured = replace(plain, image="https://i.example/p.jpg")
    # title x3, URL x2, summary up to 400, source, image x2, each also's name and URL
    assert html_cost(plain) == 3 * 3 + 2 * 21 + 400 + 1 + (8 + 22)
    assert html_cost(pictured) == html_cost(plain) + 2 * 23


def test_a_story_is_an_outlier_only_past_three_times_the_median_story() -> None:
    # the median of six is the fourth cheapest: 537 here (the third is 42)
    others = [_costing(42, 0.9, "a"), _costing(42, 0.8, "b"), _costing(42, 0.7, "c"),
              _costing(537, 0.6, "d"), _costing(537, 0.1, "e")]
    at_three = _costing(3 * 537, 0.95, "h")
    assert next_to_leave_out([*others, at_three])[0].title.startswith("e")
    past_three = _costing(3 * 537 + 1, 0.95, "h")
    assert next_to_leave_out([*others, past_three])[0] is past_three


def test_a_small_story_is_an_outlier_only_1_kb_past_the_median() -> None:
    others = [_costing(42, 0.9, "a"), _costing(42, 0.1, "b")]
    within = _costing(42 + 1024, 0.95, "h")
    assert next_to_leave_out([*others, within])[0].title.startswith("b")
    past = _costing(42 + 1025, 0.95, "h")
    assert next_to_leave_out([*others, past])[0] is past


def test_of_two_equally_costly_outliers_the_lower_ranked_goes_first() -> None:
    others = [_costing(42, 0.5, "a"), _costing(42, 0.5, "b"), _costing(42, 0.5, "c")]
    better, worse = _costing(5000, 0.9, "x"), _costing(5000, 0.2, "y")
    assert next_to_leave_out([*others, better, worse])[0] is worse
    assert next_to_leave_out([*others, worse, better])[0] is worse


def test_too_costly_means_over_a_quarter_of_the_budget() -> None:
    assert too_costly([_costing(22_500)], 90_000) == []
    over = _costing(22_501)
    assert too_costly([over], 90_000) == [over]
    assert too_costly([_costing(20_000)], 90_000) == []
