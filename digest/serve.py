"""`digest preview --serve`: the upcoming edition on a local web page that renders again when
feeds.yaml or a template changes (for template authors), and the editing page (issue 22,
digest.web.editor), served by uvicorn. No decisions here: `render` (given by the CLI) builds and
renders the edition and the editor's routes call `app.editing`; this module watches files,
serves pages and guards the door.

Pages: `/` the HTML email, `/text` the plain-text part, `/version` a number that changes
whenever the files do (the page polls it and reloads itself), `/edit` the editing page. A
configuration or template error is shown as the page, with its message, until the files are
fixed.

The door (`Gate`, around every route): only 127.0.0.1 by default; bound to any other address
it will not start without an editors' password (DIGEST_EDIT_PASSWORD), and with one set every
request needs it (HTTP Basic, RFC 7617; repeated failures from one client are refused for a
while). A Host header we do not answer to is refused (DNS rebinding: another site's name made
to point at 127.0.0.1), so is a POST from another origin, and a body larger than MAX_BODY.
Every answer carries the security headers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import ipaddress
import math
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digest.errors import DigestError, UsageError
from digest.web.forms import basic_credentials
from digest.web.limits import client_group

PASSWORD_ENV = "DIGEST_EDIT_PASSWORD"
MAX_BODY = 64 * 1024  # bytes of a request body: a note is at most 5000 characters
MAX_FAILURES = 10  # failed logins from one client within FAILURE_WINDOW, then it waits
FAILURE_WINDOW = 60.0  # seconds
START_WITHIN = 60.0  # seconds for the thread to be listening; more is a hang
REALM = 'Basic realm="digest editing", charset="UTF-8"'  # RFC 7617 2.1

# The editing page: scripts and styles from our own files only, the email in a frame of ours,
# forms only to ourselves, never framed by anyone (clickjacking the Approve button).
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: "
            "data:; connect-src 'self'; frame-src 'self'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")
# The email as it will look (in the editing page's sandboxed frame): no script at all.
EMAIL_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
             "form-action 'none'; frame-ancestors 'self'; base-uri 'none'; sandbox")
# The template author's page: the email plus our one reload script (allowed by its hash).
PREVIEW_CSP = ("default-src 'none'; script-src '{hash}'; connect-src 'self'; "
               "style-src 'unsafe-inline'; img-src http: https: data:; form-action 'none'; "
               "frame-ancestors 'none'; base-uri 'none'")

RELOAD_JS = """
(function () {{
  var seen = {version};
  setInterval(function () {{
    fetch('/version').then(function (r) {{ return r.text(); }}).then(function (v) {{
      if (Number(v) !== seen) {{ location.reload(); }}
    }}).catch(function () {{}});
  }}, 1000);
}})();
"""


@dataclass
class Page:
    html: str
    text: str


class Preview:
    """Renders on demand, again only when a watched file changed since the last render."""

    def __init__(self, render: Callable[[], Page], watched: Callable[[], Iterable[Path]]) -> None:
        self._render = render
        self._watched = watched
        self._lock = threading.Lock()
        self._stamp: tuple[tuple[str, float], ...] | None = None
        self._page = Page("", "")
        self.version = 0

    def _stamps(self) -> tuple[tuple[str, float], ...]:
        out = []
        for path in self._watched():
            try:
                out.append((str(path), path.stat().st_mtime))
            except OSError:
                out.append((str(path), -1.0))
        return tuple(sorted(out))

    def page(self) -> Page:
        with self._lock:
            stamp = self._stamps()
            if stamp != self._stamp:
                self._stamp = stamp
                self.version += 1
                try:
                    self._page = self._render()
                except DigestError as e:
                    message = html.escape(str(e))
                    self._page = Page(f"<!doctype html><title>digest preview: error</title>"
                                      f"<pre style='color:#b00020'>{message}</pre>", str(e))
            return self._page


def with_reload_script(page: str, version: int) -> tuple[str, str]:
    """The page with the script that reloads it when the files change, and the CSP that lets
    that one script run (by its hash: CSP 3, 'hash-source') and no other."""
    code = RELOAD_JS.format(version=version)
    digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
    script = f"<script>{code}</script>"
    body = page.replace("</body>", script + "</body>", 1)
    return (body if body != page else page + script,
            PREVIEW_CSP.format(hash=f"sha256-{digest}"))


def preview_routes(preview: Preview) -> list[BaseRoute]:
    """The template author's pages: `/`, `/text` and `/version`."""

    def home(request: Request) -> Response:
        body, csp = with_reload_script(preview.page().html, preview.version)
        return HTMLResponse(body, headers={"content-security-policy": csp})

    def text(request: Request) -> Response:
        return PlainTextResponse(preview.page().text)

    def version(request: Request) -> Response:
        preview.page()
        return PlainTextResponse(str(preview.version))

    # plain `def` routes: Starlette runs them in its threadpool (rendering blocks)
    return [Route("/", home, methods=["GET"]), Route("/text", text, methods=["GET"]),
            Route("/version", version, methods=["GET"])]


# --- who may come in ---


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    return host.strip("[]") in ("", "0.0.0.0", "::")


def check_exposure(host: str, password: str | None) -> None:
    """Refuse to serve the editing page beyond this machine without a password."""
    if not password and not is_loopback(host):
        raise UsageError(f"preview: listening on {host or 'every address'} lets anyone who "
                         f"reaches it edit and approve editions: set {PASSWORD_ENV} (the "
                         "editors' password), or keep the default --host 127.0.0.1")


def _netloc(host: str, port: int) -> str:
    host = host.lower().strip("[]")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def allowed_hosts(host: str, port: int, editing_url: str | None = None) -> frozenset[str]:
    """The Host header values the server answers to: the address it is bound to (loopback
    names too when that is loopback or every address) and `editing.url`'s host, with or
    without the default port."""
    names: set[str] = set()
    if not is_wildcard(host):
        names.add(host)
    if is_loopback(host) or is_wildcard(host):
        names.update(("localhost", "127.0.0.1", "::1"))
    found = {_netloc(name, port) for name in names}
    if port == 80:
        found.update(_netloc(name, port).rsplit(":", 1)[0] for name in names)
    if editing_url:
        parts = urlsplit(editing_url)
        default = 443 if parts.scheme == "https" else 80
        if parts.hostname:
            public = _netloc(parts.hostname, parts.port or default)
            found.add(public)
            if (parts.port or default) == default:
                found.add(public.rsplit(":", 1)[0])
    return frozenset(found)


class Logins:
    """Failed logins per client within a window: past `limit`, the client waits until the
    oldest failure leaves the window (in memory: one process, one editing page)."""

    MAX_CLIENTS = 10_000  # a flood of addresses cannot grow this without bound

    def __init__(self, *, limit: int = MAX_FAILURES, window: float = FAILURE_WINDOW,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        """Seconds before `client` may try again (0: now)."""
        with self._lock:
            found = self._recent(client)
            if len(found) < self.limit:
                return 0.0
            return max(found[0] + self.window - self.clock(), 0.0)

    def failed(self, client: str) -> None:
        with self._lock:
            found = self._recent(client)
            if not found and len(self._failures) >= self.MAX_CLIENTS:
                self._failures.pop(next(iter(self._failures)))  # the longest known
            found.append(self.clock())
            self._failures[client] = found

    def _recent(self, client: str) -> deque[float]:
        found = self._failures.get(client, deque())
        now = self.clock()
        while found and found[0] <= now - self.window:
            found.popleft()
        if not found:
            self._failures.pop(client, None)
        return found


@dataclass(frozen=True, slots=True)
class Access:
    """The door: the Host values answered, and the editors' password (None: no login)."""

    hosts: frozenset[str]
    password: str | None = None
    max_body: int = MAX_BODY


def editor_name(user: str) -> str | None:
    """The name a login gives its edits: one printable line of at most 100 characters
    (digest.editing.MAX_BY); None when it is not acceptable."""
    name = " ".join(user.split())
    return name if len(name) <= 100 and name.isprintable() else None


class Gate:
    """ASGI middleware around every route: security headers on every answer, the Host check,
    the password (when there is one), the size of the body and the origin of a POST."""

    def __init__(self, app: ASGIApp, access: Access, *, logins: Logins | None = None) -> None:
        self.app = app
        self.access = access
        self.logins = logins or Logins()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        email = scope.get("path") == "/edit/email"

        async def send_safely(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("content-security-policy", PAGE_CSP)
                headers["x-content-type-options"] = "nosniff"
                headers.setdefault("referrer-policy", "no-referrer")
                headers["x-frame-options"] = "SAMEORIGIN" if email else "DENY"
                headers["cache-control"] = "no-store"
            await send(message)

        request = Request(scope)
        refusal = self._refusal(request)
        if refusal is not None:
            await refusal(scope, receive, send_safely)
            return
        await self.app(scope, receive, send_safely)

    def _refusal(self, request: Request) -> Response | None:
        host = request.headers.get("host", "").lower()
        if host not in self.access.hosts:
            return PlainTextResponse("this server does not answer to that Host name (set "
                                     "editing.url to the address editors use)", 400)
        refused = self._login(request)
        if refused is not None:
            return refused
        length = request.headers.get("content-length", "0")
        if not (length.isascii() and length.isdigit()) or len(length) > 12:
            return PlainTextResponse("Content-Length is not a number", 400)
        if int(length) > self.access.max_body:
            return PlainTextResponse(f"the request body is larger than {self.access.max_body} "
                                     "bytes", 413)
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("origin")
            if origin is not None and not same_origin(origin, host):
                return PlainTextResponse("this form was not sent from this page", 403)
        return None

    def _login(self, request: Request) -> Response | None:
        """None when the request may go on (and the editor's name is in its state)."""
        request.state.editor = "preview page"
        if not self.access.password:
            return None
        client = client_group(request)
        wait = self.logins.wait(client)
        if wait > 0:
            return PlainTextResponse("too many failed logins: try again later", 429,
                                     headers={"retry-after": str(max(math.ceil(wait), 1))})
        found = basic_credentials(request.headers.get("authorization", ""))
        if found is None:  # a browser asks without credentials first: not a failure
            return PlainTextResponse("the editing page needs the editors' password", 401,
                                     headers={"www-authenticate": REALM})
        user, password = found
        if not _same(password, self.access.password):
            self.logins.failed(client)
            return PlainTextResponse("wrong password", 401, headers={"www-authenticate": REALM})
        name = editor_name(user)
        if name is None:
            return PlainTextResponse("the user name must be one line of at most 100 "
                                     "printable characters", 400)
        request.state.editor = name or "preview page"
        return None


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def same_origin(origin: str, host: str) -> bool:
    """Whether an Origin header (RFC 6454) names this server as the browser reached it: the
    Host it sent (already checked), over http or https (a TLS proxy may stand in front)."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
        return False
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    wanted = {_netloc(parts.hostname, port)}
    if parts.port is None:
        wanted.add(_netloc(parts.hostname, port).rsplit(":", 1)[0])
    return host in wanted


def preview_app(preview: Preview, access: Access, *, editor: Iterable[BaseRoute] = (),
                logins: Logins | None = None) -> ASGIApp:
    """The whole server: the template author's pages and the editor's routes, behind the
    gate."""
    app = Starlette(routes=[*preview_routes(preview), *editor])
    return Gate(app, access, logins=logins)


# --- running ---


def listen(host: str, port: int) -> socket.socket:
    """A socket bound and listening on host:port (port 0: any free one); DigestError when it
    cannot be."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as e:
        raise DigestError(f"preview: cannot listen on {host}:{port}: {e}") from e
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise DigestError(f"preview: cannot listen on {host}:{port}: {e}") from e
    return sock


def bound_port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


class _Server(uvicorn.Server):
    """uvicorn's server, except that SIGTERM or SIGINT ends it like a shutdown and the process
    then exits 0: uvicorn would raise the signal again once it has stopped."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: do not wait for open connections
        else:
            self.should_exit = True


def _server(app: ASGIApp) -> _Server:
    return _Server(uvicorn.Config(
        app, loop="asyncio", http="h11", log_config=None, access_log=False,
        server_header=False, h11_max_incomplete_event_size=16 * 1024))


def serve(app: ASGIApp, sock: socket.socket) -> None:
    """Serve on `sock` until SIGINT or SIGTERM."""
    _server(app).run(sockets=[sock])


@dataclass(frozen=True, slots=True)
class RunningPreview:
    """The server in a daemon thread (tests); `url` ends without a slash."""

    server: uvicorn.Server
    thread: threading.Thread
    url: str

    def stop(self, timeout: float = 30.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def run_in_thread(app: ASGIApp, sock: socket.socket) -> RunningPreview:
    """Serve in a daemon thread; returns once it listens."""
    server = _server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name="digest-preview", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_WITHIN
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise DigestError("preview: the server did not start (see the log)")
        time.sleep(0.01)
    host, port = sock.getsockname()[:2]
    return RunningPreview(server, thread, f"http://{_netloc(str(host), int(port))}")
