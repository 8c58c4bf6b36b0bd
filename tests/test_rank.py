"""rank: recency x weight, deterministic given now; per-section and per-edition caps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from digest.models import Item, Story
from digest.rank import SectionLimit, score, select_sections

NOW = datetime(2026, 11, 30, 7, tzinfo=UTC)
DAY = timedelta(days=1)


def story(title: str, section: str, age: timedelta, weight: float = 1.0) -> Story:
    when = NOW - age
    it = Item(feed_url="f", key=title, url=f"https://x.example/{title}", title=title,
              summary="", published=when, source="S", weight=weight)
    return Story(title=title, url=it.url, source="S", published=when, summary="",
                 weight=weight, items=(it,), section=section)


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
