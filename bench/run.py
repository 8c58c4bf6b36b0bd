"""Run every digest benchmark in one process, print the tables and ratios, and write
bench/results/latest.json (gitignored). `make bench` runs this; about seventeen minutes on 2 cores,
most of it the sequential peers of the poll benchmark (see `--poll-peer-feeds` and
`--skip-rss2email`). `--only store,render` runs only those (latest.json then holds only them).

Only 127.0.0.1 traffic; every loop is bounded; nothing here asserts a timing. Speeds are
reported as ratios against a peer measured in the same run, as DESIGN.md section 5 asks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, os.fspath(HERE.parent))  # the repo, for `digest` without an install

import archive  # noqa: E402  (bench/ is sys.path[0] when run as a script)
import big_feed  # noqa: E402
import dedupe  # noqa: E402
import delivery  # noqa: E402
import edits  # noqa: E402
import features  # noqa: E402
import http_clients  # noqa: E402
import instances  # noqa: E402
import parse  # noqa: E402
import poll  # noqa: E402
import real  # noqa: E402
import render  # noqa: E402
import sections  # noqa: E402
import startup  # noqa: E402
import store  # noqa: E402
import web  # noqa: E402

# name -> module (each has bench() and print_report()), in the order they run
BENCHES: dict[str, Any] = {
    "http_clients": http_clients, "parse": parse, "features": features, "poll": poll,
    "dedupe": dedupe, "sections": sections, "real": real, "edits": edits, "render": render,
    "delivery": delivery, "store": store,
    "instances": instances, "big_feed": big_feed, "web": web, "archive": archive,
    "startup": startup,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run every digest benchmark.")
    parser.add_argument("--poll-peer-feeds", type=int, default=poll.FEEDS, metavar="N",
                        help="feeds the poll benchmark's peers poll (fewer: scaled, and said so)")
    parser.add_argument("--skip-rss2email", action="store_true",
                        help="poll benchmark: do not install and run rss2email")
    parser.add_argument("--store-items", type=int, default=store.FILL_ITEMS, metavar="N",
                        help="items in the store benchmark's big database (cached in /tmp)")
    parser.add_argument("--store-skip-postgres", action="store_true",
                        help="store benchmark: SQLite only")
    parser.add_argument("--only", metavar="NAMES",
                        help="comma-separated benchmarks to run (default: all): "
                             + ", ".join(BENCHES))
    args = parser.parse_args(argv)
    chosen = list(BENCHES) if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in chosen if n not in BENCHES]
    if unknown or not chosen:
        parser.error(f"--only: unknown benchmark {', '.join(unknown)!r} (there are: "
                     f"{', '.join(BENCHES)})")
    started = time.perf_counter()
    print(f"digest benchmarks: Python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} CPUs")

    runs: dict[str, Callable[[], dict[str, Any]]] = {
        "http_clients": http_clients.bench,
        "parse": parse.bench,
        "features": features.bench,
        "poll": lambda: poll.bench(peer_feeds=args.poll_peer_feeds,
                                   rss2email=not args.skip_rss2email),
        "dedupe": dedupe.bench,
        "sections": sections.bench,
        "real": real.bench,
        "edits": edits.bench,
        "render": render.bench,
        "delivery": delivery.bench,
        "store": lambda: store.bench(args.store_items, postgres=not args.store_skip_postgres),
        "instances": instances.bench,  # PostgreSQL skipped, said so, when it does not answer
        "big_feed": big_feed.bench,
        "web": web.bench,  # PostgreSQL skipped, said so, when it does not answer
        "archive": archive.bench,  # PostgreSQL skipped, said so, when it does not answer
        "startup": startup.bench,
    }
    titles = {
        "http_clients": "HTTP clients (server sleeps 100 ms per GET)",
        "parse": "feed parsing",
        "features": "features at ingest (the words of each new item, worked out once)",
        "poll": f"a full poll of {poll.FEEDS} feeds (server sleeps 100 ms per GET)",
        "dedupe": "story clustering (synthetic windows, all-pairs peer, labelled sets)",
        "sections": "sectioning and ranking (50,000 stories, regex peer, labelled sets)",
        "real": "sections and duplicates on real third-party labelled news",
        "edits": "the editor's edits against the ranking every build runs",
        "render": "rendering an edition (10/40/100 stories, Node's mjml on the same MJML)",
        "delivery": f"delivering an edition to {delivery.RECIPIENTS:,} recipients on a local "
                    "aiosmtpd (one connection per message peer)",
        "store": f"the store: ingest on PostgreSQL and SQLite, a build over "
                 f"{args.store_items:,} items",
        "instances": f"1, 2 and 3 `digest send` processes sharing {instances.RECIPIENTS:,} "
                     "recipients on PostgreSQL; 1 and 2 on SQLite",
        "big_feed": f"one {big_feed.ITEMS:,}-item feed polled, capped and not, against the "
                    f"floor of a {big_feed.CAP}-item feed",
        "web": f"the readers' web service: {web.REQUESTS:,} one-click unsubscribes over two "
               "`digest serve` processes on SQLite and PostgreSQL, a bare Starlette peer; a "
               "subscribe flood",
        "archive": f"the archive's search over {archive.EDITIONS} weekly editions on SQLite and "
                   f"PostgreSQL, {archive.QUERIES:,} queries, a LIKE scan as the floor",
        "startup": "start-up and exit: `status --check` against its full path and the 0.3 s "
                   "floor; commands with and without the interpreter's teardown",
    }
    done: dict[str, Any] = {}
    for k, name in enumerate(chosen, 1):
        print(f"\n[{k}/{len(chosen)}] {titles[name]}")
        done[name] = runs[name]()
    for name in chosen:
        BENCHES[name].print_report(done[name])

    elapsed = time.perf_counter() - started
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        **done,
        "total_seconds": round(elapsed, 1),
    }
    out = HERE / "results" / "latest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out.relative_to(HERE.parent)} ({elapsed:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
