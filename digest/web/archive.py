"""The archive's pages and documents as strings (issue 19): the index (paged), one edition in
the email's look adapted to the web, the search page, and the Atom and JSON feeds, sitemap and
robots.txt (made by digest.web.feeds, given the edition's HTML from here). The same functions
serve `digest serve` (digest.web.archive_routes) and write `digest archive build`
(digest.web.export), so a served page and its exported file are the same bytes.

Speaks no HTTP and writes no files; decides nothing about what is public (`app.archive` does:
None from here means "no such page", a 404). Every link is relative to the page, or under
`web.base_url`, so the pages work as static files; the two forms (subscribe, search) go to the
service at base_url, which a static host does not have. No thumbnails on the pages: the
Content-Security-Policy allows images from ourselves only, and a feed's image host would learn
who reads the archive (og:image names the lead's for link previews, fetched by their crawlers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from digest.archive import Archive, ArchivedEdition, Page
from digest.config import Settings
from digest.models import Edition, Section, Story
from digest.parse import safe_url
from digest.render import summarize
from digest.web.feeds import atom_feed, json_feed, robots_txt, sitemap
from digest.web.pages import Pages

LEADS = 3  # lead stories named in a page's description (as the email's preheader)
SEARCH_PER_PAGE = 20


def index_path(number: int) -> str:
    """Where a page of the index is, from the archive's root (page 1 is the root itself)."""
    return "" if number == 1 else f"page/{number}/"


def edition_path(day: date) -> str:
    return f"editions/{day.isoformat()}/"


def story_path(day: date, position: int) -> str:
    return f"{edition_path(day)}#story-{position}"


def root_of(path: str) -> str:
    """The way back to the archive's root from a page at `path` (as index_path gives it)."""
    return "../" * path.count("/") or "./"


def web_url(value: object) -> bool:
    """Whether a stored link may become an href: what parse.safe_url keeps (the models
    guarantee it; a frozen payload is kept forever, so it is checked again here)."""
    return isinstance(value, str) and safe_url(value) is not None


def longdate(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"


@dataclass(frozen=True, slots=True)
class Meta:
    """What a page says about itself to link previews and crawlers (OpenGraph, Twitter)."""

    site: str
    title: str
    description: str
    url: str
    type: str = "website"
    image: str | None = None


class ArchiveSite:
    """Renders the archive of one newsletter; `None` from a page means there is none."""

    def __init__(self, archive: Archive, settings: Settings, pages: Pages) -> None:
        if settings.web.base_url is None:
            raise ValueError("the archive's pages need web.base_url")
        self.archive = archive
        self.settings = settings
        self.base = settings.web.base_url.rstrip("/")
        self.public = archive.public
        self.thumbnails = settings.email.thumbnails
        self.tz = settings.tz
        self.env = pages.env.overlay()
        self.env.tests["web_url"] = web_url
        self.env.filters.update(summarize=summarize, shortdate=self._shortdate)
        self.common = pages.common
        self.title = settings.title

    # --- pages ---

    def index_page(self, number: int) -> str | None:
        page = self.archive.index(number)
        if page is None:
            return None
        path = index_path(number)
        root = root_of(path)
        entries = [(root + edition_path(a.edition.date), longdate(a.edition.date), a.subject,
                    " · ".join(_leads(a.edition)[:LEADS])) for a in page.items]
        heading = "Archive" if number == 1 else f"Archive, page {number}"
        newest = page.items[0].edition if page.items else None
        meta = Meta(self.title, f"{heading} · {self.title}",
                    " · ".join(_leads(newest)[:LEADS]) if newest else self.title,
                    self.url(path), image=self._image(newest))
        return self._render("archive_index.html", path, heading=heading, meta=meta,
                            entries=entries, pages=self._pager(page, root, index_path),
                            current=f"Page {page.number} of {page.pages}")

    def edition_page(self, day: date) -> str | None:
        archived = self.archive.edition(day)
        if archived is None:
            return None
        edition = archived.edition
        path = edition_path(day)
        root = root_of(path)
        neighbours = [(rel, root + edition_path(d), f"{label}: {longdate(d)}")
                      for rel, d, label in (("prev", archived.before, "Earlier edition"),
                                            ("next", archived.after, "Later edition"))
                      if d is not None]
        meta = Meta(self.title, f"{edition.title} · {longdate(day)}",
                    " · ".join(_leads(edition)[:LEADS]) or edition.title, self.url(path),
                    "article", self._image(edition))
        return self._render("archive_edition.html", path, heading=longdate(day), meta=meta,
                            neighbours=neighbours, **self._article(edition, here=""))

    def search_page(self, query: str, number: int = 1) -> str | None:
        """The search form, and the hits of `query` when there is one."""
        if not self.public:
            return None
        query = " ".join(query.split())[:200]
        values: dict[str, Any] = {"query": query, "hits": [], "found": "", "pages": [],
                                  "current": "", "start": 1}
        if query:
            page = self.archive.search(query, number, per_page=SEARCH_PER_PAGE)
            if page is None:
                return None
            values.update(
                hits=[(story_path(h.edition, h.position), h, longdate(h.edition))
                      for h in page.items],
                found=_found(page),
                start=(page.number - 1) * SEARCH_PER_PAGE + 1,
                pages=self._pager(page, "", lambda n: "search?" + urlencode(
                    {"q": query, **({"page": n} if n > 1 else {})}),
                    ("Previous results", "More results")),
                current=f"Page {page.number} of {page.pages}" if page.total else "")
        return self._render("archive_search.html", "search", heading="Search the archive",
                            **values)

    def article(self, archived: ArchivedEdition) -> str:
        """An edition's content as an HTML fragment with absolute links (for the feeds)."""
        edition = archived.edition
        return self.env.get_template("archive_article.html").render(
            **self._article(edition, here=self.url(edition_path(edition.date))))

    # --- documents ---

    def atom(self) -> bytes | None:
        if not self.public:
            return None
        return atom_feed(self.settings, self.archive.latest(20), content=self.article)

    def json_feed(self) -> bytes | None:
        if not self.public:
            return None
        return json_feed(self.settings, self.archive.latest(20), content=self.article)

    def sitemap(self) -> bytes | None:
        if not self.public:
            return None
        return sitemap(self.urls())

    def robots(self) -> str | None:
        return robots_txt(self.base) if self.public else None

    def urls(self) -> list[tuple[str, date | None]]:
        """Every page of the archive (absolute), with the day it last changed."""
        editions = self.archive.all_editions()
        per_page = self.archive.per_page
        pages = max(1, -(-len(editions) // per_page))
        urls: list[tuple[str, date | None]] = []
        for n in range(1, pages + 1):
            newest = editions[(n - 1) * per_page] if editions else None
            urls.append((self.url(index_path(n)), _day(newest)))
        urls.extend((self.url(edition_path(a.edition.date)), _day(a)) for a in editions)
        return urls

    def url(self, path: str) -> str:
        return f"{self.base}/{path}"

    # --- helpers ---

    def _render(self, template: str, path: str, **values: Any) -> str:
        return self.env.get_template(template).render(
            **self.common, root=root_of(path), base_url=self.base, csrf="", **values)

    def _article(self, edition: Edition, *, here: str) -> dict[str, Any]:
        numbered: list[tuple[Section, list[tuple[int, Story]]]] = []
        n = 0
        for section in edition.sections:
            stories = []
            for story in section.stories:
                stories.append((n, story))
                n += 1
            numbered.append((section, stories))
        return {"sections": numbered, "here": here}

    def _image(self, edition: Edition | None) -> str | None:
        if edition is None or not self.thumbnails:
            return None
        leads = [s.stories[0] for s in edition.sections if s.stories]
        image = leads[0].image if leads else None
        return image if image and image.startswith("https://") and web_url(image) else None

    def _pager(self, page: Page[Any], root: str, where: Callable[[int], str],
               labels: tuple[str, str] = ("Newer editions", "Older editions")
               ) -> list[tuple[str, str, str]]:
        links = []
        if page.number > 1:
            links.append(("prev", root + where(page.number - 1) or "./", labels[0]))
        if page.number < page.pages:
            links.append(("next", root + where(page.number + 1), labels[1]))
        return links

    def _shortdate(self, value: datetime) -> str:
        local = value.astimezone(self.tz)
        return f"{local:%a} {local.day} {local:%b}"


def _leads(edition: Edition) -> list[str]:
    return [s.stories[0].title for s in edition.sections if s.stories]


def _day(archived: ArchivedEdition | None) -> date | None:
    if archived is None:
        return None
    return archived.sent_at.date() if archived.sent_at else archived.edition.date


def _found(page: Page[Any]) -> str:
    if page.total == 0:
        return "No story matches every word."
    return f"{page.total} {'story' if page.total == 1 else 'stories'} found."
