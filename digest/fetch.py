"""Download feeds (HTTP with conditional GET, file://) and parse bytes into `Item`s; never raises
for one bad feed: every failure becomes a `FeedOutcome` with a one-line reason.

The only importer of aiohttp and feedparser; neither library's objects leave this module. It
does not store anything, decide what is a duplicate, or read the clock for decisions.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import socket
import xml.sax
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import aiohttp
import feedparser
import nh3

from digest import __version__
from digest.models import FeedOutcome, FeedStatus, Item

log = logging.getLogger(__name__)

USER_AGENT = f"digest/{__version__} (newsletter digest generator; feed poller)"
MAX_SUMMARY_CHARS = 4000  # we show 1-3 sentences; keep the store lean
_BLOCK_TAGS = re.compile(
    r"<\s*/?\s*(?:br|p|div|li|ul|ol|h[1-6]|tr|td|blockquote|section|article|figure|figcaption)"
    r"\b[^>]*>",
    re.IGNORECASE,
)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class FeedRequest:
    """One feed to poll, with the validators remembered from its last successful poll."""

    url: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """How patient and how trusting one poll is."""

    concurrency: int = 16
    per_host: int = 2
    connect_timeout: float = 10.0
    total_timeout: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5


class _Failure(Exception):
    """A one-line reason a feed could not be downloaded or parsed (module-internal)."""


def html_to_text(fragment: str | None) -> str:
    """Untrusted HTML -> plain text: tags (and script/style contents) gone, entities decoded."""
    if not fragment:
        return ""
    if "<" in fragment or "&" in fragment:
        # Block-level tags become spaces so "<p>a</p><p>b</p>" reads "a b", not "ab".
        fragment = nh3.clean(_BLOCK_TAGS.sub(" ", fragment), tags=set())
        fragment = html.unescape(fragment)
    return _SPACES.sub(" ", fragment).strip()


def _http_url(link: str | None, base: str) -> str | None:
    """The absolute http(s) URL of `link` resolved against `base`, or None for other schemes."""
    if not link:
        return None
    url = urljoin(base, link.strip())
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return url


def _entry_date(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        # dict.get: FeedParserDict would alias a missing updated_parsed to published_parsed,
        # with a DeprecationWarning (feedparser issue 310).
        parsed = dict.get(entry, key)
        if parsed:
            try:
                return datetime(*parsed[:6]).replace(tzinfo=UTC)
            except (TypeError, ValueError):
                continue
    return None


def _entry_summary(entry: Any) -> str:
    text = html_to_text(entry.get("summary"))
    if not text:
        for content in entry.get("content") or ():
            text = html_to_text(content.get("value"))
            if text:
                break
    return text[:MAX_SUMMARY_CHARS]


def parse_feed(url: str, body: bytes, *, content_type: str | None = None) -> FeedOutcome:
    """Parse one feed document; the outcome is an error when nothing usable came out of it."""
    if not body.strip():
        return FeedOutcome(url, FeedStatus.ERROR, error="empty response (0 bytes of feed)")
    headers = {"content-type": content_type} if content_type else {}
    # feedparser's sanitizer and URI resolver are most of its cost; we display only title,
    # summary and link, and clean those ourselves (nh3, urljoin). No content-location is given
    # so relative guids stay as the publisher wrote them, not tied to our host and port.
    parsed = feedparser.parse(
        body, sanitize_html=False, resolve_relative_uris=False, response_headers=headers
    )
    entries = parsed.get("entries") or []
    version = parsed.get("version") or ""
    if not entries:
        head = body[:2048].lstrip().lower()
        if not version and (head.startswith((b"<!doctype html", b"<html")) or b"<html" in head):
            return FeedOutcome(url, FeedStatus.ERROR, error="not a feed (an HTML page)")
        if parsed.get("bozo"):
            return FeedOutcome(url, FeedStatus.ERROR, error=_bozo_message(parsed))
        if not version:
            return FeedOutcome(url, FeedStatus.ERROR, error="not a feed (unrecognised format)")
    feed = parsed.get("feed", {})
    feed_title = html_to_text(feed.get("title")) or None
    # Relative links resolve against the feed's URL; a local file has none that a reader
    # could follow, so its channel <link> stands in.
    base = url if urlsplit(url).scheme in ("http", "https") else (feed.get("link") or "")
    items = tuple(_items(url, base, entries))
    if not items:
        if parsed.get("bozo"):
            return FeedOutcome(url, FeedStatus.ERROR, error=_bozo_message(parsed))
        return FeedOutcome(url, FeedStatus.ERROR,
                           error=f"no usable items: {len(entries)} entries, none with a title "
                                 "and an http(s) link")
    if parsed.get("bozo") and entries:
        log.info("%s: parsed despite %s", url, _bozo_message(parsed))
    return FeedOutcome(url, FeedStatus.OK, items=items, title=feed_title)


def _bozo_message(parsed: Any) -> str:
    exc = parsed.get("bozo_exception")
    if isinstance(exc, xml.sax.SAXParseException):
        return (f"XML error at line {exc.getLineNumber()}, column {exc.getColumnNumber()}: "
                f"{exc.getMessage()}")
    message = _SPACES.sub(" ", str(exc)).strip() if exc else "malformed feed"
    return f"XML error: {message}"


def _items(feed_url: str, base: str, entries: Iterable[Any]) -> Iterable[Item]:
    for entry in entries:
        guid = (entry.get("id") or "").strip() or None
        link = entry.get("link")
        if not link and guid and entry.get("guidislink"):
            link = guid
        url = _http_url(link, base)
        if url is None:
            log.debug("%s: skipping entry without an http(s) link: %r", feed_url, link)
            continue
        title = html_to_text(entry.get("title"))
        summary = _entry_summary(entry)
        if not title and not summary:
            continue
        yield Item(
            feed_url=feed_url,
            key="",  # assigned by the app from dedupe.item_key
            url=url,
            title=title or summary[:80],
            summary=summary,
            published=_entry_date(entry),
            guid=guid,
            author=html_to_text(entry.get("author")) or None,
        )


def _read_file(url: str, max_bytes: int) -> bytes:
    path = Path(unquote(urlsplit(url).path))
    try:
        with path.open("rb") as f:
            body = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise _Failure(f"file not found: {path}") from None
    except OSError as e:
        raise _Failure(f"cannot read {path}: {e.strerror}") from e
    if len(body) > max_bytes:
        raise _Failure(f"too large: more than {max_bytes} bytes")
    return body


async def _download(
    session: aiohttp.ClientSession, request: FeedRequest, limits: FetchLimits
) -> tuple[int, bytes, dict[str, str]]:
    headers = {"User-Agent": USER_AGENT, "Accept": _ACCEPT}
    if request.etag:
        headers["If-None-Match"] = request.etag
    if request.last_modified:
        headers["If-Modified-Since"] = request.last_modified
    async with session.get(
        request.url, headers=headers, max_redirects=limits.max_redirects
    ) as response:
        # Header names are case-insensitive (RFC 9110 5.1): keep them lower-cased.
        headers = {name.lower(): value for name, value in response.headers.items()}
        if response.status == 304:
            return 304, b"", headers
        if response.status >= 400:
            raise _Failure(f"HTTP {response.status} {response.reason or ''}".strip())
        declared = response.content_length
        if declared is not None and declared > limits.max_bytes:
            raise _Failure(f"too large: {declared} bytes declared, limit {limits.max_bytes}")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limits.max_bytes:  # streamed, so an endless body is cut off here
                raise _Failure(f"too large: more than {limits.max_bytes} bytes, cut off")
            chunks.append(chunk)
        return response.status, b"".join(chunks), headers


_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, "
    "text/xml;q=0.9, */*;q=0.5"
)


def _describe(error: BaseException, limits: FetchLimits) -> str:
    """One line a human can act on, for any exception a download can raise."""
    if isinstance(error, _Failure):
        return str(error)
    if isinstance(error, asyncio.TimeoutError):
        return f"timeout: no complete answer within {limits.total_timeout:g} s"
    if isinstance(error, aiohttp.TooManyRedirects):
        return f"too many redirects (more than {limits.max_redirects})"
    if isinstance(error, aiohttp.ClientConnectorError):
        cause = error.os_error
        if isinstance(cause, socket.gaierror):
            return f"DNS: cannot resolve {error.host}"
        if isinstance(cause, ConnectionRefusedError):
            return f"connection refused by {error.host}:{error.port}"
        return f"cannot connect to {error.host}:{error.port}: {cause.strerror or cause}"
    if isinstance(error, aiohttp.ClientPayloadError):
        return f"broken response body: {error}"
    if isinstance(error, aiohttp.ClientError):
        return f"HTTP client error: {_SPACES.sub(' ', str(error)) or type(error).__name__}"
    return f"{type(error).__name__}: {error}"


async def _poll(
    session: aiohttp.ClientSession,
    gate: asyncio.Semaphore,
    request: FeedRequest,
    limits: FetchLimits,
) -> FeedOutcome:
    async with gate:
        try:
            if urlsplit(request.url).scheme == "file":
                headers: dict[str, str] = {}
                status, body = 200, _read_file(request.url, limits.max_bytes)
            else:
                status, body, headers = await _download(session, request, limits)
        except Exception as e:  # one bad feed never stops the others
            return FeedOutcome(request.url, FeedStatus.ERROR, error=_describe(e, limits))
    etag, last_modified = headers.get("etag"), headers.get("last-modified")
    if status == 304:  # a 304 without validators keeps the ones we sent (RFC 9110 15.4.5)
        return FeedOutcome(request.url, FeedStatus.OK, not_modified=True,
                           etag=etag or request.etag,
                           last_modified=last_modified or request.last_modified)
    try:
        # Parsing is CPU work: off the event loop, so other downloads (and their timeouts)
        # keep running while a big feed is parsed.
        outcome = await asyncio.get_running_loop().run_in_executor(
            None, partial(parse_feed, request.url, body,
                          content_type=headers.get("content-type")))
    except Exception as e:  # feedparser is robust, but a parser bug must not stop the run
        log.debug("parse failure", exc_info=True)
        return FeedOutcome(request.url, FeedStatus.ERROR, error=f"parse failure: {e}")
    if outcome.status is FeedStatus.OK:
        return FeedOutcome(outcome.url, outcome.status, outcome.items, outcome.title,
                           etag=etag, last_modified=last_modified)
    return outcome


async def _poll_all(
    requests: Sequence[FeedRequest],
    limits: FetchLimits,
    on_done: Callable[[FeedOutcome], None] | None,
) -> list[FeedOutcome]:
    timeout = aiohttp.ClientTimeout(total=limits.total_timeout, connect=limits.connect_timeout)
    connector = aiohttp.TCPConnector(limit=limits.concurrency, limit_per_host=limits.per_host)
    gate = asyncio.Semaphore(limits.concurrency)
    async with aiohttp.ClientSession(
        timeout=timeout, connector=connector, auto_decompress=True, trust_env=False
    ) as session:

        async def one(request: FeedRequest) -> FeedOutcome:
            outcome = await _poll(session, gate, request, limits)
            if on_done is not None:
                on_done(outcome)
            return outcome

        return list(await asyncio.gather(*(one(r) for r in requests)))


def fetch_feeds(
    requests: Sequence[FeedRequest],
    limits: FetchLimits = FetchLimits(),
    on_done: Callable[[FeedOutcome], None] | None = None,
) -> list[FeedOutcome]:
    """Poll every feed concurrently; one outcome per request, in the same order."""
    if not requests:
        return []
    return asyncio.run(_poll_all(requests, limits, on_done))
