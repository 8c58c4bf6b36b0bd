"""Run every digest benchmark in one process, print the tables and ratios, and write
bench/results/latest.json (gitignored). `make bench` runs this; about a minute on 2 cores.

Only 127.0.0.1 traffic; every loop is bounded; nothing here asserts a timing. Speeds are
reported as ratios against a peer measured in the same run, as DESIGN.md section 5 asks.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, os.fspath(HERE.parent))  # the repo, for `digest` without an install

import http_clients  # noqa: E402  (bench/ is sys.path[0] when run as a script)
import parse  # noqa: E402


def main() -> int:
    started = time.perf_counter()
    print(f"digest benchmarks: Python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} CPUs")

    print("\n[1/2] HTTP clients (server sleeps 100 ms per GET)")
    http = http_clients.bench()
    print("\n[2/2] feed parsing")
    parsing = parse.bench()

    http_clients.print_report(http)
    parse.print_report(parsing)

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
        "total_seconds": round(elapsed, 1),
    }
    out = HERE / "results" / "latest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out.relative_to(HERE.parent)} ({elapsed:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
