"""Deciding what `digest feeds import` adds: each OPML feed's section, category, URL and verdict.

Decisions only: OPML read by `digest.opml` and the settings in, an `ImportPlan` out; it writes
nothing and opens no file (it only asks, through `config.resolve_feed_url`, whether a local
feed's file exists). The section comes from `--section`, else `--map Folder=section`, else a
section named by the feed's `category` attribute or one of its folders (id or title, any case),
else auto. The category is the innermost folder, kept even when it maps to no section
("Germany", "Photography"), so nothing an operator filed is lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from urllib.request import url2pathname

from digest.config import Settings, resolve_feed_url
from digest.errors import UsageError
from digest.opml import NewFeed, Opml, OpmlFeed


class Verdict(StrEnum):
    ADD = "add"
    SKIP = "skip"  # already in feeds.yaml, or earlier in the same file
    REJECT = "reject"  # not a URL digest polls


@dataclass(frozen=True)
class Planned:
    feed: NewFeed  # when rejected: the URL as the file has it
    verdict: Verdict
    detail: str = ""  # why skipped or rejected; for an added feed, what was left out of it


@dataclass(frozen=True)
class ImportPlan:
    items: tuple[Planned, ...]  # one per feed outline, in document order
    unmapped: tuple[str, ...] = ()  # --map folders that no feed of the file is in

    def _with(self, verdict: Verdict) -> tuple[NewFeed, ...]:
        return tuple(p.feed for p in self.items if p.verdict is verdict)

    @property
    def added(self) -> tuple[NewFeed, ...]:
        return self._with(Verdict.ADD)

    @property
    def skipped(self) -> tuple[NewFeed, ...]:
        return self._with(Verdict.SKIP)

    @property
    def rejected(self) -> tuple[NewFeed, ...]:
        return self._with(Verdict.REJECT)


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


def parse_map(settings: Settings, items: Sequence[str]) -> tuple[tuple[str, str | None], ...]:
    """`--map Folder=section` options as (folder, section id or None for auto); UsageError
    names the option that is not of that form or names no section."""
    mapping: list[tuple[str, str | None]] = []
    for item in items:
        folder, equals, section = item.rpartition("=")  # a section id has no "="; a folder may
        if not equals or not folder.strip() or not section.strip():
            raise UsageError(f"--map {item!r}: expected FOLDER=SECTION, e.g. 'Tech News=tech'")
        try:
            mapping.append((folder.strip(), find_section(settings, section)))
        except UsageError as e:
            raise UsageError(f"--map {item!r}: {e}") from None
    return tuple(mapping)


def _key(label: str) -> str:
    return " ".join(label.split()).casefold()


def _section_of(feed: OpmlFeed, settings: Settings, mapping: Mapping[str, str | None]
                ) -> str | None:
    """None is auto. --map first, for the innermost folder it names (then `category` parts);
    else a section named by the feed's own `category` attribute (said of this feed alone, where
    digest's export writes the section id), else by a folder, innermost first."""
    for label in (*reversed(feed.folders), *reversed(feed.categories)):
        if _key(label) in mapping:
            return mapping[_key(label)]
    for label in (*reversed(feed.categories), *reversed(feed.folders)):
        with suppress(UsageError):
            return find_section(settings, label)
    return None


def _category_of(feed: OpmlFeed, section: str | None, settings: Settings) -> str | None:
    """The innermost folder (in no folder: the last `category` part), unless it only names the
    feed's section. Innermost, because a path like News/Europe/Germany grows more specific
    inwards and a feed keeps one category; the outer folders still serve to find its section."""
    label = (feed.folders or feed.categories or ("",))[-1]
    own = settings.section(section) if section else None
    names = {_key(own.id), _key(own.title)} if own else {"auto"}
    return label if label and _key(label) not in names else None


def _identity(url: str) -> str:
    """Scheme and host are case-insensitive (RFC 3986 6.2.2.1); the rest is compared as is."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()))


def _accept(url: str, opml_dir: Path, allow_files: bool) -> str:
    """The URL to write (a local file as an absolute file:// URL), or ValueError saying why not.
    A path is relative to the OPML file's folder, where digest's export writes it from."""
    if not url.isprintable():
        raise ValueError("the URL contains control characters")
    scheme = urlsplit(url).scheme.lower()
    if scheme == "feed":  # the old feed: pseudo-scheme: feed://host/x, feed:https://host/x
        url = "http:" + url[5:] if url[5:].startswith("//") else url[5:]
        scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        if any(c.isspace() for c in url):
            raise ValueError("the URL contains spaces")
        return resolve_feed_url(url, opml_dir)
    if (len(scheme) > 1 and scheme != "file") or url.startswith("//"):  # C: is a drive
        raise ValueError("not an http(s) URL")
    if not allow_files:
        raise ValueError("a local file; file:// URLs and paths are imported only with "
                         "--allow-files")
    resolved = resolve_feed_url(url, opml_dir)
    return Path(url2pathname(urlsplit(resolved).path)).resolve().as_uri()


def _site(value: str) -> tuple[str | None, str]:
    """The site link to keep, and what was wrong with it (javascript:, data:, ...)."""
    parts = urlsplit(value)
    if not value or (parts.scheme.lower() in ("http", "https") and parts.hostname
                     and value.isprintable() and " " not in value and len(value) <= 2000):
        return value or None, ""
    return None, f"site link left out (not an http(s) URL): {value[:80]!r}"


def plan_import(document: Opml, settings: Settings, *, section: str | None = None,
                mapping: Sequence[tuple[str, str | None]] = (),
                allow_files: bool = False) -> ImportPlan:
    """Which outlines become new feeds (OPML order), which are there already, which are refused.

    `section` (an id or title, or auto) puts every new feed there; otherwise `mapping` (from
    `parse_map`), a `category` attribute or a folder naming a section does. Each new feed keeps
    its category, description and site; the name is left out when the outline has no title.
    """
    forced = find_section(settings, section) if section is not None else None
    folders = {_key(folder): target for folder, target in mapping}
    opml_dir = document.path.absolute().parent
    known = {_identity(f.url) for f in settings.feeds}
    seen: set[str] = set()
    items: list[Planned] = []
    for feed in document.feeds:
        target = forced if section is not None else _section_of(feed, settings, folders)
        category = _category_of(feed, target, settings)
        try:
            url = _accept(feed.url, opml_dir, allow_files)
        except ValueError as e:
            items.append(Planned(NewFeed(feed.url, feed.title or None, target, category),
                                 Verdict.REJECT, str(e)))
            continue
        site, note = _site(feed.site)
        name = feed.title if feed.title not in ("", feed.url, url) else None
        new = NewFeed(url, name, target, category, feed.description or None, site)
        if _identity(url) in known or _identity(url) in seen:
            where = settings.source if _identity(url) in known else "this file"
            items.append(Planned(new, Verdict.SKIP, f"already in {where}"))
            continue
        seen.add(_identity(url))
        items.append(Planned(new, Verdict.ADD, note))
    labels = {_key(label) for f in document.feeds for label in (*f.folders, *f.categories)}
    unmapped = tuple(folder for folder, _ in mapping if _key(folder) not in labels)
    return ImportPlan(tuple(items), unmapped)


