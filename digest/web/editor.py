"""The editing page (issue 22), served by `digest preview --serve` (digest.serve): the edition
as it will look, a form beside each story for each edit, the editor's note with a live
preview, and Approve. Every change goes through `app.editing`, with an App opened per request
from the factory the CLI gives (so the page, the command line and the send share one store and
a changed feeds.yaml is picked up), never through the store itself.

No GET changes anything. Every POST carries this process's CSRF token twice, in a hidden field
and in a cookie (SameSite=Strict, HttpOnly), both compared in constant time; an edit that
succeeds answers 303 to the page (post/redirect/get), one that is refused shows the page again
with the reason (400). Everything shown is autoescaped; the note's preview is only ever
digest.notes.note_html's sanitized fragment. Who makes an edit is the login's user name, which
digest.serve puts in the request's state.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from digest import notes
from digest.app import App
from digest.article import ArticleError
from digest.editing import overview_to_dict
from digest.errors import ConfigError, DigestError, FetchError, UsageError
from digest.web.forms import Fields, InputError, form_type, parse_form, read_body
from digest.web.pages import web_templates

AppFactory = Callable[[], AbstractContextManager[App]]

MAX_BODY = 64 * 1024  # bytes of a form: a note of 5000 characters, each %-encoded, fits
MAX_NOTE_FIELD = 2 * notes.MAX_NOTE  # characters sent; check_note says more past MAX_NOTE
MAX_REF = 2048  # a story's id, or the link of one of its articles
MAX_FIELD = 1200  # a headline, a summary, a section id
CSRF_FIELD = "csrf"
CSRF_COOKIE = "digest_edit_csrf"  # + the port: two servers on one host keep their own
ACTIONS = ("note", "pin", "drop", "move", "retitle", "add", "reset", "approve")
# The email as it will look, in the page's sandboxed frame: no script at all, its own inline
# styles, framed only by our page.
EMAIL_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
             "form-action 'none'; frame-ancestors 'self'; base-uri 'none'; sandbox")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # date.fromisoformat takes more than this
REFUSED = (UsageError, ArticleError, FetchError, notes.NoteError)  # the editor can fix these


def parse_day(values: list[str]) -> date | None:
    """An `edition` value from a query or a form (None: absent or empty); 400 otherwise."""
    if len(values) > 1:
        raise InputError(400, "edition: one value expected")
    if not values or not values[0]:
        return None
    if _DAY.fullmatch(values[0]):
        try:
            return date.fromisoformat(values[0])
        except ValueError:
            pass
    raise InputError(400, "edition: not a date like 2026-11-30")


def web_link(url: str) -> str | None:
    """A story's link, when it is one a page may carry (http or https with a host)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    ok = parts.scheme in ("http", "https") and bool(parts.hostname) and url.isprintable()
    return url if ok else None


def root_of(path: str) -> str:
    """The way back to the server's root from a page, relative (the page works behind a proxy
    that serves it under a path): './' from /edit, '../' from /edit/pin."""
    depth = max(path.count("/") - 1, 0)
    return "../" * depth if depth else "./"


@dataclass(frozen=True, slots=True)
class Order:
    """One edit as a form asked for it, checked for shape (not for meaning: app.editing)."""

    action: str
    edition: date | None
    story: str = ""
    section: str | None = None
    text: str | None = None  # the note; a new headline (title)
    summary: str | None = None
    url: str = ""
    ids: tuple[int, ...] = ()


def read_order(action: str, fields: Fields, default: date | None) -> Order:
    """The edit a form asks for; InputError (400) for a field missing or out of shape."""
    day = parse_day(list(fields.many("edition", 20))) or default

    def required(name: str, limit: int) -> str:
        value = (fields.one(name, limit) or "").strip()
        if not value:
            raise InputError(400, f"{name}: missing")
        return value

    if action == "note":
        return Order(action, day, text=fields.one("text", MAX_NOTE_FIELD) or "")
    if action == "approve":
        return Order(action, day)
    if action in ("pin", "drop"):
        return Order(action, day, story=required("story", MAX_REF))
    if action == "move":
        return Order(action, day, story=required("story", MAX_REF),
                     section=required("section", MAX_FIELD))
    if action == "retitle":
        return Order(action, day, story=required("story", MAX_REF),
                     text=fields.one("title", MAX_FIELD), summary=fields.one("summary", MAX_FIELD))
    if action == "add":
        return Order(action, day, url=required("url", MAX_REF),
                     section=(fields.one("section", MAX_FIELD) or "").strip() or None)
    ids = fields.many("id", 20)
    if not all(i.isascii() and i.isdigit() for i in ids):
        raise InputError(400, "id: an edit's number")
    if not ids and fields.one("all", 10) != "1":
        raise InputError(400, "choose the edit to undo")
    return Order(action, day, ids=tuple(int(i) for i in ids))


def _same_text(typed: str | None, current: str, *, lines: bool) -> bool:
    """Whether a prefilled field came back as it was (whitespace aside)."""
    if typed is None:
        return True
    if lines:
        return [" ".join(x.split()) for x in typed.strip().splitlines()] == \
            [" ".join(x.split()) for x in current.strip().splitlines()]
    return " ".join(typed.split()) == " ".join(current.split())


def carry_out(app: App, order: Order, by: str) -> None:
    """Make the edit (EditError and the like when app.editing refuses it)."""
    e, day = app.editing, order.edition
    if order.action == "note":
        e.note(day, order.text or "", by=by)
    elif order.action == "pin":
        e.pin(day, order.story, by=by)
    elif order.action == "drop":
        e.drop(day, order.story, by=by)
    elif order.action == "move":
        e.move(day, order.story, order.section or "", by=by)
    elif order.action == "retitle":
        title, summary = order.text, order.summary
        # The form comes prefilled: only what the editor changed is an edit.
        current = _story(overview_to_dict(e.overview(day, compare=False)), order.story)
        if current is not None:
            title = None if _same_text(title, current["title"], lines=False) else title
            summary = None if _same_text(summary, current["summary"], lines=True) else summary
        e.retitle(day, order.story, title=title, summary=summary, by=by)
    elif order.action == "add":
        e.add(day, order.url, section=order.section, by=by)
    elif order.action == "reset":
        e.reset(day, order.ids)
    elif order.action == "approve":
        e.approve(day, by=by)


def _story(view: Mapping[str, Any], ref: str) -> dict[str, Any] | None:
    stories = [s for sec in view["sections"] for s in sec["stories"]] + view["not_selected"]
    return next((s for s in stories if s["id"] == ref.strip().lower()), None)


class Editor:
    """The editing page's routes over the Apps `open_app` gives; `edition`: the one shown
    when none is asked for (None: the upcoming one)."""

    def __init__(self, open_app: AppFactory, *, edition: date | None = None,
                 token: str | None = None) -> None:
        self.open_app = open_app
        self.edition = edition
        self.token = token or secrets.token_urlsafe(32)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(web_templates()), autoescape=True,
            undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)

    def routes(self) -> list[BaseRoute]:
        return [Route("/edit", self.page, methods=["GET"]),
                Route("/edit/email", self.email, methods=["GET"]),
                Route("/edit/note-preview", self.note_preview, methods=["POST"]),
                Route("/edit/{action}", self.act, methods=["POST"]),
                Mount("/static", StaticFiles(directory=web_templates() / "static"))]

    # --- the routes ---

    async def page(self, request: Request) -> Response:
        try:
            day = parse_day(request.query_params.getlist("edition")) or self.edition
        except InputError as e:
            return PlainTextResponse(e.message, e.status)
        return await run_in_threadpool(self._page, request, day)

    async def email(self, request: Request) -> Response:
        try:
            day = parse_day(request.query_params.getlist("edition")) or self.edition
        except InputError as e:
            return PlainTextResponse(e.message, e.status)
        try:
            body = await run_in_threadpool(self._email, day)
        except DigestError as e:
            return PlainTextResponse(str(e), 500, headers={"content-security-policy": EMAIL_CSP})
        return HTMLResponse(body, headers={"content-security-policy": EMAIL_CSP,
                                           "x-frame-options": "SAMEORIGIN"})

    async def note_preview(self, request: Request) -> Response:
        """The note as the email will show it; stores nothing (not even opens the App)."""
        try:
            fields = await self._form(request)
            text = fields.one("text", MAX_NOTE_FIELD) or ""
        except InputError as e:
            return PlainTextResponse(e.message, e.status)
        try:
            notes.check_note(text)
        except notes.NoteError as e:
            return PlainTextResponse(str(e), 400)
        return HTMLResponse(await run_in_threadpool(notes.note_html, text))

    async def act(self, request: Request) -> Response:
        action = request.path_params["action"]
        if action not in ACTIONS:
            return PlainTextResponse("not found", 404)
        try:
            order = read_order(action, await self._form(request), self.edition)
        except InputError as e:
            return PlainTextResponse(e.message, e.status)
        by = str(getattr(request.state, "editor", "") or "preview page")
        try:
            await run_in_threadpool(self._carry_out, order, by)
        except REFUSED as e:
            return await run_in_threadpool(
                self._page, request, order.edition, error=str(e), status=400,
                note=order.text if action == "note" else None)
        except DigestError as e:
            return await run_in_threadpool(self._page, request, order.edition, error=str(e),
                                           status=500)
        query = f"?{urlencode({'edition': order.edition.isoformat()})}" if order.edition else ""
        return RedirectResponse(f"{root_of(request.url.path)}edit{query}", 303)

    # --- in the threadpool ---

    def _carry_out(self, order: Order, by: str) -> None:
        with self.open_app() as app:
            carry_out(app, order, by)

    def _email(self, day: date | None) -> str:
        with self.open_app() as app:
            result = app.editions.build(day, fetch=False)
            return app.editions.readable(app.editions.rendered(result).html)

    def _page(self, request: Request, day: date | None, *, error: str | None = None,
              status: int = 200, note: str | None = None) -> Response:
        try:
            with self.open_app() as app:
                values = self._values(app, day, note)
        except (ConfigError, DigestError) as e:  # a broken feeds.yaml: shown until fixed
            values = {"broken": str(e), "title": "digest", "lang": "en", "dir": "ltr"}
            status = 500 if status == 200 else status
        html = self.env.get_template("edit.html").render(
            **values, error=error, root=root_of(request.url.path), csrf=self.token)
        # same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` with
        # the page's own POSTs (Fetch, "serializing a request origin"), which digest.serve
        # refuses like any other origin; other sites still get no Referer.
        response = HTMLResponse(html, status_code=status,
                                headers={"referrer-policy": "same-origin"})
        # HttpOnly: no script needs it (the forms carry it); Strict: no other site sends it
        response.set_cookie(self.cookie(request), self.token, path="/", httponly=True,
                            samesite="strict")
        return response

    def _values(self, app: App, day: date | None, note: str | None) -> dict[str, Any]:
        view = app.editing.overview(day)
        data = overview_to_dict(view)
        settings = app.settings
        tz = settings.tz

        def when(value: datetime | None) -> str:
            return value.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if value else ""

        def story(s: dict[str, Any]) -> dict[str, Any]:
            marks = [*(["pinned"] if s["pinned"] else []),
                     *(m for m in s["edited"] if m != "pinned"),
                     *(["new since the draft"] if s["new"] else [])]
            moves = [(sid, name) for sid, name in sections if sid != s["section"]]
            return {**s, "link": web_link(s["url"]), "marks": marks, "moves": moves}

        sections = [(x.id, x.title) for x in app.editions.section_limits()]
        review = view.review
        text = note if note is not None else (data["note"] or "")
        return {
            "title": settings.title, "lang": settings.email.lang, "dir": settings.email.dir,
            "broken": None, "edition": data["edition"], "send_at": when(view.send_at),
            "state": view.state, "editable": view.state == "open",
            "approved_by": review.approved_by, "approved_at": when(review.approved_at),
            "drafted_at": when(review.drafted_at),
            "sections": [{**sec, "stories": [story(s) for s in sec["stories"]]}
                         for sec in data["sections"]],
            "not_selected": [story(s) for s in data["not_selected"]],
            "all_sections": sections,
            "edits": [{**e, "at": when(datetime.fromisoformat(e["at"]))}
                      for e in data["edits"]],
            "problems": data["problems"], "changes": data["changes"],
            "note": text, "note_html": Markup(notes.note_html(text)),
            "email_url": "edit/email?" + urlencode({"edition": data["edition"]}),
        }

    # --- forms ---

    def cookie(self, request: Request) -> str:
        server = request.scope.get("server") or ("", 0)
        return f"{CSRF_COOKIE}_{server[1]}"

    async def _form(self, request: Request) -> Fields:
        """The form's fields, once its CSRF token is ours (403 otherwise)."""
        body = await read_body(request, MAX_BODY)
        fields = parse_form(body, form_type(request))
        sent = fields.one(CSRF_FIELD, 100) or ""
        cookie = request.cookies.get(self.cookie(request), "")
        token = self.token.encode()
        if not (hmac.compare_digest(sent.encode(), token)
                & hmac.compare_digest(cookie.encode(), token)):
            raise InputError(403, "this form has expired or was not sent from the editing "
                                  "page: reload the page and try again")
        return fields
