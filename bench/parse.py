"""Feed parsing: feedparser's default ``feedparser.parse(bytes)`` vs digest's ``parse_feed``.

DESIGN.md section 4: feedparser's HTML sanitizer is most of its cost, so digest parses with
``sanitize_html=False, resolve_relative_uris=False`` and cleans only the fields it shows (title,
summary, author) with nh3, then builds ``Item``s. This benchmark times, over the same bytes:

- ``feedparser default``: ``feedparser.parse(body)``, sanitizer and URI resolver on;
- ``digest parse_feed``: ``digest.parse.parse_feed(url, body)``, everything it does included
  (feedparser without sanitizer, nh3 on the displayed fields, dates, links, Item objects);
- ``feedparser, sanitizer off`` (for reference): the same call parse_feed makes, without nh3
  and Items, to show what the cleaning costs.

The inputs are the real-world corpus in ``<repo>/../shared/corpus/feeds`` (read in place, never
copied; skipped with a message when absent) plus the demo feeds in ``examples/demo/feeds``. Each
pass parses every file once; passes of the variants are interleaved and the best of 5 is kept.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus" / "feeds"
DEMO = REPO / "examples" / "demo" / "feeds"
PASSES = 5


def load_inputs(log: Callable[[str], None] = print) -> dict[str, list[tuple[str, bytes]]]:
    sets: dict[str, list[tuple[str, bytes]]] = {}
    if CORPUS.is_dir():
        sets["corpus"] = [(p.name, p.read_bytes()) for p in sorted(CORPUS.iterdir()) if p.is_file()]
    else:
        log(f"real-world corpus not found at {CORPUS}: skipping it (demo feeds only)")
    if DEMO.is_dir():
        sets["demo"] = [(p.name, p.read_bytes()) for p in sorted(DEMO.iterdir()) if p.is_file()]
    return sets


def bench(passes: int = PASSES, log: Callable[[str], None] = print) -> dict[str, Any]:
    import feedparser

    from digest.models import FeedStatus
    from digest.parse import parse_feed

    sets = load_inputs(log)
    files = [(f"{name}/{fname}", body) for name, bodies in sets.items() for fname, body in bodies]
    if not files:
        log("no feed files found: skipping the parse benchmark")
        return {"skipped": "no feed files"}

    def default(url: str, body: bytes) -> int:
        return len(feedparser.parse(body).entries)

    def digest(url: str, body: bytes) -> int:
        return len(parse_feed(url, body).items)

    def no_sanitizer(url: str, body: bytes) -> int:
        parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
        return len(parsed.entries)

    variants: list[tuple[str, Callable[[str, bytes], int]]] = [
        ("feedparser default", default),
        ("digest parse_feed", digest),
        ("feedparser, sanitizer off", no_sanitizer),
    ]
    urls = [(f"https://feeds.example/{name}", body) for name, body in files]
    times: dict[str, list[float]] = {name: [] for name, _ in variants}
    counts: dict[str, int] = {}
    for _ in range(passes):
        for name, fn in variants:
            gc.collect()
            t0 = time.perf_counter()
            n = 0
            for url, body in urls:
                n += fn(url, body)
            times[name].append(time.perf_counter() - t0)
            counts[name] = n

    errors = [(url, o.error) for url, body in urls
              if (o := parse_feed(url, body)).status is not FeedStatus.OK]
    rows = []
    for name, _ in variants:
        best = min(times[name])
        rows.append({
            "parser": name,
            "best_ms": round(best * 1000, 1),
            "median_ms": round(sorted(times[name])[len(times[name]) // 2] * 1000, 1),
            "items": counts[name],
            "items_per_s": round(counts[name] / best),
        })
    ms = {row["parser"]: row["best_ms"] for row in rows}
    return {
        "setup": {
            "files": {name: len(bodies) for name, bodies in sets.items()},
            "bytes": sum(len(body) for _, body in files),
            "passes": passes,
            "corpus": str(CORPUS) if "corpus" in sets else None,
            "feedparser": feedparser.__version__,
        },
        "rows": rows,
        "ratios": {
            "feedparser default / digest parse_feed (time)":
                round(ms["feedparser default"] / ms["digest parse_feed"], 2),
            "feedparser default / sanitizer off (time)":
                round(ms["feedparser default"] / ms["feedparser, sanitizer off"], 2),
        },
        "parse_feed_errors": [f"{url}: {error}" for url, error in errors],
        "notes": [
            "items: entries for feedparser; Items kept by parse_feed (entries without an "
            "http(s) link or without title and summary are dropped)",
        ],
    }


def print_report(result: dict[str, Any]) -> None:
    if "skipped" in result:
        print(f"\nParse: skipped ({result['skipped']})")
        return
    s = result["setup"]
    files = ", ".join(f"{n} {name}" for name, n in s["files"].items())
    print(f"\nParse: {files} files, {s['bytes'] / 1e6:.2f} MB per pass, best of {s['passes']}"
          f"  (feedparser {s['feedparser']})")
    print(f"  {'parser':<27} {'best ms':>8} {'median ms':>9} {'items':>6} {'items/s':>8}")
    for row in result["rows"]:
        print(f"  {row['parser']:<27} {row['best_ms']:>8.1f} {row['median_ms']:>9.1f} "
              f"{row['items']:>6} {row['items_per_s']:>8}")
    for line in result["parse_feed_errors"]:
        print(f"  parse_feed error outcome: {line}")
    print("  RATIOS (time per pass):")
    for name, value in result["ratios"].items():
        print(f"    {name:<46} {value:6.2f}x")


if __name__ == "__main__":
    sys.path.insert(0, os.fspath(REPO))
    print_report(bench())
