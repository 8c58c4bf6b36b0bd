"""The archive's routes on the web service (issue 19): which address shows which page of
digest.web.archive, with its media type. All GET; nothing changes anything. A page that does
not exist (a private archive, an unsent or hidden edition, a page past the last) is a 404.

Pages are addressed as directories (`/editions/2026-11-30/`, `/page/2/`), as the static export
writes them (`editions/2026-11-30/index.html`), so their relative links are the same bytes in
both; the address without the slash (the email's "view in your browser" link) is redirected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from digest.web.archive import ArchiveSite
from digest.web.forms import InputError

# Archive pages hold nothing of any reader: shared caches may keep them a little while.
CACHE = "public, max-age=300"
ATOM = "application/atom+xml"
JSON_FEED = "application/feed+json"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"[1-9]\d{0,4}")


class ArchiveRoutes:
    """The handlers of one newsletter's archive."""

    def __init__(self, site: ArchiveSite) -> None:
        self.site = site

    def routes(self) -> list[BaseRoute]:
        """Every archive route but the root (digest.web.app decides what `/` is)."""
        return [
            Route("/page/{number}/", self.page, methods=["GET"]),
            Route("/page/{number}", _slash, methods=["GET"]),
            Route("/editions/{day}/", self.edition, methods=["GET"]),
            Route("/editions/{day}", _slash, methods=["GET"]),
            Route("/search", self.search, methods=["GET"]),
            Route("/feed.atom", self._document(self.site.atom, ATOM), methods=["GET"]),
            Route("/feed.json", self._document(self.site.json_feed, JSON_FEED),
                  methods=["GET"]),
            Route("/sitemap.xml", self._document(self.site.sitemap, "application/xml"),
                  methods=["GET"]),
            Route("/robots.txt", self._document(self.site.robots, "text/plain; charset=utf-8"),
                  methods=["GET"]),
        ]

    async def home(self, request: Request) -> Response:
        return _page(await run_in_threadpool(self.site.index_page, 1))

    async def page(self, request: Request) -> Response:
        number = request.path_params["number"]
        if number == "1":
            return RedirectResponse("../../", status_code=301)
        if not _NUMBER.fullmatch(number):
            raise HTTPException(404)
        return _page(await run_in_threadpool(self.site.index_page, int(number)))

    async def edition(self, request: Request) -> Response:
        day = _day(request.path_params["day"])
        return _page(await run_in_threadpool(self.site.edition_page, day))

    async def search(self, request: Request) -> Response:
        query = request.query_params.get("q", "")
        number = request.query_params.get("page", "1")
        if not _NUMBER.fullmatch(number):
            raise InputError(400, "page: a whole number from 1")
        html = await run_in_threadpool(self.site.search_page, query, int(number))
        if html is None:
            raise HTTPException(404)
        return HTMLResponse(html)  # no-store: what someone searched for is theirs

    def _document(self, make: Callable[[], bytes | str | None], media_type: str
                  ) -> Callable[[Request], object]:
        async def answer(request: Request) -> Response:
            body = await run_in_threadpool(make)
            if body is None:
                raise HTTPException(404)
            return Response(body, media_type=media_type, headers={"cache-control": CACHE})
        return answer


async def _slash(request: Request) -> Response:
    # Relative, so it holds behind a proxy that serves us under a path (RFC 9110 10.2.2).
    last = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    return RedirectResponse(f"{last}/", status_code=301)


def _page(html: str | None) -> Response:
    if html is None:
        raise HTTPException(404)
    return HTMLResponse(html, headers={"cache-control": CACHE})


def _day(value: str) -> date:
    if not _DAY.fullmatch(value):
        raise HTTPException(404)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(404) from None
