"""The web commands: serve (the readers' web service), web snippet, archive build|search."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from digest.cli.output import LISTING_FORMAT, Column, emit
from digest.cli.root import State, cli
from digest.errors import UsageError

if TYPE_CHECKING:

    pass


@cli.command()
@click.option("--host", metavar="ADDR", help="Address to listen on (default: web.host).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default: web.port).")
@click.pass_obj
def serve(state: State, host: str | None, port: int | None) -> None:
    """Serve the readers' web service: subscribe (double opt-in), confirm, preferences,
    unsubscribe (one-click, RFC 8058), /healthz.

    Needs `web.base_url` (where readers reach it, behind your TLS proxy) and `web.secret`
    (from the environment). `digest run` serves it too when `web.enabled` is set.

    \b
    Examples:
      DIGEST_WEB_SECRET=... digest serve
      digest serve --host 0.0.0.0 --port 8080
    """
    from digest.app import make_app
    from digest.web import serve as serve_web

    settings = state.settings()
    web = settings.web
    if not web.links:
        raise UsageError(f"{settings.source}: web.base_url and web.secret are needed to serve "
                         "the readers' pages (see README, Readers)")
    app = make_app(settings)
    try:
        app.readers.sync_config()
        where = f"{host or web.host}:{port if port is not None else web.port}"
        click.echo(f"serving {settings.title} for {web.base_url} on {where} (Ctrl-C to stop)",
                   err=True)
        serve_web(app, host=host or web.host, port=port if port is not None else web.port)
    finally:
        app.close()


@cli.group()
def web() -> None:
    """The readers' web service: what to put on your own pages (`digest serve` runs it).

    \b
    Example:
      digest web snippet > subscribe-form.html
    """


@web.command("snippet")
@click.pass_obj
def web_snippet(state: State) -> None:
    """Print an HTML form to embed on your own site: it opens the subscribe page with the
    address filled in, where the reader chooses sections, reads what they agree to and
    confirms (the page's form is protected against cross-site posts; this one changes
    nothing).

    \b
    Example:
      digest web snippet > subscribe-form.html
    """
    from html import escape

    settings = state.settings()
    if settings.web.base_url is None:
        raise UsageError(f"{settings.source}: web.base_url is not set: the form needs the "
                         "address of the subscribe page")
    action = escape(f"{settings.web.base_url}/subscribe")
    title = escape(settings.title)
    click.echo(f"""<form class="digest-subscribe" action="{action}" method="get">
  <label for="digest-email">Get {title} by email</label>
  <input id="digest-email" name="email" type="email" autocomplete="email" required
         maxlength="254" placeholder="you@example.org">
  <button type="submit">Subscribe</button>
</form>""")


@cli.group("archive")
def archive_group() -> None:
    """The archive of sent editions: export it as static files, search it (`digest serve`
    publishes it too, with its feeds and search).

    \b
    Examples:
      digest archive build --out site/
      digest archive search "chip lagos"
    """


@archive_group.command("build")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), metavar="DIR",
              required=True, help="The folder to write (replaced whole by the new export).")
@click.pass_obj
def archive_build(state: State, out: Path) -> None:
    """Write the public archive as files for any static host: index.html and page/N/, one
    editions/DATE/index.html per sent edition, feed.atom, feed.json, sitemap.xml, robots.txt
    and static/digest.css. Needs web.base_url (the absolute links of the feeds and sitemap)
    and archive.public; the search stays on the service (its form points at base_url).

    \b
    Example:
      digest archive build --out /var/www/brief
    """
    from digest.web.export import export_archive

    with state.app() as app:
        done = export_archive(app, out)
    click.echo(f"{done.out}: {done.files} files ({done.editions} editions, {done.pages} index "
               "pages)")


@archive_group.command("search")
@click.argument("query")
@click.option("--page", type=click.IntRange(1, 10_000), default=1, show_default=True,
              help="Which page of 20 hits.")
@LISTING_FORMAT
@click.pass_obj
def archive_search(state: State, query: str, page: int, fmt: str) -> None:
    """Search the stories of the sent editions (every word must match), best first; each hit
    with its edition and its address in the archive.

    \b
    Examples:
      digest archive search "chip lagos"
      digest archive search election --page 2 --format json
    """
    from digest.web.archive import story_path

    with state.app() as app:
        found = app.archive.search(query, page)
        base = app.settings.web.base_url
        source = app.settings.source
    if found is None:
        raise UsageError(f"{source}: archive.public is false: the archive is not searchable")
    hits = [{"edition": h.edition.isoformat(), "section": h.section_id, "title": h.title,
             "source": h.source, "summary": h.summary, "url": h.url,
             "archive_url": f"{base}/{story_path(h.edition, h.position)}" if base
             else story_path(h.edition, h.position)} for h in found.items]
    count = f"{found.total} {'story' if found.total == 1 else 'stories'} found"
    emit(fmt, hits, lambda h: h, [
        Column("edition", "edition"), Column("section", "section"), Column("title", "title"),
        Column("source", "source"), Column("archive", "archive_url")],
        title=f"{count} (page {found.number} of {found.pages})",
        fields=("edition", "section", "title", "source", "summary", "url", "archive_url"))
