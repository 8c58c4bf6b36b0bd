"""Download feeds (HTTP with conditional GET, file://) and hand their bytes to `parse`; never
raises for one bad feed: every failure becomes a `FeedOutcome` with a one-line reason.

The only importer of aiohttp; its objects never leave this module. It does not store anything,
decide what is a duplicate, or read the clock for decisions.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiohttp

from digest import __version__
from digest.models import FeedOutcome, FeedStatus
from digest.parse import parse_feed

log = logging.getLogger(__name__)

USER_AGENT = f"digest/{__version__} (newsletter digest generator; feed poller)"
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
        return replace(outcome, etag=etag, last_modified=last_modified)
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
