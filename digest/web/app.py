"""The web service's routes (issue 18): which page each address shows and which `Readers` call
each button makes. No GET changes anything (mail scanners follow every link); every POST from a
page carries the CSRF token, except the one-click unsubscribe (RFC 8058: a mail provider posts
it, with no cookie) and the JSON subscribe (a browser cannot send JSON to another site without
a CORS preflight, which is never allowed here) and the providers' webhooks (signed or
authenticated: digest.web.webhooks). Only `app.readers`, `app.archive` (its pages:
digest.web.archive_routes), `app.bounces` (the webhooks) and `app.settings` are used, never
the store.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from digest.addresses import MAX_ADDRESS
from digest.app import App
from digest.config import Settings
from digest.errors import ConfigError
from digest.metrics import Unsubscribe
from digest.models import Reader, ReaderSource, ReaderStatus
from digest.readers import MAX_NAME, Readers
from digest.tokens import MAX_TOKEN, Purpose, TokenError
from digest.web import forms
from digest.web.archive import ArchiveSite
from digest.web.archive_routes import ArchiveRoutes
from digest.web.forms import Fields, InputError
from digest.web.guard import Guard
from digest.web.limits import Throttled, client_address, throttle
from digest.web.openapi import MAX_SECTIONS, openapi_document
from digest.web.pages import Button, Pages
from digest.web.scrape import Scrape
from digest.web.webhooks import WEBHOOK_MAX_BODY, Webhooks

if TYPE_CHECKING:
    from digest.send import Outgoing

log = logging.getLogger(__name__)

CHECK_INBOX = "check your inbox"
MAX_SECTION_ID = 100
ONE_CLICK = "One-Click"  # RFC 8058 3.1: the body is List-Unsubscribe=One-Click


class Invalid(ValueError):
    """A value a person typed that we cannot take; `field` names its input on the page."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def make_web_app(app: App, *, webhooks: Webhooks | None = None) -> Starlette:
    """The ASGI application over one App's readers and settings (`webhooks`: the providers'
    routes made otherwise, by tests)."""
    settings = app.settings
    if not settings.web.links:
        raise ConfigError(settings.source or "config", [
            "web: the web service needs base_url and secret (${DIGEST_WEB_SECRET})"])
    pages = Pages(settings)
    site = Site(app.readers, settings, pages)
    archive = ArchiveRoutes(ArchiveSite(app.archive, settings, pages))
    hooks = webhooks or Webhooks(app)
    # `/` is the archive's index when it is public (issue 19), else the subscribe page
    routes = [
        Route("/", archive.home if settings.archive.public else site.home, methods=["GET"]),
        *archive.routes(),
        Route("/subscribe", site.subscribe, methods=["GET", "POST"]),
        Route("/confirm", site.confirm, methods=["GET", "POST"]),
        Route("/unsubscribe", site.unsubscribe, methods=["GET", "POST"]),
        Route("/resubscribe", site.resubscribe, methods=["POST"]),
        Route("/preferences", site.preferences, methods=["GET", "POST"]),
        Route("/change", site.change, methods=["GET", "POST"]),
        Route("/healthz", site.healthz, methods=["GET"]),
        Route("/openapi.json", site.openapi, methods=["GET"]),
        *hooks.routes(),
        Mount("/static", StaticFiles(directory=pages.static), name="static"),
    ]
    if settings.metrics.port is not None:  # metrics are on: this process counts (issue 24)
        app.metrics.enable()
        routes.append(Route("/metrics", Scrape(app.metrics, settings.metrics).answer,
                            methods=["GET"]))
    return Starlette(
        routes=routes,
        middleware=[Middleware(Guard, max_body=settings.web.max_body, https=pages.secure,
                               answer=site.error, larger=("/webhooks/", WEBHOOK_MAX_BODY))],
        exception_handlers={HTTPException: site.http_error, InputError: site.input_error,
                            TokenError: site.bad_link, Throttled: site.throttled})


class Site:
    """The handlers of one newsletter's pages."""

    def __init__(self, readers: Readers, settings: Settings, pages: Pages) -> None:
        self.readers = readers
        self.settings = settings
        self.pages = pages
        self.title = settings.title
        self.sections = tuple((s.id, s.title) for s in settings.sections)
        self.document = openapi_document(settings)

    # --- joining ---

    async def home(self, request: Request) -> Response:
        return RedirectResponse("subscribe", status_code=303)

    async def subscribe(self, request: Request) -> Response:
        if request.method == "GET":
            # `digest web snippet`'s form on another site opens this page with the address
            # filled in: shown only (bounded, as typed), never acted on by a GET
            prefill = request.query_params.get("email", "")
            return self._subscribe_page(
                request, email=prefill if len(prefill) <= MAX_ADDRESS and prefill.isprintable()
                else "")
        media = forms.media_type(request)
        if media is not None and media.kind == forms.JSON:
            await throttle(self.readers, self.settings.web, request, subscribe=True)
            data = forms.parse_json(await forms.read_body(request, self._max_body))
            return await self._subscribe_json(request, data)
        fields = await self._form(request, subscribe=True)
        email = fields.one("email", MAX_ADDRESS) or ""
        name = fields.one("name", MAX_NAME) or ""
        chosen = fields.many("sections", MAX_SECTION_ID)
        if fields.one("website", 1000):  # the honeypot: a robot; it is told what people are
            log.info("subscribe: the honeypot was filled in; nothing done")
            return self._check_inbox(request, None)
        try:
            sections = self._chosen(chosen, required=False)
            outgoing = await run_in_threadpool(
                self.readers.subscribe, email, name=_name(name), sections=sections,
                ip=client_address(request), form="web /subscribe")
        except ValueError as e:
            return self._subscribe_page(request, status=400, error=str(e),
                                        field=getattr(e, "field", "email"), email=email,
                                        name=name, chosen=chosen)
        return self._check_inbox(request, outgoing)

    async def _subscribe_json(self, request: Request, data: dict[str, object]) -> Response:
        problem = _json_problem(data)
        if problem is not None:
            return JSONResponse({"error": problem}, status_code=400)
        email, name, sections = data["email"], data.get("name"), data.get("sections")
        assert isinstance(email, str) and isinstance(name, str | None)
        assert isinstance(sections, list | None)
        try:
            outgoing = await run_in_threadpool(
                self.readers.subscribe, email, name=_name(name),
                sections=self._chosen(sections or (), required=False), ip=client_address(request),
                form="web /subscribe (JSON)", via=ReaderSource.API)
        except ValueError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        return _later(JSONResponse({"status": CHECK_INBOX}, status_code=202), self.readers,
                      outgoing)

    def _check_inbox(self, request: Request, outgoing: Outgoing | None) -> Response:
        # The same words whatever became of the address (new, pending, a reader already, over
        # its daily confirmations, a robot's): the difference is only in that address's inbox.
        return _later(self.pages.message(request, "Check your inbox", [
            "If the address can receive email, a message is on its way to it with a link. "
            "Follow it and press the button on the page it opens.",
            "Nothing arrived? Look in the spam folder, or wait a few minutes and try again."]),
            self.readers, outgoing)

    def _subscribe_page(self, request: Request, *, status: int = 200, error: str = "",
                        field: str = "", email: str = "", name: str = "",
                        chosen: Sequence[str] | None = None) -> Response:
        offered = self.sections if self.settings.web.choose_sections else ()
        return self.pages.render(
            request, "subscribe.html", heading=f"Subscribe to {self.title}", status=status,
            csrf=forms.csrf_token(request), error=error, error_field=field, email=email,
            name=name, consent=self.settings.web.consent_text.replace("{title}", self.title),
            sections=[(i, t, chosen is None or i in chosen) for i, t in offered])

    async def confirm(self, request: Request) -> Response:
        if request.method == "GET":
            token = forms.query_token(request)
            await run_in_threadpool(self.readers.reader_for, Purpose.CONFIRM, token)
            return self._one_button(request, "Confirm your subscription",
                                    f"Press the button to start getting {self.title}.",
                                    "confirm", "Yes, subscribe me", token)
        token = forms.form_token(await self._form(request))
        reader = await run_in_threadpool(self.readers.confirm, token)
        return self._joined(request, "You’re in", reader)

    def _joined(self, request: Request, heading: str, reader: Reader) -> Response:
        links = self.readers.links(reader)
        return self.pages.message(
            request, heading, [f"{reader.address} will get {self.title} from the next edition."],
            links=((("Choose your sections, pause or leave", links.preferences),)
                   if links and links.preferences else ()))

    # --- leaving and coming back ---

    async def unsubscribe(self, request: Request) -> Response:
        if request.method == "GET":
            token = forms.query_token(request)
            await run_in_threadpool(self.readers.reader_for, Purpose.UNSUBSCRIBE, token)
            return self.pages.message(
                request, f"Unsubscribe from {self.title}",
                [f"Press the button and {self.title} stops coming."],
                buttons=(Button("unsubscribe", "Unsubscribe",
                                (("token", token), ("List-Unsubscribe", ONE_CLICK))),))
        # RFC 8058: from a mail provider, no cookie and no CSRF token; never rate-limited, as
        # a refused unsubscribe is mail the reader asked not to get.
        media = forms.form_type(request, empty_ok=True)
        fields = forms.parse_form(await forms.read_body(request, self._max_body), media)
        if fields.one("List-Unsubscribe", 100) not in (None, ONE_CLICK):
            raise InputError(400, f"List-Unsubscribe must be {ONE_CLICK}")
        in_query = request.query_params.getlist("token")
        tokens = {*in_query, *fields.many("token", MAX_TOKEN)}
        if len(tokens) != 1:
            raise InputError(400, "one token is expected")
        token = forms.bounded_token(tokens.pop())
        # The List-Unsubscribe URL carries the token in its query; the page's button, in the
        # form (for the metrics: a mail program's one click, or the reader on our page)
        reader = await run_in_threadpool(
            self.readers.unsubscribe, token, reason="one-click (RFC 8058)",
            how=Unsubscribe.ONE_CLICK if in_query else Unsubscribe.LINK)
        if reader is None:
            return self.pages.message(request, "You are not on the list",
                                      [f"This address no longer gets {self.title}."])
        if reader.status is not ReaderStatus.UNSUBSCRIBED:  # bounced or complained
            return self.pages.message(request, "You have left",
                                      [f"{self.title} is not sent to this address."])
        csrf = forms.csrf_token(request)
        return self.pages.message(
            request, "You have left",
            [f"{reader.address} will get no more of {self.title}.",
             "Pressed by mistake? You can come back at once."],
            buttons=(Button("resubscribe", f"Subscribe again to {self.title}",
                            (("token", token), ("csrf", csrf)), quiet=True),), csrf=csrf)

    async def resubscribe(self, request: Request) -> Response:
        token = forms.form_token(await self._form(request))
        reader = await run_in_threadpool(self.readers.resubscribe, token,
                                         ip=client_address(request))
        return self._joined(request, "Welcome back", reader)

    # --- the reader's own settings ---

    async def preferences(self, request: Request) -> Response:
        if request.method == "GET":
            token = forms.query_token(request)
            reader = await run_in_threadpool(self.readers.reader_for, Purpose.PREFERENCES,
                                             token)
            return self._preferences_page(request, reader, token)
        fields = await self._form(request)
        token = forms.form_token(fields)
        action = fields.one("action", 20)
        if action == "save":
            chosen = fields.many("sections", MAX_SECTION_ID)
            try:
                sections = self._chosen(chosen, required=True)
                reader = await run_in_threadpool(
                    self.readers.update_preferences, token, sections=sections,
                    paused=fields.one("paused", 10) is not None)
            except ValueError as e:
                reader = await run_in_threadpool(self.readers.reader_for, Purpose.PREFERENCES,
                                                 token)
                return self._preferences_page(request, reader, token, status=400,
                                              error=str(e), field="sections", chosen=chosen)
            return self._preferences_page(request, reader, token, notice="Saved.")
        if action == "leave":
            await run_in_threadpool(self.readers.leave, token)
            return self.pages.message(request, "You have left",
                                      [f"You will get no more of {self.title}."],
                                      links=(("Subscribe again", "subscribe"),))
        if action == "change-address":
            new = fields.one("email", MAX_ADDRESS) or ""
            try:
                outgoing = await run_in_threadpool(self.readers.change_address, token, new)
            except ValueError as e:
                reader = await run_in_threadpool(self.readers.reader_for, Purpose.PREFERENCES,
                                                 token)
                return self._preferences_page(request, reader, token, status=400,
                                              error=str(e), field="email", new_address=new)
            return _later(self.pages.message(request, "Check the new address's inbox", [
                f"A link went to {new.strip()}. Your address changes when it is followed; "
                "until then everything stays as it is."],
                links=(("Back to your settings", f"preferences?token={quote(token)}"),)),
                self.readers, outgoing)
        raise InputError(400, "action: save, leave or change-address")

    def _preferences_page(self, request: Request, reader: Reader, token: str, *,
                          status: int = 200, notice: str = "", error: str = "",
                          field: str = "", chosen: Sequence[str] | None = None,
                          new_address: str = "") -> Response:
        if reader.status not in (ReaderStatus.ACTIVE, ReaderStatus.PENDING):
            return self.pages.message(request, "Your settings",
                                      [f"{reader.address} does not get {self.title} now."],
                                      status=status, links=(("Subscribe again", "subscribe"),))
        offered = self.sections if self.settings.web.choose_sections else ()
        if chosen is None:
            chosen = reader.sections if reader.sections is not None else [i for i, _ in offered]
        return self.pages.render(
            request, "preferences.html", heading="Your settings", status=status,
            csrf=forms.csrf_token(request), token=token, address=reader.address,
            paused=reader.paused, notice=notice, error=error, error_field=field,
            new_address=new_address, sections=[(i, t, i in chosen) for i, t in offered])

    async def change(self, request: Request) -> Response:
        if request.method == "GET":
            token = forms.query_token(request)
            _, new = await run_in_threadpool(self.readers.peek_change, token)
            return self._one_button(request, "Confirm your new address",
                                    f"From now on, {self.title} goes to {new}.",
                                    "change", "Use this address", token)
        token = forms.form_token(await self._form(request))
        try:
            reader = await run_in_threadpool(self.readers.confirm_change, token)
        except ValueError as e:
            raise InputError(400, str(e)) from None
        return self._joined(request, "Your address is changed", reader)

    # --- machines ---

    async def healthz(self, request: Request) -> Response:
        try:
            healthy = await run_in_threadpool(self.readers.healthy)
        except Exception:
            log.warning("healthz: the database does not answer", exc_info=True)
            healthy = False
        return JSONResponse({"status": "ok" if healthy else "error"},
                            status_code=200 if healthy else 503)

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(self.document)

    # --- errors ---

    def error(self, request: Request, status: int, message: str,
              headers: dict[str, str] | None = None) -> Response:
        """An error in the form the request expects: JSON to JSON, a page to the rest."""
        if forms.wants_json(request):
            return JSONResponse({"error": message}, status_code=status, headers=headers)
        heading = _HEADINGS.get(status, "That did not work")
        response = self.pages.message(request, heading, [message], status=status,
                                      links=(("Go to the subscribe page", "subscribe"),))
        response.headers.update(headers or {})
        return response

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = {404: "There is no page at this address.",
                   405: "This page does not take that kind of request."}.get(
                       exc.status_code, str(exc.detail))
        headers = dict(exc.headers or {})
        if "Allow" in headers:  # Starlette joins a set: one order for every run
            headers["Allow"] = ", ".join(sorted(headers["Allow"].split(", ")))
        return self.error(request, exc.status_code, message, headers)

    async def input_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, InputError)
        message = exc.message
        if exc.status == 403:
            message = ("This form has expired or was not sent from this site. Go back, "
                       "reload the page and try again.")
        return self.error(request, exc.status, message)

    async def bad_link(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TokenError)
        return self.pages.message(
            request, "This link has expired" if exc.expired else "This link does not work",
            [str(exc)[:1].upper() + str(exc)[1:] + ".",
             "You can subscribe again, or use the link in a newer email."],
            status=400, links=(("Go to the subscribe page", "subscribe"),))

    async def throttled(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Throttled)
        wait = str(max(1, math.ceil(exc.wait)))  # RFC 9110 10.2.3: whole seconds
        return self.error(request, 429, "Too many requests from your address: please wait "
                                        f"{wait} seconds and try again.", {"Retry-After": wait})

    # --- helpers ---

    @property
    def _max_body(self) -> int:
        return int(self.settings.web.max_body)

    async def _form(self, request: Request, *, subscribe: bool = False) -> Fields:
        """A page's POST: a form (415 otherwise), within the rate limits, with its CSRF
        token."""
        media = forms.form_type(request)
        await throttle(self.readers, self.settings.web, request, subscribe=subscribe)
        fields = forms.parse_form(await forms.read_body(request, self._max_body), media)
        forms.check_csrf(request, fields)
        return fields

    def _chosen(self, chosen: Sequence[str], *, required: bool) -> tuple[str, ...] | None:
        """The sections ticked: None for all of them (so sections added later come too)."""
        if not self.settings.web.choose_sections or not self.sections:
            return None
        known = [i for i, _ in self.sections]
        for s in chosen:
            if s not in known:
                raise Invalid("sections", f"unknown section {s!r}")
        if not chosen:
            if required:  # a form with every box unticked: not "everything"
                raise Invalid("sections", "Choose at least one section.")
            return None
        return None if set(chosen) == set(known) else tuple(dict.fromkeys(chosen))

    def _one_button(self, request: Request, heading: str, text: str, action: str, label: str,
                    token: str) -> Response:
        csrf = forms.csrf_token(request)
        return self.pages.message(request, heading, [text], csrf=csrf, buttons=(
            Button(action, label, (("token", token), ("csrf", csrf))),))


_HEADINGS = {400: "That did not work", 403: "Please try again", 404: "Page not found",
             405: "Not allowed", 413: "Request too large", 415: "Unsupported request",
             429: "Slow down",
             500: "Something went wrong"}


def _later(response: Response, readers: Readers, outgoing: Outgoing | None) -> Response:
    """The response, with the email sent after it has gone (so how long the answer takes
    does not tell whether an email was sent)."""
    if outgoing is not None:
        response.background = BackgroundTask(readers.send_notices, [outgoing])
    return response


def _json_problem(data: dict[str, object]) -> str | None:
    """What is wrong with a JSON subscribe request's shape, if anything."""
    unknown = sorted(set(data) - {"email", "name", "sections"})
    if unknown:
        return f"unknown field {unknown[0]!r}"
    email, name, sections = data.get("email"), data.get("name"), data.get("sections")
    if not isinstance(email, str):
        return "email: a string is required"
    if len(email) > MAX_ADDRESS:
        return f"email: at most {MAX_ADDRESS} characters"
    if not isinstance(name, str | None) or (name is not None and len(name) > MAX_NAME):
        return f"name: a string of at most {MAX_NAME} characters, or null"
    if sections is not None and not (
            isinstance(sections, list) and len(sections) <= MAX_SECTIONS and
            all(isinstance(s, str) and len(s) <= MAX_SECTION_ID for s in sections)):
        return "sections: a list of section ids, or null"
    return None


def _name(name: str | None) -> str | None:
    if name is None or not name.strip():
        return None
    if not name.isprintable():
        raise Invalid("name", "The name must be one line of text.")
    return name
