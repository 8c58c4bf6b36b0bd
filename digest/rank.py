"""Scores and per-section selection; pure and deterministic given `now`: no I/O, no clock.

score = feed weight x 0.5 ** (age / half_life): a story loses half its weight every half-life.
A story without any date counts as published at `now`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from digest.models import Section, Story


@dataclass(frozen=True, slots=True)
class SectionLimit:
    id: str
    title: str
    max_stories: int


def score(story: Story, now: datetime, half_life: timedelta) -> float:
    when = story.when or now
    age = max((now - when).total_seconds(), 0.0)
    return float(story.weight * 0.5 ** (age / half_life.total_seconds()))


def select_sections(
    stories: Sequence[Story],
    sections: Sequence[SectionLimit],
    *,
    now: datetime,
    half_life: timedelta,
    max_stories: int,
) -> list[Section]:
    """Rank stories, keep the best `max_stories` per section and per edition, sections in the
    configured order, empty sections left out. Ties go to the earlier title alphabetically."""
    scored = sorted(
        (replace(s, score=score(s, now, half_life)) for s in stories),
        key=lambda s: (-s.score, s.title, s.url),
    )
    limits = {s.id: s.max_stories for s in sections}
    chosen: dict[str, list[Story]] = {s.id: [] for s in sections}
    total = 0
    for story in scored:  # best first, so the edition cap keeps the best across sections
        bucket = chosen.get(story.section)
        if bucket is None or len(bucket) >= limits[story.section] or total >= max_stories:
            continue
        bucket.append(story)
        total += 1
    return [Section(s.id, s.title, tuple(chosen[s.id])) for s in sections if chosen[s.id]]
