"""Delivery with several instances on one database: messages per second of 1, 2 and 3
`digest send` processes sharing one edition's recipients on PostgreSQL, and of 1 and 2 on
SQLite, and the scaling ratios (2 vs 1, 3 vs 1).

1. Setup per run, in a temp folder: a feeds.yaml with one local feed file of three fresh
   stories (a small edition, about 10 KB a message), `--recipients` recipients (default 3,000),
   SMTP (`security: none`) to aiosmtpd in a child process (bench/delivery.py's Counter and
   start_server: it counts messages and bytes, keeps nothing). A fresh database per run: a
   new SQLite file, or a PostgreSQL database created here and dropped after (on
   `--postgres-server`, default postgresql+psycopg://postgres@127.0.0.1:5432). `digest fetch`
   once, untimed.
2. Timed: N real `digest send --edition DATE --no-fetch` processes started at once; one of
   them freezes the edition (the others wait on the lock), then they claim recipients in
   chunks of 100 (FOR UPDATE SKIP LOCKED on PostgreSQL, the write lock on SQLite). Two
   figures: the wall time from the start of the processes to the end of the last one
   (interpreter start, imports and freezing included), and the sending window, from the
   server's first message to its last (the counter polled every 5 ms). Messages/s divides
   the recipients by each. The server must count every recipient once (no more, no fewer);
   every process must exit 0; how the recipients split is read from each process's output.
3. The ratios: N instances' messages/s over one instance's, on the same database kind.

The processes, the SMTP server and PostgreSQL share this machine's cores: with 2 cores, more
than two busy processes cannot all run at once. Only 127.0.0.1 traffic; every loop is bounded;
nothing here asserts a timing. Run alone: `python bench/instances.py` (`--recipients`,
`--skip-postgres`); about three minutes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, os.fspath(REPO))

import delivery  # noqa: E402  (bench/ is sys.path[0]: its aiosmtpd server in a child process)
from store import pg_database  # noqa: E402  (a fresh PostgreSQL database per run)

RECIPIENTS = 3_000
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
CASES = (("postgresql", 1), ("postgresql", 2), ("postgresql", 3), ("sqlite", 1), ("sqlite", 2))
RUN_TIMEOUT_S = 900.0  # a bound on one run's processes, not a measurement
POLL_S = 0.005


def digest_command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "digest", "--config", os.fspath(config), *args]


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.fspath(REPO), env.get("PYTHONPATH")]))
    return env


def tiny_feed(now: datetime, count: int = 3) -> str:
    items = "".join(
        f"<item><title>Chipmaker {n} unveils an AI accelerator</title>"
        f"<link>https://news.example.org/chip-{n}</link><guid>chip-{n}</guid>"
        f"<description>Story {n} about a new AI chip design.</description>"
        f"<pubDate>{format_datetime(now - timedelta(hours=n + 1))}</pubDate></item>"
        for n in range(count))
    return ('<?xml version="1.0"?><rss version="2.0"><channel><title>Chip News</title>'
            f"<link>https://news.example.org/</link><description>d</description>{items}"
            "</channel></rss>")


def write_config(folder: Path, database: str, port: int, recipients: list[str],
                 now: datetime) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "chips.xml").write_text(tiny_feed(now), encoding="utf-8")
    config = folder / "feeds.yaml"
    config.write_text(yaml.safe_dump({
        "title": "Bench Brief",
        "timezone": "UTC",
        "database": database,
        "sections": [{"id": "tech", "title": "Tech", "keywords": ["AI", "chip"]}],
        "feeds": [{"url": "chips.xml", "section": "tech"}],
        "delivery": {"from": "Bench Brief <brief@example.org>", "transport": "smtp",
                     "smtp": {"host": "127.0.0.1", "port": port, "security": "none"}},
        "recipients": recipients,
    }, sort_keys=False), encoding="utf-8")
    return config


def sent_lines(stdout: str) -> int:
    """Messages this `digest send` run sent itself (not "already recorded" by another)."""
    n = 0
    for line in stdout.splitlines():
        fields = line.split(None, 3)
        if len(fields) >= 3 and fields[2] == "sent" and fields[3:] != ["already recorded"]:
            n += 1
    return n


def timed_send(config: Path, edition: str, instances: int, counter: delivery.Counter,
               recipients: int) -> dict[str, Any]:
    """N `digest send` processes at once: wall and sending-window seconds, the split."""
    command = digest_command(config, "send", "--verbose", "--edition", edition, "--no-fetch")
    env = environment()
    base = counter.messages
    base_bytes = counter.bytes
    start = time.perf_counter()
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(instances)]
    first = last = None
    deadline = start + RUN_TIMEOUT_S
    while time.perf_counter() < deadline:  # watch the server's count while they run
        got = counter.messages - base
        now = time.perf_counter()
        if got > 0 and first is None:
            first = now
        if got >= recipients:
            last = now
            break
        if all(p.poll() is not None for p in procs):
            break
        time.sleep(POLL_S)
    try:
        outputs = [p.communicate(timeout=max(deadline - time.perf_counter(), 1)) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    wall = time.perf_counter() - start
    received = counter.messages - base
    codes = [p.returncode for p in procs]
    if codes != [0] * instances or received != recipients:
        errors = "; ".join(err.strip().splitlines()[-1] for _, err in outputs if err.strip())
        raise RuntimeError(f"{instances} instance(s): exit codes {codes}, {received} of "
                           f"{recipients} received: {errors}")
    window = (last or time.perf_counter()) - (first or start)
    return {
        "instances": instances,
        "wall_s": round(wall, 2),
        "window_s": round(window, 2),
        "per_s": round(recipients / wall, 1),
        "window_per_s": round(recipients / window, 1),
        "split": [sent_lines(out) for out, _ in outputs],
        "message_bytes": round((counter.bytes - base_bytes) / max(received, 1)),
    }


def one_case(kind: str, instances: int, folder: Path, port: int, counter: delivery.Counter,
             addresses: list[str], pg_server: str) -> dict[str, Any] | None:
    now = datetime.now(UTC)
    edition = (now.date() + timedelta(days=1)).isoformat()  # its send time follows the stories
    work = folder / f"{kind}-{instances}"

    def run(database: str) -> dict[str, Any]:
        config = write_config(work, database, port, addresses, now)
        subprocess.run(digest_command(config, "fetch"), check=True, capture_output=True,
                       env=environment(), timeout=RUN_TIMEOUT_S)
        return timed_send(config, edition, instances, counter, len(addresses))

    if kind == "sqlite":
        return run(f"sqlite:///{work / 'digest.db'}")
    with pg_database(print, pg_server) as url:
        return run(url) if url else None


def bench(recipients: int = RECIPIENTS, postgres: bool = True,
          pg_server: str = PG_SERVER) -> dict[str, Any]:
    addresses = [f"reader{n:05d}@example.org" for n in range(1, recipients + 1)]
    results: dict[str, Any] = {"recipients": recipients, "cpus": os.cpu_count(), "runs": {}}
    with tempfile.TemporaryDirectory(prefix="digest-bench-instances-") as tmp:
        server, counter, port = delivery.start_server()
        try:
            for kind, n in CASES:
                if kind == "postgresql" and not postgres:
                    continue
                print(f"  {kind}, {n} instance(s), {recipients:,} recipients ...", flush=True)
                row = one_case(kind, n, Path(tmp), port, counter, addresses, pg_server)
                if row is not None:
                    results["runs"][f"{kind}-{n}"] = row
        finally:
            server.stop()
    runs = results["runs"]
    ratios: dict[str, float] = {}
    for kind in ("postgresql", "sqlite"):
        one = runs.get(f"{kind}-1")
        for n in (2, 3):
            more = runs.get(f"{kind}-{n}")
            if one and more:
                ratios[f"{kind}-{n}v1"] = round(more["per_s"] / one["per_s"], 2)
                ratios[f"{kind}-{n}v1-window"] = round(
                    more["window_per_s"] / one["window_per_s"], 2)
    results["ratios"] = ratios
    return results


def print_report(r: dict[str, Any]) -> None:
    runs = r["runs"]
    size = next(iter(runs.values()))["message_bytes"] if runs else 0
    print(f"\nSeveral instances delivering one edition ({r['recipients']:,} recipients, "
          f"{size:,} bytes a message; aiosmtpd in a child process; {r['cpus']} CPUs)")
    print(f"  {'database, instances':<22} {'wall s':>7} {'msg/s':>8}   {'sending s':>9} "
          f"{'msg/s':>8}   sent by each")
    for name, row in runs.items():
        kind, n = name.rsplit("-", 1)
        split = " + ".join(f"{x:,}" for x in row["split"])
        print(f"  {kind + ', ' + n:<22} {row['wall_s']:7.2f} {row['per_s']:8.1f}   "
              f"{row['window_s']:9.2f} {row['window_per_s']:8.1f}   {split}")
    for kind in ("postgresql", "sqlite"):
        parts = [f"{n} vs 1: {r['ratios'][f'{kind}-{n}v1']}x wall, "
                 f"{r['ratios'][f'{kind}-{n}v1-window']}x sending"
                 for n in (2, 3) if f"{kind}-{n}v1" in r["ratios"]]
        if parts:
            print(f"  RATIO {kind}: " + "; ".join(parts))
    print("  wall: from starting the processes to the last one's exit (start-up, imports and "
          "freezing included);\n  sending: the server's first message to its last. With "
          f"{r['cpus']} CPUs, the senders, the server and the database share them.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--recipients", type=int, default=RECIPIENTS)
    parser.add_argument("--skip-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--postgres-server", default=PG_SERVER, metavar="URL",
                        help="a PostgreSQL server URL without a database name")
    args = parser.parse_args(argv)
    print_report(bench(args.recipients, postgres=not args.skip_postgres,
                       pg_server=args.postgres_server))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
