"""Feed ingest: feedparser's default ``feedparser.parse(bytes)`` vs digest's parse + store.

Issue 3's target: ingest (parse + normalise + store) per item at least 3x faster than
``feedparser.parse()`` with defaults on the same bytes. This benchmark times, over the same bytes:

- ``feedparser default``: ``feedparser.parse(body)``, sanitizer and URI resolver on;
- ``digest ingest``: what ``Poller.refresh`` does with a fetched body: ``parse_feed``, then each
  item keyed (``dedupe.item_key``) with its ``dedupe.canonical_url``, then stored into a fresh
  SQLite file with ``Store.record_polls``, up to 200 feeds per transaction as the app batches
  them (the feeds' rows are created with ``sync_feeds`` before the clock starts, as the app
  does once at start-up);
- ``digest parse_feed``: ``digest.parse.parse_feed(url, body)`` alone (feedparser driven our
  way, nh3 on the displayed fields, dates, links, Item objects);
- ``feedparser, sanitizer off`` (for reference): ``feedparser.parse(body, sanitize_html=False,
  resolve_relative_uris=False)``, the plain call parse_feed used to make.

The inputs are the real-world corpus in ``<repo>/../shared/corpus/feeds`` (read in place, never
copied; skipped with a message when absent) plus the demo feeds in ``examples/demo/feeds``, and
separately a synthetic typical news feed (``http_clients.rss_body()``: ~30 KB, 27 items with
short HTML summaries) under 20 feed URLs. Each pass parses every file once; passes of the
variants are interleaved and the best of 5 is kept. Per-item figures divide by the items
parse_feed keeps (entries with an http(s) link and a title or summary).
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
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


STORE_BATCH = 200  # outcomes per transaction, as digest.refresh.Poller.refresh stores them


def store_polls(store: Any, polls: list[tuple[Any, list[Any]]], now: datetime) -> None:
    """The one call into digest.store (its owner may change it: keep it here): one transaction
    per batch with `record_polls`, as Poller.refresh does."""
    from digest.store import PollRecord

    next_poll_at = now + timedelta(hours=1)
    store.record_polls([PollRecord(o, keyed, next_poll_at) for o, keyed in polls], now=now)


class Ingest:
    """parse_feed + normalise + store, as digest.refresh.Poller.refresh does per fetched body."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.store: Any = None
        self.tmp: tempfile.TemporaryDirectory[str] | None = None
        self.now = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
        self.pending: list[tuple[Any, list[Any]]] = []

    def setup(self) -> None:
        """A fresh SQLite file with the feeds' rows (untimed: the app syncs once at start)."""
        from digest.store import Store

        self.teardown()
        self.tmp = tempfile.TemporaryDirectory(prefix="digest-bench-ingest-")
        self.store = Store(f"sqlite:///{self.tmp.name}/digest.db")
        self.store.sync_feeds([(url, None, 1.0) for url in self.urls])

    def teardown(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
        if self.tmp is not None:
            self.tmp.cleanup()
            self.tmp = None

    def __call__(self, url: str, body: bytes) -> int:
        from digest import dedupe
        from digest.parse import parse_feed

        outcome = parse_feed(url, body)
        keyed = []
        for item in outcome.items:
            item = replace(item, key=dedupe.item_key(item))
            keyed.append((item, dedupe.canonical_url(item.url)))
        self.pending.append((outcome, keyed))
        if len(self.pending) >= STORE_BATCH:
            self.flush()
        return len(outcome.items)

    def flush(self) -> None:
        if self.pending:
            store_polls(self.store, self.pending, self.now)
            self.pending = []


def time_variants(urls: list[tuple[str, bytes]], passes: int) -> tuple[dict[str, list[float]],
                                                                        int, int]:
    """Best-of-`passes` times of each variant over `urls`; (times, items kept, entries)."""
    import feedparser

    from digest.parse import parse_feed

    def default(url: str, body: bytes) -> int:
        return len(feedparser.parse(body).entries)

    def digest(url: str, body: bytes) -> int:
        return len(parse_feed(url, body).items)

    def no_sanitizer(url: str, body: bytes) -> int:
        parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
        return len(parsed.entries)

    ingest = Ingest(sorted({url for url, _ in urls}))
    variants: list[tuple[str, Callable[[str, bytes], int]]] = [
        ("feedparser default", default),
        ("digest ingest", ingest),
        ("digest parse_feed", digest),
        ("feedparser, sanitizer off", no_sanitizer),
    ]
    times: dict[str, list[float]] = {name: [] for name, _ in variants}
    counts: dict[str, int] = {}
    try:
        for _ in range(passes):
            for name, fn in variants:
                if fn is ingest:
                    ingest.setup()
                gc.collect()
                t0 = time.perf_counter()
                n = 0
                for url, body in urls:
                    n += fn(url, body)
                if fn is ingest:
                    ingest.flush()  # the last batch is part of the pass
                times[name].append(time.perf_counter() - t0)
                counts[name] = n
    finally:
        ingest.teardown()
    return times, counts["digest parse_feed"], counts["feedparser default"]


def _rows(times: dict[str, list[float]], items: int) -> list[dict[str, Any]]:
    rows = []
    for name, runs in times.items():
        best = min(runs)
        rows.append({
            "variant": name,
            "best_ms": round(best * 1000, 1),
            "median_ms": round(sorted(runs)[len(runs) // 2] * 1000, 1),
            "us_per_item": round(best / items * 1e6, 1),
        })
    return rows


def _ratios(rows: list[dict[str, Any]]) -> dict[str, float]:
    ms = {row["variant"]: row["best_ms"] for row in rows}
    return {
        "feedparser default / digest ingest": round(ms["feedparser default"]
                                                    / ms["digest ingest"], 2),
        "feedparser default / digest parse_feed": round(ms["feedparser default"]
                                                        / ms["digest parse_feed"], 2),
        "feedparser default / sanitizer off": round(ms["feedparser default"]
                                                    / ms["feedparser, sanitizer off"], 2),
    }


def bench(passes: int = PASSES, log: Callable[[str], None] = print) -> dict[str, Any]:
    import feedparser

    from digest.models import FeedStatus
    from digest.parse import parse_feed

    sets = load_inputs(log)
    files = [(f"{name}/{fname}", body) for name, bodies in sets.items() for fname, body in bodies]
    if not files:
        log("no feed files found: skipping the parse benchmark")
        return {"skipped": "no feed files"}

    urls = [(f"https://feeds.example/{name}", body) for name, body in files]
    times, items, entries = time_variants(urls, passes)
    rows = _rows(times, items)

    sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))
    from http_clients import rss_body

    typical = rss_body()
    typical_urls = [(f"https://typical.example/feed/{n}", typical) for n in range(20)]
    t_times, t_items, _ = time_variants(typical_urls, passes)
    typical_rows = _rows(t_times, t_items)

    errors = [(url, o.error) for url, body in urls
              if (o := parse_feed(url, body)).status is not FeedStatus.OK]
    return {
        "setup": {
            "files": {name: len(bodies) for name, bodies in sets.items()},
            "bytes": sum(len(body) for _, body in files),
            "passes": passes,
            "corpus": str(CORPUS) if "corpus" in sets else None,
            "feedparser": feedparser.__version__,
            "items": items,
            "entries": entries,
            "typical_feed": {"bytes": len(typical), "items": t_items // len(typical_urls),
                             "feeds": len(typical_urls)},
        },
        "rows": rows,
        "ratios": _ratios(rows),
        "typical_rows": typical_rows,
        "typical_ratios": _ratios(typical_rows),
        "parse_feed_errors": [f"{url}: {error}" for url, error in errors],
        "notes": [
            "us/item: best pass time / items parse_feed kept (entries without an http(s) link "
            "or without title and summary are dropped); feedparser returns "
            f"{entries} entries for the same files",
            "digest ingest: fresh SQLite file per pass, feed rows synced before timing, "
            f"record_polls in batches of {STORE_BATCH} feeds (Poller.refresh's STORE_BATCH)",
        ],
    }


def print_report(result: dict[str, Any]) -> None:
    if "skipped" in result:
        print(f"\nParse: skipped ({result['skipped']})")
        return
    s = result["setup"]
    files = ", ".join(f"{n} {name}" for name, n in s["files"].items())
    print(f"\nParse and ingest: {files} files, {s['bytes'] / 1e6:.2f} MB, {s['items']} items "
          f"per pass, best of {s['passes']}  (feedparser {s['feedparser']})")
    _print_rows(result["rows"], result["ratios"])
    t = s["typical_feed"]
    print(f"\n  Typical news feed (synthetic, {t['bytes']} B, {t['items']} items) "
          f"x {t['feeds']} feeds:")
    _print_rows(result["typical_rows"], result["typical_ratios"])
    for line in result["parse_feed_errors"]:
        print(f"  parse_feed error outcome: {line}")


def _print_rows(rows: list[dict[str, Any]], ratios: dict[str, float]) -> None:
    print(f"  {'variant':<27} {'best ms':>8} {'median ms':>9} {'us/item':>8}")
    for row in rows:
        print(f"  {row['variant']:<27} {row['best_ms']:>8.1f} {row['median_ms']:>9.1f} "
              f"{row['us_per_item']:>8.1f}")
    print("  RATIOS (time per pass):")
    for name, value in ratios.items():
        print(f"    {name:<46} {value:6.2f}x")


if __name__ == "__main__":
    sys.path.insert(0, os.fspath(REPO))
    print_report(bench())
