"""Download feeds (HTTP with conditional GET, file://) and hand their bytes to `parse`; never
raises for one bad feed: every failure becomes a `FeedOutcome` with a one-line reason. Also one
web page an editor adds by URL (`fetch_page`, issue 22), with the same limits and checks, and
public addresses only even when its URL names an internal one (an editor is not the operator).

The only importer of aiohttp; its objects never leave this module. It does not store anything,
decide when a feed is polled next, or read the clock: what the server said about timing
(Retry-After, Cache-Control) comes back as durations for `polling` to weigh.

Private addresses (issue 17): a feed whose configured URL is public may not be sent, by a
redirect or by DNS, to an address that is not global unicast (`address_kind` says which are
not: loopback, private, link-local, shared, multicast, reserved, unspecified, IPv4 or IPv6,
IPv4 inside IPv6 judged as IPv4). A feed the operator pointed at an internal server on
purpose (`is_internal_url`) may, and `FetchLimits.allow_private` lifts the rule for all.
How it holds:

- Redirects are followed here, hop by hop (never by aiohttp), and an IP-literal target is
  judged before anything connects to it: aiohttp connects to a literal without resolving it.
- A name is resolved by `_PublicOnly`, the resolver of the connector the public feeds use: it
  drops every non-public answer (only public ones left: those are used; none: blocked), and
  the connector connects to exactly the addresses it returned (numeric; it never looks the
  name up again), so there is no gap for a DNS rebinding between the check and the connect.
- The feeds the operator trusts use a second session with its own connector, pool and DNS
  cache (made only when there is such a feed): a connection opened for them to an internal
  address can never be handed to a public feed. Within one connector a pooled connection is
  reused only for the same host and port, which it was vetted for when it was opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
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
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL  # aiohttp's own URL type (its dependency): checked as it will connect

from digest import __version__
from digest.errors import FetchError
from digest.models import FeedOutcome, FeedStatus
from digest.parse import MAX_ITEMS, parse_feed

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
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
_HTTP = frozenset({"http", "https"})
_ALLOW_HINT = "set fetch.allow_private: true to allow"

Address = IPv4Address | IPv6Address
_SHARED = IPv4Network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_NAT64 = IPv6Network("64:ff9b::/96")  # the well-known NAT64 prefix (RFC 6052): IPv4 inside
# Names for internal servers (RFC 6761 localhost, RFC 6762 .local, RFC 8375 home.arpa, and
# .internal, which ICANN reserved for private use in 2024): they never resolve publicly.
_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")


def address_kind(ip: Address) -> str | None:
    """Why a feed whose URL is public may not connect to `ip` ("a loopback address", ...);
    None for a global unicast address. IPv4 inside IPv6 (::ffff:a.b.c.d, 6to4 2002::/16,
    NAT64 64:ff9b::/96) is judged by its IPv4 address."""
    if isinstance(ip, IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour
        if inner is None and ip in _NAT64:
            inner = IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            return address_kind(inner)
        if ip.is_site_local:  # fec0::/10, deprecated but routable inside a site
            return "a site-local address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_unspecified:  # 0.0.0.0 and :: reach this host
        return "an unspecified address"
    if ip.is_link_local:  # 169.254.169.254: the cloud metadata service
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a non-global address"
    return None


def is_public_address(ip: Address) -> bool:
    """Whether a feed whose URL is public may connect to `ip`: a global unicast address."""
    return address_kind(ip) is None


def is_internal_url(url: str, is_public: Callable[[Address], bool] = is_public_address) -> bool:
    """Whether the operator pointed this configured URL at an internal server on purpose, so
    it may reach internal addresses: its host is an IP address that is not public,
    `localhost`, a name of one label (`rss-bridge`: a Docker service, an intranet host), or a
    name under .localhost, .local, .internal or .home.arpa. Decided by the URL alone, never by
    what a name resolves to (a public name that resolves to 127.0.0.1 is what is blocked)."""
    try:
        host = (URL(url).raw_host or "").rstrip(".")  # as aiohttp reads it
    except ValueError:
        return False
    if not host:
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return (host == "localhost" or host.endswith(_INTERNAL_SUFFIXES)
                or ("." not in host and ":" not in host and not host.isdigit()))
    return not is_public(ip)


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
    max_items: int = MAX_ITEMS  # fetch.max_items: entries read per feed, the newest
    allow_private: bool = False  # fetch.allow_private: any feed may reach any address
    # Which addresses a feed whose URL is public may connect to (tests widen it).
    is_public: Callable[[Address], bool] = is_public_address


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


class _Blocked(OSError):
    """A name that resolves to no address a public feed may connect to (raised inside
    aiohttp's connector, which wraps it in a ClientConnectorError)."""

    def __init__(self, host: str, address: str, kind: str) -> None:
        super().__init__(f"{host} resolves to {address} ({kind})")
        self.host, self.address, self.kind = host, address, kind


def _verdict(address: str, is_public: Callable[[Address], bool]) -> str | None:
    """What keeps a public feed from `address` (an IP address as text); None: nothing."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not a canonical IP address"
    return None if is_public(ip) else address_kind(ip) or "a non-public address"


def _literal_verdict(url: URL, is_public: Callable[[Address], bool]) -> str | None:
    """What keeps a public feed from this URL's host when it is an IP address: aiohttp
    connects to one without asking the resolver. None for a name (the resolver judges it)."""
    host = url.raw_host or ""
    if ":" not in host and not host.replace(".", "").isdigit():  # aiohttp's own test
        return None
    return _verdict(host, is_public)


class _PublicOnly(AbstractResolver):
    """Resolves through `inner` and keeps only the addresses a public feed may connect to; a
    name left with none is blocked. The connector connects to what this returns and to
    nothing else (numeric addresses: it never looks the name up again)."""

    def __init__(self, inner: AbstractResolver, is_public: Callable[[Address], bool]) -> None:
        self._inner = inner
        self._is_public = is_public

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        kept = [a for a in answers if _verdict(a["host"], self._is_public) is None]
        if kept:
            return kept
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "no address")
        first = answers[0]["host"]
        raise _Blocked(host, first, _verdict(first, self._is_public) or "")

    async def close(self) -> None:
        await self._inner.close()


def _follow(base: URL, location: str) -> URL:
    """Where a redirect's Location points, resolved against the URL that answered."""
    shown = _SPACES.sub(" ", location)[:100]
    try:
        target = base.join(URL(location))
    except ValueError:
        raise _Failure(f"redirect to an invalid URL: {shown}") from None
    if target.scheme not in _HTTP:
        raise _Failure(f"redirect to a URL that is not http(s): {shown}")
    return target


async def _download(
    session: aiohttp.ClientSession, request: FeedRequest, limits: FetchLimits, *, strict: bool,
    accept: str = _ACCEPT,
) -> _Response:
    """GET the feed, following redirects here hop by hop. `strict`: the feed's URL is public,
    so every hop must stay on public addresses (IP literals are judged here; names by the
    session's `_PublicOnly` resolver)."""
    headers = {"User-Agent": USER_AGENT, "Accept": accept}
    if request.etag:
        headers["If-None-Match"] = request.etag
    if request.last_modified:
        headers["If-Modified-Since"] = request.last_modified
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limits.total_timeout  # for the feed, every hop included
    url, permanent = URL(request.location), True
    for hop in range(limits.max_redirects + 1):
        via = "redirect to " if hop else "moved to " if request.fetch_url else ""
        if strict and (kind := _literal_verdict(url, limits.is_public)):
            raise _Failure(f"blocked: {via}{url.raw_host} ({kind}); {_ALLOW_HINT}")
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError
        timeout = aiohttp.ClientTimeout(total=remaining, connect=limits.connect_timeout)
        try:
            async with session.get(url, headers=headers, allow_redirects=False,
                                   timeout=timeout) as response:
                location = response.headers.get("Location")
                # The last hop (max_redirects 0: a 3xx is reported as it is); the feed moved
                # when every hop before it was permanent.
                if response.status not in _REDIRECTS or location is None or (
                        limits.max_redirects == 0):
                    moved_to = str(response.url) if hop and permanent else None
                    return await _read(response, limits, moved_to)
                if hop == limits.max_redirects:
                    raise _Failure("redirect loop or too many redirects "
                                   f"(more than {limits.max_redirects})")
                permanent = permanent and response.status in _PERMANENT
                url = _follow(response.url, location)
        except aiohttp.ClientConnectorError as e:
            if isinstance(blocked := e.os_error, _Blocked):
                name = f"{via}{blocked.host}, which" if via else blocked.host
                raise _Failure(f"blocked: {name} resolves to {blocked.address} "
                               f"({blocked.kind}); {_ALLOW_HINT}") from None
            raise
    raise AssertionError("unreachable: the last hop returns or raises")


async def _read(response: aiohttp.ClientResponse, limits: FetchLimits,
                moved_to: str | None) -> _Response:
    """The final answer: its status judged, its body read up to the size limit."""
    # Header names are case-insensitive (RFC 9110 5.1): keep them lower-cased.
    answer = _Response(response.status,
                       headers={k.lower(): v for k, v in response.headers.items()},
                       moved_to=moved_to)
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

    def __init__(self, feeds: int, workers: int | None, max_items: int = MAX_ITEMS) -> None:
        self.max_items = max_items
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
        job = partial(parse_feed, url, body, content_type=content_type,
                      max_items=self.max_items)
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
    *, strict: bool,
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
                answer = await _download(session, request, limits, strict=strict)
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
    overall, backlog = asyncio.Semaphore(limits.concurrency), asyncio.Semaphore(
        limits.concurrency * 2)
    host_gates: dict[str, asyncio.Semaphore] = {}
    # Feeds whose configured URL is public may reach public addresses only (see the module's
    # docstring); the others get a session of their own.
    guarded = [not limits.allow_private and not is_internal_url(r.url, limits.is_public)
               for r in requests]
    parsers = _Parsers(len(requests), limits.parse_workers, limits.max_items)
    try:
        async with contextlib.AsyncExitStack() as stack:

            async def session(resolver: AbstractResolver | None) -> aiohttp.ClientSession:
                if resolver is not None:  # the connector closes only a resolver it made
                    stack.push_async_callback(resolver.close)
                connector = aiohttp.TCPConnector(limit=limits.concurrency,
                                                 limit_per_host=limits.per_host,
                                                 resolver=resolver)
                return await stack.enter_async_context(aiohttp.ClientSession(
                    timeout=timeout, connector=connector, auto_decompress=True,
                    trust_env=False))

            public = (await session(_PublicOnly(aiohttp.DefaultResolver(), limits.is_public))
                      if any(guarded) else None)
            internal = await session(None) if not all(guarded) else None

            async def one(request: FeedRequest, strict: bool) -> FeedOutcome:
                host = (urlsplit(request.location).hostname or "").lower()
                gates = _Gates(host_gates.setdefault(host, asyncio.Semaphore(limits.per_host)),
                               overall, backlog)
                chosen = public if strict else internal
                assert chosen is not None
                # A public feed moved to an internal address before that was refused (an older
                # digest followed such a 301): polled at its configured URL again, and moved
                # back there when that works.
                back = strict and request.fetch_url is not None and is_internal_url(
                    request.fetch_url, limits.is_public)
                if back:
                    request = replace(request, fetch_url=None, etag=None, last_modified=None)
                outcome = await _poll(chosen, gates, parsers, request, limits, strict=strict)
                if back and outcome.status is FeedStatus.OK and outcome.moved_to is None:
                    outcome = replace(outcome, moved_to=request.url, notes=(
                        *outcome.notes, "no longer polled at the internal address it had "
                        "moved to: back at its configured URL"))
                if on_done is not None:
                    on_done(outcome)
                return outcome

            return list(await asyncio.gather(*(one(r, s) for r, s in zip(requests, guarded,
                                                                           strict=True))))
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


# An article an editor adds (digest edit add URL): one web page, fetched with the feeds' safety.
_PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"


@dataclass(frozen=True, slots=True)
class Page:
    """One web page as downloaded."""

    url: str  # where it was finally found (after redirects)
    content_type: str | None
    body: bytes


def fetch_page(url: str, limits: FetchLimits = FetchLimits(), *,
               max_bytes: int = 2 * 1024 * 1024) -> Page:
    """GET one web page (an article an editor adds) with the feed poll's safety: http(s) only,
    every redirect hop checked, the total time bound, and a size cap of min(`max_bytes`,
    `limits.max_bytes`) enforced while streaming. Public addresses only unless
    `limits.allow_private`, even when the URL itself names an internal server: unlike a feed's,
    it comes from whoever adds the article, not from the operator (`limits.is_public` says what
    is public; tests widen it). Raises FetchError with a one-line reason naming the URL. Runs
    its own event loop, as fetch_feeds does: not to be called from inside one."""
    shown = _shown(url)
    try:
        target = URL(url)
    except (ValueError, TypeError):
        target = None
    if target is None or target.scheme not in _HTTP or not target.raw_host or (
            not url.isprintable() or " " in url):
        raise FetchError(f"{shown}: not an http(s) URL with a host")
    limits = replace(limits, max_bytes=min(max_bytes, limits.max_bytes))
    try:
        return asyncio.run(_fetch_page(target, limits))
    except _Failure as e:  # a 410's reason speaks of a feed: not this one's
        raise FetchError(f"{shown}: {'HTTP 410 Gone' if e.gone else e}") from e
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as e:
        raise FetchError(f"{shown}: {_describe(e, limits)}") from e


def _shown(url: str) -> str:
    """A URL as an error message may show it: one line, no control characters, bounded."""
    if not url.isprintable():
        url = url.encode("unicode_escape").decode("ascii")
    return url if len(url) <= 300 else url[:299] + "…"


async def _fetch_page(url: URL, limits: FetchLimits) -> Page:
    strict = not limits.allow_private  # never trusted as internal: see fetch_page
    asked: list[URL] = []  # every hop's URL, in order: the last one answered with the page

    async def on_request_start(_session: aiohttp.ClientSession, _context: object,
                               params: aiohttp.TraceRequestStartParams) -> None:
        asked.append(params.url)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    resolver = _PublicOnly(aiohttp.DefaultResolver(), limits.is_public) if strict else None
    timeout = aiohttp.ClientTimeout(total=limits.total_timeout, connect=limits.connect_timeout)
    try:
        async with aiohttp.ClientSession(
                timeout=timeout, connector=aiohttp.TCPConnector(resolver=resolver),
                auto_decompress=True, trust_env=False, trace_configs=[trace]) as session:
            answer = await _download(session, FeedRequest(str(url)), limits, strict=strict,
                                     accept=_PAGE_ACCEPT)
    finally:
        if resolver is not None:  # the connector closes only a resolver it made
            await resolver.close()
    if answer.status == 304:  # nothing was sent to compare with: a server's mistake
        raise _Failure("HTTP 304 Not Modified, to a request without validators")
    return Page(str(asked[-1] if asked else url), answer.headers.get("content-type"),
                answer.body)
