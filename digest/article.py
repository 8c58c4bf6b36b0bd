"""Read one web page an editor adds to an edition (`digest edit add URL`) as an `Article`: its
title, summary, picture, date and link, the way a feed item is read. Nothing is stored and no
clock is read; the page is parsed by the standard library's html.parser (no browser, no
script ever runs).

A page is hostile input (issue 17), so: every field is plain text (parse.html_to_text) cut to
its bound; links come out http(s) only and the picture https only (parse.safe_url); the
canonical link is believed only on the page's own site; nothing inside <script>, <style>,
<noscript> or <template> ever counts as text; only the first megabyte is read, and JSON-LD is
parsed within bounds. What is not a web page (a feed, a PDF, JSON) is an ArticleError, not a
guess. The download itself is fetch.fetch_page's: its refusals are FetchErrors.
"""

from __future__ import annotations

import codecs
import html
import json
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from itertools import chain
from urllib.parse import SplitResult, urlsplit

from digest.errors import DigestError
from digest.fetch import FetchLimits, fetch_page
from digest.parse import MAX_NAME_CHARS, MAX_TITLE_CHARS, cut_text, html_to_text, safe_url

MAX_ARTICLE_URL_CHARS = 2000  # what an editor may type; a longer one is refused
MAX_ARTICLE_SUMMARY_CHARS = 1000
_MAX_PARSE_BYTES = 1024 * 1024  # the rest of a page is never read
_MIN_PARAGRAPH_CHARS = 80  # a shorter first paragraph is a byline or a caption, not a summary
_MAX_FIELD_CHARS = 8000  # raw text kept for one field (a title, a paragraph, a meta value)
_MAX_META = 256  # distinct meta names kept
_MAX_JSON_LD = 8  # JSON-LD scripts read, each at most _MAX_JSON_LD_CHARS
_MAX_JSON_LD_CHARS = 256 * 1024
_MAX_JSON_NODES = 10_000  # values visited looking for datePublished in one script
_PIECE_CHARS = 64 * 1024  # the parser is fed this much at a time (see _PageReader.read)


@dataclass(frozen=True, slots=True)
class Article:
    """One web page read as a story: plain text, bounded, links already checked."""

    url: str  # the canonical URL when the page names one on its own site, else the final URL
    title: str  # plain text, one line, at most MAX_TITLE_CHARS
    summary: str  # plain text, at most MAX_ARTICLE_SUMMARY_CHARS; '' when there is none
    image: str | None  # https only
    published: datetime | None  # UTC
    site_name: str | None  # og:site_name or application-name


class ArticleError(DigestError):
    """A page that cannot be added as an article; one line naming the URL and the problem."""

    def __init__(self, url: str, problem: str) -> None:
        self.url = url
        super().__init__(f"{_shown(url)}: {problem}")


def _shown(url: str) -> str:
    """A URL as a message may show it: control characters escaped, bounded."""
    if not url.isprintable():
        url = url.encode("unicode_escape").decode("ascii")
    return url if len(url) <= 300 else url[:299] + "…"


def fetch_article(url: str, limits: FetchLimits = FetchLimits()) -> Article:
    """Download the page at `url` (as an editor typed it) and read it. ArticleError for a URL
    that is not http(s) with a host, holds credentials or is over MAX_ARTICLE_URL_CHARS, or a
    page that is no article; FetchError (fetch_page) when it cannot be downloaded."""
    url = url.strip()
    problem = _url_problem(url)
    if problem:
        raise ArticleError(url, problem)
    page = fetch_page(url, limits)
    return parse_article(page.url, page.body, page.content_type)


def _url_problem(url: str) -> str | None:
    if len(url) > MAX_ARTICLE_URL_CHARS:
        return f"URL too long ({len(url):,} characters, at most {MAX_ARTICLE_URL_CHARS:,})"
    if not url.isprintable() or " " in url:
        return "not a URL: spaces or control characters in it"
    try:
        parts = urlsplit(url)
        _ = parts.port  # ValueError for a port that is not one
    except ValueError:
        return "not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        return "only http and https pages can be added"
    if not parts.hostname:
        return "no host in the URL"
    if parts.username is not None or parts.password is not None:
        return "a URL with a user name or password in it is refused"
    if safe_url(url) is None:
        return "not a valid URL"
    return None


def parse_article(url: str, body: bytes, content_type: str | None = None) -> Article:
    """Read the page `body`, found at `url` (after redirects; relative links resolve against
    it), as an Article. ArticleError when it is not a web page or has no title at all."""
    problem = _not_a_page(body, content_type)
    if problem:
        raise ArticleError(url, problem)
    reader = _PageReader()
    reader.read(_decode(body[:_MAX_PARSE_BYTES], content_type))
    meta = reader.meta
    site_name = _first_text((meta.get("og:site_name"), meta.get("application-name")),
                            MAX_NAME_CHARS) or None
    title = _title(reader, site_name)
    if not title:
        raise ArticleError(url, "no title: the page has no og:title, <title> or <h1>")
    final = safe_url(url) or url
    summary = _first_text((meta.get("og:description"), meta.get("twitter:description"),
                           meta.get("description")), MAX_ARTICLE_SUMMARY_CHARS)
    if not summary:
        summary = cut_text(reader.lead or "", MAX_ARTICLE_SUMMARY_CHARS)
    return Article(
        url=_canonical(final, (reader.canonical, meta.get("og:url"))),
        title=title,
        summary=summary,
        image=_image(final, meta),
        published=_published(reader),
        site_name=site_name,
    )


# --- what a page is, and its text -------------------------------------------------------------

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/rdf+xml",
                         "application/feed+json"})
_SNIFFED_TYPES = frozenset({"", "application/octet-stream", "application/xml", "text/xml"})
_FEED_START = re.compile(rb"<(?:rss|feed|rdf:rdf)\b")
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")


def _not_a_page(body: bytes, content_type: str | None) -> str | None:
    """Why `body` is no web page to read (a feed, a PDF, ...), or None for HTML."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    head = body[:2048].lower()
    if media in _FEED_TYPES or (b"<html" not in head and _FEED_START.search(head)):
        return "is an RSS/Atom feed, not an article: add it to feeds.yaml"
    if not body.strip():
        return "empty response (no page)"
    if media in _HTML_TYPES:
        return None
    if media in _SNIFFED_TYPES:  # no type, or one that says little: the bytes decide
        start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if start.startswith(b"%pdf-"):
            media = "application/pdf"
        elif b"<html" in head or b"<!doctype html" in head or (
                not media and start.startswith(b"<")):
            return None
    shown = media if _MEDIA_TYPE.fullmatch(media) else "of an unknown type"
    return f"is {shown}, not a web page"


_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
         (codecs.BOM_UTF16_BE, "utf-16-be"))
_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9._:-]{1,40})""", re.IGNORECASE)
_META_CHARSET = re.compile(
    rb"""<meta\b[^>]{0,512}?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]{1,40})""", re.IGNORECASE)


def _decode(body: bytes, content_type: str | None) -> str:
    """The page's text: a byte-order mark, else the Content-Type's charset, else a <meta>
    charset in the first 4 KB, else UTF-8; bytes that do not decode become U+FFFD."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return body[len(bom):].decode(encoding, "replace")
    declared = _CHARSET.search(content_type or "")
    in_meta = _META_CHARSET.search(body[:4096])
    for label, from_meta in ((declared.group(1) if declared else None, False),
                             (in_meta.group(1).decode("ascii") if in_meta else None, True)):
        codec = _encoding(label, from_meta)
        if codec is None:
            continue
        try:
            return body.decode(codec, "replace")
        except LookupError:  # a codec that is no text encoding ("base64", "rot13")
            continue
    return body.decode("utf-8", "replace")


def _encoding(label: str | None, from_meta: bool) -> str | None:
    """The codec for a charset label, as browsers read labels (WHATWG Encoding): latin-1 and
    ASCII mean windows-1252, and a <meta> that claims UTF-16 was read as ASCII, so UTF-8."""
    if not label:
        return None
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    if name in ("iso8859-1", "ascii"):
        return "cp1252"
    if from_meta and name.startswith(("utf-16", "utf-32")):
        return "utf-8"
    return name


def _text(raw: str | None, limit: int) -> str:
    """Text the parser already decoded (entities and all) as one clean line: escaped again so
    html_to_text strips nothing from it ("a <b> c" written as "a &lt;b&gt; c" stays)."""
    return html_to_text(html.escape(raw, quote=False), limit) if raw else ""


def _first_text(values: tuple[str | None, ...], limit: int) -> str:
    """The first meta value that is text once cleaned. A meta value is HTML-decoded by the
    parser and cleaned as HTML again: publishers leak markup into descriptions."""
    for value in values:
        text = html_to_text(value, limit)
        if text:
            return text
    return ""


# --- the fields ------------------------------------------------------------------------------

_SITE_SEPARATORS = (" | ", " - ", " — ", " – ", " · ")


def _title(reader: _PageReader, site_name: str | None) -> str:
    """og:title, twitter:title, <title>, the first <h1>: the first with text, without a
    trailing " | Site" when that is the site's name."""
    title = (_first_text((reader.meta.get("og:title"), reader.meta.get("twitter:title")),
                         _MAX_FIELD_CHARS)
             or _text(reader.title, _MAX_FIELD_CHARS) or _text(reader.h1, _MAX_FIELD_CHARS))
    if site_name:
        for separator in _SITE_SEPARATORS:
            head, found, tail = title.rpartition(separator)
            if found and head.strip() and tail.strip().casefold() == site_name.casefold():
                title = head.strip()
                break
    return cut_text(title, MAX_TITLE_CHARS)


def _image(base: str, meta: dict[str, str]) -> str | None:
    """The first og:image or twitter:image that is an https URL (resolved against `base`)."""
    for key in ("og:image", "og:image:secure_url", "og:image:url", "twitter:image",
                "twitter:image:src"):
        url = safe_url(meta.get(key), base)
        if url is not None and url.startswith("https://"):
            return url
    return None


def _canonical(final: str, candidates: tuple[str | None, ...]) -> str:
    """<link rel=canonical>, else og:url, when it is http(s) on the page's own site (the same
    host but for a leading "www.", the same explicit port); else the URL the page came from."""
    here = urlsplit(final)
    for candidate in candidates:
        url = safe_url(candidate, final)
        if url is not None and _same_site(here, urlsplit(url)):
            return url
    return final


def _same_site(a: SplitResult, b: SplitResult) -> bool:
    hosts = [(parts.hostname or "").rstrip(".").removeprefix("www.") for parts in (a, b)]
    try:
        return bool(hosts[0]) and hosts[0] == hosts[1] and a.port == b.port
    except ValueError:  # a port that is not one
        return False


def _published(reader: _PageReader) -> datetime | None:
    """article:published_time, itemprop=datePublished, JSON-LD datePublished, the first
    <time datetime>: the first that reads as a date, in UTC."""
    for text in chain((reader.meta.get("article:published_time"), reader.item_published),
                      _json_ld_dates(reader.json_ld), (reader.time,)):
        when = _date(text)
        if when is not None:
            return when
    return None


def _date(text: str | None) -> datetime | None:
    """ISO 8601 (or RFC 2822) as UTC; a date without a zone is taken as UTC."""
    text = (text or "").strip()
    if not text or len(text) > 64:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    try:
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except OverflowError:  # an offset that takes year 1 or 9999 out of range
        return None


def _json_ld_dates(scripts: list[str]) -> Iterator[str]:
    """Every datePublished string in the JSON-LD scripts, shallowest first; a script that is
    not JSON is passed over, and each is searched within _MAX_JSON_NODES values."""
    for script in scripts:
        try:
            data = json.loads(script)
        except (ValueError, RecursionError):
            continue
        queue: deque[object] = deque([data])
        visited = 0
        while queue and visited < _MAX_JSON_NODES:
            node = queue.popleft()
            visited += 1
            if isinstance(node, dict):
                value = node.get("datePublished")
                if isinstance(value, str):
                    yield value
                queue.extend(node.values())
            elif isinstance(node, list):
                queue.extend(node)


# --- the parser ------------------------------------------------------------------------------

_HIDDEN = frozenset({"script", "style", "noscript", "template"})  # never text
_FOREIGN = frozenset({"svg", "math"})  # their <title> is a picture's, not the page's
_MAIN = frozenset({"article", "main"})
_BOILERPLATE = frozenset({"nav", "aside", "footer", "form", "dialog"})
# A start tag that ends an open <p> (HTML's "p end tag implied"), at least the common ones.
_CLOSES_P = frozenset({
    "p", "div", "article", "main", "section", "header", "footer", "aside", "nav", "h1", "h2",
    "h3", "h4", "h5", "h6", "ul", "ol", "dl", "table", "blockquote", "pre", "figure", "form",
    "hr", "address", "details", "fieldset"})


class _PageReader(HTMLParser):
    """Collects what an Article is made of, in one pass: meta values (first of each name),
    the first <title>, <h1>, canonical link and <time datetime>, JSON-LD scripts, and the
    lead paragraph. Text inside hidden elements is never collected."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title: str | None = None
        self.h1: str | None = None
        self.canonical: str | None = None
        self.time: str | None = None
        self.item_published: str | None = None
        self.json_ld: list[str] = []
        self.lead: str | None = None  # the first long <p> of <article>/<main>, else the page's
        self._first_long: str | None = None  # the page's first long <p>, wherever it is
        self._hidden = 0  # depth inside elements whose contents never count
        self._foreign = 0
        self._main = 0
        self._boilerplate = 0
        self._field: str | None = None  # "title", "h1" or "p": where text goes now
        self._parts: list[str] = []
        self._size = 0
        self._p_in_main = False
        self._json: list[str] | None = None  # an open JSON-LD script's text
        self._json_size = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
            if tag == "script" and self._hidden == 1 and _attr(attrs, "type").strip().lower() \
                    == "application/ld+json" and len(self.json_ld) < _MAX_JSON_LD:
                self._json, self._json_size = [], 0
            return
        if self._hidden:
            return
        if tag in _FOREIGN:
            self._foreign += 1
        elif tag in _MAIN:
            self._main += 1
        elif tag in _BOILERPLATE:
            self._boilerplate += 1
        if self._field == "p" and tag in _CLOSES_P:
            self.finish_paragraph()
        elif self._field == "title" and tag == "body":  # an unclosed <title>
            self._end("title")
        if tag == "meta":
            self._meta(attrs)
        elif tag == "link" and self.canonical is None and "canonical" in _attr(
                attrs, "rel").lower().split():
            self.canonical = _attr(attrs, "href") or None
        elif tag == "time" and self.time is None and _attr(attrs, "datetime"):
            self.time = _attr(attrs, "datetime")[:100]
        elif tag == "br":  # "one<br>two" reads "one two"
            self.handle_data(" ")
        elif self._field is None:
            if tag == "title" and self.title is None and not self._foreign:
                self._start("title")
            elif tag == "h1" and self.h1 is None:
                self._start("h1")
            elif tag == "p" and self.lead is None and not self._boilerplate:
                self._start("p")
                self._p_in_main = self._main > 0
        if self.item_published is None and _attr(attrs, "itemprop").lower() == "datepublished":
            self.item_published = (_attr(attrs, "content") or _attr(attrs, "datetime"))[:100]

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:  # "<script/>" opens a script all the same (HTML ignores the "/")
            self.handle_starttag(tag, attrs)
            if tag in self.CDATA_CONTENT_ELEMENTS:
                self.set_cdata_mode(tag)
            return
        super().handle_startendtag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            if self._hidden:
                self._hidden -= 1
            if tag == "script" and self._json is not None:
                if self._json_size <= _MAX_JSON_LD_CHARS:
                    self.json_ld.append("".join(self._json))
                self._json = None
            return
        if self._hidden:
            return
        if tag in _FOREIGN:
            self._foreign = max(0, self._foreign - 1)
        elif tag in _MAIN:
            self._main = max(0, self._main - 1)
        elif tag in _BOILERPLATE:
            self._boilerplate = max(0, self._boilerplate - 1)
        if tag == self._field or (tag == "head" and self._field == "title"):
            if tag == "p":
                self.finish_paragraph()
            else:
                self._end(self._field)

    def handle_data(self, data: str) -> None:
        if self._json is not None:
            self._json_size += len(data)
            if self._json_size <= _MAX_JSON_LD_CHARS:
                self._json.append(data)
        elif not self._hidden and self._field is not None and self._size < _MAX_FIELD_CHARS:
            self._parts.append(data[:_MAX_FIELD_CHARS - self._size])
            self._size += len(self._parts[-1])

    # -- fields

    def _meta(self, attrs: list[tuple[str, str | None]]) -> None:
        key = (_attr(attrs, "property") or _attr(attrs, "name")).strip().lower()
        content = next((value or "" for name, value in attrs if name == "content"), None)
        if key and content is not None and key not in self.meta and len(self.meta) < _MAX_META:
            self.meta[key] = content[:_MAX_FIELD_CHARS]

    def _start(self, field: str) -> None:
        self._field, self._parts, self._size = field, [], 0

    def _end(self, field: str | None) -> None:
        text = "".join(self._parts)
        if field == "title":
            self.title = text
        elif field == "h1":
            self.h1 = text
        self._field, self._parts, self._size = None, [], 0

    def read(self, page: str) -> None:
        """Parse the whole of `page`, then settle the fields still open.

        In pieces, and never close()d: a construct left open (an endless "<!--", a tag with no
        ">") then waits for its end, rescanned once a piece, where close() would read it as
        text one "<" at a time, each time searching the rest for its end (quadratic: minutes
        for a megabyte of "<!--"). A browser reads such a rest as part of the open construct,
        never as text, and so does this."""
        try:
            for start in range(0, len(page), _PIECE_CHARS):
                self.feed(page[start:start + _PIECE_CHARS])
        except AssertionError:  # html.parser's answer to some broken markup: keep what was read
            pass
        self.finish_paragraph()
        if self._field is not None:  # an unclosed <title> or <h1>
            self._end(self._field)
        if self.lead is None:
            self.lead = self._first_long

    def finish_paragraph(self) -> None:
        """Close an open <p>; a long one is the page's lead (one in <article>/<main> first)."""
        if self._field != "p":
            return
        text = _text("".join(self._parts), _MAX_FIELD_CHARS)
        self._field, self._parts, self._size = None, [], 0
        if len(text) < _MIN_PARAGRAPH_CHARS:
            return
        if self._p_in_main:
            self.lead = text
        elif self._first_long is None:
            self._first_long = text


def _attr(attrs: list[tuple[str, str | None]], name: str) -> str:
    """The first value of attribute `name` ('' when absent or bare)."""
    for key, value in attrs:
        if key == name:
            return value or ""
    return ""
