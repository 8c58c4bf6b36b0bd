"""The hand-labelled story sets in tests/data/stories/ and how clustering is scored on them.

Used by tests/test_dedupe_labelled.py (which asserts the targets) and bench/dedupe.py (which
reports them). Scores are pairwise: every pair of items is either in one labelled story or not,
and either merged by digest or not.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

from digest.dedupe import cluster_stories
from digest.models import Item

STORIES = Path(__file__).parent / "data" / "stories"
SETS = ("dev", "holdout")  # tuned on dev; holdout was written separately and never tuned on
HARDEST_FIRST = ("rewrite", "live-prefix", "edited-title", "update-prefix", "wire",
                 "punctuation-case", "same-guid", "amp-url", "tracking-url", "original")


@dataclass(frozen=True)
class Labelled:
    items: list[Item]
    story: dict[str, str]  # item id (Item.key) -> labelled story
    kind: dict[str, str]  # item id -> how it relates to its story's first item
    negative: dict[str, str]  # story -> negative_kind, for hard negatives


def load(name: str) -> Labelled:
    data = yaml.safe_load((STORIES / f"{name}.yaml").read_text(encoding="utf-8"))
    items, story, kind, negative = [], {}, {}, {}
    for entry in data["stories"]:
        if "negative_kind" in entry:
            negative[entry["story"]] = entry["negative_kind"]
        for raw in entry["items"]:
            published = raw["published"]
            if isinstance(published, str):
                published = datetime.fromisoformat(published)
            feed = raw["source"].lower().replace(" ", "-")
            items.append(Item(
                feed_url=f"https://{feed}.example/feed",
                key=raw["id"], url=raw["url"], title=raw["title"], summary=raw["summary"] or "",
                published=published, guid=raw.get("guid"), source=raw["source"],
                id=len(items) + 1, first_seen=published))
            story[raw["id"]] = entry["story"]
            kind[raw["id"]] = raw["kind"]
    return Labelled(items, story, kind, negative)


@dataclass
class Score:
    true_pairs: int = 0
    found_pairs: int = 0
    correct_pairs: int = 0
    missed: list[tuple[Item, Item]] = field(default_factory=list)
    wrong: list[tuple[Item, Item]] = field(default_factory=list)
    recall_by_kind: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.found_pairs if self.found_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0


def score(labelled: Labelled, items: Sequence[Item] | None = None) -> Score:
    """Cluster the items and compare every pair with the labels."""
    items = labelled.items if items is None else items
    stories, _ = cluster_stories(items)
    cluster = {item.key: n for n, story in enumerate(stories) for item in story.items}
    result = Score()
    found_by_kind: Counter[str] = Counter()
    total_by_kind: Counter[str] = Counter()
    for a, b in itertools.combinations(items, 2):
        same = labelled.story[a.key] == labelled.story[b.key]
        merged = cluster[a.key] == cluster[b.key]
        result.true_pairs += same
        result.found_pairs += merged
        result.correct_pairs += same and merged
        if same:
            # a pair is as hard as its harder item: a rewrite paired with a tracking-URL copy
            # of the original is a rewrite pair
            kind = min((labelled.kind[a.key], labelled.kind[b.key]), key=HARDEST_FIRST.index)
            total_by_kind[kind] += 1
            found_by_kind[kind] += merged
            if not merged:
                result.missed.append((a, b))
        elif merged:
            result.wrong.append((a, b))
    result.recall_by_kind = {k: (found_by_kind[k], total_by_kind[k]) for k in total_by_kind}
    return result
