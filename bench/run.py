"""Run every digest benchmark in one process, print the tables and ratios, and write
bench/results/latest.json (gitignored). `make bench` runs this; about thirteen minutes on 2 cores,
most of it the sequential peers of the poll benchmark (see `--poll-peer-feeds` and
`--skip-rss2email`).

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
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, os.fspath(HERE.parent))  # the repo, for `digest` without an install

import dedupe  # noqa: E402  (bench/ is sys.path[0] when run as a script)
import delivery  # noqa: E402
import http_clients  # noqa: E402
import parse  # noqa: E402
import poll  # noqa: E402
import render  # noqa: E402
import sections  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run every digest benchmark.")
    parser.add_argument("--poll-peer-feeds", type=int, default=poll.FEEDS, metavar="N",
                        help="feeds the poll benchmark's peers poll (fewer: scaled, and said so)")
    parser.add_argument("--skip-rss2email", action="store_true",
                        help="poll benchmark: do not install and run rss2email")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    print(f"digest benchmarks: Python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} CPUs")

    print("\n[1/7] HTTP clients (server sleeps 100 ms per GET)")
    http = http_clients.bench()
    print("\n[2/7] feed parsing")
    parsing = parse.bench()
    print(f"\n[3/7] a full poll of {poll.FEEDS} feeds (server sleeps 100 ms per GET)")
    polling = poll.bench(peer_feeds=args.poll_peer_feeds, rss2email=not args.skip_rss2email)
    print("\n[4/7] story clustering (synthetic windows, all-pairs peer, labelled sets)")
    clustering = dedupe.bench()
    print("\n[5/7] sectioning and ranking (50,000 stories, regex peer, labelled sets)")
    sectioning = sections.bench()
    print("\n[6/7] rendering an edition (10/40/100 stories, Node's mjml on the same MJML)")
    rendering = render.bench()
    print(f"\n[7/7] delivering an edition to {delivery.RECIPIENTS:,} recipients on a local "
          "aiosmtpd (one connection per message peer)")
    delivering = delivery.bench()

    http_clients.print_report(http)
    parse.print_report(parsing)
    poll.print_report(polling)
    dedupe.print_report(clustering)
    sections.print_report(sectioning)
    render.print_report(rendering)
    delivery.print_report(delivering)

    elapsed = time.perf_counter() - started
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "http_clients": http,
        "parse": parsing,
        "poll": polling,
        "dedupe": clustering,
        "sections": sectioning,
        "render": rendering,
        "delivery": delivering,
        "total_seconds": round(elapsed, 1),
    }
    out = HERE / "results" / "latest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out.relative_to(HERE.parent)} ({elapsed:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
