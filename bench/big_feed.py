"""One huge feed (issue 17): `digest fetch --all` of a 100,000-item feed, CPU and peak memory,
against the floor of a feed that holds only the items kept.

Each case is one `digest --config <tmp>/feeds.yaml fetch --all` process (download from a
file:// URL, parse, store into a fresh SQLite file); `os.wait4` gives its CPU (user + system)
and peak RSS (a single feed is parsed in a thread of that process, never in a pool):

- **floor**: a feed of `fetch.max_items` (500) items, the newest of the big one: what storing
  the kept items costs, with no cap at work;
- **100k, newest first**: the big feed as most feeds are ordered, `fetch.max_items: 500`;
- **100k, oldest first**: the same items reversed, so the newest come last and feedxml's
  second pass runs;
- **100k, no cap** (`fetch.max_items: 100000`): every item parsed and stored, as before the
  cap (skip it with `--skip-uncapped`; it takes minutes).

Items are ~300 bytes of RSS each (title, link, guid, pubDate, a short HTML description), dated
a minute apart back from now. Target: a capped poll under 10 s of CPU. The figures printed are
ratios against the floor; nothing here asserts a timing. Run alone:
`python bench/big_feed.py [--items N] [--cap N] [--skip-uncapped]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ITEMS = 100_000
CAP = 500
RUN_TIMEOUT_S = 1800
TARGET_CPU_S = 10.0


def feed(count: int, *, oldest_first: bool = False) -> bytes:
    """RSS 2.0 with `count` items a minute apart, newest first unless `oldest_first`."""
    now = datetime.now(UTC).replace(microsecond=0)
    order = range(count - 1, -1, -1) if oldest_first else range(count)
    items = "".join(
        f"<item><title>Story {n}: chipmakers and the AI boom</title>"
        f"<link>https://big.example/stories/{n}</link><guid isPermaLink=\"false\">big-{n}</guid>"
        f"<pubDate>{format_datetime(now - timedelta(minutes=n))}</pubDate>"
        f"<description>&lt;p&gt;Story {n} of a very long feed, with &lt;b&gt;some&lt;/b&gt; "
        f"markup &amp;amp; an entity.&lt;/p&gt;</description></item>" for n in order)
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Big</title>'
            f"<link>https://big.example/</link>{items}</channel></rss>").encode()


@dataclass
class Run:
    cpu_s: float
    maxrss_mb: float
    wall_s: float
    stored: int
    detail: str


def poll(folder: Path, name: str, body: bytes, cap: int) -> Run:
    """`digest fetch --all` of one feed holding `body`, in a process of its own."""
    case = folder / name
    case.mkdir()
    (case / "feed.xml").write_bytes(body)
    (case / "feeds.yaml").write_text(json.dumps({  # JSON is YAML
        "title": "Big feed bench", "database": "bench.db",
        "sections": [{"id": "tech", "title": "Tech", "keywords": ["AI"]}],
        "feeds": [{"url": (case / "feed.xml").as_uri(), "name": "Big"}],
        "fetch": {"max_items": cap, "max_bytes": "256MiB"},
        "delivery": {"from": "Bench <bench@example.org>", "transport": "file",
                     "outbox": "outbox"},
        "recipients": ["bench@example.org"]}), encoding="utf-8")
    cmd = [sys.executable, "-m", "digest", "--config", str(case / "feeds.yaml"), "fetch", "--all",
           "--format", "json"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get(
        "PYTHONPATH", "")])}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=case, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env=env)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{name}: digest fetch exited {proc.returncode}: {stderr[-2000:]}")
    (outcome,) = json.loads(stdout)
    detail = "; ".join([f"{outcome['new_items']} new", *outcome.get("notes", [])])
    return Run(cpu_s=usage.ru_utime + usage.ru_stime, maxrss_mb=usage.ru_maxrss / 1024,
               wall_s=wall, stored=outcome["new_items"], detail=detail)


def bench(items: int = ITEMS, cap: int = CAP, uncapped: bool = True) -> dict[str, Any]:
    cases = [("floor", f"{cap}-item feed (the floor)", feed(cap), cap),
             ("newest_first", f"{items:,}-item feed, newest first, max_items {cap}",
              feed(items), cap),
             ("oldest_first", f"{items:,}-item feed, oldest first, max_items {cap}",
              feed(items, oldest_first=True), cap)]
    if uncapped:
        cases.append(("uncapped", f"{items:,}-item feed, no cap (max_items {items})",
                      feed(items), items))
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="digest-bench-big-feed-") as tmp:
        for key, label, body, limit in cases:
            print(f"  {label} ({len(body) / 1e6:.1f} MB) ...", flush=True)
            run = poll(Path(tmp), key, body, limit)
            runs[key] = {"label": label, "bytes": len(body), "cpu_s": round(run.cpu_s, 2),
                         "maxrss_mb": round(run.maxrss_mb, 1), "wall_s": round(run.wall_s, 2),
                         "stored": run.stored, "detail": run.detail}
    floor = runs["floor"]
    for run in runs.values():
        run["cpu_ratio"] = round(run["cpu_s"] / floor["cpu_s"], 2)
        run["rss_ratio"] = round(run["maxrss_mb"] / floor["maxrss_mb"], 2)
    return {"items": items, "cap": cap, "target_cpu_s": TARGET_CPU_S, "runs": runs}


def print_report(r: dict[str, Any]) -> None:
    print(f"\nOne {r['items']:,}-item feed polled (`digest fetch --all`, file://, fresh SQLite), "
          f"fetch.max_items {r['cap']}")
    print(f"  {'case':46s} {'CPU s':>7s} {'x floor':>8s} {'peak MB':>8s} {'x floor':>8s}  "
          "stored / status")
    for run in r["runs"].values():
        print(f"  {run['label']:46s} {run['cpu_s']:7.2f} {run['cpu_ratio']:7.2f}x "
              f"{run['maxrss_mb']:8.1f} {run['rss_ratio']:7.2f}x  {run['detail']}")
    worst = max(run["cpu_s"] for key, run in r["runs"].items() if key != "uncapped")
    verdict = "under" if worst < r["target_cpu_s"] else "OVER"
    print(f"  capped polls: at most {worst:.2f} s of CPU, {verdict} the {r['target_cpu_s']:g} s "
          "target (this machine)")
    if "uncapped" in r["runs"]:
        capped = r["runs"]["newest_first"]
        uncapped = r["runs"]["uncapped"]
        print(f"  RATIO no cap / cap: {uncapped['cpu_s'] / capped['cpu_s']:.1f}x CPU, "
              f"{uncapped['maxrss_mb'] / capped['maxrss_mb']:.1f}x peak memory")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=ITEMS)
    parser.add_argument("--cap", type=int, default=CAP)
    parser.add_argument("--skip-uncapped", action="store_true",
                        help="do not poll the big feed without a cap (minutes)")
    args = parser.parse_args(argv)
    print_report(bench(args.items, args.cap, uncapped=not args.skip_uncapped))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
