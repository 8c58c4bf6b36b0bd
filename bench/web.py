"""The readers' web service under load (issue 18): one-click unsubscribes (RFC 8058) against two
`digest serve` processes on SQLite and on PostgreSQL, against a bare Starlette peer served the
same way; then a subscribe flood from one address against the shared rate limit.

1. Setup per database, untimed: a feeds.yaml in a temp folder with a `web:` block (base_url
   https://news.example.org, a 40-character secret, `posts_per_minute` at its maximum so only
   `subscribes_per_hour` limits the flood, `subscribes_per_hour` 20 by default), the file
   transport (confirmation emails land in the temp folder's outbox), no feeds, no recipients.
   A fresh database: a new SQLite file, or a PostgreSQL database created here (CREATE
   DATABASE through psycopg) on the server of `--postgres` (default: DIGEST_TEST_DATABASE_URL,
   else postgresql+psycopg://postgres@127.0.0.1:5432/test) and dropped after; PostgreSQL is
   skipped, with the reason printed, when it does not answer. `make_app` creates the schema,
   `app.store.add_readers` adds `--requests` + 256 active readers in one transaction, and
   `app.readers.links(reader).unsubscribe` gives each reader's signed link (base_url replaced
   by http://127.0.0.1:PORT).
2. Two servers, as two uvicorn workers behind a balancer: two `python -m digest --config
   feeds.yaml serve --host 127.0.0.1 --port P` processes on one database (output to a log
   file each), each ready once GET /healthz answers 200. The peer: a bare Starlette app
   written to the temp folder, one POST route that reads the body and answers 200 "ok" (no
   database, no page), plus GET /healthz, run as two `python -m uvicorn module:app --port P`
   processes with the same uvicorn defaults digest's server uses (asyncio loop, h11, no
   access log, no Server header).
3. The load, the same for all: one aiohttp ClientSession in this process (a pool of
   `--concurrency` connections, default 64, kept alive; no cookie jar, as a mail provider posts
   without cookies), `--concurrency` coroutines taking the next request from one list, the
   requests alternating between the two ports. Each request is `POST /unsubscribe?token=T` with
   the body `List-Unsubscribe=One-Click` (application/x-www-form-urlencoded), each reader's
   token once. 256 warm-up requests first (the same, untimed, in a session of their own: the
   servers' templates compiled, their thread and database pools filled), then `--requests`
   (default 20,000; `--quick`: 2,000) in a new session (its connections opened within the
   timing), timed with time.perf_counter from the first request to the last answer. Latency is
   per request, from sending to the whole body read. Reported: requests/s, p50/p99/max latency,
   answers by status, transport errors, the CPU seconds of the two servers (/proc; in all and
   per request), of this process and how busy the machine's cores were (/proc/stat) over the
   timed run. Afterwards the readers recorded unsubscribed are counted in the database: they
   must equal the POSTs sent (warm-up included), and MISMATCH is printed when they do not.
   Lines of the servers' logs with WARNING, ERROR or a Traceback are counted and the first one
   shown.
4. The ratios: digest's requests/s over the peer's, and digest's server CPU per request over
   the peer's. The peer runs first and again last; the ratios are against the faster of its
   two runs (the lower CPU per request).
5. The subscribe flood, per database, on the same two servers after the unsubscribes: `--flood`
   (default 500) JSON `POST /subscribe` `{"email": "floodN@example.org"}` with distinct
   addresses, 16 concurrent, alternating ports, all from 127.0.0.1. At most
   `subscribes_per_hour` may get 202 in all, across both processes (the counter is a row in
   the database; the window is the clock hour, so a flood that crosses the hour may pass twice
   the limit, and the report says when it did); the rest 429 with Retry-After. Pending readers
   are counted in the database afterwards.

On 2 cores the load generator, the two servers and PostgreSQL share the CPU: the figures are
those of one machine doing all of it. Only 127.0.0.1 traffic; every loop is bounded; nothing
here asserts a timing. Run alone: `python bench/web.py` (`--quick`, `--requests`,
`--concurrency`, `--flood`, `--postgres URL`, `--skip-postgres`); about three minutes at the
defaults on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.error import URLError

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, os.fspath(REPO))

REQUESTS = 20_000
QUICK_REQUESTS = 2_000
CONCURRENCY = 64
WARMUP = 256
FLOOD = 500
FLOOD_CONCURRENCY = 16
SUBSCRIBES_PER_HOUR = 20  # digest's default
POSTS_PER_MINUTE = 1_000_000  # the most web.posts_per_minute takes: only the hourly limit bites
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BASE_URL = "https://news.example.org"
SECRET = "bench-web-secret-0123456789abcdef0123456"  # 40 characters, signs this run's links
ONE_CLICK = b"List-Unsubscribe=One-Click"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
START_WITHIN_S = 60.0  # a bound on a server's start-up, not a measurement
STOP_WITHIN_S = 15.0
REQUEST_TIMEOUT_S = 60.0
RUN_TIMEOUT_S = 900.0  # a bound on one load run

PEER_MODULE = "bench_web_peer"
PEER_APP = '''"""bench/web.py's peer: one POST route that reads the body and answers 200."""
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def post(request):
    await request.body()
    return PlainTextResponse("ok")


async def healthz(request):
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/unsubscribe", post, methods=["POST"]),
                        Route("/healthz", healthz, methods=["GET"])])
'''


# --- processes ---


def environment() -> dict[str, str]:
    """This environment without DIGEST_* (no DIGEST_DATABASE_URL or secret overriding the
    config), with the repo on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.fspath(REPO), env.get("PYTHONPATH")]))
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def digest_serve(config: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "digest", "--config", os.fspath(config), "serve",
            "--host", "127.0.0.1", "--port", str(port)]


def peer_serve(folder: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", f"{PEER_MODULE}:app", "--app-dir", os.fspath(folder),
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--no-server-header",
            "--log-level", "warning"]


@dataclass
class Servers:
    """Server processes started by `servers`, their ports and log files."""

    procs: list[subprocess.Popen[bytes]]
    ports: list[int]
    logs: list[Path]
    exit_codes: list[int | None]

    def cpu_seconds(self) -> float:
        return sum(process_cpu(p.pid) for p in self.procs)

    def log_problems(self) -> tuple[int, str]:
        """Lines with WARNING, ERROR or a Traceback in the logs: how many, and the first."""
        count, first = 0, ""
        for log in self.logs:
            for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith(("WARNING", "ERROR", "CRITICAL", "Traceback")):
                    count += 1
                    first = first or f"{log.name}: {line.strip()[:300]}"
        return count, first


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc); 0.0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot (/proc/stat); (0, 0) elsewhere."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except OSError:
        return 0, 0
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values[:8]) - idle, sum(values[:8])


def tail(path: Path, lines: int = 15) -> str:
    with suppress(OSError):
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    return ""


def wait_healthy(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_WITHIN_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}:\n"
                               f"{tail(log)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except (URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port}: /healthz did not answer 200 within "
                       f"{START_WITHIN_S:.0f} s:\n{tail(log)}")


@contextmanager
def servers(commands: list[list[str]], ports: list[int], folder: Path,
            name: str) -> Iterator[Servers]:
    """Start the processes, wait for each one's /healthz; terminate them after (wait, then
    kill), their exit codes kept in `exit_codes`."""
    env = environment()
    running = Servers([], ports, [folder / f"{name}-{port}.log" for port in ports], [])
    try:
        for command, log in zip(commands, running.logs, strict=True):
            with log.open("wb") as out:
                running.procs.append(subprocess.Popen(
                    command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=folder))
        for proc, port, log in zip(running.procs, ports, running.logs, strict=True):
            wait_healthy(proc, port, log)
        yield running
    finally:
        for proc in running.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in running.procs:
            try:
                proc.wait(timeout=STOP_WITHIN_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            running.exit_codes.append(proc.returncode)


# --- the load generator ---


@dataclass(frozen=True, slots=True)
class Call:
    url: str
    body: bytes
    headers: dict[str, str]


def percentile(ordered: list[float], q: float) -> float:
    """Nearest rank of a sorted list; 0.0 for none."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


async def _fire(calls: list[Call], concurrency: int) -> dict[str, Any]:
    import aiohttp

    statuses: Counter[str] = Counter()
    by_port: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    retry_after: set[str] = set()
    latencies: list[float] = []
    pending = iter(calls)  # shared by the workers: each takes the next call
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     cookie_jar=aiohttp.DummyCookieJar()) as session:

        async def worker() -> None:
            for call in pending:
                started = time.perf_counter()
                try:
                    async with session.post(call.url, data=call.body,
                                            headers=call.headers) as answer:
                        await answer.read()
                        status = answer.status
                        if status == 429:
                            retry_after.add(answer.headers.get("Retry-After", "(none)"))
                except (aiohttp.ClientError, TimeoutError) as e:
                    errors[f"{type(e).__name__}: {str(e)[:100]}"] += 1
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[str(status)] += 1
                by_port[f"{call.url.split(':')[2].split('/')[0]} {status}"] += 1

        cpu = time.process_time()
        start = time.perf_counter()
        workers = [asyncio.create_task(worker()) for _ in range(min(concurrency, len(calls)))]
        done, late = await asyncio.wait(workers, timeout=RUN_TIMEOUT_S)
        for task in late:
            task.cancel()
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
        for task in done:
            task.result()  # a bug in the load generator itself: raise it
    latencies.sort()
    return {
        "sent": len(calls), "answered": len(latencies), "wall_s": wall, "client_cpu_s": cpu,
        "statuses": dict(sorted(statuses.items())), "by_port": dict(sorted(by_port.items())),
        "errors": dict(errors.most_common()), "retry_after": sorted(retry_after),
        "timed_out": bool(late),
        "p50_ms": percentile(latencies, 0.50) * 1000, "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": (latencies[-1] if latencies else 0.0) * 1000,
    }


def fire(calls: list[Call], concurrency: int) -> dict[str, Any]:
    return asyncio.run(_fire(calls, concurrency))


def timed_load(running: Servers, warmup: list[Call], calls: list[Call],
               concurrency: int) -> dict[str, Any]:
    """The warm-up, untimed, then the timed calls, with the servers' and machine's CPU."""
    warm = fire(warmup, concurrency)
    server_cpu = running.cpu_seconds()
    busy, total = machine_ticks()
    row = fire(calls, concurrency)
    busy2, total2 = machine_ticks()
    row["server_cpu_s"] = running.cpu_seconds() - server_cpu
    row["machine_busy"] = (busy2 - busy) / (total2 - total) if total2 > total else 0.0
    row["per_s"] = row["answered"] / row["wall_s"] if row["wall_s"] else 0.0
    row["server_ms_per_req"] = row["server_cpu_s"] * 1000 / max(row["answered"], 1)
    row["warmup"] = {"sent": warm["sent"], "statuses": warm["statuses"],
                     "errors": warm["errors"]}
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}


def unsubscribe_calls(paths: list[str], ports: list[int]) -> list[Call]:
    return [Call(f"http://127.0.0.1:{ports[n % len(ports)]}{path}", ONE_CLICK, FORM)
            for n, path in enumerate(paths)]


# --- digest's side ---


def write_config(folder: Path, database: str, subscribes_per_hour: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "feeds.yaml"
    config.write_text(yaml.safe_dump({
        "title": "Bench Brief",
        "timezone": "UTC",
        "database": database,
        "sections": [{"id": "tech", "title": "Tech", "keywords": ["AI", "chip"]}],
        "feeds": [],
        "delivery": {"from": "Bench Brief <brief@example.org>", "transport": "file",
                     "outbox": os.fspath(folder / "outbox")},
        "recipients": [],
        "web": {"base_url": BASE_URL, "secret": SECRET, "posts_per_minute": POSTS_PER_MINUTE,
                "subscribes_per_hour": subscribes_per_hour},
    }, sort_keys=False), encoding="utf-8")
    return config


def add_readers(config: Path, count: int) -> tuple[list[str], float]:
    """`count` active readers added in one transaction; each one's unsubscribe link's path and
    query (the base_url cut off), in the order they joined; the seconds it took."""
    from digest.addresses import address_key
    from digest.app import make_app
    from digest.config import load_settings
    from digest.models import ReaderSource, ReaderStatus
    from digest.store.readers import NewReader

    started = time.perf_counter()
    app = make_app(load_settings(config, env=environment()))
    try:
        addresses = [f"reader{n:06d}@example.org" for n in range(1, count + 1)]
        app.store.add_readers([NewReader(a, address_key(a), ReaderStatus.ACTIVE,
                                         ReaderSource.COMMAND) for a in addresses],
                              now=app.clock())
        paths = []
        for reader in app.readers.audience():
            links = app.readers.links(reader)
            assert links is not None and links.unsubscribe.startswith(BASE_URL + "/")
            paths.append(links.unsubscribe.removeprefix(BASE_URL))
    finally:
        app.close()
    return paths, time.perf_counter() - started


def reader_counts(database: str) -> dict[str, int]:
    from digest.store import Store

    store = Store(database)
    try:
        return {status.value: n for status, n in store.reader_counts().items()}
    finally:
        store.close()


@contextmanager
def pg_database(url: str) -> Iterator[tuple[str | None, str]]:
    """A new empty database on the server of `url` (dropped after): (its URL, ""), or (None,
    why) when the server does not answer."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    server = make_url(url)
    name = f"digest_bench_web_{uuid.uuid4().hex[:10]}"
    admin = None
    why = ""
    for maintenance in dict.fromkeys([server.database or "postgres", "postgres"]):
        engine = create_engine(server.set(database=maintenance), isolation_level="AUTOCOMMIT",
                               connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            admin = engine
            break
        except OperationalError as e:
            why = str(e.orig).strip().splitlines()[0][:160] if e.orig else str(e)[:160]
            engine.dispose()
    if admin is None:
        yield None, f"PostgreSQL at {server.render_as_string(hide_password=True)} does not " \
                    f"answer: {why}"
        return
    try:
        yield server.set(database=name).render_as_string(hide_password=False), ""
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def pg_settings(url: str) -> str:
    """The server's version and whether commits wait for the disk, for the report."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar()
            durable = conn.execute(text("SHOW synchronous_commit")).scalar()
    finally:
        engine.dispose()
    return f"PostgreSQL {str(version).split()[0]}, synchronous_commit {durable}"


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("uvicorn", "starlette", "aiohttp", "sqlalchemy", "psycopg"):
        with suppress(PackageNotFoundError):
            found.append(f"{name} {version(name)}")
    return ", ".join(found)


def flood(running: Servers, count: int, tag: str) -> dict[str, Any]:
    calls = [Call(f"http://127.0.0.1:{running.ports[n % len(running.ports)]}/subscribe",
                  json.dumps({"email": f"flood{n:04d}-{tag}@example.org"}).encode(),
                  {"Content-Type": "application/json", "Accept": "application/json"})
             for n in range(count)]
    before = datetime.now(UTC)
    row = fire(calls, FLOOD_CONCURRENCY)
    after = datetime.now(UTC)
    row["crossed_hour"] = before.replace(minute=0, second=0, microsecond=0) != \
        after.replace(minute=0, second=0, microsecond=0)
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}


def outbox_notices(folder: Path, expected: int) -> int:
    """Confirmation emails in the outbox, waiting up to 5 s for `expected` (they are sent
    after the answer)."""
    notices = folder / "outbox" / "notices"
    deadline = time.monotonic() + 5.0
    found = 0
    while time.monotonic() < deadline:
        found = len(list(notices.glob("*.eml"))) if notices.is_dir() else 0
        if found >= expected:
            break
        time.sleep(0.1)
    return found


def digest_case(kind: str, database: str, folder: Path, requests: int, concurrency: int,
                flood_count: int, subscribes_per_hour: int) -> dict[str, Any]:
    config = write_config(folder, database, subscribes_per_hour)
    print(f"  {kind}: adding {requests + WARMUP:,} readers ...", flush=True)
    paths, setup_s = add_readers(config, requests + WARMUP)
    ports = [free_port(), free_port()]
    print(f"  {kind}: two `digest serve` processes, {requests:,} one-click unsubscribes, "
          f"{concurrency} concurrent ...", flush=True)
    with servers([digest_serve(config, p) for p in ports], ports, folder, "digest") as running:
        row = timed_load(running, unsubscribe_calls(paths[:WARMUP], ports),
                         unsubscribe_calls(paths[WARMUP:], ports), concurrency)
        counts = reader_counts(database)
        row["unsubscribed"] = counts.get("unsubscribed", 0)
        row["posted"] = requests + WARMUP
        print(f"  {kind}: subscribe flood, {flood_count} JSON POSTs, {FLOOD_CONCURRENCY} "
              "concurrent ...", flush=True)
        flooded = flood(running, flood_count, kind)
        flooded["pending"] = reader_counts(database).get("pending", 0)
        flooded["notices"] = outbox_notices(folder, flooded["statuses"].get("202", 0))
    row["setup_s"] = round(setup_s, 2)
    row["server_exit_codes"] = running.exit_codes
    row["clean_exits"] = [0]  # `digest serve` exits 0 on SIGTERM
    row["log_problems"], row["first_log_problem"] = running.log_problems()
    return {"unsubscribe": row, "flood": flooded}


def peer_case(folder: Path, requests: int, concurrency: int, paths: list[str],
              name: str) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{PEER_MODULE}.py").write_text(PEER_APP, encoding="utf-8")
    ports = [free_port(), free_port()]
    print(f"  peer ({name}): two uvicorn processes, a bare Starlette POST route, "
          f"{requests:,} requests ...", flush=True)
    with servers([peer_serve(folder, p) for p in ports], ports, folder, name) as running:
        row = timed_load(running, unsubscribe_calls(paths[:WARMUP], ports),
                         unsubscribe_calls(paths[WARMUP:], ports), concurrency)
    row["server_exit_codes"] = running.exit_codes
    # plain uvicorn raises the SIGTERM it stopped on again once it has finished: -15 is clean
    row["clean_exits"] = [0, -signal.SIGTERM]
    row["log_problems"], row["first_log_problem"] = running.log_problems()
    return row


def bench(requests: int = REQUESTS, concurrency: int = CONCURRENCY, flood_count: int = FLOOD,
          postgres: str | None = None, skip_postgres: bool = False,
          subscribes_per_hour: int = SUBSCRIBES_PER_HOUR) -> dict[str, Any]:
    postgres = postgres or os.environ.get("DIGEST_TEST_DATABASE_URL") or PG_URL
    results: dict[str, Any] = {
        "requests": requests, "concurrency": concurrency, "warmup": WARMUP,
        "flood": flood_count, "flood_concurrency": FLOOD_CONCURRENCY,
        "subscribes_per_hour": subscribes_per_hour, "cpus": os.cpu_count(),
        "python": sys.version.split()[0], "versions": versions(),
        "load_before": round(os.getloadavg()[0], 2), "runs": {},
        "floods": {}, "skipped": {}}
    runs, floods = results["runs"], results["floods"]
    # the peer gets the same requests: made-up tokens of digest's length (65-70 characters)
    fake = [f"/unsubscribe?token={secrets.token_urlsafe(50)}" for _ in range(requests + WARMUP)]
    with tempfile.TemporaryDirectory(prefix="digest-bench-web-") as tmp:
        folder = Path(tmp)
        runs["peer (first)"] = peer_case(folder / "peer", requests, concurrency, fake, "peer-1")
        case = digest_case("sqlite", f"sqlite:///{folder / 'sqlite' / 'digest.db'}",
                           folder / "sqlite", requests, concurrency, flood_count,
                           subscribes_per_hour)
        runs["digest, SQLite"], floods["SQLite"] = case["unsubscribe"], case["flood"]
        if skip_postgres:
            results["skipped"]["PostgreSQL"] = "--skip-postgres"
        else:
            with pg_database(postgres) as (url, why):
                if url is None:
                    print(f"  PostgreSQL skipped: {why}", flush=True)
                    results["skipped"]["PostgreSQL"] = why
                else:
                    results["postgresql"] = pg_settings(url)
                    case = digest_case("postgresql", url, folder / "postgresql", requests,
                                       concurrency, flood_count, subscribes_per_hour)
                    runs["digest, PostgreSQL"] = case["unsubscribe"]
                    floods["PostgreSQL"] = case["flood"]
        runs["peer (last)"] = peer_case(folder / "peer", requests, concurrency, fake, "peer-2")
    results["load_after"] = round(os.getloadavg()[0], 2)
    peer = max(runs["peer (first)"]["per_s"], runs["peer (last)"]["per_s"])
    results["peer_per_s"] = peer
    results["ratios"] = {name.removeprefix("digest, "): round(row["per_s"] / peer, 3)
                         for name, row in runs.items() if name.startswith("digest") and peer}
    peer_cpu = min(runs["peer (first)"]["server_ms_per_req"],
                   runs["peer (last)"]["server_ms_per_req"])
    results["peer_server_ms_per_req"] = peer_cpu
    results["cpu_ratios"] = {
        name.removeprefix("digest, "): round(row["server_ms_per_req"] / peer_cpu, 1)
        for name, row in runs.items() if name.startswith("digest") and peer_cpu}
    return results


# --- the report ---


def _statuses(row: dict[str, Any]) -> str:
    parts = [f"{n:,} x {s}" for s, n in row["statuses"].items()]
    parts += [f"{n:,} x {e}" for e, n in row["errors"].items()]
    return ", ".join(parts) or "none"


def print_report(r: dict[str, Any]) -> None:
    print(f"\nOne-click unsubscribes (RFC 8058 POSTs), {r['requests']:,} timed after "
          f"{r['warmup']} warm-up, {r['concurrency']} concurrent, over two server processes "
          f"on 127.0.0.1 ({r['cpus']} CPUs; the load generator, the servers and PostgreSQL "
          "share them)")
    print(f"  Python {r['python']}, {r['versions']}"
          + (f"; {r['postgresql']}" if r.get("postgresql") else "")
          + f"; load average {r['load_before']} before, {r['load_after']} after")
    print(f"  {'run':<20} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'200s':>7} "
          f"{'server CPU s':>12} {'ms/req':>6} {'client CPU s':>12} {'busy':>5}   "
          "unsubscribed / posted")
    problems = []
    for name, row in r["runs"].items():
        ok = row["statuses"].get("200", 0)
        check = "-"
        if "unsubscribed" in row:
            check = f"{row['unsubscribed']:,} / {row['posted']:,}"
            if row["unsubscribed"] != row["posted"]:
                check += "   <-- MISMATCH"
                problems.append(f"MISMATCH: {name}: {row['unsubscribed']:,} readers recorded "
                                f"unsubscribed, {row['posted']:,} one-click POSTs sent")
        print(f"  {name:<20} {row['per_s']:8.1f} {row['p50_ms']:7.1f} {row['p99_ms']:7.1f} "
              f"{row['max_ms']:7.1f} {ok:7,} {row['server_cpu_s']:12.2f} "
              f"{row['server_ms_per_req']:6.2f} {row['client_cpu_s']:12.2f} "
              f"{row['machine_busy']:5.0%}   {check}")
        if ok != row["sent"] or row["timed_out"]:
            problems.append(f"{name}: answers {_statuses(row)}"
                            + (" (the run hit its time bound)" if row["timed_out"] else ""))
        warm = row["warmup"]
        if warm["statuses"] != {"200": warm["sent"]}:
            problems.append(f"{name}, warm-up: {_statuses(warm)}")
        if row["log_problems"]:
            problems.append(f"{name}: {row['log_problems']} warning/error line(s) in the "
                            f"server logs, the first: {row['first_log_problem']}")
        if any(code not in row["clean_exits"] for code in row["server_exit_codes"]):
            problems.append(f"{name}: server exit codes {row['server_exit_codes']}")
    for name, ratio in r["ratios"].items():
        print(f"  RATIO digest on {name} / bare Starlette peer: {ratio:.3f}x requests/s "
              f"({r['peer_per_s']:.1f} req/s: the faster peer run); server CPU per request "
              f"{r['cpu_ratios'][name]}x the peer's ({r['peer_server_ms_per_req']:.2f} ms)")
    for name, why in r["skipped"].items():
        print(f"  {name} skipped: {why}")
    print("  server CPU: both server processes (not PostgreSQL's), in all and per request; "
          "busy: all cores of the machine, over the timed run")
    limit = r["subscribes_per_hour"]
    for name, f in r["floods"].items():
        accepted, refused = f["statuses"].get("202", 0), f["statuses"].get("429", 0)
        other = {s: n for s, n in f["statuses"].items() if s not in ("202", "429")}
        split = ", ".join(f"port {k.split()[0]}: {n}" for k, n in f["by_port"].items()
                          if k.endswith(" 202"))
        print(f"  subscribe flood on {name}: {f['sent']} JSON POSTs from 127.0.0.1, "
              f"{r['flood_concurrency']} concurrent, both processes: {accepted} x 202 "
              f"({split or 'none'}), {refused} x 429 (Retry-After {', '.join(f['retry_after'])}"
              f" s)" + (f", other {other}" if other else "")
              + (f", errors {f['errors']}" if f["errors"] else "")
              + f"; {f['pending']} pending readers, {f['notices']} confirmation emails")
        allowed = limit * (2 if f["crossed_hour"] else 1)
        verdict = (f"at most {limit} may pass in an hour across both processes (the counter "
                   "is shared through the database)")
        if f["crossed_hour"]:
            verdict += f"; this flood crossed the hour, so up to {allowed} could pass"
        print(f"    {verdict}: {'held' if accepted <= allowed else 'NOT HELD'}")
        if accepted > allowed:
            problems.append(f"flood on {name}: {accepted} accepted, limit {allowed}")
        if other or f["errors"]:
            problems.append(f"flood on {name}: {_statuses(f)}")
        if f["pending"] != accepted:
            problems.append(f"flood on {name}: {accepted} x 202 but {f['pending']} pending "
                            "readers")
    for line in problems:
        print(f"  PROBLEM {line}")
    if not problems:
        print("  no errors, no 5xx, every count matched")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=None, metavar="N",
                        help=f"timed one-click POSTs per run (default {REQUESTS:,})")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_REQUESTS:,} requests (unless --requests says otherwise)")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, metavar="C")
    parser.add_argument("--flood", type=int, default=FLOOD, metavar="N",
                        help="JSON subscribe POSTs in the flood")
    parser.add_argument("--subscribes-per-hour", type=int, default=SUBSCRIBES_PER_HOUR,
                        metavar="N", help="web.subscribes_per_hour in the config")
    parser.add_argument("--postgres", metavar="URL",
                        help=f"a PostgreSQL URL (default: DIGEST_TEST_DATABASE_URL, else "
                             f"{PG_URL}); the run's own database is created on its server")
    parser.add_argument("--skip-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args(argv)
    requests = args.requests or (QUICK_REQUESTS if args.quick else REQUESTS)
    if requests < 1 or args.concurrency < 1 or args.flood < 0:
        parser.error("--requests and --concurrency must be positive, --flood not negative")
    print_report(bench(requests, args.concurrency, args.flood, postgres=args.postgres,
                       skip_postgres=args.skip_postgres,
                       subscribes_per_hour=args.subscribes_per_hour))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
