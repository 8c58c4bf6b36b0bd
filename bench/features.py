"""What polling pays per new item for its features (digest/features.py: the words near-duplicates
compare and the section terms found, worked out once when an item is first stored), against the
floor issue 23 set (under 0.05 ms an item) and against cutting the text twice.

- Items: every item `parse_feed` keeps from the real-world corpus (`../shared/corpus/feeds`,
  read in place, never copied here) and `examples/demo/feeds`.
- **one pass** (what digest does): `Analyser.pack_all`, the text cut into words once
  (`words.cut`) for both readers, then packed as `items.features` keeps it.
- **two passes** (the peer): the same features with the text cut twice, once for each reader
  (`neardup.text_of`, `classify.found_terms`), then packed: what the build did before one cut
  served both.
- **warm**: a poller's steady state, every word of the corpus seen before (the caches of
  worked-out words filled by a first pass); **cold**: those caches emptied before each pass,
  so every distinct word is worked out again: the first poll of a new process.

Best of 7 passes. Nothing here asserts a timing. Run alone: `python bench/features.py`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, os.fspath(REPO))
sys.path.insert(0, os.fspath(REPO / "tests"))

import parse  # noqa: E402  (bench/ is sys.path[0] when run as a script)

from digest import classify, features, neardup, words  # noqa: E402
from digest.models import Item  # noqa: E402
from digest.parse import parse_feed  # noqa: E402
from labelled_sections import default_lexicon  # noqa: E402

PASSES = 7
FLOOR_US = 50.0  # issue 23: features cost under 0.05 ms an item


def _items(log: Callable[[str], None]) -> list[Item]:
    out: list[Item] = []
    for name, bodies in parse.load_inputs(log).items():
        for fname, body in bodies:
            out.extend(parse_feed(f"https://feeds.example/{name}/{fname}", body).items)
    return out


def _best(run: Callable[[], object], reset: Callable[[], None] | None = None) -> float:
    if reset is None:
        run()  # warm the caches
    best = float("inf")
    for _ in range(PASSES):
        if reset is not None:
            reset()
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def bench(log: Callable[[str], None] = print) -> dict[str, Any]:
    items = _items(log)
    if not items:
        return {"skipped": "no feed files"}
    lexicon, _ = default_lexicon()
    analyser = features.Analyser(lexicon)

    def one_pass() -> None:
        analyser.pack_all(items)

    def two_passes() -> None:
        for item in items:
            features.pack(features.Features(
                neardup.text_of(item.title, item.summary, item.when),
                classify.found_terms(item.title, item.summary, lexicon)))

    def forget() -> None:
        words._known.clear()
        lexicon.serial = next(classify._serials)  # forgets what it looked up

    rows = {}
    for name, run in (("one pass", one_pass), ("two passes", two_passes)):
        rows[f"{name}, warm"] = _best(run) / len(items) * 1e6
        rows[f"{name}, cold"] = _best(run, forget) / len(items) * 1e6
    return {"items": len(items), "us_per_item": rows, "floor_us": FLOOR_US,
            "passes": PASSES,
            "tokens_per_item": _tokens(items)}


def _tokens(items: Sequence[Item]) -> float:
    return sum(len(c.title) + len(c.summary)
               for c in (words.cut(i.title, i.summary) for i in items)) / len(items)


def print_report(result: dict[str, Any]) -> None:
    if "skipped" in result:
        print(f"\nFeatures: skipped ({result['skipped']})")
        return
    rows = result["us_per_item"]
    print(f"\nFeatures at ingest: {result['items']} real items, "
          f"{result['tokens_per_item']:.0f} words each read, best of {result['passes']}")
    print(f"  {'variant':<20} {'us/item':>8}")
    for name, value in rows.items():
        print(f"  {name:<20} {value:>8.1f}")
    floor = result["floor_us"]
    warm = rows["one pass, warm"]
    print(f"  one pass, warm vs the floor of {floor:g} us: {warm:.1f} us "
          f"({'PASS' if warm < floor else 'FAIL'});  two passes / one pass: "
          f"warm {rows['two passes, warm'] / warm:.2f}x, "
          f"cold {rows['two passes, cold'] / rows['one pass, cold']:.2f}x")


if __name__ == "__main__":
    print_report(bench())
