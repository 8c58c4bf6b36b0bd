"""Turn the bytes of one feed document into cleaned `Item`s (or a one-line reason it is not a
feed); no network, no clock, no store.

The only importer of feedparser; its dicts never leave this module. Untrusted HTML becomes plain
text here (nh3), and only absolute http(s) links come out.
"""

from __future__ import annotations

import html
import logging
import re
import xml.sax
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import nh3

from digest.models import FeedOutcome, FeedStatus, Item

log = logging.getLogger(__name__)

MAX_SUMMARY_CHARS = 4000  # we show 1-3 sentences; keep the store lean
_BLOCK_TAGS = re.compile(
    r"<\s*/?\s*(?:br|p|div|li|ul|ol|h[1-6]|tr|td|blockquote|section|article|figure|figcaption)"
    r"\b[^>]*>",
    re.IGNORECASE,
)
_SPACES = re.compile(r"\s+")


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
    return FeedOutcome(url, FeedStatus.OK, items=items, title=feed_title, ttl=_ttl(feed))


def _ttl(feed: Any) -> timedelta | None:
    """RSS 2.0 <ttl>: minutes the channel may be cached before it is polled again."""
    try:
        minutes = float(feed.get("ttl") or 0)
    except (TypeError, ValueError):
        return None
    return timedelta(minutes=minutes) if minutes > 0 else None


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


