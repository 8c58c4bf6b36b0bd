"""HTTP clients against a slow local server: digest's fetch_feeds vs plain aiohttp vs httpx.

DESIGN.md section 4 says that on loopback with 100 ms latency, aiohttp at 64 concurrent requests
ran 6x the requests/s of httpx 0.28. This benchmark re-measures that as a ratio in one run:

- the server is aiohttp.web in a *subprocess* (its own interpreter and event loop, so its CPU
  time does not share a core or a loop with the client under test), bound to 127.0.0.1 only;
  every GET /feed/<n> sleeps 0.1 s, then answers with the same ~30 KB RSS 2.0 document;
- (a) ``digest.fetch.fetch_feeds`` with FetchLimits(concurrency=64, per_host=64) over N distinct
  URLs, *parsing included* (each body goes through ``parse_feed``: feedparser + nh3);
- (b) plain aiohttp GETs, one ClientSession, a semaphore of C, body read, no parsing;
- (c) httpx.AsyncClient(limits=httpx.Limits(max_connections=C)), a semaphore of C, body read,
  no parsing (skipped with a message when httpx is not installed).

Every run opens a new client (cold pool, connects included, as a real poll does), is repeated
``repeats`` times interleaved with the others, and reports the best wall time. The ideal is
N / (ceil(N / C) * 0.1 s): the server's sleep is the only wait a perfect client would see.

Run it alone with ``python bench/http_clients.py``; ``bench/run.py`` runs it with the others.
"""

from __future__ import annotations

import asyncio
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

LATENCY_S = 0.1
# Requests per run by concurrency: 10 rounds of the server's sleep each, so about 1 s for an
# ideal client at either concurrency.
REQUESTS = {64: 640, 16: 160}
CONCURRENCIES = (64, 16)
REPEATS = 3
SERVER_START_TIMEOUT_S = 20.0


def rss_body(target_bytes: int = 30_000) -> bytes:
    """A deterministic RSS 2.0 document of about `target_bytes`, shaped like a news feed."""
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n'
        "<title>Bench Wire</title>\n<link>https://benchwire.example/</link>\n"
        "<description>Synthetic feed for bench/http_clients.py</description>\n"
    )
    tail = "</channel>\n</rss>\n"
    paragraph = (
        "&lt;p&gt;The council voted on the new tram line after a long debate about costs, "
        "routes and the &lt;a href=&quot;https://benchwire.example/tram&quot;&gt;airport "
        "link&lt;/a&gt;; residents &lt;em&gt;mostly&lt;/em&gt; welcomed it.&lt;/p&gt;"
    )
    items: list[str] = []
    size = len(head) + len(tail)
    n = 0
    while size < target_bytes:
        n += 1
        item = (
            "<item>\n"
            f"<title>Story {n}: council approves tram line, phase {n}</title>\n"
            f"<link>https://benchwire.example/stories/{n}?utm_source=rss</link>\n"
            f'<guid isPermaLink="false">benchwire-{n:04d}</guid>\n'
            f"<dc:creator>Reporter {n % 7}</dc:creator>\n"
            f"<pubDate>Tue, {1 + n % 28:02d} Nov 2026 09:{n % 60:02d}:00 +0100</pubDate>\n"
            f"<description>{paragraph * 3}</description>\n"
            "</item>\n"
        )
        items.append(item)
        size += len(item)
    return (head + "".join(items) + tail).encode()


# --- the server (runs in a subprocess: python bench/http_clients.py --serve) ---


def serve() -> None:
    """Serve /feed/<n> on an ephemeral 127.0.0.1 port; print the port; stop when stdin closes."""
    import socket
    import threading

    from aiohttp import web

    body = rss_body()

    async def feed(request: web.Request) -> web.Response:
        await asyncio.sleep(LATENCY_S)
        return web.Response(body=body, content_type="application/rss+xml")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/feed/{n}", feed)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(runner, sock, backlog=1024)
        await site.start()
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        # The parent keeps our stdin open; EOF (parent gone or done) ends the server.
        threading.Thread(
            target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True
        ).start()
        print(sock.getsockname()[1], flush=True)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(main())


class Server:
    """The subprocess server as a context manager; `base` is http://127.0.0.1:<port>."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.base = ""

    def __enter__(self) -> Server:
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()  # blocks until the port is printed
        if not line.isdigit():
            self.__exit__()
            raise RuntimeError(f"bench server did not start (printed {line!r})")
        self.base = f"http://127.0.0.1:{int(line)}"
        return self

    def __exit__(self, *exc: object) -> None:
        stop_server(self.proc)
        self.proc = None


def stop_server(proc: subprocess.Popen[str] | None, timeout: float = 10.0) -> None:
    """End a bench server subprocess: close its stdin (it exits on EOF), else kill it."""
    if proc is None:
        return
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()  # our own child, by its handle
        proc.wait()


# --- the clients ---


@dataclass
class Run:
    wall_s: float
    cpu_s: float  # this process's CPU time (client side only; the server is another process)
    ok: int
    errors: int
    extra: dict[str, Any] = field(default_factory=dict)


def _timed(main: Callable[[], Coroutine[Any, Any, tuple[int, int]]]) -> Run:
    """Run one client's coroutine to completion; wall and client CPU time, ok and errors."""
    cpu0, t0 = time.process_time(), time.perf_counter()
    ok, errors = asyncio.run(main())
    return Run(time.perf_counter() - t0, time.process_time() - cpu0, ok, errors)


def run_digest_fetch(urls: list[str], concurrency: int, body_len: int) -> Run:
    from digest.fetch import FeedRequest, FetchLimits, fetch_feeds
    from digest.models import FeedStatus

    limits = FetchLimits(concurrency=concurrency, per_host=concurrency)
    requests = [FeedRequest(url) for url in urls]
    cpu0, t0 = time.process_time(), time.perf_counter()
    outcomes = fetch_feeds(requests, limits)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    ok = sum(1 for o in outcomes if o.status is FeedStatus.OK and o.items)
    errors = [o.error for o in outcomes if o.status is not FeedStatus.OK or not o.items]
    return Run(wall, cpu, ok, len(errors), {"first_error": errors[0] if errors else None,
                                            "items": sum(len(o.items) for o in outcomes)})


def run_aiohttp(urls: list[str], concurrency: int, body_len: int) -> Run:
    import aiohttp

    async def main() -> tuple[int, int]:
        gate = asyncio.Semaphore(concurrency)
        connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(url: str) -> bool:
                async with gate, session.get(url) as response:
                    data = await response.read()
                    return response.status == 200 and len(data) == body_len

            results = await asyncio.gather(*(one(u) for u in urls), return_exceptions=True)
        ok = sum(1 for r in results if r is True)
        return ok, len(results) - ok

    return _timed(main)


def run_httpx(urls: list[str], concurrency: int, body_len: int) -> Run:
    import httpx

    async def main() -> tuple[int, int]:
        gate = asyncio.Semaphore(concurrency)
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(limits=limits) as client:

            async def one(url: str) -> bool:
                async with gate:
                    response = await client.get(url)
                    return response.status_code == 200 and len(response.content) == body_len

            results = await asyncio.gather(*(one(u) for u in urls), return_exceptions=True)
        ok = sum(1 for r in results if r is True)
        return ok, len(results) - ok

    return _timed(main)


def httpx_version() -> str | None:
    try:
        import httpx
    except ImportError:
        return None
    return str(httpx.__version__)


# --- the benchmark ---


def parse_cost_ms(body: bytes, rounds: int = 20) -> float:
    """Best-of-`rounds` ms for one parse_feed of the served body (what (a) adds per request)."""
    from digest.parse import parse_feed

    best = math.inf
    for _ in range(rounds):
        t0 = time.perf_counter()
        parse_feed("http://127.0.0.1/feed/0", body)
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def bench(
    requests: dict[int, int] | None = None,
    concurrencies: tuple[int, ...] = CONCURRENCIES,
    repeats: int = REPEATS,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    import aiohttp

    requests = requests or REQUESTS
    body = rss_body()
    hx = httpx_version()
    cases: list[tuple[str, int, Callable[[list[str], int, int], Run]]] = []
    for c in concurrencies:
        if c == 64:  # digest's real fetch path, as DESIGN.md measures it
            cases.append(("digest fetch_feeds (parses)", c, run_digest_fetch))
        cases.append(("aiohttp", c, run_aiohttp))
        if hx is not None:
            cases.append(("httpx", c, run_httpx))
    if hx is None:
        log("httpx is not installed: skipping the httpx cases (pip install httpx to run them)")

    runs: dict[tuple[str, int], list[Run]] = {(name, c): [] for name, c, _ in cases}
    with Server() as server:
        urls = [f"{server.base}/feed/{i}" for i in range(max(requests.values()))]
        run_aiohttp(urls[:64], 64, len(body))  # warm-up: server up, imports and caches done
        for rep in range(repeats):
            for name, c, fn in cases:
                n = requests[c]
                r = fn(urls[:n], c, len(body))
                runs[(name, c)].append(r)
                log(f"  rep {rep + 1}/{repeats}  {name:<28} c={c:<3} {r.wall_s:6.2f} s"
                    f"  {n / r.wall_s:7.1f} req/s  errors={r.errors}")

    rows = []
    for (name, c), rs in runs.items():
        n = requests[c]
        best = min(rs, key=lambda r: r.wall_s)
        rows.append({
            "client": name,
            "concurrency": c,
            "requests": n,
            "best_wall_s": round(best.wall_s, 4),
            "median_wall_s": round(statistics.median(r.wall_s for r in rs), 4),
            "req_per_s": round(n / best.wall_s, 1),
            "client_cpu_s": round(best.cpu_s, 3),
            "ideal_req_per_s": round(n / (math.ceil(n / c) * LATENCY_S), 1),
            "errors": sum(r.errors for r in rs),
            **({"first_error": best.extra["first_error"]} if best.extra.get("first_error")
               else {}),
        })
    by = {(row["client"], row["concurrency"]): row["req_per_s"] for row in rows}
    ratios: dict[str, float] = {}
    for c in concurrencies:
        if ("httpx", c) in by:
            ratios[f"aiohttp/httpx c={c}"] = round(by[("aiohttp", c)] / by[("httpx", c)], 2)
    if ("httpx", 64) in by:
        ratios["digest-fetch/httpx c=64"] = round(
            by[("digest fetch_feeds (parses)", 64)] / by[("httpx", 64)], 2)
    ratios["digest-fetch/aiohttp c=64"] = round(
        by[("digest fetch_feeds (parses)", 64)] / by[("aiohttp", 64)], 2)
    parse_ms = parse_cost_ms(body)
    return {
        "setup": {
            "latency_s": LATENCY_S,
            "body_bytes": len(body),
            "requests_per_run": {str(c): requests[c] for c in concurrencies},
            "repeats": repeats,
            "server": "aiohttp.web in a subprocess on 127.0.0.1",
            "aiohttp": aiohttp.__version__,
            "httpx": hx,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "rows": rows,
        "ratios": ratios,
        "parse_feed_ms_per_body": round(parse_ms, 3),
        "parse_feed_s_for_all_bodies": round(parse_ms * requests[64] / 1000, 3),
        "notes": [
            "digest fetch_feeds parses every body (parse_feed); aiohttp and httpx do not parse",
            "best wall time of the repeats; a new client per run, connects included",
        ],
    }


def print_report(result: dict[str, Any]) -> None:
    s = result["setup"]
    per_run = ", ".join(f"{n} at c={c}" for c, n in s["requests_per_run"].items())
    print(f"\nHTTP clients: GETs per run {per_run}; server sleeps "
          f"{s['latency_s'] * 1000:g} ms, {s['body_bytes']} B RSS body, best of {s['repeats']}"
          f"  (aiohttp {s['aiohttp']}, httpx {s['httpx'] or 'not installed'})")
    print(f"  {'client':<28} {'conc':>4} {'reqs':>5} {'req/s':>8} {'ideal':>7} {'best s':>7} "
          f"{'median s':>8} {'cpu s':>6} {'errors':>6}")
    for row in result["rows"]:
        print(f"  {row['client']:<28} {row['concurrency']:>4} {row['requests']:>5} "
              f"{row['req_per_s']:>8.1f} "
              f"{row['ideal_req_per_s']:>7.0f} {row['best_wall_s']:>7.2f} "
              f"{row['median_wall_s']:>8.2f} {row['client_cpu_s']:>6.2f} {row['errors']:>6}")
        if row.get("first_error"):
            print(f"      first error: {row['first_error']}")
    print(f"  parse_feed of one body: {result['parse_feed_ms_per_body']:.2f} ms "
          f"(x{s['requests_per_run']['64']} = {result['parse_feed_s_for_all_bodies']:.2f} s "
          "of CPU inside digest's c=64 run)")
    print("  RATIOS (requests/s):")
    for name, value in result["ratios"].items():
        print(f"    {name:<28} {value:6.2f}x")


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        print_report(bench())
