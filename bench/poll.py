"""A full poll of 1000 feeds with 100 ms latency: `digest fetch --all` vs rss2email's way.

Issue 3 ("Fetching") asks for three figures, measured here in one run on one machine:

- **first poll**: wall time of the real CLI, ``digest --config X fetch --all --format json``,
  run as a subprocess the way an operator runs it, over N distinct feeds (default 1000), against
  (peer 1) rss2email's way, sequential ``feedparser.parse(url)`` in one process (feedparser
  does the HTTP itself with urllib; its defaults, plus a 60 s socket timeout as a bound, the
  value rss2email uses), and (peer 2) rss2email itself
  (``r2e run --no-send``, installed with pip into its own venv in the temp dir, never into the
  project's). Ratios are peer wall time / digest wall time. Targets: >= 30x, a poll < 5 s;
- **second poll** of the same, unchanged feeds with the same database: how many feeds digest
  reports ``not_modified`` (zero parses means all of them) and how many the server answered
  304. Target: >= 99% answered 304;
- **peak memory** of the digest process tree during the first poll. A sampler thread walks the
  tree (``/proc/PID/task/*/children``) every 20 ms and keeps the largest RSS of any one
  process and the largest *sum* of RSS over the tree (a sum counts pages shared by forked
  workers once per process, so it is an upper bound), and every 0.1 s the sum of PSS (shared
  pages split between the processes that share them: the tree's real footprint).
  Target: < 300 MB.
- **CPU** of the tree, from the same samples. ``os.wait4``'s rusage (``ru_maxrss``, CPU) is
  kept as a cross-check only: it covers the child and the descendants *it* waited for, and a
  multiprocessing forkserver's workers are not among them (the forkserver reaps them and is
  never waited for), so for digest's process-pool parsing it undercounts.

The server is aiohttp.web in a *subprocess* (``python bench/poll.py --serve``), its own
interpreter, so its CPU time is not in any client's figures. It binds one listening socket per
address on 127.0.1.1 .. 127.0.1.H (default 50 hosts; Linux routes all of 127.0.0.0/8 to the
loopback interface, nothing is bound to 0.0.0.0) and feed n lives on host n mod H, so a feeds
list spreads over many hosts as a real one does and per-host limits matter. Every GET sleeps
0.1 s, then answers with feed n's own RSS 2.0 document: 20 items shaped like a news feed
(distinct titles, links and guids per feed, HTML summaries, about 20 KB), with an ETag and a
Last-Modified; If-None-Match (or, without it, If-Modified-Since) that matches gets a 304 with
no body, after the same sleep. The server counts its 200s and 304s; the bench reads them from
``/_stats`` before and after each run. Bodies are served uncompressed.

digest runs ``repeats`` times (default 2), each a first and a second poll on a new database;
the report shows the pair with the best first poll and keeps every wall time. The peers run
once (about two and three minutes). The machine's load average is recorded before and after:
other work on its two cores shows up in every figure.

Every subprocess gets an environment without proxy variables (urllib would honour them) and
without ``DIGEST_*``; the temp folder is removed at the end. Nothing here asserts a timing.

Run it alone with ``python bench/poll.py [--feeds N] [--peer-feeds N] [--skip-rss2email]``;
``bench/run.py`` runs it with the other benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

from http_clients import stop_server  # bench/ is sys.path[0] when run as a script

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LATENCY_S = 0.1
FEEDS = 1000
HOSTS = 50
ITEMS = 20
HOST_PREFIX = "127.0.1."
# The limits issue 3 asks digest to poll with (the `fetch:` block of feeds.yaml).
CONCURRENCY, PER_HOST = 64, 4
FETCH_BLOCK: dict[str, int | str] = {"concurrency": CONCURRENCY, "per_host": PER_HOST,
                                     "timeout": "30s", "connect_timeout": "10s"}
SAMPLE_EVERY_S = 0.02
PSS_EVERY = 5  # samples: PSS every 0.1 s
SERVER_START_TIMEOUT_S = 30.0
REPEATS = 2  # digest's (1st poll, 2nd poll) pairs, each on a new database; the best is shown
RUN_TIMEOUT_S = 900.0  # any one subprocess: a hang is reported, never waited on forever
RSS2EMAIL = "rss2email==3.14"
LAST_MODIFIED = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
MB = 1024 * 1024

# --- the feeds ---

_WORDS = {
    "who": ["Ministers", "Regulators", "Lawmakers", "Central bank", "Chipmakers", "Union leaders",
            "Health officials", "Investors", "Election monitors", "Farmers", "Startups",
            "The European Commission", "Nairobi's council", "Berlin", "Lagos traders"],
    "did": ["approve", "reject", "delay", "back", "question", "announce", "weigh", "unveil",
            "cut", "extend", "probe", "sign", "defend", "rethink", "fund"],
    "what": ["new tram line", "AI safety rules", "semiconductor subsidies", "grain export deal",
             "pension reform", "data-centre tax", "solar tariff", "ceasefire plan",
             "mobile money levy", "battery plant", "border checks", "rate cut", "5G auction",
             "water rationing", "port expansion"],
    "when": ["after long talks", "amid protests", "ahead of the summit", "despite warnings",
             "as prices climb", "before the vote", "in a late-night session", "under pressure"],
}


def feed_body(n: int, items: int = ITEMS) -> bytes:
    """Feed n's RSS 2.0 document: `items` news items, distinct from every other feed's."""
    rng = random.Random(n)
    outlet = f"Outlet {n:04d}"
    site = f"https://news{n:04d}.example"
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:atom="http://www.w3.org/2005/Atom">\n<channel>\n'
        f"<title>{outlet} - World</title>\n<link>{site}/world</link>\n"
        f'<atom:link href="{site}/world/rss.xml" rel="self" type="application/rss+xml"/>\n'
        f"<description>The latest world news from {outlet}</description>\n"
        f"<language>en-gb</language>\n<ttl>15</ttl>\n"
        f"<lastBuildDate>{format_datetime(LAST_MODIFIED)}</lastBuildDate>\n"
    )
    parts = [head]
    for k in range(items):
        w = {key: rng.choice(values) for key, values in _WORDS.items()}
        title = f"{w['who']} {w['did']} {w['what']} {w['when']}"
        slug = f"{n:04d}-{k:02d}-" + w["what"].replace(" ", "-").lower()
        published = LAST_MODIFIED - timedelta(minutes=37 * k + rng.randrange(30))
        summary = (
            f"&lt;p&gt;{w['who']} moved to {w['did']} the {w['what']} on {published:%A}, "
            f"{w['when']}. &lt;a href=&quot;{site}/world/{slug}&quot;&gt;Read the full "
            f"story&lt;/a&gt; for reactions from the region and what happens next.&lt;/p&gt;"
            f"&lt;p&gt;Analysts said the decision would shape the {w['what']} debate for "
            f"months, and &lt;em&gt;critics&lt;/em&gt; warned of costs for households and "
            f"small firms; a final text is expected within weeks.&lt;/p&gt;"
            f'&lt;img src=&quot;{site}/img/{slug}.jpg&quot; alt=&quot;&quot; width=&quot;'
            f'640&quot;/&gt;'
        )
        parts.append(
            "<item>\n"
            f"<title>{title}</title>\n"
            f"<link>{site}/world/{slug}?at_medium=RSS&amp;at_campaign=rss</link>\n"
            f'<guid isPermaLink="true">{site}/world/{slug}</guid>\n'
            f"<dc:creator>{rng.choice(['A. Mensah', 'B. Novak', 'C. Okafor', 'D. Weber'])}"
            "</dc:creator>\n"
            f"<category>{rng.choice(['Politics', 'Tech', 'Business', 'Africa', 'Europe'])}"
            "</category>\n"
            f"<pubDate>{format_datetime(published)}</pubDate>\n"
            f"<description>{summary}</description>\n"
            "</item>\n"
        )
    parts.append("</channel>\n</rss>\n")
    return "".join(parts).encode()


def feed_urls(hosts: list[tuple[str, int]], feeds: int) -> list[str]:
    """Feed n on host n mod H: neighbours in the list are on different hosts, as in a real one."""
    return [f"http://{hosts[n % len(hosts)][0]}:{hosts[n % len(hosts)][1]}/feed/{n}"
            for n in range(feeds)]


# --- the server (runs in a subprocess: python bench/poll.py --serve FEEDS HOSTS ITEMS) ---


def serve(feeds: int, hosts: int, items: int = ITEMS) -> None:
    """Serve /feed/<n> on 127.0.1.1..H (ephemeral ports); print them; stop when stdin closes."""
    import socket

    from aiohttp import web

    bodies = [feed_body(n, items) for n in range(feeds)]
    etags = [f'"f{n:04d}-{len(b):x}"' for n, b in enumerate(bodies)]
    last_modified = format_datetime(LAST_MODIFIED, usegmt=True)
    counts: dict[str, int] = {}

    def count(key: str) -> None:
        counts[key] = counts.get(key, 0) + 1

    def not_modified(request: web.Request, etag: str) -> bool:
        # RFC 9110 13.1.1 and 13.2.2: If-None-Match wins; If-Modified-Since only without it.
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None:
            tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
            return "*" in tags or etag in tags
        if_modified_since = request.headers.get("If-Modified-Since")
        if if_modified_since:
            with contextlib.suppress(TypeError, ValueError):
                return parsedate_to_datetime(if_modified_since) >= LAST_MODIFIED
        return False

    async def feed(request: web.Request) -> web.Response:
        await asyncio.sleep(LATENCY_S)
        n = int(request.match_info["n"])
        if not 0 <= n < feeds:
            count("404")
            return web.Response(status=404)
        headers = {"ETag": etags[n], "Last-Modified": last_modified}
        if "If-None-Match" in request.headers or "If-Modified-Since" in request.headers:
            count("conditional")
        if not_modified(request, etags[n]):
            count("304")
            return web.Response(status=304, headers=headers)
        count("200")
        return web.Response(body=bodies[n], headers=headers,
                            content_type="application/rss+xml", charset="utf-8")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({**counts, "cpu_s": time.process_time()})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/feed/{n}", feed)
        app.router.add_get("/_stats", stats)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        bound = []
        for h in range(1, hosts + 1):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((f"{HOST_PREFIX}{h}", 0))
            await web.SockSite(runner, sock, backlog=1024).start()
            bound.append(sock.getsockname()[:2])
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        # The parent keeps our stdin open; EOF (parent gone or done) ends the server.
        threading.Thread(
            target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True
        ).start()
        sizes = [len(b) for b in bodies]
        print(json.dumps({"hosts": bound, "body_bytes": {
            "min": min(sizes), "mean": round(sum(sizes) / len(sizes)), "max": max(sizes)}}),
            flush=True)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(main())


class FeedServer:
    """The subprocess server as a context manager: `urls`, `body_bytes`, `stats()`."""

    def __init__(self, feeds: int, hosts: int, items: int = ITEMS) -> None:
        self.feeds, self.hosts, self.items = feeds, hosts, items
        self.proc: subprocess.Popen[str] | None = None
        self.urls: list[str] = []
        self.body_bytes: dict[str, int] = {}
        self._stats_url = ""

    def __enter__(self) -> FeedServer:
        self.proc = subprocess.Popen(
            [sys.executable, os.fspath(Path(__file__).resolve()), "--serve",
             str(self.feeds), str(self.hosts), str(self.items)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=child_env(),
        )
        assert self.proc.stdout is not None
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()),  # type: ignore[union-attr]
                                  daemon=True)
        reader.start()
        reader.join(SERVER_START_TIMEOUT_S)
        try:
            info = json.loads(line[0])
        except (IndexError, ValueError):
            self.__exit__()
            raise RuntimeError(f"bench server did not start (printed {line!r})") from None
        hosts = [(str(a), int(p)) for a, p in info["hosts"]]
        self.urls = feed_urls(hosts, self.feeds)
        self.body_bytes = info["body_bytes"]
        self._stats_url = f"http://{hosts[0][0]}:{hosts[0][1]}/_stats"
        return self

    def stats(self) -> dict[str, float]:
        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with no_proxy.open(self._stats_url, timeout=10) as response:
            return dict(json.load(response))

    def __exit__(self, *exc: object) -> None:
        stop_server(self.proc)
        self.proc = None


def stats_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    keys = ("200", "304", "404", "conditional")
    delta: dict[str, float] = {k: int(after.get(k, 0) - before.get(k, 0)) for k in keys}
    delta["server_cpu_s"] = round(after["cpu_s"] - before["cpu_s"], 3)
    return delta


# --- running a subprocess and measuring it ---


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without proxies (urllib honours *_proxy) and without DIGEST_*."""
    env = {k: v for k, v in os.environ.items()
           if not k.lower().endswith("_proxy") and not k.startswith("DIGEST_")}
    env["no_proxy"] = env["NO_PROXY"] = "*"
    env.update(extra or {})
    return env


def _tree_sample(root: int, page: int, cpu_ticks: dict[int, int],
                 rss_peak: dict[int, int]) -> tuple[int, list[int]]:
    """Summed RSS of `root` and all its descendants (0 once it is gone), and their pids.
    Records each one's CPU ticks so far and its largest RSS, so workers nobody waits for are
    counted too."""
    total, todo, seen = 0, [root], []
    for _ in range(10_000):  # bounded walk of the process tree
        if not todo:
            break
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                rss = int(f.read().split()[1]) * page
            total += rss
            seen.append(pid)
            rss_peak[pid] = max(rss, rss_peak.get(pid, 0))
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            cpu_ticks[pid] = int(fields[11]) + int(fields[12])  # utime + stime, proc(5)
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children", "rb") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            continue
    return total, seen


def _pss_bytes(pids: list[int]) -> int:
    """Summed PSS (shared pages split between their users) of `pids`, from smaps_rollup."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
                for line in f:
                    if line.startswith(b"Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError):
            continue
    return total


class TreeSampler(threading.Thread):
    """Samples a process tree every SAMPLE_EVERY_S until stopped: the peak of its summed RSS,
    its process count, and the last CPU time seen for every process in it."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.samples = pid, 0, 0
        self.cpu_ticks: dict[int, int] = {}
        self.rss_peak: dict[int, int] = {}
        self.pss_peak = 0
        self._stop_event = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")

    @property
    def cpu_s(self) -> float:
        return sum(self.cpu_ticks.values()) / os.sysconf("SC_CLK_TCK")

    @property
    def root_cpu_s(self) -> float:
        return self.cpu_ticks.get(self.pid, 0) / os.sysconf("SC_CLK_TCK")

    def run(self) -> None:
        while not self._stop_event.is_set():
            rss, pids = _tree_sample(self.pid, self._page, self.cpu_ticks, self.rss_peak)
            self.peak = max(self.peak, rss)
            if self.samples % PSS_EVERY == 0:  # smaps_rollup walks page tables: costlier
                self.pss_peak = max(self.pss_peak, _pss_bytes(pids))
            self.samples += 1
            self._stop_event.wait(SAMPLE_EVERY_S)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


@dataclass
class Measured:
    wall_s: float
    # CPU and memory come from two sources. wait4 sees the child and the descendants it
    # waited for; a multiprocessing forkserver's workers are not among them (the forkserver
    # reaps them and is never waited for itself), so /proc samples of the whole live tree
    # are the complete figures and wait4's the cross-check.
    cpu_s: float  # user + system, summed over every process seen in the tree (sampled)
    wait4_cpu_s: float  # user + system of the child and the descendants it waited for
    root_cpu_s: float  # the child itself (the rest of cpu_s is its descendants)
    processes: int  # distinct processes seen in the tree
    proc_rss_peak_mb: float  # the largest RSS of any one process in the tree (sampled)
    tree_rss_peak_mb: float  # the largest sum of RSS over the live tree (sampled)
    tree_pss_peak_mb: float  # the largest sum of PSS over the live tree (sampled every 0.1 s)
    wait4_maxrss_mb: float  # ru_maxrss: the largest one process that wait4 accounts for
    samples: int
    returncode: int
    stdout: str
    stderr: str


def run_measured(cmd: list[str], cwd: Path, timeout: float = RUN_TIMEOUT_S) -> Measured:
    """Run `cmd`, its output into files (no pipe to fill), timed, with its tree's memory."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env=child_env())
        sampler = TreeSampler(proc.pid)
        sampler.start()
        killer = threading.Timer(timeout, proc.kill)  # our own child, by its handle
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            wall = time.perf_counter() - t0
            killer.cancel()
            sampler.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        return Measured(
            wall_s=wall, cpu_s=sampler.cpu_s, wait4_cpu_s=usage.ru_utime + usage.ru_stime,
            root_cpu_s=sampler.root_cpu_s, processes=len(sampler.cpu_ticks),
            proc_rss_peak_mb=max(sampler.rss_peak.values(), default=0) / MB,
            tree_rss_peak_mb=sampler.peak / MB, tree_pss_peak_mb=sampler.pss_peak / MB,
            wait4_maxrss_mb=usage.ru_maxrss * 1024 / MB,  # Linux reports KiB
            samples=sampler.samples,
            returncode=proc.returncode, stdout=out.read(), stderr=err.read())


def _summary(m: Measured) -> dict[str, Any]:
    return {"wall_s": round(m.wall_s, 3), "cpu_s": round(m.cpu_s, 2),
            "wait4_cpu_s": round(m.wait4_cpu_s, 2), "main_process_cpu_s": round(m.root_cpu_s, 2),
            "processes": m.processes,
            "proc_rss_peak_mb": round(m.proc_rss_peak_mb, 1),
            "tree_rss_peak_mb": round(m.tree_rss_peak_mb, 1),
            "tree_pss_peak_mb": round(m.tree_pss_peak_mb, 1),
            "wait4_maxrss_mb": round(m.wait4_maxrss_mb, 1),
            "rss_samples": m.samples, "returncode": m.returncode}


def _tail(text: str, lines: int = 5) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# --- digest ---


def digest_command() -> list[str]:
    script = Path(sys.executable).parent / "digest"
    return [os.fspath(script)] if script.exists() else [sys.executable, "-m", "digest.cli"]


def write_digest_config(folder: Path, urls: list[str], fetch_block: bool) -> Path:
    lines = ["title: Poll bench", "database: digest.db"]
    if fetch_block:
        lines.append("fetch: {" + ", ".join(f"{k}: {v}" for k, v in FETCH_BLOCK.items()) + "}")
    lines.append("feeds:")
    lines += [f"  - url: {url}" for url in urls]
    path = folder / "feeds.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def digest_poll(config: Path, server: FeedServer) -> dict[str, Any]:
    """One `digest fetch --all --format json`: timing, memory, outcomes, server counts."""
    before = server.stats()
    m = run_measured([*digest_command(), "--config", os.fspath(config), "fetch", "--all",
                      "--format", "json"], config.parent)
    result: dict[str, Any] = {**_summary(m), "server": stats_delta(before, server.stats())}
    try:
        outcomes = json.loads(m.stdout)
    except ValueError:
        result["error"] = f"exit {m.returncode}, no JSON; stderr: {_tail(m.stderr)}"
        return result
    errors = [o for o in outcomes if o["status"] != "ok"]
    result.update({
        "feeds": len(outcomes),
        "ok": len(outcomes) - len(errors),
        "errors": len(errors),
        "first_error": f"{errors[0]['url']}: {errors[0]['error']}" if errors else None,
        "not_modified": sum(1 for o in outcomes if o.get("not_modified")),
        "new_items": sum(int(o.get("new_items") or 0) for o in outcomes),
    })
    return result


def count_items(db: Path) -> int | None:
    if not db.exists():
        return None
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT count(*) FROM items").fetchone()[0])


def digest_config_check(folder: Path, urls: list[str], log: Callable[[str], None],
                        fetch_block: bool) -> tuple[Path, bool, Measured]:
    """Write feeds.yaml (with the fetch block if digest accepts it) and time `config check`."""
    config = write_digest_config(folder, urls, fetch_block)
    m = run_measured([*digest_command(), "--config", os.fspath(config), "config", "check"],
                     folder)
    if m.returncode != 0 and fetch_block:
        log(f"  digest rejects the fetch: block ({_tail(m.stderr, 2)}); "
            "running with digest's default limits instead")
        return digest_config_check(folder, urls, log, fetch_block=False)
    if m.returncode != 0:
        raise RuntimeError(f"digest config check failed: {_tail(m.stderr)}")
    return config, fetch_block, m


# --- peer 1: sequential feedparser.parse(url), rss2email's way ---


def feedparser_peer(url_file: str) -> None:
    """(In a subprocess.) feedparser.parse(url) for every URL in order; print a JSON summary."""
    import socket

    import feedparser

    socket.setdefaulttimeout(60)  # a bound for a hung socket (rss2email's feed-timeout)
    urls = Path(url_file).read_text(encoding="utf-8").split()
    ok = entries = errors = 0
    first_error = None
    for url in urls:
        parsed = feedparser.parse(url)
        if parsed.get("status") == 200 and parsed.entries:
            ok += 1
            entries += len(parsed.entries)
        else:
            errors += 1
            why = f"{parsed.get('status')} {parsed.get('bozo_exception')}"
            first_error = first_error or f"{url}: {why}"
    print(json.dumps({"feeds": len(urls), "ok": ok, "entries": entries, "errors": errors,
                      "first_error": first_error, "feedparser": feedparser.__version__}))


def run_feedparser_peer(urls: list[str], folder: Path, server: FeedServer) -> dict[str, Any]:
    url_file = folder / "peer-urls.txt"
    url_file.write_text("\n".join(urls) + "\n", encoding="utf-8")
    before = server.stats()
    m = run_measured([sys.executable, os.fspath(Path(__file__).resolve()), "--feedparser-peer",
                      os.fspath(url_file)], folder)
    result: dict[str, Any] = {**_summary(m), "server": stats_delta(before, server.stats())}
    try:
        result.update(json.loads(m.stdout))
    except ValueError:
        result["error"] = f"exit {m.returncode}; stderr: {_tail(m.stderr)}"
    return result


# --- peer 2: rss2email itself ---


def rss2email_venv(log: Callable[[str], None]) -> tuple[Path | None, str]:
    """r2e from a venv of its own in the temp dir (reused across runs); (None, why) if none."""
    venv = Path(tempfile.gettempdir()) / "digest-bench-rss2email-venv"
    r2e = venv / "bin" / "r2e"
    if r2e.exists():
        return r2e, "reused"
    log(f"  installing {RSS2EMAIL} into {venv} (pip)")
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", os.fspath(venv)], check=True,
                       capture_output=True, timeout=300)
        subprocess.run([os.fspath(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", RSS2EMAIL], check=True,
                       capture_output=True, text=True, timeout=600)
    except subprocess.CalledProcessError as e:
        return None, f"pip install {RSS2EMAIL} failed: {_tail(str(e.stderr or e), 2)}"
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"cannot make a venv for rss2email: {e}"
    return (r2e, "installed") if r2e.exists() else (None, "no r2e after pip install")


def run_rss2email(urls: list[str], folder: Path, server: FeedServer,
                  log: Callable[[str], None]) -> dict[str, Any]:
    r2e, how = rss2email_venv(log)
    if r2e is None:
        return {"skipped": how}
    home = folder / "r2e"
    home.mkdir()
    config, data = home / "rss2email.cfg", home / "rss2email.json"
    base = [os.fspath(r2e), "-c", os.fspath(config), "-d", os.fspath(data)]
    made = subprocess.run([*base, "new", "you@example.org"], capture_output=True, text=True,
                          timeout=120, env=child_env())
    added = subprocess.run([*base, "add", "f0000", urls[0]], capture_output=True, text=True,
                           timeout=120, env=child_env())
    if made.returncode or added.returncode:
        return {"skipped": f"r2e new/add failed: {_tail(made.stderr + added.stderr, 3)}"}
    # `r2e add` is one process per feed (about 0.4 s each): the other feeds get the
    # [feed.NAME] sections it writes, straight into its INI config; r2e list must show them all.
    sections = "".join(f"[feed.f{n:04d}]\nurl = {url}\n\n" for n, url in enumerate(urls) if n)
    with config.open("a", encoding="utf-8") as f:
        f.write("\n" + sections)
    listed = subprocess.run([*base, "list"], capture_output=True, text=True, timeout=300,
                            env=child_env())
    if listed.stdout.count("\n") != len(urls):
        return {"skipped": f"r2e list shows {listed.stdout.count(chr(10))} feeds, "
                           f"not {len(urls)}: {_tail(listed.stderr, 2)}"}
    version = subprocess.run([*base, "--version"], capture_output=True, text=True, timeout=60,
                             env=child_env()).stdout.strip()
    before = server.stats()
    m = run_measured([*base, "run", "--no-send"], home)
    result: dict[str, Any] = {**_summary(m), "server": stats_delta(before, server.stats()),
                              "version": version, "venv": how, "feeds": len(urls)}
    try:
        feeds = json.loads(data.read_text(encoding="utf-8"))["feeds"]
        result["ok"] = sum(1 for f in feeds if f.get("seen"))
        result["entries"] = sum(len(f.get("seen") or {}) for f in feeds)
    except (OSError, ValueError, KeyError) as e:
        result["error"] = f"cannot read r2e data: {e}; stderr: {_tail(m.stderr)}"
    if m.returncode:
        result["error"] = f"exit {m.returncode}: {_tail(m.stderr)}"
    return result


# --- the benchmark ---


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="digest-bench-poll-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def parse_cost_ms(rounds: int = 10, items: int = ITEMS) -> float | None:
    """Best-of-`rounds` ms for one digest parse_feed of feed 0's body, in this process."""
    try:
        from digest.parse import parse_feed
    except ImportError:
        return None
    body, best = feed_body(0, items), math.inf
    for _ in range(rounds):
        t0 = time.perf_counter()
        parse_feed("http://127.0.1.1/feed/0", body)
        best = min(best, time.perf_counter() - t0)
    return round(best * 1000, 2)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("digest", "aiohttp", "feedparser"):
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


def bench(
    feeds: int = FEEDS,
    peer_feeds: int = FEEDS,
    hosts: int = HOSTS,
    rss2email: bool = True,
    repeats: int = REPEATS,
    log: Callable[[str], None] = print,
    items: int = ITEMS,
) -> dict[str, Any]:
    peer_feeds = min(peer_feeds, feeds)
    load_before = os.getloadavg()
    with _workdir() as folder, FeedServer(feeds, hosts, items) as server:
        body = server.body_bytes
        log(f"  server: {feeds} feeds on {hosts} hosts ({HOST_PREFIX}1..{hosts}), {items} items "
            f"each, body {body['min']}..{body['max']} B (mean {body['mean']}), "
            f"{LATENCY_S * 1000:.0f} ms per response")
        digest_dir = folder / "digest"
        digest_dir.mkdir()
        config, with_block, check = digest_config_check(digest_dir, server.urls, log, True)
        log(f"  digest config check ({feeds} feeds): {check.wall_s:.2f} s "
            f"(process start, imports, config; in every poll below)")
        pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for rep in range(repeats):  # each repeat: a new database, a 1st and a 2nd poll
            run_dir = folder / f"digest-{rep}"
            run_dir.mkdir()
            run_config = run_dir / "feeds.yaml"
            shutil.copyfile(config, run_config)
            first = digest_poll(run_config, server)
            first["items_stored"] = count_items(run_dir / "digest.db")
            log(f"  rep {rep + 1}/{repeats} digest poll 1: {first['wall_s']:.2f} s wall, "
                f"{first['cpu_s']:.2f} s CPU, ok={first.get('ok')} "
                f"new_items={first.get('new_items')} "
                f"server 200/304={first['server']['200']}/{first['server']['304']}")
            second = digest_poll(run_config, server)
            log(f"  rep {rep + 1}/{repeats} digest poll 2: {second['wall_s']:.2f} s wall, "
                f"{second['cpu_s']:.2f} s CPU, not_modified={second.get('not_modified')} "
                f"server 200/304={second['server']['200']}/{second['server']['304']}")
            pairs.append((first, second))
        first, second = min(pairs, key=lambda pair: float(pair[0]["wall_s"]))
        first_walls = [p[0]["wall_s"] for p in pairs]
        second_walls = [p[1]["wall_s"] for p in pairs]

        log(f"  peer 1: sequential feedparser.parse(url) over {peer_feeds} feeds "
            f"(about {peer_feeds * (LATENCY_S + 0.02):.0f} s)")
        peer1 = run_feedparser_peer(server.urls[:peer_feeds], folder, server)
        log(f"  peer 1: {peer1['wall_s']:.1f} s wall, ok={peer1.get('ok')}")
        if rss2email:
            log(f"  peer 2: rss2email `r2e run --no-send` over {peer_feeds} feeds")
            peer2 = run_rss2email(server.urls[:peer_feeds], folder, server, log)
            log(f"  peer 2: {peer2['skipped']}" if "skipped" in peer2 else
                f"  peer 2: {peer2['wall_s']:.1f} s wall, feeds with entries={peer2.get('ok')}")
        else:
            peer2 = {"skipped": "--skip-rss2email"}

    # Without the fetch: block digest's own defaults apply, which this bench cannot know.
    ideal = (math.ceil(feeds / min(CONCURRENCY, hosts * PER_HOST)) * LATENCY_S
             if with_block else None)
    scale = feeds / peer_feeds

    def ratio(peer: dict[str, Any]) -> float | None:
        if "wall_s" not in peer or "wall_s" not in first or peer.get("error"):
            return None
        return round(float(peer["wall_s"]) * scale / float(first["wall_s"]), 1)

    for peer in (peer1, peer2):
        if "wall_s" in peer:
            peer["wall_s_for_all_feeds"] = round(peer["wall_s"] * scale, 2)
    answered = second["server"]["200"] + second["server"]["304"]
    result = {
        "setup": {
            "feeds": feeds,
            "hosts": hosts,
            "items_per_feed": items,
            "body_bytes": body,
            "latency_s": LATENCY_S,
            "digest_repeats": repeats,
            "peer_feeds": peer_feeds,
            "peer_scaled_by": scale,
            "fetch_block": FETCH_BLOCK if with_block else None,
            "ideal_poll_s": ideal,
            "server": f"aiohttp.web in a subprocess on {HOST_PREFIX}1..{hosts}",
            "versions": _versions(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            # Other work on the machine shows up here: the figures share its 2 cores.
            "loadavg_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        },
        "digest_config_check": _summary(check),
        "digest_first_poll": {**first, "req_per_s": round(feeds / first["wall_s"], 1),
                              "wall_s_all_repeats": first_walls,
                              "median_wall_s": round(statistics.median(first_walls), 3)},
        "digest_second_poll": {
            **second,
            "wall_s_all_repeats": second_walls,
            "median_wall_s": round(statistics.median(second_walls), 3),
            "pct_304": round(100 * second["server"]["304"] / answered, 2) if answered else None,
        },
        "parse_feed_ms_per_body": parse_cost_ms(items=items),
        "feedparser_sequential": peer1,
        "rss2email": peer2,
        "ratios": {
            "feedparser sequential / digest (1st poll)": ratio(peer1),
            "rss2email / digest (1st poll)": ratio(peer2),
        },
        "notes": [
            "wall times include process start-up (see digest_config_check)",
            "cpu_s and the RSS peaks are sampled from /proc every 20 ms over the whole process "
            "tree; wait4 misses multiprocessing forkserver workers (see wait4_cpu_s)",
            "tree_rss_peak_mb sums RSS over the tree: pages shared between processes count "
            "once per process, so it is an upper bound; tree_pss_peak_mb splits them",
        ] + ([f"peers polled {peer_feeds} of {feeds} feeds; their times are scaled x{scale:g}"]
             if scale != 1 else [])
          + ([] if with_block else ["digest rejected the fetch: block: default limits used"]),
    }
    return result


def print_report(result: dict[str, Any]) -> None:
    s = result["setup"]
    first, second = result["digest_first_poll"], result["digest_second_poll"]
    b = s["body_bytes"]
    block = s["fetch_block"]
    limits = ("fetch: " + ", ".join(f"{k}={v}" for k, v in block.items())) if block else \
        "digest's default fetch limits (no fetch: block)"
    print(f"\nPoll: {s['feeds']} feeds on {s['hosts']} hosts, {s['items_per_feed']} items and "
          f"{b['min']}..{b['max']} B (mean {b['mean']}) each, {s['latency_s'] * 1000:.0f} ms "
          f"per response; {limits}")
    if s["ideal_poll_s"]:
        print(f"  ideal transport-only poll at those limits: {s['ideal_poll_s']:.1f} s")
    load = s["loadavg_1m_before_after"]
    print(f"  load average (1 min) before/after the whole run: {load[0]:.2f}/{load[1]:.2f} "
          f"on {s['cpus']} CPUs")
    check = result["digest_config_check"]
    print(f"  digest start-up + config check alone: {check['wall_s']:.2f} s")
    print(f"  {'run':<34} {'feeds':>5} {'wall s':>7} {'req/s':>7} {'CPU s':>6} "
          f"{'proc MB':>7} {'RSS MB':>7} {'PSS MB':>7} {'200':>5} {'304':>5}  outcome")
    def row(name: str, r: dict[str, Any], outcome: str) -> None:
        if "wall_s" not in r:
            print(f"  {name:<34} skipped: {r.get('skipped')}")
            return
        n = r.get("feeds") or 0
        print(f"  {name:<34} {n:>5} {r['wall_s']:>7.2f} {n / r['wall_s']:>7.1f} "
              f"{r['cpu_s']:>6.2f} {r['proc_rss_peak_mb']:>7.1f} {r['tree_rss_peak_mb']:>7.1f} "
              f"{r['tree_pss_peak_mb']:>7.1f} "
              f"{r['server']['200']:>5} {r['server']['304']:>5}  {outcome}")
        if r.get("error"):
            print(f"    error: {r['error']}")
        if r.get("first_error"):
            print(f"    first failing feed: {r['first_error']}")
    row("digest fetch --all (1st poll)", first,
        f"ok {first.get('ok')}, new items {first.get('new_items')}, "
        f"stored {first.get('items_stored')}")
    row("digest fetch --all (2nd poll)", second,
        f"not_modified {second.get('not_modified')}, {second.get('pct_304')}% 304")
    p1, p2 = result["feedparser_sequential"], result["rss2email"]
    row("feedparser.parse(url) sequential", p1,
        f"ok {p1.get('ok')}, entries {p1.get('entries')}")
    row("rss2email r2e run --no-send", p2,
        f"feeds with entries {p2.get('ok')}, entries {p2.get('entries')}")
    print("  (CPU s: the whole process tree; proc MB: the largest RSS of one process in it; "
          "RSS MB, PSS MB: the largest sums of RSS and PSS over it)")
    print(f"  digest rows: the best of {s['digest_repeats']} runs by 1st-poll wall time; all: "
          f"1st {first['wall_s_all_repeats']} s, 2nd {second['wall_s_all_repeats']} s")
    print(f"  digest 1st poll CPU: {first['cpu_s']:.2f} s = main process "
          f"{first['main_process_cpu_s']:.2f} s + {first['processes'] - 1} child processes "
          f"{first['cpu_s'] - first['main_process_cpu_s']:.2f} s; on {s['cpus']} CPUs that is "
          f"at least {first['cpu_s'] / (s['cpus'] or 1):.1f} s of wall time")
    print(f"  (wait4 sees {first['wait4_cpu_s']:.2f} s CPU and {first['wait4_maxrss_mb']:.1f} MB "
          f"of it; the server used {first['server']['server_cpu_s']:.2f} s CPU meanwhile)")
    if result.get("parse_feed_ms_per_body"):
        ms = result["parse_feed_ms_per_body"]
        print(f"  one digest parse_feed of a served body: {ms:.1f} ms, so {s['feeds']} bodies "
              f"are {ms * s['feeds'] / 1000:.1f} s of CPU in the 1st poll")
    print("  RATIOS (peer wall time for all feeds / digest 1st poll wall time):")
    for name, value in result["ratios"].items():
        print(f"    {name:<44} " + (f"{value:6.1f}x" if value is not None else "   n/a"))
    for note in result["notes"]:
        print(f"  note: {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--feeds", type=int, default=FEEDS, help="feeds digest polls")
    parser.add_argument("--peer-feeds", type=int, default=FEEDS,
                        help="feeds the peers poll (fewer: their time is scaled, and said so)")
    parser.add_argument("--hosts", type=int, default=HOSTS, help="server addresses, 1..250")
    parser.add_argument("--skip-rss2email", action="store_true", help="do not run rss2email")
    parser.add_argument("--repeats", type=int, default=REPEATS,
                        help="digest runs (each a 1st and a 2nd poll on a new database)")
    parser.add_argument("--items", type=int, default=ITEMS, help="items in each feed (1..200)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    args = parser.parse_args(argv)
    if not (1 <= args.hosts <= 250 and args.feeds >= 1 and args.peer_feeds >= 1
            and 1 <= args.repeats <= 20):
        parser.error("need 1 <= --hosts <= 250, --feeds >= 1, --peer-feeds >= 1 and "
                     "1 <= --repeats <= 20")
    sys.path.insert(0, os.fspath(REPO))
    result = bench(args.feeds, args.peer_feeds, args.hosts, not args.skip_rss2email,
                   args.repeats, items=max(1, min(args.items, 200)))
    print_report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1:2] == ["--feedparser-peer"]:
        feedparser_peer(sys.argv[2])
    else:
        sys.exit(main())
