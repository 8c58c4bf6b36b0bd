"""The hand-labelled section sets in tests/data/sections/ and how sectioning is scored on them.

Used by tests/test_classify_labelled.py (which asserts the targets) and bench/sections.py (which
reports them). Stories are sorted as the shipped feeds.yaml sorts a `section: auto` feed: its
sections (tech, africa, europe) with their built-in word lists and keywords; a story that
reaches none of them counts as `other`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from digest.classify import Lexicon, classify_stories
from digest.config import load_settings
from digest.lexicon import section_lexicon
from digest.models import Item, Story

HERE = Path(__file__).parent
SETS = ("dev", "holdout")  # tuned on dev; holdout was written separately
LABELS = ("tech", "africa", "europe", "other")


@dataclass(frozen=True)
class Labelled:
    id: str
    section: str
    hard: bool
    story: Story


def load(name: str) -> list[Labelled]:
    data = yaml.safe_load((HERE / "data" / "sections" / f"{name}.yaml").read_text("utf-8"))
    out = []
    for raw in data["items"]:
        title, summary = raw["title"], raw.get("summary") or ""
        item = Item(feed_url="https://world.example/feed", key=raw["id"],
                    url=f"https://world.example/{raw['id']}", title=title, summary=summary,
                    published=None, source="World")
        story = Story(title=title, url=item.url, source="World", published=None,
                      summary=summary, weight=1.0, items=(item,))
        out.append(Labelled(raw["id"], raw["section"], bool(raw.get("hard")), story))
    return out


def default_lexicon() -> tuple[Lexicon, float]:
    settings = load_settings(HERE.parent / "feeds.yaml", env={})
    return section_lexicon(settings.sections), settings.edition.min_score


@dataclass
class Score:
    total: int = 0
    correct: int = 0
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)  # (truth, predicted)
    wrong: list[tuple[Labelled, str, str]] = field(default_factory=list)  # item, got, reason

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 1.0

    def precision(self, label: str) -> float:
        predicted = sum(n for (_, p), n in self.confusion.items() if p == label)
        return self.confusion[(label, label)] / predicted if predicted else 1.0

    def recall(self, label: str) -> float:
        actual = sum(n for (t, _), n in self.confusion.items() if t == label)
        return self.confusion[(label, label)] / actual if actual else 1.0


def score(items: list[Labelled], lexicon: Lexicon, min_score: float) -> Score:
    result = Score()
    for labelled in items:
        # as a `section: auto` feed's story with no fallback: one the words place nowhere (or
        # in the fallback's own list: sport, entertainment, science) is dropped
        placed, dropped = classify_stories([labelled.story], lexicon, {}, fallback=None,
                                           min_score=min_score)
        got = placed[0].section if placed else "other"
        reason = placed[0].section_reason if placed else dropped[0]
        result.total += 1
        result.correct += got == labelled.section
        result.confusion[(labelled.section, got)] += 1
        if got != labelled.section:
            result.wrong.append((labelled, got, reason))
    return result
