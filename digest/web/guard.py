"""Every answer's safety net (issue 18), as ASGI middleware around the routes: the security
headers on every response (errors included), a body whose Content-Length passes `web.max_body`
refused (413) before anything reads it, any exception logged and answered with a plain 500
page (never a traceback), and one access-log line per request without its query string.

Knows nothing of readers or pages: `answer` (given by digest.web.app) draws the 413, 400 and
500 pages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

# No script at all, styles only from our own stylesheet, forms only to ourselves, never framed
# (clickjacking a one-button page would be enough to unsubscribe someone), no <base> tricks.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
HEADERS = (
    ("content-security-policy", CSP),
    ("x-content-type-options", "nosniff"),
    # Reader links carry their token in the query: a Referer would hand it to any site a page
    # links to (the preferences link, a postal address turned into a link by a browser...).
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),  # RFC 7034, for browsers without frame-ancestors
)
# RFC 6797: a year. Sent even when the request reached us over http: TLS ends at the reverse
# proxy in front of us, and base_url says readers use https.
HSTS = "max-age=31536000"

Answer = Callable[[Request, int, str], Response]


class Guard:
    """The ASGI middleware; `https`: base_url is https (send HSTS, mark cookies Secure)."""

    def __init__(self, app: ASGIApp, *, max_body: int, https: bool, answer: Answer,
                 larger: tuple[str, int] | None = None) -> None:
        """`larger`: a path prefix whose bodies may be larger, and their limit (the providers'
        webhooks: an SNS message may be 256 KB)."""
        self.app = app
        self.max_body = max_body
        self.larger = larger
        self.headers = (*HEADERS, *((("strict-transport-security", HSTS),) if https else ()))
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_safely(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = MutableHeaders(scope=message)
                for name, value in self.headers:
                    headers[name] = value
                if "cache-control" not in headers:
                    # Pages hold reader tokens and addresses: no cache may keep them. The
                    # stylesheet is the same for everyone.
                    headers["cache-control"] = "public, max-age=3600" if static else "no-store"
            await send(message)

        request = Request(scope)
        try:
            refusal = self._refusal(request)
            if refusal is not None:
                await refusal(scope, receive, send_safely)
            else:
                await self.app(scope, receive, send_safely)
        except ClientDisconnect:
            log.info("%s %r: the client went away", request.method, request.url.path)
            return
        except Exception:
            log.exception("error answering %s %r", request.method, request.url.path)
            if status == 0:  # nothing sent yet: a 500 page; otherwise the connection just ends
                await self._failed(request)(scope, receive, send_safely)
        # %r: a path may hold any character, a line break too (log injection)
        log.info("%s %r %s", request.method, request.url.path, status or "-")

    def _failed(self, request: Request) -> Response:
        try:
            return self.answer(request, 500, "Something went wrong on our side.")
        except Exception:  # the page itself cannot be drawn (a broken template): plain text
            log.exception("error drawing the error page")
            return PlainTextResponse("Something went wrong on our side.", status_code=500)

    def _refusal(self, request: Request) -> Response | None:
        """A body refused by its declared length alone, before anything reads it."""
        length = request.headers.get("content-length")
        if length is None:
            return None
        if not length.isascii() or not length.isdigit():
            return self.answer(request, 400, "The Content-Length header is not a number.")
        limit = self.max_body
        if self.larger is not None and request.url.path.startswith(self.larger[0]):
            limit = self.larger[1]
        if int(length) > limit:
            return self.answer(request, 413, f"The request body is larger than {limit} bytes.")
        return None
