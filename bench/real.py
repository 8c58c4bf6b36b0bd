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
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, os.fspath(REPO))
sys.path.insert(0, os.fspath(REPO / "tests"))

import real_data  # noqa: E402

WORST = 10


def report_sections(name: str) -> tuple[dict[str, Any], list[str]]:
    result = real_data.score_sections(real_data.load_sections(name))
    per = ", ".join(f"{label} P {result.precision(label):.2f} R {result.recall(label):.2f}"
                    for label in real_data.LABELS)
    lines = [f"  {name:18s} {result.total} items  accuracy {result.accuracy:.3f}  ({per})"]
    header = "".join(f"{label:>8s}" for label in real_data.LABELS)
    lines.append(f"      truth \\ got {header}")
    for truth in real_data.LABELS:
        row = "".join(f"{result.confusion[(truth, got)]:8d}" for got in real_data.LABELS)
        lines.append(f"      {truth:14s}{row}")
    lines += [f"      wrong: {line[:170]}"
              for line in real_data.section_errors(result, per_group=2)[:WORST]]
    figures = {"items": result.total, "accuracy": round(result.accuracy, 4),
               **{f"{label}_precision": round(result.precision(label), 4)
                  for label in real_data.LABELS},
               **{f"{label}_recall": round(result.recall(label), 4)
                  for label in real_data.LABELS}}
    return figures, lines


def report_stories(name: str) -> tuple[dict[str, Any], list[str]]:
    labelled = real_data.load_stories(name)
    r = real_data.score_stories(labelled)
    lines = [f"  {name:18s} {len(labelled.items)} items, {len(set(labelled.story.values()))} "
             f"stories  pairwise P {r.precision:.3f} R {r.recall:.3f}  B-cubed P "
             f"{r.bcubed_precision:.3f} R {r.bcubed_recall:.3f} F1 {r.bcubed_f1:.3f}"]
    lines += [f"      {line[:170]}"
              for line in real_data.duplicate_errors(r.wrong, r.missed, WORST)]
    figures = {"items": len(labelled.items), "precision": round(r.precision, 4),
               "recall": round(r.recall, 4), "bcubed_precision": round(r.bcubed_precision, 4),
               "bcubed_recall": round(r.bcubed_recall, 4), "bcubed_f1": round(r.bcubed_f1, 4)}
    return figures, lines


def report_pairs(name: str) -> tuple[dict[str, Any], list[str]]:
    r = real_data.score_pairs(real_data.load_pairs(name))
    lines = [f"  {name:18s} {r.total} pairs ({r.same} same)  same-story P {r.precision:.3f}"
             f" R {r.recall:.3f}"]
    lines += [f"      {line[:170]}" for line in real_data.duplicate_errors(
        [(p.a, p.b) for p in r.wrong], [(p.a, p.b) for p in r.missed], WORST)]
    return {"pairs": r.total, "precision": round(r.precision, 4),
            "recall": round(r.recall, 4)}, lines


def bench() -> dict[str, Any]:
    """Every file's figures and report lines (bench/run.py runs it with the others)."""
    out: dict[str, Any] = {"figures": {}, "lines": []}
    for names, report in ((real_data.SECTION_SETS, report_sections),
                          (real_data.STORY_SETS, report_stories),
                          (real_data.PAIR_SETS, report_pairs)):
        for name in names:
            figures, lines = report(name)
            out["figures"][name] = figures
            out["lines"].extend(lines)
    return out


def print_report(result: dict[str, Any]) -> None:
    print("\nReal third-party labelled news (tests/data/real/)")
    for line in result["lines"]:
        print(line)


if __name__ == "__main__":
    print_report(bench())
