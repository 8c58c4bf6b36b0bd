"""Shared fixtures: a real HTTP server on 127.0.0.1, real SQLite files, PostgreSQL when
DIGEST_TEST_DATABASE_URL is set, and a private copy of the offline demo."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from digest.send import SmtpOptions

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
FEEDS = DATA / "feeds"
DEMO = REPO / "examples" / "demo"
CORPUS = REPO.parent / "shared" / "corpus" / "feeds"
DEMO_EDITION = "2026-11-30"
DEMO_DAY = date(2026, 11, 30)  # the same edition, as the store and the use cases name it


@dataclass
class Route:
    """A canned answer for one path of the test feed server."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (for timeout tests)
    endless: bool = False  # stream forever (for size-limit tests)
    # Anything else (dripping bytes, hanging, bad framing): writes the whole answer itself.
    respond: Callable[[BaseHTTPRequestHandler], None] | None = None


@dataclass
class FeedServer:
    base_url: str
    routes: dict[str, Route]
    requests: list[tuple[str, dict[str, str]]]
    in_flight: int = 0  # requests being answered right now
    max_in_flight: int = 0  # the most ever answered at once
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == "/" + path.lstrip("/"))


def _handler(server_state: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:
            with server_state.lock:
                server_state.in_flight += 1
                server_state.max_in_flight = max(server_state.max_in_flight,
                                                 server_state.in_flight)
            try:
                self._answer()
            finally:
                with server_state.lock:
                    server_state.in_flight -= 1

        def _answer(self) -> None:
            path = self.path.split("?")[0]
            server_state.requests.append((path, dict(self.headers)))
            route = server_state.routes.get(path)
            if route is None:
                file = FEEDS / path.lstrip("/")
                if not file.is_file():
                    self._send(404, b"not found", {"Content-Type": "text/plain"})
                    return
                body = file.read_bytes()
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self._send(304, b"", {"ETag": etag})
                    return
                kind = "text/html" if file.suffix == ".html" else "application/xml"
                self._send(200, body, {"Content-Type": kind, "ETag": etag})
                return
            if route.delay:
                server_state.stopping.wait(route.delay)
            if route.respond is not None:
                route.respond(self)
                return
            if route.endless:
                self.send_response(route.status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b"<item>" + b"x" * 65536 + b"</item>"
                try:
                    for _ in range(10_000):  # bounded: at most ~650 MB, far past any limit
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                except OSError:
                    pass
                return
            self._send(route.status, route.body, route.headers)

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if status != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status != 304:
                self.wfile.write(body)

    return Handler


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # many feeds may connect at once
    daemon_threads = True


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """Serves tests/data/feeds/* (with ETags) plus any `routes` a test adds."""
    state = FeedServer("", {}, [])
    httpd = _Server(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    # A short poll interval: shutdown() waits up to one interval, at every test's teardown.
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield state
    state.stopping.set()  # wakes handlers that hang or drip on purpose
    httpd.shutdown()
    httpd.server_close()


def _postgres_url() -> str | None:
    return os.environ.get("DIGEST_TEST_DATABASE_URL") or None


def _empty(url: str) -> None:
    """Drop digest's tables and Alembic's record of the revision from a PostgreSQL database."""
    from sqlalchemy import create_engine, text

    from digest.schema import metadata

    engine = create_engine(url)
    metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, and PostgreSQL when DIGEST_TEST_DATABASE_URL
    is set (skipped otherwise, so a laptop without PostgreSQL still passes)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'digest.db'}"
        return
    url = _postgres_url()
    if not url:
        pytest.skip("DIGEST_TEST_DATABASE_URL is not set")
    _empty(url)
    yield url
    _empty(url)


def _suite_database() -> str | None:
    """DIGEST_TEST_SUITE_DB=postgresql (.ci/run's second pass over the app, CLI and daemon
    tests): every config the `demo` and `write_config` fixtures make uses the PostgreSQL test
    database, emptied before each test, instead of a SQLite file."""
    if os.environ.get("DIGEST_TEST_SUITE_DB") != "postgresql":
        return None
    url = _postgres_url()
    if not url:
        raise pytest.UsageError("DIGEST_TEST_SUITE_DB=postgresql needs DIGEST_TEST_DATABASE_URL")
    return url


@pytest.fixture
def suite_db() -> Iterator[str | None]:
    """The PostgreSQL URL the suite runs on (emptied before and after), or None: SQLite."""
    url = _suite_database()
    if url is not None:
        _empty(url)
    yield url
    if url is not None:
        _empty(url)



@pytest.fixture
def demo(tmp_path: Path, suite_db: str | None) -> Path:
    """A private copy of examples/demo (its database and outbox land in tmp_path; or the
    database is the suite's PostgreSQL one)."""
    target = tmp_path / "demo"
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns("preview", "outbox", "*.db*"))
    config = target / "feeds.yaml"
    if suite_db is not None:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        data["database"] = suite_db
        config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return config


WriteConfig = Callable[..., Path]


@pytest.fixture
def write_config(tmp_path: Path, suite_db: str | None) -> WriteConfig:
    """Write a feeds.yaml into tmp_path from a dict (defaults: file transport, one section,
    a SQLite file or the suite's PostgreSQL database)."""

    def write(data: dict[str, object] | None = None, name: str = "feeds.yaml") -> Path:
        config: dict[str, object] = {
            "title": "Test Brief",
            "database": suite_db or "test.db",
            "sections": [{"id": "tech", "title": "Tech", "keywords": ["AI", "chip"]}],
            "feeds": [],
            "delivery": {"from": "Test Brief <brief@example.org>", "transport": "file",
                         "outbox": "outbox"},
            "recipients": ["ana@example.org"],
        }
        config.update(data or {})
        path = tmp_path / name
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    return write


def open_app(settings: Any, **collaborators: Any) -> Any:
    """`make_app` plus the explicit step the commands take before polling or building: the
    feeds of feeds.yaml synced into the store (constructing the app writes nothing)."""
    from digest.app import make_app

    app = make_app(settings, **collaborators)
    app.poller.sync_feeds()
    return app


def count_items(store: Any) -> int:
    """How many items a store holds (read straight from its table: no store API needs it)."""
    from sqlalchemy import func, select

    from digest.schema import items

    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(items)) or 0)


# A wait in a test gives up only on a hang, never as a timing assertion: how fast the machine
# is must not decide a result (speed is measured in bench/).
HANG = 120.0  # seconds


def wait_until(condition: Callable[[], object], what: str, *, bound: float = HANG) -> None:
    """Poll `condition` until it holds; fail only after `bound` seconds (a hang)."""
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {bound:g} s: {what}")
        time.sleep(0.05)


def store_demo_items(config: Path) -> None:
    """Poll the demo's feeds in a `digest` process as its edition's build does: judged as of
    that edition (DEMO_EDITION), so on any day. (`digest fetch` judges an item's age against
    today: a week after the demo's date, its stories would be stored as seen only.)"""
    subprocess.run([sys.executable, "-m", "digest", "--config", str(config), "build",
                    "--edition", DEMO_EDITION, "--format", "json"],
                   check=True, capture_output=True, timeout=600)


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's wheel, built once per test session, offline: the build backend
    (hatchling, a dev dependency) is the one installed here, not one downloaded for the build."""
    out = tmp_path_factory.mktemp("dist")
    offline = importlib.util.find_spec("hatchling") is not None
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
         "--no-deps", *(["--no-build-isolation", "--no-index"] if offline else []),
         "--wheel-dir", str(out), str(REPO)],
        capture_output=True, text=True, timeout=600, cwd=out)
    if build.returncode != 0 and not offline:
        pytest.skip("cannot build the wheel: hatchling is not installed here (`make install` "
                    "installs it) and could not be downloaded")
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = out.glob("digest-*.whl")
    return wheel


def fixed_clock(when: str) -> Callable[[], datetime]:
    """A clock stopped at an ISO time (UTC if no offset), for the app's `clock`."""
    moment = datetime.fromisoformat(when)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return lambda: moment


# --- SMTP: aiosmtpd as a real server on 127.0.0.1 ---


@dataclass
class Recorder:
    """aiosmtpd handler: records every accepted envelope and every EHLO (one per connection),
    and answers RCPT or DATA with a canned code for chosen recipients."""

    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_replies: dict[str, str] = field(default_factory=dict)
    # called with the server protocol and the address / envelope before the reply is made
    # (a test drops the connection or kills the client there)
    on_rcpt: Callable[[Any, str], None] | None = None
    on_data: Callable[[Any, Envelope], None] | None = None
    data_delay: float = 0.0  # seconds DATA takes to answer (a slow server)
    envelopes: list[Envelope] = field(default_factory=list)
    ehlos: list[Session] = field(default_factory=list)
    data_sessions: list[Session] = field(default_factory=list)
    protocols: list[Any] = field(default_factory=list)

    async def handle_EHLO(self, server: Any, session: Session, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        self.ehlos.append(session)
        self.protocols.append(server)
        return responses

    async def handle_RCPT(self, server: Any, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if self.on_rcpt is not None:
            self.on_rcpt(server, address)
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        for address in envelope.rcpt_tos:
            if address in self.data_replies:
                return self.data_replies[address]
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        self.envelopes.append(envelope)
        self.data_sessions.append(session)
        if self.on_data is not None:
            self.on_data(server, envelope)
        return "250 Message accepted for delivery"

    def connections(self) -> int:
        """Distinct SMTP sessions that delivered a message (sessions are kept alive in the
        list, so identities cannot be reused)."""
        return len({id(s) for s in self.data_sessions})


@dataclass
class SmtpServer:
    controller: Controller
    handler: Recorder
    port: int

    def options(self, **overrides: Any) -> SmtpOptions:
        values: dict[str, Any] = {"host": "127.0.0.1", "port": self.port, "security": "none",
                                  "timeout": 10.0}
        values.update(overrides)
        return SmtpOptions(**values)

    def drop_connections(self) -> None:
        """Close every client connection from the server side, and wait until it is gone."""

        async def close_all() -> None:
            for proto in self.protocols_open():
                proto.transport.close()
            for _ in range(500):
                if not self.protocols_open():
                    return
                await asyncio.sleep(0.01)
            raise AssertionError("server connections did not close")

        asyncio.run_coroutine_threadsafe(close_all(), self.controller.loop).result(timeout=30)

    def protocols_open(self) -> list[Any]:
        return [p for p in self.handler.protocols if p.transport is not None]


def rss_feed(now: datetime, name: str, count: int = 3) -> bytes:
    """RSS 2.0 with `count` AI-chip stories published in the hours before `now` (so the
    edition due now carries them), their links and guids under `name`."""
    items = "".join(
        f"<item><title>{name} chipmaker {n} unveils an AI accelerator</title>"
        f"<link>https://news.example.org/{name}/chip-{n}</link><guid>{name}-chip-{n}</guid>"
        f"<description>Story {n} about a new AI chip design.</description>"
        f"<pubDate>{format_datetime(now - timedelta(hours=n + 1))}</pubDate></item>"
        for n in range(count))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>{name} News</title>'
            f"<link>https://news.example.org/{name}/</link><description>d</description>"
            f"{items}</channel></rss>").encode()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(**smtp_parameters: Any) -> SmtpServer:
    handler = Recorder()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **smtp_parameters)
    controller.start()
    return SmtpServer(controller, handler, port)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = start_server()
    yield server
    server.controller.stop()


# What every test driving a real browser is marked with: slow, skipped without Debian's
# chromium, and never under libfaketime (`make test-dates`), where its renderer does not start.
BROWSER_MARKS = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("chromium") is None,
                       reason="chromium not installed: run `make test` or apt-get install "
                              "chromium"),
    pytest.mark.real_clock(reason="Chromium's renderer does not start under libfaketime"),
]


@contextmanager
def headless_chromium() -> Iterator[Any]:
    """Debian's chromium, headless, driven by Playwright (no browser download): the browser,
    closed afterwards. Callers skip first where `shutil.which("chromium")` or Playwright is
    missing."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                    args=["--no-sandbox"])  # root in CI: no user namespace
        try:
            yield browser
        finally:
            browser.close()
