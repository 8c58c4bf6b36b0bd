"""OPML in and out: read a file's feeds, append feeds to feeds.yaml, write feeds.yaml as OPML.

Never fetches a feed, never rewrites what it did not add, never opens the store; what an import
adds is decided by `digest.opmlplan`.

Reading is lenient because real files are: 80 of the 118 OPML files of a public collection
(plenaryapp/awesome-rss-feeds) are not well-formed XML, mostly for a bare `&` in a description.
listparser's OPML handler reads them through Python's forgiving HTML tokenizer (attribute names
in any case, folders nested to any depth, any `type`); this module subclasses it to keep what
listparser drops: every feed outline in document order with its folders apart from its own
`category` attribute, its description and its site link (htmlUrl). expat only says, as a
warning, where a file stops being well-formed. Neither expands an entity: a DOCTYPE that
declares one (billion laughs, external entities) is refused, and the HTML tokenizer knows only
HTML's named characters; a file over MAX_BYTES is refused unread.

feeds.yaml is edited as text: ruamel.yaml's composer says where the `feeds:` list ends and the new
entries are spliced in there, so comments, quoting, key order and every other entry stay byte for
byte. (A ruamel round trip re-emits the whole file: it joins our multi-line `keywords: [...]` lists
into one line and drops the comments inside them.) The result is validated by
`config.load_settings` from a temporary file in the same folder before `os.replace` puts it in
place: a failed import leaves feeds.yaml untouched. The only importer of listparser and
ruamel.yaml.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import re
import stat
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname
from xml.parsers import expat

from listparser.common import SuperDict
from listparser.opml import OpmlMixin
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from digest.config import FeedSettings, Settings, load_settings
from digest.errors import ConfigError, OpmlError

MAX_BYTES = 5_000_000  # a reader's export of 10,000 feeds is about 2 MB
MAX_TITLE = 300  # characters: a title is a name, not an article
MAX_CATEGORY = 200  # as FeedSettings.category allows
MAX_DESCRIPTION = 1000  # as FeedSettings.description allows
_NULL_TAG = "tag:yaml.org,2002:null"


@dataclass(frozen=True)
class OpmlFeed:
    """One outline with an xmlUrl, as the file has it (text cleaned to one printable line)."""

    url: str
    title: str  # the outline's title, else its text; "" when it has neither
    folders: tuple[str, ...] = ()  # the enclosing outlines' labels, outermost first
    categories: tuple[str, ...] = ()  # the parts of its `category` paths ("/Tech/AI" -> Tech, AI)
    description: str = ""
    site: str = ""  # htmlUrl, as written


@dataclass(frozen=True)
class Opml:
    """An OPML file's feed outlines in document order, and what was wrong with the file."""

    path: Path
    feeds: tuple[OpmlFeed, ...]
    warnings: tuple[str, ...] = ()  # each names the file and the problem


@dataclass(frozen=True)
class NewFeed:
    """A feed as it will be written to feeds.yaml; `section` None means auto (left out)."""

    url: str
    name: str | None = None
    section: str | None = None
    category: str | None = None
    description: str | None = None
    site: str | None = None

    def entry(self, base_dir: Path | None = None) -> dict[str, str]:
        """The feeds.yaml entry; a local file under `base_dir` as a path relative to it."""
        entry = {"url": portable_url(self.url, base_dir) if base_dir else self.url}
        for key in ("name", "section", "category", "description", "site"):
            if value := getattr(self, key):
                entry[key] = value
        return entry


# --- reading OPML -------------------------------------------------------------------------------

class _Refused(Exception):
    """The file declares entities: never read further."""


def read_opml(path: Path) -> Opml:
    """Every feed outline of an OPML file; OpmlError (exit 2) names the file and why not."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise OpmlError(f"{path}: cannot read: {e.strerror or e}") from e
    if len(data) > MAX_BYTES:
        raise OpmlError(f"{path}: larger than {MAX_BYTES:,} bytes; an OPML list of feeds is "
                        "far smaller, so this is not read")
    if not data.strip():
        raise OpmlError(f"{path}: empty file, not OPML")
    text, warnings = _decode(data)
    outlines = _Outlines()
    try:
        problem = _not_well_formed(text)
        outlines.feed(text)
        outlines.close()
    except _Refused as e:
        raise OpmlError(f"{path}: refused: {e}") from None
    except Exception as e:  # listparser on hostile input: one line naming the file, no traceback
        raise OpmlError(f"{path}: cannot be read as OPML: {type(e).__name__}: {e}") from e
    if not outlines.harvest["version"]:
        found = f"the root element is <{outlines.root}>, not <opml>" if outlines.root else \
            "it has no elements"
        raise OpmlError(f"{path}: not an OPML file: {found}")
    if not outlines.found:
        also = f"; nor is it well-formed XML ({problem})" if problem else ""
        raise OpmlError(f"{path}: no feeds in this OPML file (no <outline> with an xmlUrl){also}")
    if problem:
        warnings.append(f"not well-formed XML ({problem}); read leniently, check the result")
    if outlines.harvest["bozo"]:
        warnings.append(f"{outlines.harvest['bozo_exception']}; read anyway")
    if outlines.links:
        warnings.append(f"{outlines.links} outline(s) with a site link (htmlUrl) but no feed "
                        "(xmlUrl) left out")
    if outlines.harvest["lists"]:
        warnings.append(f"{len(outlines.harvest['lists'])} link(s) to other subscription lists "
                        "not followed (digest never fetches while importing)")
    return Opml(path, tuple(outlines.found),
                tuple(f"{path}: {w}" for w in (*warnings, *outlines.warnings)))


# Where the bytes say what they are: a BOM, or UTF-16 without one ("<?" as two-byte characters).
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF32_LE, "utf-32-le"),
         (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF16_LE, "utf-16-le"),
         (codecs.BOM_UTF16_BE, "utf-16-be"), (b"<\0?\0", "utf-16-le"), (b"\0<\0?", "utf-16-be"))
_DECLARED = re.compile(rb"""\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z][\w.:-]*)["']""")


def _decode(data: bytes) -> tuple[str, list[str]]:
    """The file's text, and a warning when its bytes are not in the encoding it declares (files
    are often saved in another encoding than their XML declaration says). UTF-8 is tried first:
    bytes that decode as UTF-8 are almost never another 8-bit encoding."""
    for mark, codec in _BOMS:
        if data.startswith(mark):
            return data.decode(codec, "replace").removeprefix("\ufeff"), []
    match = _DECLARED.match(data)
    declared = match.group(1).decode("ascii") if match else "UTF-8"
    warnings: list[str] = []
    try:
        codec = codecs.lookup(declared).name
    except LookupError:
        codec = "utf-8"
        warnings.append(f"declares the unknown encoding {declared!r}; read as UTF-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        if codec != "utf-8":
            with suppress(UnicodeDecodeError, LookupError):  # LookupError: rot13, base64, ...
                return data.decode(codec), warnings
        bad = f"not {declared}: byte 0x{data[e.start]:02x} at offset {e.start}"
        try:
            return data.decode("cp1252"), [*warnings, f"{bad}; read as Windows-1252"]
        except UnicodeDecodeError:  # 0x81, 0x8d, 0x8f, 0x90, 0x9d: no Windows-1252 character
            return data.decode("latin-1"), [*warnings, f"{bad}; read as ISO-8859-1"]
    if codec != "utf-8" and not data.isascii():
        warnings.append(f"declares the encoding {declared!r} but is UTF-8; read as UTF-8")
    return text, warnings


def _not_well_formed(text: str) -> str | None:
    """Where expat finds the text not well-formed XML (None: it is). An entity declaration is
    refused before anything could use it, as defusedxml does."""
    def refuse(name: str, *_: Any) -> None:
        raise _Refused(f"the XML declares an entity ({name!r}); OPML needs none, and entities "
                       "can exhaust memory (billion laughs) or read local files")

    parser = expat.ParserCreate("UTF-8")  # the text is decoded: its declaration no longer holds
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(text.encode("utf-8", "surrogatepass"), True)
    except expat.ExpatError as e:
        return f"line {e.lineno}, column {e.offset + 1}: {expat.ErrorString(e.code)}"
    return None


def _line(value: str | None, limit: int = MAX_TITLE) -> str:
    """One line of printable text, cut to `limit` characters: titles and descriptions may hold
    newlines, tabs, control characters, or a whole article."""
    text = "".join(c for c in " ".join((value or "").split()) if c.isprintable())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


class _Outlines(OpmlMixin):
    """listparser's OPML handler, keeping every feed outline (listparser merges duplicates) with
    its folders, description and site link, and surviving the markup it trips over."""

    def __init__(self) -> None:
        super().__init__()
        self.harvest.update(bozo=False, bozo_exception=None, feeds=[], lists=[],
                            opportunities=[], meta=SuperDict(), version="")
        self.found: list[OpmlFeed] = []
        self.warnings: list[str] = []
        self.root = ""  # the first element's name
        self.links = 0  # outlines with a site link (htmlUrl) and no feed

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self.root = self.root or tag
        super().start(tag, attrs)

    def end(self, tag: str) -> None:
        # An end tag that closes nothing open (`</a>` of HTML inside a description) would make
        # listparser close every open folder, then fail on the next </outline>: ignore it, as
        # browsers do. (3 of the collection's 59 categorised files need this.)
        if any(node.tag == tag for node in self.node_stack):
            super().end(tag)

    handle_endtag = end  # XMLHandler aliases its own `end`: the tokenizer calls this name

    def handle_decl(self, decl: str) -> None:
        # expat refuses an entity declaration only if it gets that far in the file; this
        # tokenizer never expands one, but a DOCTYPE's internal subset has no use in OPML.
        if "[" in decl:
            name = re.search(r"<!ENTITY\s+(?:%\s*)?([^\s\"'>]+)", decl)
            raise _Refused(f"the XML declares an entity ({name.group(1)!r})" if name else
                           "the DOCTYPE has an internal subset, where entities are declared")

    def start_opml_outline(self, attrs: dict[str, str]) -> None:
        folders = tuple(f for f in (_line(h, MAX_CATEGORY) for h in self.hierarchy) if f)
        super().start_opml_outline(attrs)
        url = attrs.get("xmlurl", "").strip()
        if url and attrs.get("type", "").strip().lower() != "source":  # listparser's test
            parts = (_line(p, MAX_CATEGORY) for path in attrs.get("category", "").split(",")
                     for p in path.split("/"))
            self.found.append(OpmlFeed(
                url, _line(attrs.get("title")) or _line(attrs.get("text")), folders,
                tuple(p for p in parts if p), _line(attrs.get("description"), MAX_DESCRIPTION),
                attrs.get("htmlurl", "").strip()))
        elif "<" in (self.get_starttag_text() or "<")[1:]:
            # A `"` inside a value ended it early and `<a href=...>` of a description was read as
            # more attributes: this is a broken feed, not a folder of the outlines after it.
            self.hierarchy[-1] = ""
            self.warnings.append(
                f"line {self.getpos()[0]}: an <outline> with markup in an attribute (an "
                f"unescaped quote?) could not be read: {_line(attrs.get('text'), 60)!r}")
        elif attrs.get("htmlurl", "").strip():
            self.links += 1

    def end_opml_outline(self) -> None:
        if self.hierarchy:  # an </outline> too many must not fail the file
            super().end_opml_outline()


# --- editing feeds.yaml ---------------------------------------------------------------------------

def add_feeds(config: Path, feeds: Sequence[NewFeed],
              env: Mapping[str, str] | None = None) -> Settings:
    """Append `feeds` to the file's feeds list, validated before it replaces the file."""
    path = config.resolve()  # through a symlink: replace the file, not the link
    with path.open(encoding="utf-8", newline="") as f:
        text = f.read()
    before = load_settings(path, env)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(append_feeds(text, [feed.entry(path.parent) for feed in feeds]))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        try:
            after = load_settings(tmp, env)
        except ConfigError as e:
            raise ConfigError(f"{config} (after import; left unchanged)", e.problems) from e
        _check_only_appended(config, before, after, feeds)
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return after


def _check_only_appended(config: Path, before: Settings, after: Settings,
                         feeds: Sequence[NewFeed]) -> None:
    """Belt and braces: the edit changed nothing but the end of the feeds list."""
    expected = [(f.url, f.name, f.section or "auto", f.category, f.description, f.site)
                for f in feeds]
    got = [(f.url, f.name, f.section, f.category, f.description, f.site)
           for f in after.feeds[len(before.feeds):]]
    rest = {"feeds": (), "source": ""}
    if (after.feeds[:len(before.feeds)] != before.feeds or got != expected
            or after.model_copy(update=rest) != before.model_copy(update=rest)):
        raise ConfigError(str(config), ["feeds: the edit would have changed more than the end "
                                        "of the feeds list; left unchanged"])


def append_feeds(text: str, entries: Sequence[Mapping[str, str]]) -> str:
    """feeds.yaml's text with `entries` at the end of its feeds list; all else byte for byte."""
    if not entries:
        return text
    nl = "\r\n" if "\r\n" in text else "\n"
    try:
        root = YAML(typ="rt").compose(text)
    except YAMLError as e:
        raise ConfigError("feeds.yaml", [f"<file>: invalid YAML: {e}"]) from e
    if root is not None and not isinstance(root, MappingNode):
        raise ConfigError("feeds.yaml", ["<root>: expected a mapping of settings"])
    pairs = [(k, v) for k, v in (root.value if root else []) if k.value == "feeds"]
    if not pairs:  # no feeds: key yet: add one at the end
        return text + ("" if text.endswith("\n") or not text else nl) + \
            "feeds:" + nl + _block(entries, 2, 4, nl)
    key, value = pairs[-1]  # like the loader, the last of duplicate keys wins
    if isinstance(value, SequenceNode) and value.value and value.flow_style:
        # feeds: [{url: a}, ...]: stay in flow style; JSON is a valid YAML flow mapping
        pos = _content_end(value.value[-1])
        items = "".join(", " + json.dumps(dict(e), ensure_ascii=False) for e in entries)
        return text[:pos] + items + text[pos:]
    if isinstance(value, SequenceNode) and value.value:
        pos = _after_last_item(text, value)
        dash, content = value.start_mark.column, value.value[0].start_mark.column
        lead = nl if pos == len(text) and not text.endswith("\n") else ""
        return text[:pos] + lead + _block(entries, dash, content, nl) + text[pos:]
    empty = (isinstance(value, ScalarNode) and value.tag == _NULL_TAG) or \
        (isinstance(value, SequenceNode) and not value.value)
    if not empty:
        raise ConfigError("feeds.yaml", ["feeds: expected a list of feeds"])
    # `feeds:`, `feeds: ~` or `feeds: []`: drop the value, the list starts on the next line
    text = text[:value.start_mark.index] + text[value.end_mark.index:]
    colon = text.index(":", key.end_mark.index) + 1
    pos = _line_end(text, colon)
    if not text[colon:pos].strip():  # nothing left after `feeds:`: no trailing blanks either
        text = text[:colon] + text[colon:pos].lstrip(" \t") + text[pos:]
        pos = _line_end(text, colon)
    lead = nl if pos == len(text) and not text.endswith("\n") else ""
    column = key.start_mark.column
    return text[:pos] + lead + _block(entries, column + 2, column + 4, nl) + text[pos:]


def _line_end(text: str, index: int) -> int:
    """The index just past the line break that ends the line holding `index`."""
    end = text.find("\n", index)
    return len(text) if end < 0 else end + 1


def _content_end(node: Node) -> int:
    """Where a node's last character is: block collections end at the next token, not here."""
    if isinstance(node, MappingNode | SequenceNode) and not node.flow_style:
        return max(_content_end(child) for item in node.value
                   for child in (item if isinstance(item, tuple) else (item,)))
    return int(node.end_mark.index)


def _after_last_item(text: str, feeds: SequenceNode) -> int:
    """After the last entry's last line, and any comment lines indented under it."""
    pos = _content_end(feeds.value[-1])
    if text[pos - 1] != "\n":  # a block scalar ends after its line break; others do not
        pos = _line_end(text, pos)
    while pos < len(text):
        line = text[pos:_line_end(text, pos)]
        body = line.lstrip(" ")
        if not body.startswith("#") or len(line) - len(body) <= feeds.start_mark.column:
            break
        pos += len(line)
    return pos


def _block(entries: Sequence[Mapping[str, str]], dash: int, content: int, nl: str) -> str:
    lines: list[str] = []
    for entry in entries:
        first, *rest = _render(entry).splitlines()
        lines.append(" " * dash + "-" + " " * max(1, content - dash - 1) + first)
        lines.extend(" " * max(content, dash + 2) + line for line in rest)
    return nl.join(lines) + nl


def _render(entry: Mapping[str, str]) -> str:
    """One mapping in block style, quoted so that YAML 1.1 readers (PyYAML, which config.py
    uses) read back strings: a feed named `No` or `2026` must not become false or a number."""
    yaml = YAML(typ="rt")
    yaml.version = (1, 1)
    yaml.width = 1 << 16  # never fold a long name or URL
    out = io.StringIO()
    yaml.dump(dict(entry), out)
    return out.getvalue().removeprefix("%YAML 1.1\n---\n")




# --- writing OPML ---------------------------------------------------------------------------------

def write_opml(settings: Settings, now: datetime, titles: Mapping[str, str] | None = None) -> str:
    """OPML 2.0 that `read_opml` + `plan_import` read back into the same feeds (sections,
    categories, names, descriptions, sites): a folder per section, in config order, holding its
    feeds that have no category; a folder per category holding its feeds; then the auto feeds
    with no category directly in the body. Each feed in a folder carries its section id (or
    auto) in its `category` attribute, which import reads before the folder's name.

    `titles` maps a feed URL to the title a fetch learned, for the feeds with no `name:`; the
    caller reads them from the store (this module never opens it). A local feed under the
    config's folder is written as a path relative to it.
    """
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = settings.title
    ET.SubElement(head, "dateCreated").text = format_datetime(now.astimezone(UTC), usegmt=True)
    body = ET.SubElement(root, "body")
    base_dir = Path(settings.source).resolve().parent
    learned = titles or {}

    def add(parent: ET.Element, members: Sequence[FeedSettings], tagged: bool = True) -> None:
        for feed in members:
            url = portable_url(feed.url, base_dir)
            label = feed.name or learned.get(feed.url) or url
            attrs = {"type": "rss", "text": label, "title": label, "xmlUrl": url}
            attrs |= {"htmlUrl": feed.site} if feed.site else {}
            attrs |= {"description": feed.description} if feed.description else {}
            attrs |= {"category": feed.section} if tagged else {}
            ET.SubElement(parent, "outline", attrs)

    def folder(label: str) -> ET.Element:
        return ET.SubElement(body, "outline", text=label, title=label)

    for section in settings.sections:
        if members := [f for f in settings.feeds if f.section == section.id and not f.category]:
            add(folder(section.title), members)
    for category in dict.fromkeys(f.category for f in settings.feeds if f.category):
        add(folder(category), [f for f in settings.feeds if f.category == category])
    add(body, [f for f in settings.feeds if settings.section(f.section) is None and not
               f.category], tagged=False)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def portable_url(url: str, base_dir: Path | None) -> str:
    """A file:// URL of a file inside `base_dir` as a path relative to it (as feeds.yaml may
    hold it: the folder can move); any other URL as it is."""
    parts = urlsplit(url)
    if parts.scheme != "file" or base_dir is None:
        return url
    try:
        relative = Path(url2pathname(parts.path)).relative_to(base_dir).as_posix()
    except ValueError:
        return url
    return f"./{relative}" if ":" in relative.split("/")[0] else relative
