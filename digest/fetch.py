"""Download feeds (HTTP with conditional GET, file://) and hand their bytes to `parse`; never
raises for one bad feed: every failure becomes a `FeedOutcome` with a one-line reason.

The only importer of aiohttp; its objects never leave this module. It does not store anything,
decide when a feed is polled next, or read the clock: what the server said about timing
(Retry-After, Cache-Control) comes back as durations for `polling` to weigh.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import multiprocessing
import os
import re
import socket
import sys
import threading
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import timedelta
from email.utils import parsedate_to_datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp

from digest import __version__
from digest.models import FeedOutcome, FeedStatus
from digest.parse import parse_feed

log = logging.getLogger(__name__)

USER_AGENT = (f"digest/{__version__} (newsletter digest generator; polls politely: conditional "
              "GET, per-host limits, backoff)")
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, "
    "text/xml;q=0.9, */*;q=0.5"
)
_SPACES = re.compile(r"\s+")
_SHORT_BODY = re.compile(r"received (\d+) of (\d+) bytes")
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
# A process pool pays off once a batch has more bodies than a thread parses in its start-up time.
PROCESS_POOL_MIN_FEEDS = 16


@dataclass(frozen=True, slots=True)
class FeedRequest:
    """One feed to poll, with what its last successful poll left behind."""

    url: str  # the feed's identity: the URL in feeds.yaml
    fetch_url: str | None = None  # where it lives now, after a permanent redirect
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None  # of the last body parsed: the same bytes are not parsed again

    @property
    def location(self) -> str:
        return self.fetch_url or self.url


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """How patient, how parallel and how trusting one poll is."""

    concurrency: int = 64
    per_host: int = 4
    connect_timeout: float = 10.0
    total_timeout: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    parse_workers: int | None = None  # processes for parsing; None: one per CPU (big batches)


class _Failure(Exception):
    """A one-line reason a feed could not be downloaded (module-internal)."""

    def __init__(self, message: str, *, retry_after: timedelta | None = None,
                 gone: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.gone = gone


@dataclass(slots=True)
class _Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    moved_to: str | None = None  # the new URL when every redirect hop was permanent


def body_hash(body: bytes) -> str:
    """A short, collision-safe fingerprint of a feed body."""
    return hashlib.blake2b(body, digest_size=16).hexdigest()


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


def _retry_after(headers: dict[str, str]) -> timedelta | None:
    """Retry-After as a duration (RFC 9110 10.2.3): seconds, or an HTTP-date measured against
    the response's own Date header, so our clock's skew does not matter."""
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
        sent = parsedate_to_datetime(headers["date"])
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return max(when - sent, timedelta(0))


def _cache_for(headers: dict[str, str]) -> timedelta | None:
    """Cache-Control max-age: how long the publisher says the feed stays fresh."""
    match = _MAX_AGE.search(headers.get("cache-control", ""))
    return timedelta(seconds=int(match.group(1))) if match else None


async def _download(
    session: aiohttp.ClientSession, request: FeedRequest, limits: FetchLimits
) -> _Response:
    headers = {"User-Agent": USER_AGENT, "Accept": _ACCEPT}
    if request.etag:
        headers["If-None-Match"] = request.etag
    if request.last_modified:
        headers["If-Modified-Since"] = request.last_modified
    # aiohttp counts the response that would exceed its cap, so N + 1 follows N redirects; its
    # 0 means "no limit", so 0 here means "follow none".
    async with session.get(
        request.location, headers=headers, allow_redirects=limits.max_redirects > 0,
        max_redirects=limits.max_redirects + 1,
    ) as response:
        # Header names are case-insensitive (RFC 9110 5.1): keep them lower-cased.
        answer = _Response(response.status,
                           headers={k.lower(): v for k, v in response.headers.items()})
        hops = [r.status for r in response.history]
        if hops and all(status in (301, 308) for status in hops):
            answer.moved_to = str(response.url)
        status = response.status
        if status == 304:
            return answer
        if status == 410:
            raise _Failure("HTTP 410 Gone: the publisher removed this feed", gone=True)
        if status in (429, 503):
            wait = _retry_after(answer.headers)
            hint = f", retry after {int(wait.total_seconds())} s" if wait is not None else ""
            raise _Failure(f"HTTP {status} {response.reason or ''}".strip() + hint,
                           retry_after=wait)
        if status >= 300 or status < 200:  # an unfollowed 3xx is as useless as a 4xx
            raise _Failure(f"HTTP {status} {response.reason or ''}".strip())
        declared = response.content_length
        if declared is not None and declared > limits.max_bytes:
            raise _Failure(f"too large: {declared} bytes declared, limit {limits.max_bytes}")
        chunks: list[bytes] = []
        size = 0
        # Decompressed (gzip, deflate, br) as it streams, so the cap also stops a gzip bomb.
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limits.max_bytes:  # an endless or huge body is cut off here
                raise _Failure(f"too large: more than {limits.max_bytes} bytes, cut off")
            chunks.append(chunk)
        answer.body = b"".join(chunks)
        return answer


def _describe(error: BaseException, limits: FetchLimits) -> str:
    """One line a human can act on, for any exception a download can raise."""
    if isinstance(error, _Failure):
        return str(error)
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return f"timeout: could not connect within {limits.connect_timeout:g} s"
    if isinstance(error, asyncio.TimeoutError):
        return f"timeout: no complete answer within {limits.total_timeout:g} s"
    if isinstance(error, aiohttp.TooManyRedirects):
        return f"redirect loop or too many redirects (more than {limits.max_redirects})"
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        return f"TLS: certificate not valid for {error.host}: {error.certificate_error}"
    if isinstance(error, aiohttp.ClientConnectorError):
        cause = error.os_error
        if isinstance(cause, socket.gaierror):
            return f"DNS: cannot resolve {error.host}"
        if isinstance(cause, ConnectionRefusedError):
            return f"connection refused by {error.host}:{error.port}"
        return f"cannot connect to {error.host}:{error.port}: {cause.strerror or cause}"
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return "server closed the connection before answering"
    if isinstance(error, aiohttp.ClientPayloadError):
        if short := _SHORT_BODY.search(str(error)):
            return (f"broken response body: the connection closed after {short.group(1)} of "
                    f"{short.group(2)} bytes")
        return f"broken response body: {_SPACES.sub(' ', str(error))}"
    if isinstance(error, aiohttp.InvalidURL):
        return f"invalid URL: {error}"
    if isinstance(error, aiohttp.ClientError):
        return f"HTTP client error: {_SPACES.sub(' ', str(error)) or type(error).__name__}"
    return f"{type(error).__name__}: {error}"


class _Parsers:
    """Where parsing runs: a process pool on every core for big batches (feedparser is pure
    Python, so threads would share one core), else a worker thread. Either way it is off the
    event loop, so downloads and their timeouts go on while a big feed is parsed."""

    def __init__(self, feeds: int, workers: int | None) -> None:
        cpus = os.cpu_count() or 1
        workers = workers if workers is not None else cpus
        self._pool: ProcessPoolExecutor | None = None
        if workers > 1 and feeds >= PROCESS_POOL_MIN_FEEDS:
            # forkserver: workers fork from a clean single-threaded process that has imported
            # the parser once, never from this one (its resolver threads make fork unsafe).
            method = "forkserver" if sys.platform.startswith("linux") else "spawn"
            try:
                context = multiprocessing.get_context(method)
                if method == "forkserver":
                    context.set_forkserver_preload(["digest.parse"])
                self._pool = ProcessPoolExecutor(max_workers=min(workers, feeds),
                                                 mp_context=context)
            except (OSError, ValueError, NotImplementedError) as e:  # no /dev/shm, sandboxes
                log.warning("no process pool for parsing (%s); parsing in a thread", e)

    async def parse(self, url: str, body: bytes, content_type: str | None) -> FeedOutcome:
        loop = asyncio.get_running_loop()
        job = partial(parse_feed, url, body, content_type=content_type)
        if self._pool is not None:
            try:
                return await loop.run_in_executor(self._pool, job)
            except BrokenProcessPool:  # a worker died (killed, out of memory): carry on here
                log.warning("parser process pool broke; parsing the rest in a thread")
                self.close()
        return await loop.run_in_executor(None, job)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True, slots=True)
class _Gates:
    host: asyncio.Semaphore  # this feed's host: `per_host` at a time
    overall: asyncio.Semaphore  # every host: `concurrency` at a time
    backlog: asyncio.Semaphore  # bodies held in memory, downloaded or waiting to be parsed


async def _poll(
    session: aiohttp.ClientSession,
    gates: _Gates,
    parsers: _Parsers,
    request: FeedRequest,
    limits: FetchLimits,
) -> FeedOutcome:
    # The host's gate first: feeds queued behind a slow host wait without holding one of the
    # global slots, so one hanging server never holds up the others.
    async with gates.host, gates.overall:
        # When parsing falls behind, downloads wait for it: memory stays bounded.
        await gates.backlog.acquire()
        try:
            if urlsplit(request.location).scheme == "file":
                answer = _Response(200, _read_file(request.location, limits.max_bytes))
            else:
                answer = await _download(session, request, limits)
        except Exception as e:  # one bad feed never stops the others
            gates.backlog.release()
            retry = e.retry_after if isinstance(e, _Failure) else None
            gone = e.gone if isinstance(e, _Failure) else False
            return FeedOutcome(request.url, FeedStatus.ERROR, error=_describe(e, limits),
                               retry_after=retry, gone=gone)
    try:
        return await _conclude(parsers, request, answer)
    finally:
        gates.backlog.release()


async def _conclude(parsers: _Parsers, request: FeedRequest, answer: _Response) -> FeedOutcome:
    """A downloaded answer as an outcome: not modified, unchanged, or parsed."""
    headers = answer.headers
    etag, last_modified = headers.get("etag"), headers.get("last-modified")
    moved_to, cache_for = answer.moved_to, _cache_for(headers)
    if answer.status == 304:  # a 304 without validators keeps the ones we sent (RFC 9110 15.4.5)
        return FeedOutcome(request.url, FeedStatus.OK, not_modified=True,
                           etag=etag or request.etag,
                           last_modified=last_modified or request.last_modified,
                           body_hash=request.body_hash, moved_to=moved_to, cache_for=cache_for)
    digest_ = body_hash(answer.body)
    if request.body_hash == digest_:  # the same bytes as last time: nothing to parse
        return FeedOutcome(request.url, FeedStatus.OK, unchanged=True, etag=etag,
                           last_modified=last_modified, body_hash=digest_, moved_to=moved_to,
                           cache_for=cache_for)
    try:
        # Relative links resolve against where the feed was really found.
        outcome = await parsers.parse(answer.moved_to or request.location, answer.body,
                                      headers.get("content-type"))
    except Exception as e:  # feedparser is robust, but a parser bug must not stop the run
        log.debug("parse failure", exc_info=True)
        return FeedOutcome(request.url, FeedStatus.ERROR, error=f"parse failure: {e}")
    outcome = replace(outcome, url=request.url, moved_to=moved_to, cache_for=cache_for)
    if outcome.status is FeedStatus.OK:
        return replace(outcome, etag=etag, last_modified=last_modified, body_hash=digest_)
    return outcome


async def _poll_all(
    requests: Sequence[FeedRequest],
    limits: FetchLimits,
    on_done: Callable[[FeedOutcome], None] | None,
) -> list[FeedOutcome]:
    timeout = aiohttp.ClientTimeout(total=limits.total_timeout, connect=limits.connect_timeout)
    connector = aiohttp.TCPConnector(limit=limits.concurrency, limit_per_host=limits.per_host)
    overall, backlog = asyncio.Semaphore(limits.concurrency), asyncio.Semaphore(
        limits.concurrency * 2)
    host_gates: dict[str, asyncio.Semaphore] = {}
    parsers = _Parsers(len(requests), limits.parse_workers)
    try:
        async with aiohttp.ClientSession(
            timeout=timeout, connector=connector, auto_decompress=True, trust_env=False
        ) as session:

            async def one(request: FeedRequest) -> FeedOutcome:
                host = (urlsplit(request.location).hostname or "").lower()
                gates = _Gates(host_gates.setdefault(host, asyncio.Semaphore(limits.per_host)),
                               overall, backlog)
                outcome = await _poll(session, gates, parsers, request, limits)
                if on_done is not None:
                    on_done(outcome)
                return outcome

            return list(await asyncio.gather(*(one(r) for r in requests)))
    finally:
        parsers.close()


def fetch_feeds(
    requests: Sequence[FeedRequest],
    limits: FetchLimits = FetchLimits(),
    on_done: Callable[[FeedOutcome], None] | None = None,
    *, stop: threading.Event | None = None,
) -> list[FeedOutcome]:
    """Poll every feed concurrently; one outcome per request, in the same order. `on_done` is
    called with each outcome as it completes (on the event loop's thread). When `stop` is
    set, the downloads under way are cancelled and the list is empty: what finished before
    has been handed to `on_done`."""
    if not requests:
        return []
    return asyncio.run(_until_stopped(_poll_all(requests, limits, on_done), stop))


async def _until_stopped(work: Coroutine[Any, Any, list[FeedOutcome]],
                         stop: threading.Event | None) -> list[FeedOutcome]:
    task = asyncio.ensure_future(work)
    if stop is None:
        return await task
    while not task.done():
        await asyncio.wait({task}, timeout=0.1)
        if stop.is_set() and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return []
    return task.result()
