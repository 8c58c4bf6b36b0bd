"""Sections and duplicates on real third-party labelled news (tests/data/real/).

For every file there: sections files print accuracy, precision/recall per section and the
confusion; stories files print pairwise precision/recall and B-cubed precision/recall/F1;
pairs files print precision/recall of the "same story" decisions. Then the 10 worst errors
per file (for sections, two of each truth -> got group, biggest group first). Everything
goes through digest's public interfaces (tests/real_data.py). Nothing here asserts a figure;
tests/test_real_data.py holds the floors. Run alone: `python bench/real.py`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, os.fspath(REPO))
sys.path.insert(0, os.fspath(REPO / "tests"))

import real_data  # noqa: E402

WORST = 10


def report_sections(name: str) -> None:
    result = real_data.score_sections(real_data.load_sections(name))
    per = ", ".join(f"{label} P {result.precision(label):.2f} R {result.recall(label):.2f}"
                    for label in real_data.LABELS)
    print(f"  {name:18s} {result.total} items  accuracy {result.accuracy:.3f}  ({per})")
    header = "".join(f"{label:>8s}" for label in real_data.LABELS)
    print(f"      truth \\ got {header}")
    for truth in real_data.LABELS:
        row = "".join(f"{result.confusion[(truth, got)]:8d}" for got in real_data.LABELS)
        print(f"      {truth:14s}{row}")
    for line in real_data.section_errors(result, per_group=2)[:WORST]:
        print(f"      wrong: {line[:170]}")


def report_stories(name: str) -> None:
    labelled = real_data.load_stories(name)
    r = real_data.score_stories(labelled)
    print(f"  {name:18s} {len(labelled.items)} items, {len(set(labelled.story.values()))} stories"
          f"  pairwise P {r.precision:.3f} R {r.recall:.3f}  B-cubed P {r.bcubed_precision:.3f}"
          f" R {r.bcubed_recall:.3f} F1 {r.bcubed_f1:.3f}")
    for line in real_data.duplicate_errors(r.wrong, r.missed, WORST):
        print(f"      {line[:170]}")


def report_pairs(name: str) -> None:
    r = real_data.score_pairs(real_data.load_pairs(name))
    print(f"  {name:18s} {r.total} pairs ({r.same} same)  same-story P {r.precision:.3f}"
          f" R {r.recall:.3f}")
    for line in real_data.duplicate_errors([(p.a, p.b) for p in r.wrong],
                                           [(p.a, p.b) for p in r.missed], WORST):
        print(f"      {line[:170]}")


def main() -> int:
    print("\nReal third-party labelled news (tests/data/real/)")
    for name in real_data.SECTION_SETS:
        report_sections(name)
    for name in real_data.STORY_SETS:
        report_stories(name)
    for name in real_data.PAIR_SETS:
        report_pairs(name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
