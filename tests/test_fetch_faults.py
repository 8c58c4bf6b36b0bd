"""Fetching under faults (issue 3), against real HTTP servers on 127.0.0.1 and through the real
user path (feeds.yaml -> Poller.refresh -> store -> `app.reports.feeds()`).

For every fault: the run finishes, the faulty feed gets a clear status with a one-line reason,
the healthy feeds polled with it are all stored, and nothing stored before is lost (items and
validators). Then: Retry-After, 410 Gone, redirects, compression, concurrency limits, the
real-world corpus and feedparser's own ill-formed test feeds.

No assertion here is about wall-clock time: slow and hanging servers are checked by what
happened and in which order, never by how long it took.
"""

from __future__ import annotations

import itertools
import os
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import brotli  # type: ignore[import-untyped]
import pytest

import conftest
from conftest import CORPUS, FEEDS, FeedServer, Route, WriteConfig, count_items
from digest.app import App, utc_now
from digest.config import load_settings
from digest.fetch import FeedRequest, FetchLimits, fetch_feeds
from digest.models import FeedHealth, FeedOutcome, FeedStatus, Item
from digest.parse import parse_feed

Responder = Callable[[BaseHTTPRequestHandler], None]

# Short limits keep the suite fast: a hanging feed costs at most ~1 s, and the feeds of one
# refresh wait concurrently.
FAST_FETCH = {"timeout": "1s", "connect_timeout": "1s", "max_bytes": "1MiB"}
MAX_BYTES = 1024 * 1024
ETAG = '"v1-faulty"'
LAST_MODIFIED = "Wed, 25 Nov 2026 08:00:00 GMT"
FIFTY_MB = 50 * 1024 * 1024


# --- invented feeds ---


def rss(name: str, items: int, *, encoding: str = "utf-8", declared: str | None = None,
        title: str = "story") -> bytes:
    """A small RSS 2.0 feed of `items` items with guids and https links, encoded as asked."""
    entries = "".join(
        f"<item><title>{name} {title} {i}</title><link>https://{name}.example/{i}</link>"
        f"<guid isPermaLink=\"false\">{name}-{i}</guid>"
        f"<description>Item {i} of {name}.</description></item>"
        for i in range(1, items + 1))
    text = (f'<?xml version="1.0" encoding="{declared or encoding}"?>\n'
            f'<rss version="2.0"><channel><title>{name}</title>'
            f"<link>https://{name}.example/</link><description>{name}</description>"
            f"{entries}</channel></rss>\n")
    return text.encode(encoding)


def good_route(body: bytes) -> Route:
    """A feed that answers 200 with validators (what a faulty feed was before it broke)."""
    return Route(body=body, headers={"Content-Type": "application/rss+xml", "ETag": ETAG,
                                     "Last-Modified": LAST_MODIFIED})


# --- raw answers, for what http.server's helpers cannot say ---


def raw(status_line: str, headers: list[tuple[str, str]], body: bytes = b"") -> Responder:
    """Write exactly this answer (status line, headers, body) and close the connection."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        head = f"HTTP/1.1 {status_line}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
        try:
            handler.wfile.write(head.encode("latin-1") + b"\r\n" + body)
            handler.wfile.flush()
        except OSError:
            pass
        handler.close_connection = True

    return respond


def close_without_answer(handler: BaseHTTPRequestHandler) -> None:
    handler.close_connection = True  # the request was read; nothing is ever written


def hang(stopping: threading.Event) -> Responder:
    """Accept the connection, read the request, then say nothing until the test ends."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        stopping.wait(10)
        handler.close_connection = True

    return respond


def drip(stopping: threading.Event, body: bytes) -> Responder:
    """A correct status line and headers, then the body at one byte per second."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        try:
            handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                                + f"Content-Length: {len(body)}\r\n\r\n".encode())
            handler.wfile.flush()
            for i in range(min(len(body), 60)):  # bounded: far past any timeout here
                if stopping.wait(1.0):
                    return
                handler.wfile.write(body[i:i + 1])
                handler.wfile.flush()
        except OSError:
            return

    return respond


def declared_fifty_mb(stopping: threading.Event) -> Responder:
    """Content-Length: 50 MB, and the bytes to go with it for as long as anyone reads."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        chunk = b" " * 65536
        try:
            handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                                + f"Content-Length: {FIFTY_MB}\r\n\r\n".encode() + b"<rss>")
            for _ in range(FIFTY_MB // len(chunk)):
                if stopping.is_set():
                    return
                handler.wfile.write(chunk)
        except OSError:
            return

    return respond


def short_body(declared: int, body: bytes) -> Responder:
    """Promise `declared` bytes, send fewer, hang up: a transfer cut off mid-way."""
    return raw("200 OK", [("Content-Type", "application/rss+xml"),
                          ("Content-Length", str(declared)), ("Connection", "close")], body)


@cache
def gzip_bomb() -> bytes:
    """~100 MB of zeros, gzip-compressed to ~100 KB; built once per test session."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * (1024 * 1024)
    return b"".join(packer.compress(zeros) for _ in range(100)) + packer.flush()


# --- the App under test ---


@pytest.fixture
def open_app(write_config: WriteConfig) -> Iterator[Callable[..., App]]:
    """Write a feeds.yaml with these feeds and `fetch:` settings and open an App on it."""
    apps: list[App] = []

    def make(feeds: list[dict[str, Any]], fetch: dict[str, Any] | None = None,
             clock: Callable[[], datetime] | None = None) -> App:
        path = write_config({"feeds": feeds, "fetch": fetch or FAST_FETCH})
        settings = load_settings(path, env={})
        app = conftest.open_app(settings, clock=clock or utc_now)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 27, 10, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now


def health(app: App) -> dict[str, FeedHealth]:
    return {h.url: h for h in app.reports.feeds()}


def by_url(outcomes: list[FeedOutcome]) -> dict[str, FeedOutcome]:
    return {o.url: o for o in outcomes}


def assert_one_line(reason: str | None) -> str:
    assert reason, "an error needs a reason"
    assert "\n" not in reason and "\r" not in reason, reason
    assert "Traceback" not in reason, reason
    assert len(reason) < 200, reason
    return reason


def healthy_feeds(server: FeedServer) -> list[str]:
    """Three files with ETags (304 on the second poll) and one feed that grows by one item."""
    server.routes["/fresh.xml"] = Route(body=rss("fresh", 2),
                                        headers={"Content-Type": "application/rss+xml"})
    return [server.url("rss2.xml"), server.url("atom.xml"), server.url("latin1.xml"),
            server.url("fresh.xml")]


@dataclass
class Scenario:
    """A refresh with healthy feeds plus one feed that worked, then broke."""

    app: App
    faulty: str
    healthy: list[str]
    before: dict[str, FeedHealth]  # after step 1
    outcome: FeedOutcome  # the faulty feed's, in step 2
    after: dict[str, FeedHealth]  # after step 2


def run_fault(app: App, server: FeedServer, faulty: str, healthy: list[str],
              break_it: Callable[[], None]) -> Scenario:
    """Step 1: every feed works. Step 2: `break_it`, the fresh feed gains an item, and all
    are polled again. Checks what must hold whatever the fault is."""
    first = by_url(app.poller.refresh(force=True))
    assert {o.status for o in first.values()} == {FeedStatus.OK}, first
    before = health(app)
    assert before[faulty].items > 0
    stored_before = count_items(app.store)

    break_it()
    server.routes["/fresh.xml"] = Route(body=rss("fresh", 3),
                                        headers={"Content-Type": "application/rss+xml"})
    outcomes = app.poller.refresh(force=True)  # returns: the run finishes

    assert [o.url for o in outcomes] == [faulty, *healthy]
    second = by_url(outcomes)
    after = health(app)
    for url in healthy:
        assert second[url].status is FeedStatus.OK, (url, second[url].error)
        assert after[url].status is FeedStatus.OK
        grown = 1 if url.endswith("/fresh.xml") else 0
        assert after[url].items == before[url].items + grown > 0, url
    # Nothing stored before is lost (the validators are checked where the poll failed).
    assert after[faulty].items >= before[faulty].items
    assert count_items(app.store) >= stored_before + 1
    return Scenario(app, faulty, healthy, before, second[faulty], after)


# --- 1. the fault matrix ---


@dataclass(frozen=True)
class Fault:
    id: str
    route: Callable[[FeedServer], Route]
    words: tuple[str, ...]  # each must appear in the one-line reason
    status: FeedStatus = FeedStatus.ERROR


def _redirect(to: str, status: int = 302) -> Route:
    return Route(status=status, headers={"Location": to})


TRUNCATED_IN_FIRST_ITEM = rss("faulty", 3)[:200]

FAULTS = [
    Fault("server-closes-without-answering", lambda s: Route(respond=close_without_answer),
          ("closed the connection",)),
    Fault("accept-then-hang", lambda s: Route(respond=hang(s.stopping)), ("timeout", "1 s")),
    Fault("drip-one-byte-per-second",
          lambda s: Route(respond=drip(s.stopping, rss("faulty", 3))), ("timeout", "1 s")),
    Fault("http-500", lambda s: Route(status=500, body=b"oops"), ("HTTP 500",)),
    Fault("http-404", lambda s: Route(status=404, body=b"gone?"), ("HTTP 404",)),
    Fault("http-410-gone", lambda s: Route(status=410), ("410 Gone",), FeedStatus.DISABLED),
    Fault("http-429-retry-after",
          lambda s: Route(status=429, headers={"Retry-After": "120"}),
          ("HTTP 429", "retry after 120 s")),
    Fault("http-503-retry-after",
          lambda s: Route(status=503, headers={"Retry-After": "120"}),
          ("HTTP 503", "retry after 120 s")),
    Fault("redirect-to-itself", lambda s: _redirect(s.url("faulty.xml")), ("redirect",)),
    Fault("redirect-loop-between-two-urls", lambda s: _redirect("/loop-b.xml"), ("redirect",)),
    Fault("50-mb-declared-content-length",
          lambda s: Route(respond=declared_fifty_mb(s.stopping)),
          ("too large", str(FIFTY_MB), str(MAX_BYTES))),
    Fault("50-mb-chunked-without-length", lambda s: Route(endless=True),
          ("too large", str(MAX_BYTES))),
    Fault("gzip-bomb",
          lambda s: Route(body=gzip_bomb(), headers={"Content-Encoding": "gzip",
                                                     "Content-Type": "application/rss+xml"}),
          ("too large", str(MAX_BYTES))),
    Fault("html-page-instead-of-feed",
          lambda s: Route(body=(FEEDS / "not_a_feed.html").read_bytes(),
                          headers={"Content-Type": "text/html; charset=utf-8"}),
          ("not a feed (an HTML page)",)),
    Fault("truncated-xml", lambda s: Route(body=TRUNCATED_IN_FIRST_ITEM,
                                           headers={"Content-Type": "application/rss+xml"}),
          ("XML error",)),
    Fault("transfer-cut-off-mid-body",
          lambda s: Route(respond=short_body(5000, rss("faulty", 3)[:300])),
          ("broken response body: the connection closed after 300 of 5000 bytes",)),
    Fault("empty-200", lambda s: Route(body=b"", headers={"Content-Type": "application/xml"}),
          ("empty response",)),
]


PLAIN_TEXT = Fault(
    "plain-text-instead-of-feed",
    lambda s: Route(body=b"Service temporarily unavailable, please come back later.",
                    headers={"Content-Type": "text/plain"}),
    ("not a feed (no XML markup)",))


@pytest.mark.parametrize("fault", [*FAULTS, PLAIN_TEXT],
                         ids=lambda f: f.id)
def test_fault_gets_a_clear_status_and_loses_nothing(
    fault: Fault, feed_server: FeedServer, open_app: Callable[..., App]
) -> None:
    faulty = feed_server.url("faulty.xml")
    healthy = healthy_feeds(feed_server)
    feed_server.routes["/faulty.xml"] = good_route(rss("faulty", 3))
    feed_server.routes["/loop-b.xml"] = _redirect("/faulty.xml")
    app = open_app([{"url": u} for u in [faulty, *healthy]])

    def break_it() -> None:
        feed_server.routes["/faulty.xml"] = fault.route(feed_server)

    result = run_fault(app, feed_server, faulty, healthy, break_it)

    assert result.outcome.status is FeedStatus.ERROR  # a poll that failed, even when gone
    assert result.outcome.gone is (fault.status is FeedStatus.DISABLED)
    reason = assert_one_line(result.outcome.error)
    for word in fault.words:
        assert word in reason, (word, reason)
    shown = result.after[faulty]
    assert shown.status is fault.status
    assert shown.last_error == reason
    assert shown.error_count == 1
    assert shown.items == result.before[faulty].items == 3
    assert shown.last_success_at == result.before[faulty].last_success_at
    state, = app.store.feed_states([faulty])
    assert (state.etag, state.last_modified) == (ETAG, LAST_MODIFIED)


def test_connection_refused_after_the_server_went_away(
    feed_server: FeedServer, open_app: Callable[..., App]
) -> None:
    healthy = healthy_feeds(feed_server)
    with OwnServer(good_route(rss("faulty", 3))) as gone:
        faulty = gone.url("faulty.xml")
        app = open_app([{"url": u} for u in [faulty, *healthy]])
        first = by_url(app.poller.refresh(force=True))
        assert first[faulty].status is FeedStatus.OK
    # Its server is shut down and the port closed: the next poll is refused.
    before = health(app)
    feed_server.routes["/fresh.xml"] = Route(body=rss("fresh", 3))
    outcomes = by_url(app.poller.refresh(force=True))
    after = health(app)

    reason = assert_one_line(outcomes[faulty].error)
    assert reason == f"connection refused by 127.0.0.1:{gone.port}"
    assert after[faulty].status is FeedStatus.ERROR
    assert after[faulty].last_error == reason
    assert after[faulty].items == before[faulty].items == 3
    for url in healthy:
        assert outcomes[url].status is FeedStatus.OK
        assert after[url].items == before[url].items + (1 if url.endswith("fresh.xml") else 0)
    state, = app.store.feed_states([faulty])
    assert (state.etag, state.last_modified) == (ETAG, LAST_MODIFIED)


def test_connection_refused_at_fetch_level_does_not_stop_the_others(
    feed_server: FeedServer,
) -> None:
    with OwnServer(Route(body=b"")) as gone:
        refused = gone.url("feed.xml")
    requests = [FeedRequest(refused), FeedRequest(feed_server.url("rss2.xml")),
                FeedRequest(feed_server.url("atom.xml"))]

    outcomes = fetch_feeds(requests, FetchLimits(connect_timeout=1, total_timeout=1))

    assert [o.url for o in outcomes] == [r.url for r in requests]
    assert assert_one_line(outcomes[0].error) == f"connection refused by 127.0.0.1:{gone.port}"
    assert [o.status for o in outcomes[1:]] == [FeedStatus.OK, FeedStatus.OK]
    assert all(o.items for o in outcomes[1:])


def test_truncated_feed_that_still_has_a_whole_item_keeps_everything(
    feed_server: FeedServer, open_app: Callable[..., App]
) -> None:
    faulty = feed_server.url("faulty.xml")
    healthy = healthy_feeds(feed_server)
    feed_server.routes["/faulty.xml"] = good_route(rss("faulty", 3))
    # truncated.xml's whole item is dated 2026-11-24: polled in the week it was written
    clock = Clock()
    app = open_app([{"url": u} for u in [faulty, *healthy]], clock=clock)

    def break_it() -> None:
        feed_server.routes["/faulty.xml"] = Route(body=(FEEDS / "truncated.xml").read_bytes())

    result = run_fault(app, feed_server, faulty, healthy, break_it)

    # feedparser recovers the complete item and the cut one (title and link only).
    assert result.outcome.status is FeedStatus.OK
    assert result.outcome.new_items == 2
    assert result.after[faulty].items == result.before[faulty].items + 2
    start = datetime(2000, 1, 1, tzinfo=UTC)
    titles = {i.title for i in app.store.items_between(start, clock(), [faulty])}
    assert {"faulty story 1", "Complete item before the cut"} <= titles


# --- wrong charset declarations: the feed stays usable and reads right ---

CHARSET_CASES = {
    # declared UTF-8, bytes windows-1252 (a CMS that never re-encoded its old articles)
    "declares-utf8-bytes-cp1252": (rss("charset", 2, encoding="cp1252", declared="utf-8",
                                       title="Zürich café"), "application/rss+xml"),
    # declared ISO-8859-1, bytes UTF-8 (a template copied from an old site)
    "declares-latin1-bytes-utf8": (rss("charset", 2, encoding="utf-8", declared="iso-8859-1",
                                       title="Zürich café"), "application/rss+xml"),
    # the HTTP header says ISO-8859-1, the document and its bytes are UTF-8
    "header-latin1-bytes-utf8": (rss("charset", 2, title="Zürich café"),
                                 "application/rss+xml; charset=iso-8859-1"),
    # the HTTP header says UTF-8, the document and its bytes are ISO-8859-1
    "header-utf8-bytes-latin1": (rss("charset", 2, encoding="iso-8859-1",
                                     title="Zürich café"),
                                 "application/rss+xml; charset=utf-8"),
}


@pytest.mark.parametrize("case", sorted(CHARSET_CASES))
def test_wrong_charset_declaration_still_reads_right(
    case: str, feed_server: FeedServer, open_app: Callable[..., App]
) -> None:
    body, content_type = CHARSET_CASES[case]
    feed_server.routes["/charset.xml"] = Route(body=body, headers={"Content-Type": content_type})
    url = feed_server.url("charset.xml")
    clock = Clock()
    app = open_app([{"url": url}], clock=clock)

    outcome, = app.poller.refresh(force=True)

    assert outcome.status is FeedStatus.OK, outcome.error
    assert health(app)[url].items == 2
    start = datetime(2000, 1, 1, tzinfo=UTC)
    titles = sorted(i.title for i in app.store.items_between(start, clock(), [url]))
    assert titles == ["charset Zürich café 1", "charset Zürich café 2"]


# --- 2. Retry-After and 410 Gone ---


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_sets_the_next_poll(
    status: int, feed_server: FeedServer, open_app: Callable[..., App]
) -> None:
    clock = Clock()
    feed_server.routes["/busy.xml"] = Route(status=status, headers={"Retry-After": "7200"})
    url = feed_server.url("busy.xml")
    app = open_app([{"url": url, "poll_every": "1m"}], clock=clock)

    outcome, = app.poller.refresh()

    reason = assert_one_line(outcome.error)
    assert reason.startswith(f"HTTP {status}")
    assert "retry after 7200 s" in reason
    shown = health(app)[url]
    assert shown.status is FeedStatus.ERROR
    assert shown.next_poll_at is not None
    assert clock.now + timedelta(seconds=7200) <= shown.next_poll_at < clock.now + timedelta(1)
    # Not polled again before then, though its own interval (1m) and backoff have passed...
    clock.now += timedelta(minutes=90)
    assert app.poller.refresh() == []
    assert feed_server.hits("busy.xml") == 1
    # ...and polled once it is over.
    clock.now += timedelta(minutes=31)
    assert [o.url for o in app.poller.refresh()] == [url]
    assert feed_server.hits("busy.xml") == 2


def test_retry_after_http_date_is_measured_from_the_response_date(
    feed_server: FeedServer, open_app: Callable[..., App]
) -> None:
    # The server's clock is a week behind ours: only the difference between its Date and its
    # Retry-After (3 hours) means anything.
    clock = Clock()
    feed_server.routes["/busy.xml"] = Route(respond=raw("429 Too Many Requests", [
        ("Date", "Fri, 20 Nov 2026 08:00:00 GMT"),
        ("Retry-After", "Fri, 20 Nov 2026 11:00:00 GMT"),
        ("Content-Length", "0"), ("Connection", "close")]))
    url = feed_server.url("busy.xml")
    app = open_app([{"url": url, "poll_every": "1m"}], clock=clock)

    outcome, = app.poller.refresh()

    assert "retry after 10800 s" in assert_one_line(outcome.error)
    next_poll = health(app)[url].next_poll_at
    assert next_poll is not None
    assert clock.now + timedelta(hours=3) <= next_poll < clock.now + timedelta(hours=4)


def test_410_gone_disables_the_feed_until_forced(
    feed_server: FeedServer, open_app: Callable[..., App]
) -> None:
    clock = Clock()
    feed_server.routes["/gone.xml"] = good_route(rss("gone", 2))
    url = feed_server.url("gone.xml")
    other = feed_server.url("rss2.xml")
    app = open_app([{"url": url, "poll_every": "1m"}, {"url": other, "poll_every": "1m"}],
                   clock=clock)
    app.poller.refresh()
    feed_server.routes["/gone.xml"] = Route(status=410)
    clock.now += timedelta(minutes=2)

    outcome = by_url(app.poller.refresh())[url]

    assert "410 Gone" in assert_one_line(outcome.error)
    shown = health(app)[url]
    assert shown.status is FeedStatus.DISABLED
    assert shown.next_poll_at is None
    assert shown.items == 2
    # Later polls skip it (the other feed is still polled)...
    clock.now += timedelta(days=3)
    assert [o.url for o in app.poller.refresh()] == [other]
    assert feed_server.hits("gone.xml") == 2
    # ...until a forced one, which brings it back when the publisher did.
    feed_server.routes["/gone.xml"] = good_route(rss("gone", 3))
    forced = by_url(app.poller.refresh(force=True))
    assert feed_server.hits("gone.xml") == 3
    assert forced[url].status is FeedStatus.OK
    assert health(app)[url].status is FeedStatus.OK
    assert health(app)[url].items == 3


# --- 3. redirects ---


@pytest.mark.parametrize("status", [301, 308])
def test_permanent_redirect_moves_the_feed(
    status: int, feed_server: FeedServer, open_app: Callable[..., App]
) -> None:
    feed_server.routes["/old.xml"] = Route(status=status, headers={"Location": "/mid.xml"})
    feed_server.routes["/mid.xml"] = Route(status=status,
                                           headers={"Location": feed_server.url("new.xml")})
    feed_server.routes["/new.xml"] = good_route(rss("moved", 2))
    old, new = feed_server.url("old.xml"), feed_server.url("new.xml")
    app = open_app([{"url": old}])

    outcome, = app.poller.refresh(force=True)

    assert outcome.status is FeedStatus.OK
    assert outcome.url == old  # the feed keeps its identity: the URL in feeds.yaml
    assert outcome.moved_to == new
    assert health(app)[old].moved_to == new
    assert health(app)[old].items == 2
    state, = app.store.feed_states([old])
    assert state.fetch_url == new
    # The next poll goes straight to the new URL.
    again, = app.poller.refresh(force=True)
    assert again.status is FeedStatus.OK
    assert (feed_server.hits("old.xml"), feed_server.hits("mid.xml")) == (1, 1)
    assert feed_server.hits("new.xml") == 2


@pytest.mark.parametrize("chain", [(302,), (307,), (301, 302), (302, 301)],
                         ids=lambda c: "-".join(map(str, c)))
def test_temporary_redirect_does_not_move_the_feed(
    chain: tuple[int, ...], feed_server: FeedServer, open_app: Callable[..., App]
) -> None:
    paths = [f"/hop{i}.xml" for i in range(len(chain))] + ["/target.xml"]
    for (here, there), status in zip(itertools.pairwise(paths), chain, strict=True):
        feed_server.routes[here] = Route(status=status, headers={"Location": there})
    feed_server.routes["/target.xml"] = good_route(rss("target", 2))
    url = feed_server.url(paths[0])
    app = open_app([{"url": url}])

    outcome, = app.poller.refresh(force=True)
    app.poller.refresh(force=True)

    assert outcome.status is FeedStatus.OK
    assert outcome.moved_to is None
    assert health(app)[url].moved_to is None
    assert app.store.feed_states([url])[0].fetch_url is None
    assert feed_server.hits(paths[0]) == 2  # still polled where feeds.yaml says


def redirect_chain(server: FeedServer, hops: int) -> str:
    for i in range(hops):
        server.routes[f"/r{i}.xml"] = Route(status=302, headers={"Location": f"/r{i + 1}.xml"})
    server.routes[f"/r{hops}.xml"] = good_route(rss("chain", 1))
    return server.url("r0.xml")


def test_more_redirects_than_the_cap_is_an_error(
    feed_server: FeedServer, open_app: Callable[..., App]
) -> None:
    url = redirect_chain(feed_server, 4)
    app = open_app([{"url": url}], fetch={**FAST_FETCH, "max_redirects": 3})

    outcome, = app.poller.refresh(force=True)

    reason = assert_one_line(outcome.error)
    assert "redirect" in reason and "more than 3" in reason
    assert health(app)[url].status is FeedStatus.ERROR
    assert sum(feed_server.hits(f"r{i}.xml") for i in range(5)) <= 4  # it gave up


def test_exactly_max_redirects_hops_are_followed(
    feed_server: FeedServer, open_app: Callable[..., App]
) -> None:
    url = redirect_chain(feed_server, 3)
    app = open_app([{"url": url}], fetch={**FAST_FETCH, "max_redirects": 3})

    outcome, = app.poller.refresh(force=True)

    assert outcome.status is FeedStatus.OK, outcome.error


def test_max_redirects_zero_follows_no_redirect(
    feed_server: FeedServer, open_app: Callable[..., App]
) -> None:
    url = redirect_chain(feed_server, 1)
    app = open_app([{"url": url}], fetch={**FAST_FETCH, "max_redirects": 0})

    outcome, = app.poller.refresh(force=True)

    assert outcome.status is FeedStatus.ERROR
    assert feed_server.hits("r1.xml") == 0


# --- 4. compression, User-Agent ---


def plain_items(outcome: FeedOutcome) -> list[tuple[Any, ...]]:
    return [(i.title, i.url, i.summary, i.published, i.guid) for i in outcome.items]


def test_gzip_deflate_and_br_bodies_parse_like_the_plain_one(feed_server: FeedServer) -> None:
    body = (FEEDS / "rss2.xml").read_bytes()
    packed = {"gzip": zlib.compressobj(6, zlib.DEFLATED, 31), "deflate": zlib.compressobj()}
    encoded = {name: p.compress(body) + p.flush() for name, p in packed.items()}
    encoded["br"] = brotli.compress(body)
    for name, data in encoded.items():
        assert data != body
        feed_server.routes[f"/{name}.xml"] = Route(
            body=data, headers={"Content-Encoding": name, "Content-Type": "application/xml"})
    names = ["rss2", *encoded]

    outcomes = fetch_feeds([FeedRequest(feed_server.url(f"{n}.xml")) for n in names],
                           FetchLimits(connect_timeout=1, total_timeout=5))

    plain = plain_items(outcomes[0])
    assert len(plain) == 5
    for name, outcome in zip(names, outcomes, strict=True):
        assert outcome.status is FeedStatus.OK, (name, outcome.error)
        assert plain_items(outcome) == plain, name


def test_requests_offer_gzip_and_br_and_name_digest(feed_server: FeedServer) -> None:
    fetch_feeds([FeedRequest(feed_server.url("rss2.xml"))])

    (_, headers), = feed_server.requests
    offered = {e.strip().split(";")[0] for e in headers.get("Accept-Encoding", "").split(",")}
    assert {"gzip", "br"} <= offered
    agent = headers.get("User-Agent", "")
    assert agent.startswith("digest/")
    assert len(agent) > len("digest/1") and "(" in agent  # says what it is, not just a name


# --- 5. concurrency ---


def slow_feeds(server: FeedServer, count: int) -> list[dict[str, Any]]:
    for i in range(count):
        server.routes[f"/slow{i}.xml"] = Route(body=rss(f"slow{i}", 1), delay=0.5)
    return [{"url": server.url(f"slow{i}.xml")} for i in range(count)]


@pytest.mark.parametrize(("feeds", "per_host", "concurrency", "limit"), [
    (4, 2, 64, 2),  # the per-host limit
    (6, 10, 3, 3),  # the global limit
], ids=["per-host", "global"])
def test_concurrency_limit_is_reached_and_never_passed(
    feed_server: FeedServer, open_app: Callable[..., App], feeds: int, per_host: int,
    concurrency: int, limit: int,
) -> None:
    app = open_app(slow_feeds(feed_server, feeds), fetch={
        **FAST_FETCH, "timeout": "10s", "per_host": per_host, "concurrency": concurrency})

    outcomes = app.poller.refresh(force=True)

    assert [o.status for o in outcomes] == [FeedStatus.OK] * feeds
    assert feed_server.max_in_flight == limit


def test_a_hanging_feed_is_reported_after_every_healthy_one(feed_server: FeedServer) -> None:
    feed_server.routes["/hang.xml"] = Route(respond=hang(feed_server.stopping))
    feed_server.routes["/drip.xml"] = Route(respond=drip(feed_server.stopping, rss("d", 2)))
    hanging = {feed_server.url("hang.xml"), feed_server.url("drip.xml")}
    healthy = [feed_server.url(n) for n in ("rss2.xml", "atom.xml", "latin1.xml")]
    requests = [FeedRequest(u) for u in [*sorted(hanging), *healthy]]  # the slow ones first
    reported: list[FeedOutcome] = []

    fetch_feeds(requests, FetchLimits(connect_timeout=1, total_timeout=1, per_host=3),
                on_done=reported.append)

    assert {o.url for o in reported[:3]} == set(healthy)
    assert all(o.status is FeedStatus.OK for o in reported[:3])
    assert {o.url for o in reported[3:]} == hanging
    for outcome in reported[3:]:
        assert assert_one_line(outcome.error).startswith("timeout")


def test_feeds_queued_behind_a_hanging_host_do_not_hold_up_other_hosts(
    feed_server: FeedServer,
) -> None:
    # Two hanging feeds on 127.0.0.1, one slot per host, two slots overall: the second hanging
    # feed waits for its host without taking the last global slot, so the feeds of another
    # host ("localhost", the same server under another name) go on.
    for name in ("hang1", "hang2"):
        feed_server.routes[f"/{name}.xml"] = Route(respond=hang(feed_server.stopping))
    hanging = [feed_server.url("hang1.xml"), feed_server.url("hang2.xml")]
    other = feed_server.base_url.replace("127.0.0.1", "localhost")
    healthy = [f"{other}/{n}" for n in ("rss2.xml", "atom.xml", "latin1.xml")]
    reported: list[str] = []

    fetch_feeds([FeedRequest(u) for u in [*hanging, *healthy]],
                FetchLimits(connect_timeout=1, total_timeout=1, concurrency=2, per_host=1),
                on_done=lambda o: reported.append(o.url))

    assert set(reported[:3]) == set(healthy)
    assert reported[3:] == hanging


# --- 6. the real-world corpus and feedparser's own test feeds ---

CORPUS_FILES = sorted(p for p in CORPUS.glob("*") if p.is_file()) if CORPUS.is_dir() else []


@pytest.mark.skipif(not CORPUS_FILES, reason=f"no feed corpus at {CORPUS}")
def test_corpus_polled_over_http_with_faulty_feeds_in_one_refresh(
    feed_server: FeedServer, open_app: Callable[..., App]
) -> None:
    feeds = []
    for i, path in enumerate(CORPUS_FILES):
        feed_server.routes[f"/corpus/{i}.xml"] = Route(
            body=path.read_bytes(), headers={"Content-Type": "application/xml"})
        feeds.append(feed_server.url(f"corpus/{i}.xml"))
    names = dict(zip(feeds, (p.name for p in CORPUS_FILES), strict=True))
    feed_server.routes["/hang.xml"] = Route(respond=hang(feed_server.stopping))
    feed_server.routes["/broken.xml"] = Route(status=500)
    faulty = [feed_server.url("hang.xml"), feed_server.url("broken.xml")]
    healthy = [feed_server.url(n) for n in ("rss2.xml", "atom.xml", "latin1.xml")]
    urls = [*faulty, *feeds, *healthy]
    app = open_app([{"url": u} for u in urls],
                   fetch={"timeout": "2s", "connect_timeout": "1s", "max_bytes": "10MiB"})

    outcomes = by_url(app.poller.refresh(force=True))

    assert set(outcomes) == set(urls)
    shown = health(app)
    for url in urls:
        outcome = outcomes[url]
        name = names.get(url, url)
        assert shown[url].status is outcome.status, name
        if outcome.status is FeedStatus.OK:
            assert shown[url].items > 0, name
            assert shown[url].items == outcome.new_items, name
        else:
            assert outcome.status is FeedStatus.ERROR, name
            assert shown[url].last_error == assert_one_line(outcome.error), name
    errors = {names.get(u, u): o.error for u, o in outcomes.items()
              if o.status is not FeedStatus.OK}
    assert set(errors) == {*faulty, *(n for n in names.values()
                                      if "empty" in n or "truncated" in n)}, errors
    for name, error in errors.items():
        if "empty" in name:
            assert "empty" in str(error)
        elif "truncated" in name:
            assert "XML error" in str(error)


FEEDPARSER_TESTS = os.environ.get("DIGEST_FEEDPARSER_TESTS")
needs_feedparser_tests = pytest.mark.skipif(
    not FEEDPARSER_TESTS or not Path(FEEDPARSER_TESTS, "illformed").is_dir(),
    reason="DIGEST_FEEDPARSER_TESTS does not name feedparser's sdist tests/ folder")


def feedparser_files(folder: str) -> list[Path]:
    root = Path(FEEDPARSER_TESTS or ".", folder)
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".xml", ".rdf"))


def assert_clean(items: tuple[Item, ...]) -> None:
    for item in items:
        assert item.url.startswith(("http://", "https://")), item.url
        for text in (item.title, item.summary):
            assert "<script" not in text.lower(), text


@needs_feedparser_tests
@pytest.mark.parametrize("folder", ["illformed", "wellformed"])
def test_feedparser_own_test_feeds_are_ok_and_clean_or_one_line_errors(folder: str) -> None:
    files = feedparser_files(folder)
    assert files, f"no test feeds under {FEEDPARSER_TESTS}/{folder}"
    for path in files:
        outcome = parse_feed(f"https://feedparser.example/{path.name}", path.read_bytes())
        if outcome.status is FeedStatus.OK:
            assert outcome.items, path
            assert_clean(outcome.items)
        else:
            assert outcome.status is FeedStatus.ERROR, path
            assert_one_line(outcome.error)


# --- a private server, for a port that closes for good ---


class OwnServer:
    """One route on a server of its own; leaving the block closes its port."""

    def __init__(self, route: Route) -> None:
        self.route = route
        body, headers = route.body, route.headers

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def __enter__(self) -> OwnServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
