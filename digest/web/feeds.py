"""The archive's machine-readable documents (issue 19): its Atom 1.0 and JSON Feed 1.1 feeds,
the sitemap and robots.txt, as bytes or text; never decides which editions are public (the
caller passes what `digest.archive` gave it), never renders an edition's HTML (the caller's
`content` does), speaks no HTTP and reads nothing.

    atom_feed(settings, editions, content=...)   RFC 4287, UTF-8
    json_feed(settings, editions, content=...)   https://jsonfeed.org/version/1.1
    sitemap([(url, lastmod), ...])               https://www.sitemaps.org/protocol.html (0.9)
    robots_txt(base_url)                         RFC 9309: everything allowed, the sitemap

Markup is built with xml.etree.ElementTree, so every text and attribute is escaped by the
serializer and never pasted into a string: an edition's title can hold `<script>`, `]]>` or a
quote and the documents stay well-formed. Links are absolute (feed readers and crawlers resolve
nothing), so each function needs `web.base_url`.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from urllib.parse import quote, urlsplit

from digest import __version__
from digest.archive import ArchivedEdition
from digest.config import Settings

ATOM_NS = "http://www.w3.org/2005/Atom"
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
MAX_SITEMAP_URLS = 50_000  # sitemaps.org: at most 50,000 URLs (and 50 MB) in one file
MAX_SITEMAP_URL = 2047  # sitemaps.org: "less than 2,048 characters"
LEAD_TITLES = 4  # the summary: the first story of each section, at most this many
# Before there is any edition the feed still needs an <updated> (RFC 4287 4.1.1); the module
# takes no clock, so the empty feed says the epoch rather than a time that changes per request.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# XML 1.0 section 2.2: Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] |
# [#x10000-#x10FFFF]. Anything else (C0 controls, lone surrogates, U+FFFE/U+FFFF) makes the
# document not well-formed, and ElementTree writes it anyway: it is removed here.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# JSON can carry any code point but UTF-8 cannot encode a lone surrogate.
_SURROGATE = re.compile("[\ud800-\udfff]")


def atom_feed(settings: Settings, editions: Sequence[ArchivedEdition], *,
              content: Callable[[ArchivedEdition], str]) -> bytes:
    """The Atom 1.0 feed (RFC 4287) of these editions, in the order given (newest first)."""
    base = _base_url(settings)
    feed = ET.Element("feed", {"xmlns": ATOM_NS, XML_LANG: settings.email.lang})
    _text(feed, "title", settings.title)
    _text(feed, "id", f"{base}/")  # the archive's address: stable while base_url is
    times = [_published(e) for e in editions]
    _text(feed, "updated", _rfc3339(max(times, default=EPOCH)))
    ET.SubElement(feed, "link", {"rel": "self", "type": "application/atom+xml",
                                 "href": f"{base}/feed.atom"})
    ET.SubElement(feed, "link", {"rel": "alternate", "type": "text/html", "href": f"{base}/"})
    # RFC 4287 4.1.1: a feed has an author unless every entry has one; the newsletter is it.
    author = ET.SubElement(feed, "author")
    _text(author, "name", settings.title)
    _text(feed, "generator", "digest", version=__version__)
    for edition, published in zip(editions, times, strict=True):
        entry = ET.SubElement(feed, "entry")
        _text(entry, "title", edition.subject)
        _text(entry, "id", _tag_uri(base, edition.edition.date))
        ET.SubElement(entry, "link", {"rel": "alternate", "type": "text/html",
                                      "href": edition_url(base, edition.edition.date)})
        _text(entry, "published", _rfc3339(published))
        _text(entry, "updated", _rfc3339(published))  # a sent edition never changes
        _text(entry, "summary", _summary(edition))
        _text(entry, "content", content(edition), type="html")  # escaped as text: RFC 4287 3.1.1.2
    return _document(feed)


def json_feed(settings: Settings, editions: Sequence[ArchivedEdition], *,
              content: Callable[[ArchivedEdition], str]) -> bytes:
    """The JSON Feed 1.1 of these editions, in the order given (newest first), UTF-8."""
    base = _base_url(settings)
    items = []
    for edition in editions:
        url = edition_url(base, edition.edition.date)
        when = _rfc3339(_published(edition))
        items.append({
            "id": url,  # JSON Feed 1.1: "ideally, the id is the full URL of the resource"
            "url": url,
            "title": _json_text(edition.subject),
            "content_html": _json_text(content(edition)),
            "summary": _json_text(_summary(edition)),
            "date_published": when,
            "date_modified": when,
        })
    document = {
        "version": JSON_FEED_VERSION,
        "title": _json_text(settings.title),
        "home_page_url": f"{base}/",
        "feed_url": f"{base}/feed.json",
        "language": settings.email.lang,
        "authors": [{"name": _json_text(settings.title)}],
        "items": items,
    }
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")


def sitemap(urls: Sequence[tuple[str, date | None]]) -> bytes:
    """A sitemaps.org 0.9 urlset: each absolute http(s) URL with its last change (a date) when
    known. ValueError for a relative or unusable URL, or more than 50,000 of them (the caller
    splits into a sitemap index then)."""
    if len(urls) > MAX_SITEMAP_URLS:
        raise ValueError(f"{len(urls):,} URLs: a sitemap holds at most {MAX_SITEMAP_URLS:,}")
    urlset = ET.Element("urlset", {"xmlns": SITEMAP_NS})
    for loc, lastmod in urls:
        _check_absolute(loc)
        url = ET.SubElement(urlset, "url")
        _text(url, "loc", loc)
        if lastmod is not None:
            # W3C Datetime; a datetime is a date too, but only its day is meant here
            day = lastmod.date() if isinstance(lastmod, datetime) else lastmod
            _text(url, "lastmod", day.isoformat())
    return _document(urlset)


def robots_txt(base_url: str) -> str:
    """robots.txt (RFC 9309): every crawler may read everything; where the sitemap is."""
    base = base_url.rstrip("/")
    _check_absolute(base)
    return f"User-agent: *\nAllow: /\n\nSitemap: {base}/sitemap.xml\n"


def edition_url(base_url: str, day: date) -> str:
    """Where an edition is on the web: `{base_url}/editions/YYYY-MM-DD/` (the page's own
    address, as the static export writes it; without the slash it is a redirect)."""
    return f"{base_url}/editions/{day.isoformat()}/"


# --- helpers ---


def _base_url(settings: Settings) -> str:
    if settings.web.base_url is None:
        raise ValueError("the archive's feeds need web.base_url: their links are absolute")
    return settings.web.base_url.rstrip("/")


def _published(edition: ArchivedEdition) -> datetime:
    """When the edition went out (its first message), else when it was made."""
    return edition.sent_at or edition.edition.generated_at


def _rfc3339(value: datetime) -> str:
    """RFC 3339 with an offset, in UTC; a naive time is taken to be UTC (the store's)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _tag_uri(base: str, day: date) -> str:
    """The entry's id (RFC 4151): `tag:HOST,YEAR:[PATH/]edition/YYYY-MM-DD`. The tagging date
    is the edition's year, when the archive was at this host; the base URL's path keeps two
    newsletters on one host apart. A host that is not a DNS name (an IPv6 literal) gets the
    edition's URL instead, also a valid and stable atom:id."""
    parts = urlsplit(base)
    host = (parts.hostname or "").lower()
    if not re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", host):
        return edition_url(base, day)
    path = quote(parts.path.strip("/"), safe="/:@!$&'()*+,;=-._~")
    return f"tag:{host},{day.year}:{path + '/' if path else ''}edition/{day.isoformat()}"


def _summary(edition: ArchivedEdition) -> str:
    """The lead stories' titles: the first of each section, in the edition's order."""
    leads = [s.stories[0].title for s in edition.edition.sections if s.stories]
    return " · ".join(leads[:LEAD_TITLES])


def _text(parent: ET.Element, tag: str, value: str, **attributes: str) -> ET.Element:
    """A child element holding `value` as text, made fit for XML 1.0: the characters XML
    cannot carry are removed, and a carriage return becomes a line feed, as any XML parser
    would read it (XML 1.0 section 2.11), so what is written is what a reader gets back."""
    element = ET.SubElement(parent, tag, attributes)
    element.text = _NOT_XML.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
    return element


def _document(root: ET.Element) -> bytes:
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def _json_text(value: str) -> str:
    return _SURROGATE.sub("", value)


def _check_absolute(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {url[:200]!r}")
    if len(url) > MAX_SITEMAP_URL or not url.isprintable() or any(c.isspace() for c in url):
        raise ValueError(f"not a usable URL (too long, a space or a control character): "
                         f"{url[:200]!r}")
