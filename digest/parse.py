"""Turn the bytes of one feed document into cleaned `Item`s (or a one-line reason it is not a
feed); no network, no clock, no store.

With digest/feedxml.py (its strict-parse driver), the only importer of feedparser; its dicts
never leave these two modules. Untrusted HTML becomes plain text here (nh3), and only absolute
http(s) links come out (safe_url). A hostile feed (issue 17) fails nothing beyond itself and
one bad item fails nothing beyond that item: every shown field is bounded here (MAX_*_CHARS),
a malformed value drops that value (or its item), only the newest `max_items` entries are
read, and what was left out is said in the outcome's `notes`.

Speed (bench/parse.py): feedparser's own SAX handler does all the feed semantics, but feedxml
drives expat itself (as xml.sax's expatreader would, with text buffered), holds back the
elements whose values we never read, and runs the handler with cheaper equivalents of its
hottest methods, so feedparser's per-element work is spent on the fields we keep.
"""

from __future__ import annotations

import codecs
import hashlib
import heapq
import html
import logging
import re
import xml.sax
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import partial
from html.entities import html5 as html5_entities
from html.entities import name2codepoint
from typing import Any
from urllib.parse import quote, urljoin, urlsplit
from xml.parsers import expat

import feedparser
import nh3

from digest import feedxml
from digest.models import FeedOutcome, FeedStatus, Item

try:  # feedparser.parse() in pieces; stable through 6.0.x (pyproject pins <7)
    from feedparser.api import LooseFeedParser, StrictFeedParser
    from feedparser.datetimes import _parse_date
    from feedparser.encodings import convert_to_utf8
    from feedparser.exceptions import CharacterEncodingOverride, CharacterEncodingUnknown
    from feedparser.sanitizer import replace_doctype
except ImportError:  # pragma: no cover - another feedparser layout: use feedparser.parse()
    StrictFeedParser = None

log = logging.getLogger(__name__)

# Every field we show is bounded here, at parse time (issue 17: one item with a 9 MB title
# emptied a whole edition): text is cut at a word with an ellipsis, a URL over its cap is dropped.
MAX_TITLE_CHARS = 300
MAX_SUMMARY_CHARS = 4000  # we show 1-3 sentences; keep the store lean
MAX_NAME_CHARS = 200  # an author, a feed's own title
MAX_URL_CHARS = 2048  # a longer URL is dropped, never cut: a cut URL leads somewhere else
MAX_ITEMS = 500  # entries read from one feed per poll, the newest (fetch.max_items)
# nh3 is given a prefix of a long fragment's HTML first (cleaned after the cut, so a cut tag or
# entity is dropped or left as text, never markup): _PREFIX_FACTOR times the text wanted, then
# _PREFIX_FACTOR times more while that yields too little text, so a 9 MB field costs about
# what its first few thousand characters cost.
_PREFIX_FACTOR = 4
_CLEAN_PREFIX_CHARS = _PREFIX_FACTOR * MAX_SUMMARY_CHARS  # a summary's first prefix
_CUT_MARGIN = 64  # the end of a cut prefix's text may be a half entity or word: never kept
_BLOCK_TAGS = re.compile(
    r"<\s*/?\s*(?:br|p|div|li|ul|ol|h[1-6]|tr|td|blockquote|section|article|figure|figcaption)"
    r"\b[^<>]*>",  # not [^>]*: "<p<p<p..." with no ">" would be quadratic
    re.IGNORECASE,
)
_SPACES = re.compile(r"\s+")
_UTF8 = ("utf-8", "utf8", "utf_8")


def html_to_text(fragment: str | None, limit: int | None = None) -> str:
    """Untrusted HTML -> plain text: tags (and script/style contents) gone, entities decoded,
    entity references nobody expanded ("&lol9;" from an entity bomb) dropped.

    With `limit`, the text is cut to at most `limit` characters (cut_text: at a word, with an
    ellipsis), and only a prefix of a long fragment is cleaned: the fragment is cut first and
    the cut is cleaned (never the other way round, so a cut tag, script or comment is dropped by
    nh3, never left as markup). An HTML parser reads left to right, so the prefix's text is the
    whole text's beginning but for its last few characters (a cut word or entity): used only if
    it has _CUT_MARGIN to spare, else a prefix _PREFIX_FACTOR times longer is tried, and at
    last the whole fragment.
    """
    if not fragment:
        return ""
    clean = _plain if "<" not in fragment and "&" not in fragment else _clean
    if limit is None:
        return clean(fragment)
    size = _PREFIX_FACTOR * max(limit, 1000)
    while len(fragment) > size:
        text = clean(fragment[:size])
        if len(text) >= limit + _CUT_MARGIN:
            return cut_text(text, limit)
        size *= _PREFIX_FACTOR
    return cut_text(clean(fragment), limit)


def cut_text(text: str, limit: int) -> str:
    """`text` when it has at most `limit` characters, else its beginning cut at a word (inside
    one only when a single word fills more than half the limit) with an ellipsis, `limit`
    characters at most in all."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    if not text[limit - 1].isspace():  # the cut splits a word: back to the space before it
        space = cut.rfind(" ")
        if space > limit // 2:
            cut = cut[:space]
    return cut.rstrip(_CUT_TRAIL) + "…"


_CUT_TRAIL = " ,;:-\u2013\u2014"  # "word, …" reads as "word…"


def _clean(fragment: str) -> str:
    # Block-level tags become spaces so "<p>a</p><p>b</p>" reads "a b", not "ab".
    text = html.unescape(_nh3_text(_BLOCK_TAGS.sub(" ", fragment)))
    if "&" in text:
        text = _ENTITY_REF.sub(_known_entity, text)
    return _plain(text)


# An entity reference still there after unescaping is one HTML does not know: one the feed's DTD
# declared and feedparser refused to expand (an entity bomb's "&lol9;", an external "&xxe;").
# A known one was written escaped ("&amp;amp;") and is the publisher's text: kept.
_ENTITY_REF = re.compile(r"&[A-Za-z][A-Za-z0-9._-]*;")


def _known_entity(match: re.Match[str]) -> str:
    return match.group(0) if match.group(0)[1:] in html5_entities else ""


def _plain(text: str) -> str:
    """Whitespace collapsed; control characters, and the bidirectional overrides that make
    "\u202efdp.exe" read as "exe.pdf", replaced: never shown to a reader as they are."""
    if not text.isascii() or _CONTROLS_ASCII.search(text):
        text = _CONTROLS.sub(" ", text)
    # str.split() and re's \s agree on whitespace (both Py_UNICODE_ISSPACE); split is faster.
    return " ".join(text.split())


_CONTROLS_ASCII = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Characters a URL cannot hold as they are (quotes, angle brackets, non-ASCII) are
# percent-encoded, so a link can close no attribute and no "<URL>" in the text part
# (whitespace and controls are not encoded: such a URL is refused, see safe_url).
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"


# No tags allowed, so attributes, URL schemes and rel are moot; one Cleaner built once (nh3's
# clean() converts its arguments into a new ammonia builder on every call, half its cost).
_nh3_text: Callable[[str], str] = (
    nh3.Cleaner(tags=set(), attributes={}, link_rel=None).clean if hasattr(nh3, "Cleaner")
    else partial(nh3.clean, tags=set()))  # nh3 before 0.2.18


def safe_url(link: str | None, base: str = "") -> str | None:
    """The absolute http(s) URL `link` names, resolved against `base`, or None; never raises.

    Every URL a feed gives us (item link, guid as link, pictures, the channel's link as a base)
    comes through here (issue 17: urlsplit's ValueError on "http://example.com]" failed a whole
    feed). None for: another scheme, no host, a port that is not one, whitespace or control
    characters inside, more than MAX_URL_CHARS (dropped, not cut), anything urllib cannot parse.
    Characters a URL cannot hold as they are (quotes, angle brackets, non-ASCII) are
    percent-encoded.
    """
    if not link:
        return None
    link = link.strip()
    # Checked before urljoin, which silently deletes tabs and newlines ("exa\tmple.com").
    if not link or len(link) > MAX_URL_CHARS or _unfit(link):
        return None
    try:
        url = urljoin(base, link) if base else link
        if base and _unfit(url):
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        _ = parts.port  # ValueError for a port that is not a number in 0-65535
        if not url.isascii() or any(c in url for c in '"<>\\^`{|}'):
            url = quote(url, safe=_URL_SAFE)
    except (ValueError, UnicodeError):
        return None
    return url if len(url) <= MAX_URL_CHARS else None


def _unfit(url: str) -> bool:
    """Whether `url` holds a character no URL we keep may hold (see _NOT_IN_URL)."""
    if url.isascii() and url.isprintable() and " " not in url:  # the usual case, fast
        return False
    return _NOT_IN_URL.search(url) is not None


# Never in a URL we keep: whitespace (Unicode's too), C0/C1 controls, zero-width and
# bidirectional formatting characters, lone surrogates, the BOM.
_NOT_IN_URL = re.compile(
    r"[\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufeff]")


def _entry_date(entry: dict[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        # dict.get: FeedParserDict would alias a missing updated_parsed to published_parsed,
        # with a DeprecationWarning (feedparser issue 310).
        parsed = dict.get(entry, key)
        if parsed:
            try:
                return datetime(*parsed[:6]).replace(tzinfo=UTC)
            except (TypeError, ValueError, OverflowError):
                continue
    return None


def _text_date(texts: Iterable[str | None]) -> datetime | None:
    """The first of an entry's published, updated and created texts that reads as a date
    (feedxml's thin entries: only for choosing the newest). RFC 822 and ISO 8601 are read by
    the standard library, anything else by feedparser's date handlers."""
    for text in texts:
        text = (text or "").strip()
        if not text or len(text) > 200:  # no date is longer: not worth feedparser's regexes
            continue
        when: datetime | None
        try:
            when = (datetime.fromisoformat(text) if text[:1].isdigit()
                    else parsedate_to_datetime(text))
        except (TypeError, ValueError, IndexError, OverflowError):
            when = _entry_date({"published_parsed": _parse_date(text)})
        if when is None:
            continue
        try:
            return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        except OverflowError:  # an offset that takes year 1 or 9999 out of range
            continue
    return None


class _ContentSkipped(Exception):
    """An entry whose content we did not parse needs it after all (its summary is blank)."""


def _entry_summary(entry: dict[str, Any], content_skipped: bool) -> str:
    text = html_to_text(dict.get(entry, "summary"), MAX_SUMMARY_CHARS)
    if not text:
        if content_skipped:
            raise _ContentSkipped
        for content in dict.get(entry, "content") or ():
            text = html_to_text(content.get("value"), MAX_SUMMARY_CHARS)
            if text:
                break
    return text


def parse_feed(url: str, body: bytes, *, content_type: str | None = None,
               max_items: int = MAX_ITEMS) -> FeedOutcome:
    """Parse one feed document; the outcome is an error when nothing usable came out of it.
    Of a feed with more than `max_items` entries, only the newest `max_items` are read."""
    if not body.strip():
        return FeedOutcome(url, FeedStatus.ERROR, error="empty response (0 bytes of feed)")
    parsed = _parse(body, content_type, skip_content=True, max_items=max_items)
    try:
        return _outcome(url, body, parsed)
    except _ContentSkipped:
        return _outcome(url, body, _parse(body, content_type, skip_content=False,
                                          max_items=max_items))


def _outcome(url: str, body: bytes, parsed: _Parsed) -> FeedOutcome:
    entries = parsed.entries
    if not entries:
        head = body[:2048].lstrip().lower()
        if not parsed.version and (
                head.startswith((b"<!doctype html", b"<html")) or b"<html" in head):
            return FeedOutcome(url, FeedStatus.ERROR, error="not a feed (an HTML page)")
        if not parsed.version and b"<" not in head:  # a maintenance notice, JSON, plain text
            return FeedOutcome(url, FeedStatus.ERROR, error="not a feed (no XML markup)")
        if parsed.error or (parsed.encoding_note and not parsed.version):
            return FeedOutcome(url, FeedStatus.ERROR, error=parsed.error_message())
        if not parsed.version:
            return FeedOutcome(url, FeedStatus.ERROR, error="not a feed (unrecognised format)")
    feed = parsed.feed
    feed_title = html_to_text(dict.get(feed, "title"), MAX_NAME_CHARS) or None
    # Relative links resolve against the feed's URL; a local file has none that a reader
    # could follow, so its channel <link> stands in (when it is a usable URL itself).
    base = url if url[:8].lower().startswith(("http://", "https://")) else (
        safe_url(dict.get(feed, "link")) or "")
    dropped = _Dropped()
    items = _items(url, base, entries, parsed.content_skipped, parsed.images, dropped)
    if not items:
        if parsed.error:
            return FeedOutcome(url, FeedStatus.ERROR, error=parsed.error_message())
        return FeedOutcome(url, FeedStatus.ERROR,
                           error=f"no usable items: {len(entries)} entries, none with a title "
                                 "and an http(s) link")
    if parsed.error or parsed.encoding_note:
        log.info("%s: parsed despite %s", url, parsed.error_message())
    notes = dropped.notes()
    if parsed.entries_total > len(entries):
        notes = (f"kept the newest {len(entries):,} of {parsed.entries_total:,} items", *notes)
    if notes:
        log.info("%s: %s", url, "; ".join(notes))
    return FeedOutcome(url, FeedStatus.OK, items=tuple(items), title=feed_title, ttl=_ttl(feed),
                       notes=notes)


def _ttl(feed: dict[str, Any]) -> timedelta | None:
    """RSS 2.0 <ttl>: minutes the channel may be cached before it is polled again."""
    try:
        minutes = float(dict.get(feed, "ttl") or 0)
        return timedelta(minutes=minutes) if minutes > 0 else None
    except (TypeError, ValueError, OverflowError):  # "soon", "1e999"
        return None


@dataclass
class _Dropped:
    """What one feed's entries lost to values we could not use: said in its status line."""

    no_link: int = 0  # entries without a usable http(s) link: no item
    unreadable: int = 0  # entries a value of which could not be read at all: no item
    bad_urls: int = 0  # malformed picture URLs left out of an item

    def notes(self) -> tuple[str, ...]:
        notes = []
        if self.no_link:
            notes.append(f"{_count(self.no_link, 'item')} dropped: no usable link")
        if self.unreadable:
            notes.append(f"{_count(self.unreadable, 'item')} dropped: unreadable")
        if self.bad_urls:
            notes.append(f"{_count(self.bad_urls, 'bad URL')} dropped")
        return tuple(notes)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _items(feed_url: str, base: str, entries: Iterable[dict[str, Any]],
           content_skipped: set[int], images: dict[int, list[dict[str, str]]],
           dropped: _Dropped) -> list[Item]:
    items = []
    for index, entry in enumerate(entries):
        try:
            item = _item(feed_url, base, entry, index in content_skipped, images.get(index),
                         dropped)
        except _ContentSkipped:
            raise
        except Exception:  # one entry we cannot read never fails its feed (issue 17)
            log.debug("%s: entry %d unreadable", feed_url, index, exc_info=True)
            dropped.unreadable += 1
            continue
        if item is not None:
            items.append(item)
    return items


def _item(feed_url: str, base: str, entry: dict[str, Any], content_skipped: bool,
          pictures: list[dict[str, str]] | None, dropped: _Dropped) -> Item | None:
    guid = (dict.get(entry, "id") or "").strip() or None
    link = dict.get(entry, "link")
    if not link and guid and dict.get(entry, "guidislink"):
        link = guid
    url = safe_url(link, base)
    if url is None:
        log.debug("%s: skipping entry without a usable http(s) link: %.200r", feed_url, link)
        dropped.no_link += 1
        return None
    title = html_to_text(dict.get(entry, "title"), MAX_TITLE_CHARS)
    summary = _entry_summary(entry, content_skipped)
    if not title and not summary:
        return None
    if guid is not None and len(guid) > MAX_URL_CHARS:
        # Identity only, never shown: a digest of an absurd one (dedupe.item_key reads it).
        guid = "sha256:" + hashlib.sha256(guid.encode("utf-8", "replace")).hexdigest()
    return Item(
        feed_url=feed_url,
        key="",  # assigned by the app from dedupe.item_key
        url=url,
        title=title or summary[:80],
        summary=summary,
        published=_entry_date(entry),
        guid=guid,
        author=html_to_text(dict.get(entry, "author"), MAX_NAME_CHARS) or None,
        image=_entry_image(entry, pictures, base, dropped),
    )


def _entry_image(entry: dict[str, Any], pictures: list[dict[str, str]] | None,
                 base: str, dropped: _Dropped) -> str | None:
    """The entry's thumbnail: media:thumbnail, else an image media:content, else an image
    enclosure. Only https (an email must not load http), never a declared 1x1 or other tiny
    image, nor one whose declared file size is that of a tracking pixel. A malformed URL is
    counted in `dropped`.

    `pictures` are the attributes feedxml read while holding those elements back from
    feedparser; after the loose parser, feedparser's own keys are read instead."""
    candidates: list[dict[str, Any]] = []
    if pictures is not None:  # media:thumbnail first, then pictures among the others
        candidates.extend(p for p in pictures if p["element"] == "thumbnail")
        candidates.extend(p for p in pictures if p["element"] != "thumbnail" and _is_image(p))
    else:
        candidates.extend(dict.get(entry, "media_thumbnail") or [])
        candidates.extend(c for c in dict.get(entry, "media_content") or [] if _is_image(c))
        candidates.extend(link for link in dict.get(entry, "links") or []
                          if link.get("rel") == "enclosure" and _is_image(link))
    for candidate in candidates:
        raw = candidate.get("url") or candidate.get("href")
        url = safe_url(raw, base)
        if url is None:
            dropped.bad_urls += bool(raw)
            continue
        if not url.startswith("https://"):
            continue
        sizes = [_number(candidate.get("width")), _number(candidate.get("height"))]
        if any(v is not None and v < _MIN_IMAGE_PX for v in sizes):
            continue
        length = _number(candidate.get("length") or candidate.get("filesize")
                         or candidate.get("fileSize"))
        if length is not None and length < _MIN_IMAGE_BYTES:
            continue  # a 43-byte GIF is a pixel, not a picture
        return url
    return None


def _number(value: object) -> int | None:
    """A declared size as a number, or None when it is none we can read ("²" is a digit to
    str.isdigit, and int() refuses 5,000 of them): a huge one is no tiny picture either."""
    text = str(value).strip() if value else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 16 else None


def _is_image(attrs: dict[str, Any]) -> bool:
    """A media:content or enclosure (RSS or Atom) that is a picture."""
    if attrs.get("rel", "enclosure") != "enclosure":
        return False
    return attrs.get("medium") == "image" or str(attrs.get("type", "")).startswith("image/")


_MIN_IMAGE_PX = 32
_MIN_IMAGE_BYTES = 2048


# --- feedparser.parse(), our way ---
#
# feedparser.parse(bytes) = convert_to_utf8 (encoding detection) + replace_doctype + its SAX
# handler on expat, falling back to its sgmllib-based loose parser when the XML is malformed.
# We make the same calls (tests/test_parse.py checks the items against feedparser.parse() on
# every corpus file), with these differences:
# 1. no sanitizer or relative-URI resolution inside HTML (we clean title/summary ourselves) and
#    no base URI, so relative guids stay as the publisher wrote them;
# 2. expat is driven by feedxml.py, as xml.sax's expatreader would, but with text buffered: one
#    characters() call per text node instead of one per line and per entity, and the handler's
#    hottest methods replaced by cheaper ones that give the same values for the fields we read
#    (tests/test_parse.py compares with feedparser's own handler on every corpus file);
# 3. (feedxml.py) elements we never read (categories, media thumbnails and credits, enclosures,
#    comment links, channel description/image/...) are not handed to feedparser when leaves,
#    and an entry's full-text content is not handed over when the entry already has a summary
#    (we show the summary; if it turns out blank, the document is parsed again with content);
# 4. malformed XML whose error is a bare "&" or an HTML entity is mended and parsed strictly
#    again before falling back to the loose parser (same items, a third of the time);
# 5. the encoding: bytes that are valid UTF-8 are read as UTF-8 whatever they declare, a UTF-8
#    document with some windows-1252 bytes is read character by character, not wholesale as
#    windows-1252, and a UTF-16/32 byte-order mark wins over a missing declaration;
# 6. error line numbers are the document's own (convert_to_utf8 may add a declaration line);
# 7. of a document with more than `max_items` entries (issue 17: 100,000 of them took 130 s),
#    feedparser sees whole only the first `max_items` and the dates of the rest (feedxml); when
#    some of the rest are newer, a second pass hands over whole exactly the newest.


@dataclass
class _Parsed:
    """What we keep of feedparser's result."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    feed: dict[str, Any] = field(default_factory=dict)
    version: str = ""
    error: Exception | None = None  # why the strict parse failed (bozo_exception)
    encoding_note: str = ""  # "declared utf-8 but the bytes are not valid utf-8", say
    content_skipped: set[int] = field(default_factory=set)  # entry indexes
    images: dict[int, list[dict[str, str]]] = field(default_factory=dict)  # from feedxml
    line_offset: int = 0  # add to expat's line numbers to get the document's
    entries_total: int = 0  # entries in the document; more than `entries` when capped

    def error_message(self) -> str:
        exc = self.error
        if isinstance(exc, xml.sax.SAXParseException):
            message = (f"XML error at line {exc.getLineNumber()}, column "
                       f"{exc.getColumnNumber()}: {exc.getMessage()}")
        elif isinstance(exc, expat.ExpatError):
            message = (f"XML error at line {exc.lineno + self.line_offset}, column {exc.offset}: "
                       f"{expat.ErrorString(exc.code)}")
        elif exc is not None:
            message = f"XML error: {_SPACES.sub(' ', str(exc)).strip() or type(exc).__name__}"
        else:
            message = "malformed feed"
        if self.encoding_note:
            return f"encoding: {self.encoding_note}; {message}" if exc else \
                f"encoding: {self.encoding_note}"
        return message


def _parse(body: bytes, content_type: str | None, *, skip_content: bool,
           max_items: int = MAX_ITEMS) -> _Parsed:
    if StrictFeedParser is None:  # pragma: no cover
        return _newest_only(_parse_with_feedparser(body, content_type), max_items)
    line_offset = 0
    if body[:1].isspace() and (stripped := body.lstrip()).startswith(b"<?xml"):
        # Whitespace before the XML declaration hides it from feedparser's encoding detection
        # and makes expat fail ("XML declaration not at start"): drop it, keep line numbers.
        line_offset = body[:len(body) - len(stripped)].count(b"\n")
        body = stripped
    headers = {"content-type": content_type} if content_type else {}
    result: dict[str, Any] = {}
    data = convert_to_utf8(headers, body, result)
    note = ""
    override = _utf8_override(body, result.get("encoding") or "", content_type)
    if override is not None:
        data, note = override
        result = {"encoding": "utf-8"}
    elif b"\x00" in body[:1024] and _ascii_compatible(result.get("encoding") or ""):
        # UTF-16/32 without a byte-order mark or "<?xml": expat stops at the first NUL.
        note = (f"declared {_declared(body, content_type) or 'utf-8'} but the bytes contain NUL "
                "(UTF-16 or UTF-32 without a byte-order mark?)")
    elif isinstance(result.get("bozo_exception"),
                    CharacterEncodingOverride | CharacterEncodingUnknown):
        note = _encoding_note(body, content_type, result.get("encoding") or "")
    if _declaration_missing(body, result.get("encoding") or "utf-8"):
        line_offset -= 1  # convert_to_utf8 put a declaration line in front
    version, data, entities = replace_doctype(data)
    parsed = _Parsed(version=version or "", encoding_note=note, line_offset=line_offset)
    driver: feedxml.Driver | None = None
    if result.get("encoding"):
        driver, parsed.error = feedxml.strict_parse(data, skip_content, max_items)
        strict = data
        if parsed.error is not None and _repairable(parsed.error):
            # Bare "&" and HTML entities are the commonest breakage: mended, the document
            # still goes through the strict parser (a third of the loose parser's time).
            strict = _repair(data)
            driver, _ = feedxml.strict_parse(strict, skip_content, max_items)
        if driver is not None and driver.entries_seen > max_items:
            dates = [_entry_date(e) for e in driver.h.entries]
            dates += [_text_date(texts) for texts in driver.thin_dates]
            keep = _newest(dates, max_items)
            if keep != set(range(max_items)):  # some of the newest came after the first ones
                driver, _ = feedxml.strict_parse(strict, skip_content, max_items, keep=keep)
    if driver is not None:
        handler = driver.h
        parsed.content_skipped = driver.content_skipped
        parsed.images = driver.images
        parsed.entries_total = driver.entries_seen
    else:
        handler = LooseFeedParser("", None, "utf-8", entities)
        handler.resolve_relative_uris = handler.sanitize_html = False
        handler.feed(data.decode("utf-8", "replace"))
    parsed.entries = handler.entries
    parsed.feed = handler.feeddata
    parsed.version = parsed.version or handler.version or ""
    return parsed if driver is not None else _newest_only(parsed, max_items)


_LATEST = datetime.max.replace(tzinfo=UTC)


def _newest(dates: list[datetime | None], count: int) -> set[int]:
    """The indexes of the `count` newest entries: the dated ones, newest first, then the
    undated ones; document order breaks ties (a feed lists its newest first)."""
    def age(index: int) -> tuple[int, timedelta, int]:
        when = dates[index]
        return (0, _LATEST - when, index) if when is not None else (1, timedelta(0), index)

    return set(heapq.nsmallest(count, range(len(dates)), key=age))


def _newest_only(parsed: _Parsed, max_items: int) -> _Parsed:
    """`parsed` with only its newest `max_items` entries, in document order (after the loose
    parser, which read them all)."""
    parsed.entries_total = len(parsed.entries)
    if len(parsed.entries) > max_items:
        keep = _newest([_entry_date(e) for e in parsed.entries], max_items)
        parsed.entries = [e for n, e in enumerate(parsed.entries) if n in keep]
    return parsed


_MENDABLE = frozenset({expat.errors.codes[expat.errors.XML_ERROR_INVALID_TOKEN],
                       expat.errors.codes[expat.errors.XML_ERROR_UNDEFINED_ENTITY]})
_AMPERSANDS = re.compile(
    # An unclosed CDATA section or comment runs to the end (\Z): one scan, never one per "<!".
    rb"<!\[CDATA\[.*?(?:\]\]>|\Z)|<!--.*?(?:-->|\Z)"
    rb"|&(#[0-9]+;|#[xX][0-9a-fA-F]+;|[A-Za-z][A-Za-z0-9]*;)?",
    re.DOTALL)
_XML_ENTITIES = frozenset({b"amp;", b"lt;", b"gt;", b"quot;", b"apos;"})


def _repairable(exc: Exception) -> bool:
    return isinstance(exc, expat.ExpatError) and exc.code in _MENDABLE


def _repair(data: bytes) -> bytes:
    """A bare "&" becomes "&amp;" and an HTML entity its character reference, outside CDATA
    sections and comments; an entity the document declares itself is left alone."""
    declares = b"<!ENTITY" in data[:4096]

    def mend(m: re.Match[bytes]) -> bytes:
        whole = m.group(0)
        if not whole.startswith(b"&"):
            return whole  # CDATA or comment
        ref = m.group(1)
        if ref is None:
            return b"&amp;"
        if ref[:1] == b"#" or ref in _XML_ENTITIES or declares:
            return whole
        codepoint = name2codepoint.get(ref[:-1].decode("ascii"))
        return b"&#%d;" % codepoint if codepoint else whole

    return _AMPERSANDS.sub(mend, data)


def _parse_with_feedparser(body: bytes, content_type: str | None) -> _Parsed:  # pragma: no cover
    headers = {"content-type": content_type} if content_type else {}
    result = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False,
                              response_headers=headers)
    return _Parsed(entries=result.get("entries") or [], feed=result.get("feed") or {},
                   version=result.get("version") or "",
                   error=result.get("bozo_exception") if result.get("bozo") else None)


_XML_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)


def _declared(body: bytes, content_type: str | None) -> str:
    """The encoding the server or the document claims (the HTTP charset wins), lower case."""
    if content_type and (charset := _CHARSET.search(content_type)):
        return charset.group(1).lower()
    declared = _XML_DECLARED.match(body[:512])
    return declared.group(1).decode("ascii").lower() if declared else ""


def _utf8_override(body: bytes, chosen: str, content_type: str | None) -> tuple[bytes, str] | None:
    """UTF-8 bytes for a document feedparser would misread, with a note saying why, or None.

    - Valid UTF-8 with non-ASCII bytes is UTF-8, whatever it declares: text in latin-1 or a
      legacy CJK encoding practically never forms valid multi-byte UTF-8 sequences by chance.
      (No NUL bytes: those mean UTF-16/32, which feedparser detects itself.)
    - Declared UTF-8 (or nothing) but not valid UTF-8: feedparser would read the whole document
      as windows-1252, garbling every correct UTF-8 character; we keep the valid UTF-8 sequences
      and read only the bytes that are not as windows-1252.
    """
    for bom, encoding in _BOMS:
        if body.startswith(bom) and _ascii_compatible(chosen):
            # feedparser trusts a declaration (or its UTF-8 default) over a UTF-16/32 BOM.
            text = body[len(bom):].decode(encoding, "replace")
            return _with_utf8_declaration(text), f"declared {chosen} but the bytes are " \
                f"{encoding} (byte-order mark)"
    if chosen.lower() in _UTF8 or b"\x00" in body:
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        if not _ascii_compatible(chosen) and body.lstrip()[:1] == b"<":
            # "<" came through as one byte: the declared UTF-16/32 or EBCDIC cannot be right.
            text = body.decode("windows-1252", "replace")
            return _with_utf8_declaration(text), f"declared {chosen} but the bytes are not " \
                f"{chosen} (read as windows-1252)"
        if chosen != "windows-1252" or _declared(body, content_type) not in ("", *_UTF8):
            return None
        text = body.decode("utf-8", "surrogateescape").translate(_STRAY_BYTES)
        note = f"declared {_declared(body, content_type) or 'utf-8'} but the bytes are not " \
               "valid utf-8 (stray bytes read as windows-1252)"
    else:
        if body.isascii() and _ascii_compatible(chosen):
            return None
        note = f"declared {chosen} but the bytes are utf-8"
    if text.startswith("\ufeff"):
        text = text[1:]
    return _with_utf8_declaration(text), note


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def _declaration_missing(body: bytes, encoding: str) -> bool:
    try:
        head = body[:64].decode(encoding, "ignore")
    except LookupError:
        head = body[:64].decode("utf-8", "ignore")
    return not head.lstrip("\ufeff").startswith("<?xml")


def _ascii_compatible(encoding: str) -> bool:
    try:
        return b"<?xml".decode(encoding) == "<?xml"
    except (LookupError, UnicodeDecodeError):
        return False


_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*?\?>")


def _with_utf8_declaration(text: str) -> bytes:
    # What convert_to_utf8 does after decoding: the declaration must not contradict the bytes.
    declaration = "<?xml version='1.0' encoding='utf-8'?>"
    text, n = _XML_DECLARATION.subn(declaration, text, count=1)
    return (text if n else declaration + "\n" + text).encode("utf-8")


# surrogateescape turns an undecodable byte b into U+DC00+b: map those to windows-1252
# (bytes windows-1252 leaves undefined become U+FFFD).
_STRAY_BYTES = {
    0xDC00 + b: bytes([b]).decode("windows-1252", "replace") for b in range(0x80, 0x100)
}


def _encoding_note(body: bytes, content_type: str | None, chosen: str) -> str:
    declared = _declared(body, content_type) or "utf-8"
    if declared == chosen.lower() or (declared in _UTF8 and chosen.lower() in _UTF8):
        return ""
    try:
        "".encode(declared)
    except LookupError:
        problem = f"declared {declared}, an unknown encoding"
    else:
        problem = f"declared {declared} but the bytes are not valid {declared}"
    return f"{problem} (read as {chosen})" if chosen else problem
