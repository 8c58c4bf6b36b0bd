"""`digest preview --serve`: the upcoming edition on a local web page that renders again when
feeds.yaml or a template changes, for template authors. No decisions here: `render` (given by
the CLI) builds and renders the edition; this module only watches files and serves pages.

Pages: `/` the HTML email, `/text` the plain-text part, `/version` a number that changes
whenever the files do (the page polls it and reloads itself). A configuration or template
error is shown as the page, with its message, until the files are fixed. Only 127.0.0.1 by
default.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from digest.errors import DigestError

RELOAD_SCRIPT = """<script>
(function () {{
  var seen = {version};
  setInterval(function () {{
    fetch('/version').then(function (r) {{ return r.text(); }}).then(function (v) {{
      if (Number(v) !== seen) {{ location.reload(); }}
    }}).catch(function () {{}});
  }}, 1000);
}})();
</script>"""


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


def serve(preview: Preview, host: str = "127.0.0.1", port: int = 8025) -> ThreadingHTTPServer:
    """An HTTP server for the preview (not yet serving: call serve_forever)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/version":
                preview.page()
                self._send(str(preview.version), "text/plain")
            elif path == "/text":
                self._send(preview.page().text, "text/plain")
            elif path == "/":
                page = preview.page().html
                script = RELOAD_SCRIPT.format(version=preview.version)
                body = page.replace("</body>", script + "</body>", 1)
                self._send(body if body != page else page + script, "text/html")
            else:
                self.send_error(404)

        def _send(self, body: str, kind: str) -> None:
            data = body.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return  # quiet: the CLI says where the page is

    return ThreadingHTTPServer((host, port), Handler)
