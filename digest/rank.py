"""Scores and per-section selection; pure and deterministic given `now`: no I/O, no clock.

    score = recency x feed weight x coverage x boost

- recency = 0.5 ** (age / half_life): a story loses half its score every half-life; a story
  without a date, or dated in the future, counts as published at `now`;
- feed weight: the weight of the feed the story's representative came from;
- coverage = 1 + 0.5 x log2(outlets): the outlets that carried the story (the representative
  and its `also`): 1 for one outlet, 1.5 for two, 2 for four, 2.5 for eight;
- boost: the largest of the section's `boost` factors whose word the story names, else 1.

Selection takes stories best first (ties: title, then URL) into their section, skipping a story
when its section is full (`max_stories`), the edition is full, or its source already has
`max_per_source` stories in that section. A section that ends with fewer than its
`min_stories` is left out and selection runs again without it, so its places go to others.
Sections come in the configured order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from digest.models import Section, Story

COVERAGE_PER_DOUBLING = 0.5


@dataclass(frozen=True, slots=True)
class SectionLimit:
    id: str
    title: str
    max_stories: int
    min_stories: int = 1
    max_per_source: int | None = None
    boost: Mapping[str, float] = field(default_factory=dict)


def outlets(story: Story) -> int:
    """How many outlets carried the story: its feeds (two feeds that carried the same article
    both picked it up, though `also` lists other articles only), or its also-links when
    that is more (a story read back without its items)."""
    return max(1 + len(story.also), len({item.feed_url for item in story.items}))


def coverage(story: Story) -> float:
    return 1.0 + COVERAGE_PER_DOUBLING * math.log2(outlets(story))


def boost(story: Story, factors: Mapping[str, float]) -> float:
    """The largest factor whose word the story names (`section_terms`, as classify found
    them, or the title and summary), else 1."""
    if not factors:
        return 1.0
    named = {t.casefold() for t in story.section_terms}
    text = f"{story.title} {story.summary}".casefold()
    best = 1.0
    for word, factor in factors.items():
        folded = word.casefold()
        if folded in named or _names(text, folded):
            best = max(best, factor)
    return best


def _names(text: str, word: str) -> bool:
    start = text.find(word)
    while start >= 0:
        end = start + len(word)
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        if not before.isalnum() and not after.isalnum():
            return True
        start = text.find(word, start + 1)
    return False


def score(story: Story, now: datetime, half_life: timedelta,
          factors: Mapping[str, float] | None = None) -> float:
    when = story.when or now
    age = max((now - when).total_seconds(), 0.0)
    recency = 0.5 ** (age / half_life.total_seconds())
    return float(story.weight * recency * coverage(story) * boost(story, factors or {}))


def select_sections(
    stories: Sequence[Story],
    sections: Sequence[SectionLimit],
    *,
    now: datetime,
    half_life: timedelta,
    max_stories: int,
) -> list[Section]:
    """Rank stories and fill the sections (see the module docstring); empty sections and
    sections below their minimum are left out."""
    limits = {s.id: s for s in sections}
    scored = sorted(  # the stories chosen get their score; the many others need not be copied
        ((score(s, now, half_life, limits[s.section].boost if s.section in limits else None), s)
         for s in stories),
        key=lambda pair: (-pair[0], pair[1].title, pair[1].url),
    )
    allowed = {s.id for s in sections}
    while True:
        chosen = _fill(scored, limits, allowed, max_stories)
        short = {sid for sid in allowed if len(chosen[sid]) < limits[sid].min_stories}
        if not short:
            break
        allowed -= short
    return [Section(s.id, s.title, tuple(replace(story, score=points)
                                         for points, story in chosen[s.id]))
            for s in sections if s.id in allowed and chosen[s.id]]


def _fill(scored: Sequence[tuple[float, Story]], limits: Mapping[str, SectionLimit],
          allowed: set[str], max_stories: int) -> dict[str, list[tuple[float, Story]]]:
    chosen: dict[str, list[tuple[float, Story]]] = {sid: [] for sid in limits}
    per_source: dict[tuple[str, str], int] = {}
    total = 0
    for points, story in scored:  # best first, so the edition cap keeps the best across sections
        if total >= max_stories:
            break
        limit = limits.get(story.section)
        if limit is None or story.section not in allowed:
            continue
        bucket = chosen[story.section]
        if len(bucket) >= limit.max_stories:
            continue
        key = (story.section, story.source)
        if limit.max_per_source is not None and per_source.get(key, 0) >= limit.max_per_source:
            continue
        bucket.append((points, story))
        per_source[key] = per_source.get(key, 0) + 1
        total += 1
    return chosen


# --- the size budget: which story to leave out first ---

# What one story adds to the email, estimated from its displayed fields: its title appears in
# the contents, the headline and the image's alt text, its URL behind the headline and the
# image, its summary is cut to a few sentences (render.SUMMARY_CHARS), and every "also" outlet
# adds a name and a link. Markup is about the same for every story, so it is left out.
_SHOWN_SUMMARY = 400
# A story is an outlier when it costs this many times the typical (median) story, and at least
# _OUTLIER_SLACK bytes more: such a story is left out before any better-ranked one is.
OUTLIER_FACTOR = 3
_OUTLIER_SLACK = 1024


def html_cost(story: Story) -> int:
    """An estimate of the bytes a story adds to the email's HTML (see above)."""
    also = sum(len(a.source.encode()) + len(a.url.encode()) for a in story.also)
    return (3 * len(story.title.encode()) + 2 * len(story.url.encode())
            + len(story.summary[:_SHOWN_SUMMARY].encode()) + len(story.source.encode())
            + 2 * len((story.image or "").encode()) + also)


def too_costly(stories: Sequence[Story], budget: int) -> list[Story]:
    """The stories that alone would take over a quarter of a `budget`-byte email: no ranking
    makes room for them, so they are left out before anything is rendered."""
    return [st for st in stories if html_cost(st) > budget // 4]


def next_to_leave_out(stories: Sequence[Story]) -> tuple[Story, str]:
    """The story to leave out of an edition over its size budget, and why: the costliest
    outlier first (one heavy story never pushes out the well-ranked rest), else the
    lowest-ranked story (ties: title, then URL)."""
    if not stories:
        raise ValueError("no story to leave out")
    costs = {id(st): html_cost(st) for st in stories}
    typical = sorted(costs.values())[len(costs) // 2]
    heaviest = max(stories, key=lambda st: (costs[id(st)], -st.score, st.title, st.url))
    cost = costs[id(heaviest)]
    if cost > OUTLIER_FACTOR * typical and cost - typical > _OUTLIER_SLACK:
        return heaviest, f"it costs about {cost:,} bytes, the typical story {typical:,}"
    worst = min(stories, key=lambda st: (st.score, st.title, st.url))
    return worst, f"the lowest-ranked story, score {worst.score:.3f}"
