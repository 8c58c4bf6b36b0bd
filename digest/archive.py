"""The archive (use case, issue 19): the editions that went out, as the web shows them: the
index (newest first, paged), one edition with the ones before and after it, the feed of the
latest, and the search over their stories. What is public is decided here: nothing when
`archive.public` is false, nothing before `archive.from`, never an edition that was only
previewed or frozen and not sent.

Renders nothing and speaks no HTTP (digest.web.archive and digest.web.export do); reads the
store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Generic, TypeVar

from digest.config import Settings
from digest.models import Edition, edition_from_dict
from digest.store import SentEdition, Store, StoryHit

T = TypeVar("T")
MAX_QUERY = 200  # characters of a search; the rest is ignored
MAX_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class ArchivedEdition:
    """An edition on the web: what was sent, when, and its neighbours."""

    edition: Edition
    subject: str
    sent_at: datetime | None
    before: date | None = None  # the sent edition before it, if public
    after: date | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: its items, which page (from 1) and how many pages in all."""

    items: tuple[T, ...]
    number: int
    pages: int
    total: int


class Archive:
    """The public archive of one newsletter."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.public = settings.archive.public
        self.since = settings.archive.from_
        self.per_page = settings.archive.per_page

    def index(self, page: int = 1) -> Page[ArchivedEdition] | None:
        """A page of the sent editions, newest first; None when the archive is private or the
        page is past the last (page 1 always exists, perhaps empty)."""
        if not self.public or not 1 <= page <= MAX_PAGE:
            return None
        total = self.store.count_sent_editions(since=self.since)
        pages = max(1, -(-total // self.per_page))
        if page > pages:
            return None
        sent = self.store.sent_editions(since=self.since, limit=self.per_page,
                                        offset=(page - 1) * self.per_page)
        return Page(tuple(_archived(s) for s in sent), page, pages, total)

    def edition(self, day: date) -> ArchivedEdition | None:
        """One sent edition with its neighbours; None when it is not public."""
        if not self.public:
            return None
        found = self.store.sent_edition(day, since=self.since)
        if found is None:
            return None
        sent, before, after = found
        return _archived(sent, before, after)

    def latest(self, limit: int = 20) -> list[ArchivedEdition]:
        """The newest sent editions, for the feeds (empty when private)."""
        if not self.public:
            return []
        return [_archived(s) for s in self.store.sent_editions(since=self.since, limit=limit)]

    def all_editions(self) -> list[ArchivedEdition]:
        """Every public sent edition, newest first (the static export, the sitemap)."""
        if not self.public:
            return []
        return [_archived(s) for s in self.store.sent_editions(since=self.since)]

    def search(self, query: str, page: int = 1, *, per_page: int = 20) -> Page[StoryHit] | None:
        """Stories of public sent editions matching every word of `query`, best first; None
        when the archive is private."""
        if not self.public:
            return None
        page = min(max(page, 1), MAX_PAGE)
        hits, total = self.store.search_stories(query[:MAX_QUERY], since=self.since,
                                                limit=per_page, offset=(page - 1) * per_page)
        return Page(tuple(hits), page, max(1, -(-total // per_page)), total)


def _archived(sent: SentEdition, before: date | None = None,
              after: date | None = None) -> ArchivedEdition:
    return ArchivedEdition(edition_from_dict(sent.payload), sent.subject, sent.sent_at,
                           before, after)
