"""Feed XML -> feedparser's entry and feed dicts, fast; it must not change a value parse.py reads.

parse.py's strict parse: expat driven here, as xml.sax's expatreader would, but with text
buffered (one characters() call per text node), the elements whose values we never read held
back, and feedparser's own SAX handler doing all the feed semantics, through _FastStrictParser:
StrictFeedParser with its hottest methods made cheaper where the result for what parse.py reads
(feed title, link, ttl and version; per entry title, link, id, guidislink, summary, content,
published/updated/created dates and author) is provably the same. This module does not decode,
clean, resolve or judge anything itself; parse.py does, on what comes out. Asked for at most N
whole entries, it hands feedparser the first N (or, on a second pass, the N parse.py names)
and of the rest keeps only the raw text of their dates ("thin" entries: feedparser sees none
of their children, and none of them at all once it has begun one of their kind).

The overrides are tied to feedparser 6.0.x internals (pyproject pins <7): another version, or
one missing an attribute they rely on, gets the unmodified StrictFeedParser (tests/test_parse.py
asserts the fast handler is the one in use, and that both give the same outcome on every corpus
file and on feedparser's own test feeds).
"""

from __future__ import annotations

import contextlib
import re
import xml.sax
from typing import Any
from xml.parsers import expat
from xml.sax.saxutils import escape as _escape
from xml.sax.xmlreader import AttributesNSImpl

try:  # stable through 6.0.x (pyproject pins <7)
    import feedparser
    from feedparser.api import StrictFeedParser
    from feedparser.exceptions import UndeclaredNamespace
    from feedparser.html import _cp1252
    from feedparser.mixin import _FeedParserMixin
    from feedparser.util import FeedParserDict
except ImportError:  # pragma: no cover - another feedparser layout: parse.py falls back
    StrictFeedParser = None

_XHTML = "application/xhtml+xml"
# What str.translate(_cp1252) changes (C1 controls read as windows-1252): absent, it is a no-op.
_C1 = re.compile(f"[{''.join(map(chr, _cp1252))}]") if StrictFeedParser else None
_LINK_REFS = re.compile("&([A-Za-z0-9_]+);")


class _FastStrictParser(StrictFeedParser or object):  # type: ignore[misc]
    """feedparser's StrictFeedParser with cheaper equivalents of its hottest methods.

    - pop: feedparser's, less the work that is off or unread for us (base64 and the atom10
      xhtml div unwrapping hand over to feedparser's own): no looks_like_html retyping, no
      KeyError-raising FeedParserDict.get/del, no deepcopy of contentparams (its values are
      str or None: a shallow copy is equal), and the latin-1/UTF-8 repair and windows-1252
      translate only when the text has characters they can change;
    - unknown_starttag: outside content and with no xml:base, no _urljoin("", "");
    - characters/handle_data: dict.get for the content type (FeedParserDict.get raises and
      catches KeyError whenever contentparams is empty, i.e. outside content);
    - resolve_uri: with no base URI, the URI itself unless it has ":///".

    Every shortcut is taken only in the state it was checked for and hands anything else to
    feedparser's own method; `sanitize_html` and `resolve_relative_uris` must be off (the
    driver sets them so), and the strict handler's text pieces are str, never bytes.
    """

    lang: str | None

    def unknown_starttag(self, tag: str, attrs: list[tuple[str, str]]) -> Any:
        attrs = [self._normalize_attributes(attr) for attr in attrs]
        attrs_d = dict(attrs)
        if self.incontent or self.baseuri or attrs_d.get("xml:base", attrs_d.get("base")):
            # inline markup and xml:base: feedparser's own (it normalises attrs again: a no-op)
            return super().unknown_starttag(tag, attrs)
        self.depth += 1
        # No base URI anywhere: feedparser's _urljoin("", "") keeps self.baseuri "".
        lang = attrs_d.get("xml:lang", attrs_d.get("lang"))
        if lang == "":
            lang = None
        elif lang is None:
            lang = self.lang
        if lang and tag in ("feed", "rss", "rdf:RDF"):
            self.feeddata["language"] = lang.replace("_", "-")
        self.lang = lang
        self.basestack.append(self.baseuri)
        self.langstack.append(lang)
        for prefix, uri in attrs:
            if prefix.startswith("xmlns:"):
                self.track_namespace(prefix[6:], uri)
            elif prefix == "xmlns":
                self.track_namespace(None, uri)
        # not in content: no inline markup to pass through
        if tag.find(":") != -1:
            prefix, suffix = tag.split(":", 1)
        else:
            prefix, suffix = "", tag
        prefix = self.namespacemap.get(prefix, prefix)
        if prefix:
            prefix = prefix + "_"
        if (not prefix) and tag not in ("title", "link", "description", "name"):
            self.intextinput = 0
        if (not prefix) and tag not in ("title", "link", "description", "url", "href", "width",
                                        "height"):
            self.inimage = 0
        methodname = "_start_" + prefix + suffix
        try:
            method = getattr(self, methodname)
            return method(attrs_d)
        except AttributeError:
            unknown_tag = prefix + suffix
            if len(attrs_d) == 0:
                return self.push(unknown_tag, 1)
            context = self._get_context()
            context[unknown_tag] = attrs_d
        return None

    def characters(self, text: str) -> None:
        # handle_data(text), inlined (the driver calls this once per text node)
        if self.elementstack:
            if dict.get(self.contentparams, "type") == _XHTML:
                text = _escape(text)
            self.elementstack[-1][2].append(text)

    def handle_data(self, text: str, escape: int = 1) -> None:
        # dict.get: FeedParserDict.get raises and catches KeyError when the key is missing
        # ("type" has no alias, so the value is the same).
        if not self.elementstack:
            return
        if escape and dict.get(self.contentparams, "type") == _XHTML:
            text = _escape(text)
        self.elementstack[-1][2].append(text)

    def resolve_uri(self, uri: str) -> str:
        # feedparser's _urljoin(base, uri): its only change with no base is collapsing the
        # slashes after "scheme://", i.e. only when ":///" is in the URI.
        if not self.baseuri and ":///" not in uri:
            return uri
        return str(super().resolve_uri(uri))

    def pop(self, element: str, strip_whitespace: int = 1) -> Any:
        stack = self.elementstack
        if not stack or stack[-1][0] != element:
            return None
        params = self.contentparams
        if (dict.get(params, "base64", 0) or self.sanitize_html or self.resolve_relative_uris
                or (self.version == "atom10" and dict.get(params, "type", "text") == _XHTML)):
            return super().pop(element, strip_whitespace)
        element, expecting_text, pieces = stack.pop()
        output = "".join(pieces)  # the strict handler's pieces are str
        if strip_whitespace:
            output = output.strip()
        if not expecting_text:
            return output
        if element in self.can_be_relative_uri and output and (
                element != "id" or self.guidislink):
            output = self.resolve_uri(output)
        # decode_entities is the identity for the strict handler. Skipped: looks_like_html,
        # which only retypes text/plain as text/html in contentparams, read afterwards only by
        # the sanitizer and the relative-URI resolver (both off) and copied into the *_detail
        # and content dicts' "type" (parse.py reads only their "value").
        dict.pop(params, "mode", None)
        dict.pop(params, "base64", None)
        if not output.isascii():  # both are no-ops on ASCII
            if self.encoding in ("utf-8", "utf-8_INVALID_PYTHON_3"):
                with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
                    output = output.encode("iso-8859-1").decode("utf-8")
            if _C1 is not None and _C1.search(output):
                output = output.translate(_cp1252)
        if element in ("category", "tags", "itunes_keywords"):
            return output
        if element == "title" and -1 < self.title_depth <= self.depth:
            return output
        # Stored as feedparser stores it; contentparams copied shallowly (its values are str or
        # None, so the same as copy.deepcopy).
        if self.inentry and not self.insource:
            entry = self.entries[-1]
            if element == "content":
                entry.setdefault(element, [])
                detail = FeedParserDict(params)
                detail["value"] = output
                entry[element].append(detail)
            elif element == "link":
                if not self.inimage:
                    if "&" in output:
                        output = output.replace("&amp;", "&")
                        output = _LINK_REFS.sub(r"&\g<1>", output)
                    entry[element] = output
                    if output:
                        entry["links"][-1]["href"] = output
            else:
                if element == "description":
                    element = "summary"
                depths = self.property_depth_map.setdefault(entry, {})
                old_value_depth = depths.get(element)
                if old_value_depth is None or self.depth <= old_value_depth:
                    depths[element] = self.depth
                    entry[element] = output
                if self.incontent:
                    detail = FeedParserDict(params)
                    detail["value"] = output
                    entry[element + "_detail"] = detail
        elif self.infeed or self.insource:
            context = self._get_context()
            if element == "description":
                element = "subtitle"
            context[element] = output
            if element == "link":
                if "&" in output:
                    output = _LINK_REFS.sub(r"&\g<1>", output)
                context[element] = output
                context["links"][-1]["href"] = output
            elif self.incontent:
                detail = FeedParserDict(params)
                detail["value"] = output
                context[element + "_detail"] = detail
        return output


# Instance attributes and methods the overrides read or call, as feedparser 6.0.x has them.
_RELIED_ON = (
    "baseuri", "basestack", "can_be_relative_uri", "contentparams", "depth", "elementstack",
    "encoding", "entries", "feeddata", "incontent", "inentry", "infeed", "inimage", "insource",
    "intextinput", "lang", "langstack", "namespacemap", "property_depth_map", "title_depth",
    "version", "_get_context", "_matchnamespaces", "_normalize_attributes", "push",
    "track_namespace",
)
# The methods replaced, each the one feedparser's mixin defines (the copies follow its 6.0.x
# code); decode_entities must be the mixin's identity, not the loose parser's.
_REPLACED = ("pop", "unknown_starttag", "handle_data", "resolve_uri", "decode_entities")


def _handler_class() -> Any:
    """_FastStrictParser when feedparser is a 6.0.x with every internal it relies on; else
    feedparser's own StrictFeedParser (None when feedparser has no such class)."""
    if StrictFeedParser is None:  # pragma: no cover
        return None
    try:
        probe = StrictFeedParser("", None, "utf-8")
        ok = (feedparser.__version__.startswith("6.0.")
              and all(hasattr(probe, name) for name in _RELIED_ON)
              and all(getattr(StrictFeedParser, name) is getattr(_FeedParserMixin, name)
                      for name in _REPLACED))
    except Exception:  # pragma: no cover - a feedparser we do not know
        ok = False
    return _FastStrictParser if ok else StrictFeedParser


HANDLER = _handler_class()  # tests swap in StrictFeedParser to compare


def strict_parse(data: bytes, skip_content: bool, max_entries: int | None = None,
                 keep: set[int] | None = None) -> tuple[Driver | None, Exception | None]:
    """feedparser's strict (SAX) parse of UTF-8 `data`: (driver, None), or (None, why it
    failed). The driver's `h` is the handler, with `entries`, `feeddata` and `version`.

    With `max_entries`, only the first `max_entries` entries are handed over whole; of the
    others, feedparser sees only the entry element and its date children, and the driver keeps
    their parsed dates (`thin_dates`) and drops the entries. With `keep` (a second pass), the
    entries handed over whole are those with these indexes, and of the others nothing is kept.
    `entries_seen` counts every entry of the document either way."""
    handler = HANDLER("", None, "utf-8")
    handler.resolve_relative_uris = handler.sanitize_html = False
    driver = Driver(handler, skip_content, max_entries, keep)
    try:
        driver.parse(data)
    except (expat.ExpatError, xml.sax.SAXException, UndeclaredNamespace) as e:
        return None, handler.exc or e
    return driver, None


# Elements whose values feedparser stores under keys we never read, held back when they are
# leaves (a child element, say a <media:title> inside <media:content>, sends them on).
_MRSS = "http://search.yahoo.com/mrss/"
_HARMLESS_LEAVES = frozenset({
    (None, "category"), (None, "comments"), (None, "enclosure"),
    ("http://www.w3.org/2005/Atom", "category"),
    ("http://purl.org/dc/elements/1.1/", "subject"),
    ("http://purl.org/dc/elements/1.1/", "language"),
    ("http://purl.org/dc/elements/1.1/", "rights"),
    ("http://purl.org/dc/elements/1.1/", "publisher"),
    ("http://purl.org/dc/elements/1.1/", "identifier"),
    ("http://purl.org/dc/elements/1.1/", "format"),
    ("http://purl.org/dc/elements/1.1/", "type"),
    ("http://purl.org/rss/1.0/modules/slash/", "comments"),
    ("http://wellformedweb.org/CommentAPI/", "commentRss"),
    ("http://wellformedweb.org/CommentAPI/", "comment"),
    ("http://rssnamespace.org/feedburner/ext/1.0", "origLink"),
    ("com-wordpress:feed-additions:1", "post-id"),
    (_MRSS, "content"), (_MRSS, "thumbnail"), (_MRSS, "credit"), (_MRSS, "keywords"),
    (_MRSS, "rating"), (_MRSS, "copyright"), (_MRSS, "text"), (_MRSS, "hash"),
})
# Channel-level RSS elements (outside items) that only set feed keys we never read (we read
# the feed's title, link and ttl): held back as leaves; a channel <image> is skipped whole
# (its title and link belong to the image, never to the feed).
_SY = "http://purl.org/rss/1.0/modules/syndication/"
_CHANNEL_LEAVES = frozenset({
    (None, "description"), (None, "language"), (None, "copyright"), (None, "lastBuildDate"),
    (None, "pubDate"), (None, "generator"), (None, "docs"), (None, "managingEditor"),
    (None, "webMaster"), (None, "rating"),
    (_SY, "updatePeriod"), (_SY, "updateFrequency"), (_SY, "updateBase"),
})
_CHANNEL_SUBTREES = frozenset({(None, "image")})
# A non-alternate Atom link with an href only adds to `links` (never `link`).
_ATOM_LINKS = frozenset({("http://www.w3.org/2005/Atom", "link")})
# Held back, but read here: an entry's pictures (parse.py picks its thumbnail from them).
_IMAGES = frozenset({(_MRSS, "thumbnail"), (_MRSS, "content"), (None, "enclosure"),
                     ("http://www.w3.org/2005/Atom", "link")})
# The children feedparser reads an entry's dates from, by the name its handler method has
# ("_start_" + namespace prefix + local name, lower case), and where each goes in `thin_dates`:
# 0 published, 1 updated, 2 created (the order parse.py reads feedparser's *_parsed keys in).
_DATE_SLOTS = {"published": 0, "pubdate": 0, "issued": 0, "dcterms_issued": 0,
               "updated": 1, "modified": 1, "lastbuilddate": 1, "dc_date": 1,
               "dcterms_modified": 1, "created": 2, "dcterms_created": 2}
# Full-text content: not handed over once the entry has a summary (both set hasContent).
_CONTENT = frozenset({
    ("http://purl.org/rss/1.0/modules/content/", "encoded"),
    ("http://www.w3.org/2005/Atom", "content"),
})


def _pair(name: str) -> tuple[str | None, str]:
    # expat with namespace_separator=" " and namespace_prefixes: "uri local prefix".
    parts = name.split(" ")
    if len(parts) == 1:
        return None, name
    return parts[0], parts[1]


class Driver:
    """expat -> feedparser's SAX handler, as xml.sax.expatreader does it, with text buffered
    (one characters() call per text node, not one per line or entity), the elements above
    held back, and entries past `max_entries` (or not in `keep`) thin."""

    def __init__(self, handler: Any, skip_content: bool, max_entries: int | None = None,
                 keep: set[int] | None = None) -> None:
        self.h = handler
        self.skip_content = skip_content
        self.max_entries = max_entries  # entries handed over whole (None: all) ...
        self.keep = keep  # ... or these (by index), on a second pass
        self.entries_seen = 0  # entries in the document so far
        # An entry not handed over whole ("thin"): feedparser sees none of its children, and
        # none of it at all once an element of its name has begun an entry ("silent").
        self.thin = 0  # depth inside one (1: in its own element, 2: in a date child)
        self.silent = False
        self.entry_pairs: set[tuple[str | None, str]] = set()  # elements that began entries
        self.date_slots: dict[tuple[str | None, str], int | None] = {}
        self.date_texts: list[str | None] = [None, None, None]
        self.date_slot = 0
        self.date_text: list[str] = []
        # First pass: the raw published, updated and created text of each thin entry, in order.
        self.thin_dates: list[tuple[str | None, ...]] = []
        self.skipping = 0  # depth inside a subtree not handed over
        self.held: tuple[tuple[str | None, str], dict[str, str], list[str]] | None = None
        self.content_skipped: set[int] = set()
        self.images: dict[int, list[dict[str, str]]] = {}  # entry index -> picture attributes
        self.pairs: dict[str, tuple[str | None, str]] = {}  # expat's name -> SAX's (uri, local)

    def pair(self, name: str) -> tuple[str | None, str]:
        pair = self.pairs.get(name)
        if pair is None:
            pair = self.pairs[name] = _pair(name)
        return pair

    def parse(self, data: bytes) -> None:
        parser = expat.ParserCreate(None, " ")
        parser.namespace_prefixes = True
        parser.buffer_text = True
        parser.buffer_size = 1 << 16
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.characters
        parser.StartNamespaceDeclHandler = self.h.startPrefixMapping
        parser.ExternalEntityRefHandler = _no_external_entities
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_UNLESS_STANDALONE)
        try:
            parser.Parse(data, True)
        except expat.ExpatError as e:
            self.h.exc = e
            raise

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if self.skipping:
            self.skipping += 1
            return
        if self.thin:
            self._thin_start(name)
            return
        if self.held is not None:
            self._release()
        h = self.h
        pair = self.pair(name)
        if (not h.inentry and pair in self.entry_pairs and not h.incontent
                and self._is_thin(self.entries_seen)):
            self.entries_seen += 1
            self._begin_thin(silent=True)  # feedparser never hears of this entry
            return
        if not (h.incontent or h.inimage or h.intextinput):
            if pair in _HARMLESS_LEAVES or (
                    pair in _ATOM_LINKS and "href" in attrs
                    and (attrs.get("rel") or "alternate").lower() != "alternate"):
                if pair in _IMAGES and h.inentry and not h.insource:
                    self.images.setdefault(len(h.entries) - 1, []).append(
                        {"element": pair[1], **attrs})
                self.held = (pair, attrs, [])
                return
            if not (h.inentry or h.insource) and h.infeed:
                if pair in _CHANNEL_LEAVES:
                    self.held = (pair, attrs, [])
                    return
                if pair in _CHANNEL_SUBTREES:
                    self.skipping = 1
                    return
            if (self.skip_content and pair in _CONTENT and h.inentry and not h.insource
                    and (dict.get(h.entries[-1], "summary") or "").strip()):
                self.skipping = 1
                h.hasContent = 1  # as feedparser's _start_content would
                self.content_skipped.add(len(h.entries) - 1)
                return
        if h.inentry:
            self._start(pair, attrs)
            return
        self._start(pair, attrs)
        if h.inentry and not h.insource:  # this element began an entry
            self.entry_pairs.add(pair)
            self.entries_seen += 1
            if self._is_thin(self.entries_seen - 1):
                self._begin_thin(silent=False)  # begun: it gets its end, then is dropped

    def _is_thin(self, index: int) -> bool:
        if self.keep is not None:
            return index not in self.keep
        return self.max_entries is not None and index >= self.max_entries

    def _begin_thin(self, *, silent: bool) -> None:
        self.thin, self.silent = 1, silent
        self.date_texts = [None, None, None]

    def _thin_start(self, name: str) -> None:
        """An element inside a thin entry: a date child's text is kept (first pass), the rest
        is skipped whole."""
        if self.thin == 1 and self.keep is None:
            pair = self.pair(name)
            slot = self.date_slots.get(pair, -1)
            if slot == -1:
                slot = self.date_slots[pair] = self._date_slot(pair)
            if slot is not None:
                self.thin, self.date_slot, self.date_text = 2, slot, []
                return
        self.skipping = 1

    def _date_slot(self, pair: tuple[str | None, str]) -> int | None:
        # The namespace's prefix as feedparser's handler names it ("" for RSS and Atom).
        prefix = "" if pair[0] is None else self.h._matchnamespaces.get(pair[0].lower())
        if prefix is None:
            return None
        local = pair[1].lower()
        return _DATE_SLOTS.get(f"{prefix}_{local}" if prefix else local)

    def _thin_end(self, name: str) -> None:
        self.thin -= 1
        if self.thin == 1:  # a date child ends; the last of a kind wins, as in feedparser
            self.date_texts[self.date_slot] = "".join(self.date_text)
            return
        if not self.silent:  # feedparser began it: it ends it, and the entry is dropped
            self.h.endElementNS(self.pair(name), None)
            entry = self.h.entries.pop()
            dict.pop(self.h.property_depth_map, entry, None)
        if self.keep is None:
            self.thin_dates.append(tuple(self.date_texts))

    def _release(self) -> None:
        assert self.held is not None
        pair, attrs, text = self.held
        self.held = None
        self._start(pair, attrs)
        for piece in text:
            self.h.characters(piece)

    def _start(self, pair: tuple[str | None, str], attrs: dict[str, str]) -> None:
        if not attrs:
            self.h.startElementNS(pair, None, AttributesNSImpl({}, {}))
            return
        newattrs = {}
        qnames = {}
        for aname, value in attrs.items():
            parts = aname.split(" ")
            if len(parts) == 1:
                apair: tuple[str | None, str] = (None, aname)
                qname = aname
            elif len(parts) == 3:
                apair, qname = (parts[0], parts[1]), f"{parts[2]}:{parts[1]}"
            else:
                apair, qname = (parts[0], parts[1]), parts[1]
            newattrs[apair] = value
            qnames[apair] = qname
        self.h.startElementNS(pair, None, AttributesNSImpl(newattrs, qnames))

    def end(self, name: str) -> None:
        if self.skipping:
            self.skipping -= 1
            return
        if self.thin:
            self._thin_end(name)
            return
        if self.held is not None:  # the held element ends with no child: drop it
            self.held = None
            return
        self.h.endElementNS(self.pair(name), None)

    def characters(self, text: str) -> None:
        if self.skipping:
            return
        if self.thin:
            if self.thin == 2:
                self.date_text.append(text)
            return
        if self.held is not None:
            self.held[2].append(text)
            return
        self.h.characters(text)


def _no_external_entities(*_args: object) -> int:
    return 1  # never fetch a DTD or external entity (xml.sax's feature_external_ges off)

