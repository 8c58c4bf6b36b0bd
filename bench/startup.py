"""What a command costs before and after its work (issue 24): `digest status --check` (Docker's
health check, every minute) against the 0.3 s floor and against its full path, and the wait a
command used to leave after its output.

Each is a whole process, as a shell runs it, timed from start to exit on a copy of the demo:

- **check, a daemon beat**: the usual answer, by the light path (feeds.yaml's `database` and
  one table read with sqlite3: `digest/beats.py`). The peer in the same run: the full path the
  check takes when no daemon beat (pydantic settings, SQLAlchemy, the store), which is what
  every check cost before.
- **--help**: the command list (every command module is loaded to list its summary).
- **teardown**: `digest history` and `digest build --format json` through the console script
  (which ends with `os._exit` once the output is flushed) against the same command run by
  `python -c "... sys.exit(main())"`, which lets the interpreter free every module first.

Median of 9 runs, alternating the two sides of each pair so load hits both alike. Nothing here
asserts a timing. Run alone: `python bench/startup.py`.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, os.fspath(REPO))

RUNS = 9
FLOOR_S = 0.3  # issue 24: `digest status --check` under 0.3 s
DIGEST = Path(sys.executable).parent / "digest"
DEMO_EDITION = "2026-11-30"


def _time(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, capture_output=True, check=False, timeout=120)
    return time.perf_counter() - start


def _pair(a: list[str], b: list[str], cwd: Path) -> tuple[float, float]:
    """Medians of RUNS runs of each, alternating."""
    times_a, times_b = [], []
    for _ in range(RUNS):
        times_a.append(_time(a, cwd))
        times_b.append(_time(b, cwd))
    return statistics.median(times_a), statistics.median(times_b)


def _beat(config: Path) -> None:
    from digest.config import load_settings
    from digest.store import Store

    store = Store(load_settings(config).database)
    try:
        now = datetime.now(UTC)
        store.beat("bench:1:1", started_at=now, now=now, next_send_at=None, config="")
    finally:
        store.close()


def bench() -> dict[str, Any]:
    if not DIGEST.exists():
        return {"skipped": f"no console script at {DIGEST} (pip install -e . first)"}
    with tempfile.TemporaryDirectory(prefix="digest-startup-") as tmp:
        demo = Path(tmp) / "demo"
        shutil.copytree(REPO / "examples" / "demo", demo,
                        ignore=shutil.ignore_patterns("preview", "outbox", "*.db*"))
        config = demo / "feeds.yaml"
        base = [os.fspath(DIGEST), "--config", os.fspath(config)]
        inline = [sys.executable, "-c", "import sys; from digest.cli import main; "
                  "sys.exit(main())", "--config", os.fspath(config)]
        subprocess.run([*base, "build", "--format", "json", "--edition", DEMO_EDITION],
                       capture_output=True, check=True, timeout=300)  # fills the database
        full, _ = _pair([*base, "status", "--check"], [*base, "--help"], demo)  # no beat yet
        _beat(config)
        light, helps = _pair([*base, "status", "--check"], [*base, "--help"], demo)
        build = ["build", "--no-fetch", "--format", "json", "--edition", DEMO_EDITION]
        history_exit, history_teardown = _pair([*base, "history"], [*inline, "history"], demo)
        build_exit, build_teardown = _pair([*base, *build], [*inline, *build], demo)
    return {
        "runs": RUNS, "floor_s": FLOOR_S,
        "check_light_s": round(light, 3), "check_full_s": round(full, 3),
        "check_speedup": round(full / light, 2), "help_s": round(helps, 3),
        "history_s": round(history_exit, 3), "history_with_teardown_s": round(history_teardown, 3),
        "build_s": round(build_exit, 3), "build_with_teardown_s": round(build_teardown, 3),
    }


def print_report(result: dict[str, Any]) -> None:
    print("\n== start-up and exit (whole processes, median of "
          f"{result.get('runs', RUNS)} runs) ==")
    if "skipped" in result:
        print(f"  skipped: {result['skipped']}")
        return
    light, full = result["check_light_s"], result["check_full_s"]
    verdict = "under" if light < result["floor_s"] else "OVER"
    print(f"  status --check, a daemon beat (light path): {light:.3f} s, {verdict} the "
          f"{result['floor_s']} s floor")
    print(f"  status --check, no beat (the full path):   {full:.3f} s "
          f"(light = {result['check_speedup']:.1f}x faster)")
    print(f"  digest --help:                              {result['help_s']:.3f} s")
    for name in ("history", "build"):
        quick, slow = result[f"{name}_s"], result[f"{name}_with_teardown_s"]
        print(f"  {name:<8} ends at once: {quick:.3f} s; with the interpreter's teardown: "
              f"{slow:.3f} s ({slow - quick:+.3f} s)")


if __name__ == "__main__":
    print_report(bench())
