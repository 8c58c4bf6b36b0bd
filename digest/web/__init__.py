"""The reader-facing web service (issues 18 and 19), a driver: HTTP in, `app.readers` and
`app.archive` called, pages, feeds and JSON out. It never opens the store (no `.store`, no
digest.store, digest.schema or digest.migrate): everything it knows and changes goes through the
`Readers` and `Archive` use cases, and the settings it reads are `app.settings`.

    make_web_app(app)             the ASGI application (Starlette)
    serve(app, host=, port=)      run it under uvicorn until a signal stops it (`digest serve`)
    run_in_thread(app, host, port) run it in a daemon thread (`digest run` with web.enabled)

Modules: `app` (routes and what each page does), `forms` (reading request bodies: size, type,
fields, tokens, CSRF), `limits` (the client's address and its rate limits), `guard` (headers
on every answer, body limit, the 500 page), `pages` (Jinja2 templates from templates/web),
`openapi` (the JSON endpoints described), `server` (uvicorn), `scrape` (/metrics, with
`metrics.port`: issue 24); the archive (issue 19):
`archive` (every archive page and document as a string), `archive_routes` (its addresses),
`feeds` (Atom, JSON Feed, sitemap, robots.txt), `export` (`digest archive build`).
"""

from __future__ import annotations

from digest.web.app import make_web_app
from digest.web.server import RunningServer, run_in_thread, serve

__all__ = ["RunningServer", "make_web_app", "run_in_thread", "serve"]
