"""Real third-party labelled news in tests/data/real/ and how digest is scored on it.

The hand-written sets (tests/data/sections, tests/data/stories) were written for this project;
these were not: every label comes from someone else (a newsroom's desk for sections; an
editor's or annotator's same-story grouping for duplicates), so they show how digest does on
news it was never tuned to. tests/data/real/README.md says where each file comes from.

Everything goes through digest's public interfaces, as tests/labelled_sections.py and
tests/labelled_stories.py do: sections through the shipped feeds.yaml sections and
`classify_stories`, duplicates through `dedupe.cluster_stories`.

Used by tests/test_real_data.py (floors) and bench/real.py (figures and worst errors).
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

import labelled_sections
import labelled_stories
from digest.dedupe import cluster_stories
from digest.models import Item, Story

REAL = Path(__file__).parent / "data" / "real"
LABELS = labelled_sections.LABELS  # tech, africa, europe, other
SECTION_SETS = ("sections_dev", "sections_holdout")
STORY_SETS = tuple(p.stem for p in sorted(REAL.glob("stories_*.yaml")))
PAIR_SETS = tuple(p.stem for p in sorted(REAL.glob("pairs_*.yaml")))


def _read(name: str) -> Any:
    return yaml.safe_load((REAL / f"{name}.yaml").read_text("utf-8"))


def _when(value: Any) -> datetime | None:
    """A YAML date or timestamp as an aware UTC datetime (a bare date is its midnight)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise ValueError(f"not a date: {value!r}")


# --- sections --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SectionItem:
    """One labelled headline as the YAML has it, with the story digest is shown."""

    id: str
    section: str
    title: str
    summary: str
    source: str  # the publisher's desk the label came from
    published: datetime | None
    story: Story


def load_sections(name: str) -> list[SectionItem]:
    """The items of one sections file, each as a one-item story from a `section: auto` feed.

    The story gets a neutral URL and the publisher's name only: the desk is in the real URL
    (/news/world-africa-…) and in the desk name, and either would hand digest the answer.
    """
    out = []
    for raw in _read(name)["items"]:
        title, summary = raw["title"], raw.get("summary") or ""
        publisher = str(raw["source"]).split(" ", 1)[0]
        url = f"https://news.example/{raw['id']}"
        item = Item(feed_url="https://news.example/feed", key=raw["id"], url=url, title=title,
                    summary=summary, published=None, source=publisher)
        story = Story(title=title, url=url, source=publisher, published=None, summary=summary,
                      weight=1.0, items=(item,))
        out.append(SectionItem(raw["id"], raw["section"], title, summary, str(raw["source"]),
                               _when(raw.get("published")), story))
    return out


def score_sections(items: Sequence[SectionItem]) -> labelled_sections.Score:
    """Accuracy, per-class precision/recall and confusion, exactly as the hand-written sets."""
    lexicon, min_score = labelled_sections.default_lexicon()
    labelled = [labelled_sections.Labelled(i.id, i.section, False, i.story) for i in items]
    return labelled_sections.score(labelled, lexicon, min_score)


def section_errors(result: labelled_sections.Score, per_group: int | None = None) -> list[str]:
    """One line per wrong item, grouped by (truth -> got), biggest group first: for tuning.

    `per_group` keeps only the first few of each group, so a short list shows every kind.
    """
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for item, got, reason in result.wrong:
        groups[(item.section, got)].append(f"{item.id} {item.story.title} :: {reason}")
    order = sorted(groups, key=lambda k: (-len(groups[k]), k))
    return [f"[{truth} -> {got}] {line}" for truth, got in order
            for line in groups[(truth, got)][:per_group]]


# --- duplicates: clusters ----------------------------------------------------------------------


@dataclass(frozen=True)
class Stories:
    items: list[Item]
    story: dict[str, str]  # item id -> labelled story


def load_stories(name: str) -> Stories:
    """A stories file (the tests/data/stories format: stories with items) as feed items."""
    items: list[Item] = []
    story: dict[str, str] = {}
    for entry in _read(name)["stories"]:
        for raw in entry["items"]:
            items.append(_item(raw, len(items) + 1))
            story[raw["id"]] = str(entry["story"])
    return Stories(items, story)


def _item(raw: Mapping[str, Any], row: int) -> Item:
    published = _when(raw.get("published"))
    feed = str(raw["source"]).lower().replace(" ", "-")
    return Item(feed_url=f"https://{feed}.example/feed", key=str(raw["id"]), url=str(raw["url"]),
                title=str(raw["title"]), summary=str(raw.get("summary") or ""),
                published=published, source=str(raw["source"]), id=row, first_seen=published)


@dataclass
class ClusterScore(labelled_stories.Score):
    """Pairwise (as the hand-written sets) and B-cubed agreement of digest's stories with the
    labelled ones."""

    bcubed_precision: float = 1.0
    bcubed_recall: float = 1.0

    @property
    def bcubed_f1(self) -> float:
        p, r = self.bcubed_precision, self.bcubed_recall
        return 2 * p * r / (p + r) if p + r else 0.0


def compare_partitions(items: Sequence[Item], truth: Mapping[str, str],
                       found: Mapping[str, int]) -> ClusterScore:
    """Score `found` (item id -> digest's story) against `truth` (item id -> labelled story).

    Pairwise counts are kept per pair only for pairs that share a labelled or a found story, so
    a window of thousands of singletons costs what its groups cost, not n squared.
    """
    result = ClusterScore()
    by_truth: dict[str, list[Item]] = defaultdict(list)
    by_found: dict[int, list[Item]] = defaultdict(list)
    for item in items:
        by_truth[truth[item.key]].append(item)
        by_found[found[item.key]].append(item)
    for group in by_truth.values():
        for a, b in itertools.combinations(group, 2):
            result.true_pairs += 1
            if found[a.key] == found[b.key]:
                result.correct_pairs += 1
            else:
                result.missed.append((a, b))
    for group in by_found.values():
        for a, b in itertools.combinations(group, 2):
            result.found_pairs += 1
            if truth[a.key] != truth[b.key]:
                result.wrong.append((a, b))
    if items:
        # B-cubed: for each item, the share of its found story that is its labelled story
        # (precision) and the share of its labelled story that digest put with it (recall)
        overlap = Counter((truth[i.key], found[i.key]) for i in items)
        result.bcubed_precision = sum(overlap[(truth[i.key], found[i.key])]
                                      / len(by_found[found[i.key]]) for i in items) / len(items)
        result.bcubed_recall = sum(overlap[(truth[i.key], found[i.key])]
                                   / len(by_truth[truth[i.key]]) for i in items) / len(items)
    return result


def clusters_of(items: Sequence[Item]) -> dict[str, int]:
    """Item id -> the number of the story `cluster_stories` put it in."""
    stories, _ = cluster_stories(items)
    return {item.key: n for n, story in enumerate(stories) for item in story.items}


def score_stories(labelled: Stories) -> ClusterScore:
    return compare_partitions(labelled.items, labelled.story, clusters_of(labelled.items))


# --- duplicates: pairs -------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    id: str
    same: bool
    a: Item
    b: Item


def load_pairs(name: str) -> list[Pair]:
    """A pairs file: each pair's two items and whether they report the same story."""
    out = []
    for raw in _read(name)["pairs"]:
        if raw["label"] not in ("same", "different"):
            raise ValueError(f"{raw['id']}: label {raw['label']!r}")
        out.append(Pair(str(raw["id"]), raw["label"] == "same", _item(raw["a"], 1),
                        _item(raw["b"], 2)))
    return out


@dataclass
class PairScore:
    total: int = 0
    same: int = 0
    merged: int = 0
    correct_merges: int = 0
    missed: list[Pair] = field(default_factory=list)
    wrong: list[Pair] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.correct_merges / self.merged if self.merged else 1.0

    @property
    def recall(self) -> float:
        return self.correct_merges / self.same if self.same else 1.0


def score_pairs(pairs: Iterable[Pair]) -> PairScore:
    """Each pair as a two-item window through cluster_stories: merged or not."""
    result = PairScore()
    for pair in pairs:
        found = clusters_of([pair.a, pair.b])
        merged = found[pair.a.key] == found[pair.b.key]
        result.total += 1
        result.same += pair.same
        result.merged += merged
        result.correct_merges += pair.same and merged
        if pair.same and not merged:
            result.missed.append(pair)
        elif merged and not pair.same:
            result.wrong.append(pair)
    return result


def duplicate_errors(wrong: Sequence[tuple[Item, Item]], missed: Sequence[tuple[Item, Item]],
                     limit: int = 10) -> list[str]:
    """The first `limit` over-merges and misses, as title pairs: for tuning."""
    def line(kind: str, a: Item, b: Item) -> str:
        return f"{kind}: {a.source}: {a.title!r} + {b.source}: {b.title!r}"

    return ([line("over-merge", a, b) for a, b in wrong[:limit]]
            + [line("missed", a, b) for a, b in missed[:limit]])
