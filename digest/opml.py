"""OPML import and export into feeds.yaml; never fetches a feed or rewrites what it did not add.

Reading takes OPML 1.0/2.0 as feed readers write it (Feedly, Inoreader, NetNewsWire, ...):
attribute names in any case, folders nested to any depth, any `type` (rss, atom, none): an outline
with an `xmlUrl` is a feed, the outlines around it are its folders. defusedxml parses it, so a file
that declares entities (billion laughs, external entities) is refused, never expanded.

feeds.yaml is edited as text: ruamel.yaml's composer says where the `feeds:` list ends and the new
entries are spliced in there, so comments, quoting, key order and every other entry stay byte for
byte. (A ruamel round trip re-emits the whole file: it joins our multi-line `keywords: [...]` lists
into one line and drops the comments inside them.) The result is validated by
`config.load_settings` from a temporary file in the same folder before `os.replace` puts it in
place: a failed import leaves feeds.yaml untouched. The only importer of ruamel.yaml and defusedxml.
"""

from __future__ import annotations

import io
import json
import os
import stat
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from xml.parsers.expat import ErrorString

from defusedxml import DefusedXmlException, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import ParseError, fromstring
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from digest.config import FeedSettings, Settings, load_settings, resolve_feed_url
from digest.errors import ConfigError, OpmlError, UsageError

_NULL_TAG = "tag:yaml.org,2002:null"


@dataclass(frozen=True)
class OpmlFeed:
    """One outline with an xmlUrl, as the file has it."""

    url: str
    title: str  # the outline's title, else its text; "" when it has neither
    folders: tuple[str, ...] = ()  # the enclosing outlines' labels, outermost first
    categories: tuple[str, ...] = ()  # the parts of its `category` paths ("/Tech/AI" -> Tech, AI)


@dataclass(frozen=True)
class NewFeed:
    """A feed as it will be written to feeds.yaml; `section` None means auto (left out)."""

    url: str
    name: str | None = None
    section: str | None = None

    def entry(self) -> dict[str, str]:
        entry = {"url": self.url}
        if self.name:
            entry["name"] = self.name
        if self.section:
            entry["section"] = self.section
        return entry


@dataclass(frozen=True)
class ImportPlan:
    added: tuple[NewFeed, ...]
    skipped: tuple[NewFeed, ...]  # already in feeds.yaml, or earlier in the same OPML file
    rejected: tuple[tuple[str, str], ...]  # (xmlUrl as written, why)


# --- reading OPML -------------------------------------------------------------------------------

def read_opml(path: Path) -> list[OpmlFeed]:
    """Every feed outline of an OPML file, in document order; OpmlError names the file."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise OpmlError(f"{path}: cannot read: {e.strerror or e}") from e
    try:
        root = fromstring(data)  # defusedxml: entities and external references are refused
    except EntitiesForbidden as e:
        raise OpmlError(f"{path}: refused: the XML declares an entity ({e.name!r}); OPML needs "
                        "none, and entities can exhaust memory (billion laughs) or read local "
                        "files") from e
    except ExternalReferenceForbidden as e:
        raise OpmlError(f"{path}: refused: the XML refers to an external resource "
                        f"({e.sysid or e.pubid!r})") from e
    except DefusedXmlException as e:
        raise OpmlError(f"{path}: refused: unsafe XML ({e})") from e
    except ParseError as e:
        line, column = e.position
        raise OpmlError(f"{path}: line {line}, column {column + 1}: invalid XML: "
                        f"{ErrorString(e.code)}") from e
    if _tag(root) != "opml":
        raise OpmlError(f"{path}: not an OPML file: the root element is <{_tag(root)}>, "
                        "not <opml>")
    feeds = [feed for body in root if _tag(body) == "body" for feed in _outlines(body, ())]
    if not feeds:
        raise OpmlError(f"{path}: no feeds in this OPML file (no <outline> with an xmlUrl)")
    return feeds


def _tag(element: ET.Element) -> str:
    tag = element.tag if isinstance(element.tag, str) else ""
    return tag.rpartition("}")[2].lower()


def _clean(text: str | None) -> str:
    """One line of printable text: titles may hold newlines, tabs or control characters."""
    return "".join(c for c in " ".join((text or "").split()) if c.isprintable())


def _outlines(parent: ET.Element, folders: tuple[str, ...]) -> Iterator[OpmlFeed]:
    for child in parent:
        if _tag(child) != "outline":
            continue
        # Readers disagree on case (xmlUrl, xmlurl, XMLURL): compare names lowercased.
        attrs = {name.rpartition("}")[2].lower(): value for name, value in child.attrib.items()}
        label = _clean(attrs.get("title")) or _clean(attrs.get("text"))
        url = attrs.get("xmlurl", "").strip()
        if url:
            categories = tuple(part.strip() for path in attrs.get("category", "").split(",")
                               for part in path.split("/") if part.strip())
            yield OpmlFeed(url, label, folders, categories)
            yield from _outlines(child, folders)
        else:
            yield from _outlines(child, (*folders, label))


# --- deciding what to add -------------------------------------------------------------------------

def find_section(settings: Settings, wanted: str) -> str | None:
    """A section by id or title, in any case; `auto` is None. UsageError when there is none."""
    key = wanted.strip().lower()
    if key == "auto":
        return None
    by_id = (s.id for s in settings.sections if s.id.lower() == key)
    by_title = (s.id for s in settings.sections if s.title.strip().lower() == key)
    if found := next(by_id, None) or next(by_title, None):
        return found
    known = ", ".join(s.id for s in settings.sections) or "no sections defined"
    raise UsageError(f"unknown section {wanted!r} (use auto or one of: {known})")


def _section_of(feed: OpmlFeed, settings: Settings) -> str | None:
    """The innermost folder, then the categories, that name a section; else None (auto)."""
    for candidate in (*reversed(feed.folders), *reversed(feed.categories)):
        with suppress(UsageError):
            return find_section(settings, candidate)
    return None


def _identity(url: str) -> str:
    """Scheme and host are case-insensitive (RFC 3986 6.2.2.1); the rest is compared as is."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()))


def _accept(url: str, base_dir: Path, allow_files: bool) -> str:
    """The URL to write, or ValueError saying why not."""
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ValueError("the URL contains spaces or control characters")
    scheme = urlsplit(url).scheme.lower()
    if scheme == "feed":  # the old feed: pseudo-scheme: feed://host/x, feed:https://host/x
        url = "http:" + url[5:] if url[5:].startswith("//") else url[5:]
        scheme = urlsplit(url).scheme.lower()
    if scheme == "file" and not allow_files:
        raise ValueError("a local file; file:// URLs are imported only with --allow-files")
    if scheme not in ("http", "https", "file"):
        raise ValueError("not an http(s) URL")
    return resolve_feed_url(url, base_dir)


def plan_import(feeds: Sequence[OpmlFeed], settings: Settings, *, section: str | None = None,
                allow_files: bool = False) -> ImportPlan:
    """Which outlines become new feeds (OPML order), which are there already, which are refused.

    `section` (an id or title, or auto) puts every new feed there; otherwise a folder or category
    naming a section does. The name is left out when the outline has no title of its own.
    """
    forced = find_section(settings, section) if section is not None else None
    base_dir = Path(settings.source).resolve().parent
    seen = {_identity(f.url) for f in settings.feeds}
    added: list[NewFeed] = []
    skipped: list[NewFeed] = []
    rejected: list[tuple[str, str]] = []
    for feed in feeds:
        try:
            url = _accept(feed.url, base_dir, allow_files)
        except ValueError as e:
            rejected.append((feed.url, str(e)))
            continue
        name = feed.title if feed.title not in ("", feed.url, url) else None
        new = NewFeed(url, name, forced if section is not None else _section_of(feed, settings))
        if _identity(url) in seen:
            skipped.append(new)
            continue
        seen.add(_identity(url))
        added.append(new)
    return ImportPlan(tuple(added), tuple(skipped), tuple(rejected))


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
            f.write(append_feeds(text, [feed.entry() for feed in feeds]))
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
    expected = [(f.url, f.name, f.section or "auto") for f in feeds]
    got = [(f.url, f.name, f.section) for f in after.feeds[len(before.feeds):]]
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

def write_opml(settings: Settings, now: datetime) -> str:
    """OPML 2.0: one folder per section (text = its title) holding its feeds, in config order,
    then the `auto` feeds directly in the body, so that `read_opml` + `plan_import` map each
    one back to the same section."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = settings.title
    ET.SubElement(head, "dateCreated").text = format_datetime(now.astimezone(UTC), usegmt=True)
    body = ET.SubElement(root, "body")
    for section in settings.sections:
        members = [f for f in settings.feeds if f.section == section.id]
        if members:
            folder = ET.SubElement(body, "outline", text=section.title, title=section.title)
            for feed in members:
                _feed_outline(folder, feed)
    for feed in settings.feeds:
        if settings.section(feed.section) is None:
            _feed_outline(body, feed)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _feed_outline(parent: ET.Element, feed: FeedSettings) -> None:
    label = feed.name or feed.url
    ET.SubElement(parent, "outline", type="rss", text=label, title=label, xmlUrl=feed.url)
