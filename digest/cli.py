"""The command line: arguments in, calls `app`, prints results; errors become exit codes.

The only importer of click and rich, and the only place logging is configured. Exit codes:
0 success, 1 the work ran but failed (a delivery failed permanently), 2 usage or config error.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.text import Text

from digest import DEFAULT_CONFIG, __version__
from digest.errors import ConfigError, DigestError, UsageError
from digest.models import DeliveryStatus, FeedHealth, FeedOutcome, FeedStatus, iso

# Imported where used, not here: `digest --help` and Docker's `digest status --check` (every
# minute) must not pay for the whole app (numpy, SQLAlchemy, Jinja, MJML, feedparser, aiohttp,
# APScheduler, pydantic). `tests/test_cli.py` checks that importing this module stays light.
if TYPE_CHECKING:
    from rich.progress import Progress

    from digest.app import App
    from digest.config import Settings


out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@dataclass
class State:
    config: str
    verbose: int

    def settings(self) -> Settings:
        from digest.config import load_settings

        return load_settings(self.config)

    @contextmanager
    def app(self) -> Iterator[App]:
        from digest.app import make_app

        app = make_app(self.settings())
        try:
            yield app
        finally:
            app.close()


def _warn(message: str, label: str = "warning", style: str = "yellow") -> None:
    """A line on stderr; the message is plain text (feed errors may contain [brackets])."""
    err.print(Text.assemble((f"{label}: ", style), message))


def _days(value: timedelta) -> str:
    return f"{value.days} days" if value.days else str(value)


def _short(value: datetime | None) -> str:
    """A UTC time that fits a table column."""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _dump(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _table(title: str, columns: tuple[str, ...], rows: list[tuple[str | Text, ...]],
           right: tuple[str, ...] = ()) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left")
    for row in rows:
        table.add_row(*row)
    out.print(table)


FORMAT_TABLE_JSON = click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
    help="Output as a table for people or JSON for tools.")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "-c", envvar="DIGEST_CONFIG", default=DEFAULT_CONFIG, show_default=True,
              metavar="PATH", help="The feeds.yaml to use (env DIGEST_CONFIG).")
@click.option("-v", "--verbose", count=True, help="More detail; -vv for debug logs.")
@click.version_option(__version__, prog_name="digest")
@click.pass_context
def cli(ctx: click.Context, config: str, verbose: int) -> None:
    """Turn news feeds into a weekly, de-duplicated, sectioned newsletter.

    \b
    Example (the demo's stories are written for its edition of 30 November 2026):
      digest --config examples/demo/feeds.yaml build --preview --edition 2026-11-30
    """
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = State(config, verbose)


def _print_outcomes(outcomes: list[FeedOutcome], names: dict[str, str], fmt: str) -> None:
    if fmt == "json":
        _dump([{"url": o.url, "name": names.get(o.url, o.title or o.url),
                "status": _status(o), "new_items": o.new_items,
                "not_modified": o.not_modified, "unchanged": o.unchanged,
                "moved_to": o.moved_to, "error": o.error, "notes": list(o.notes)}
               for o in outcomes])
        return
    _table(f"{len(outcomes)} feeds polled", ("feed", "status", "new", "detail"), [
        (Text(names.get(o.url, o.title or o.url)),
         Text(_status(o), "green" if o.status is FeedStatus.OK else "red"),
         str(o.new_items), Text(_detail(o)))
        for o in outcomes], right=("new",))


def _feed_names(app: App) -> dict[str, str]:
    return {h.url: h.name for h in app.reports.feeds()}


class _FetchProgress:
    """A progress bar on a terminal; a plain line per feed on stderr when it is not one
    (cron, Docker logs), so a long poll is never silent. `start` learns how many feeds are
    due; each finished feed is passed to the instance."""

    def __init__(self, names: dict[str, str], bar: Progress | None) -> None:
        self.names, self.bar = names, bar
        self.total = self.done = 0
        self.task = bar.add_task("fetching", total=None) if bar is not None else None

    def start(self, total: int) -> None:
        self.total = total
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, total=total)

    def __call__(self, outcome: FeedOutcome) -> None:
        self.done += 1
        if self.bar is not None and self.task is not None:
            self.bar.advance(self.task)
            return
        # Plain text, no rich rendering: a thousand lines must cost next to nothing.
        click.echo(f"fetch [{self.done}/{self.total}] {_outcome_line(outcome, self.names)}",
                   err=True)


@contextmanager
def _progress(names: dict[str, str]) -> Iterator[_FetchProgress]:
    if not err.is_terminal:
        yield _FetchProgress(names, None)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("fetching"), BarColumn(), MofNCompleteColumn(), console=err,
                  transient=True) as bar:
        yield _FetchProgress(names, bar)


def _outcome_line(o: FeedOutcome, names: dict[str, str]) -> str:
    return f"{_status(o)} {names.get(o.url) or o.title or o.url}: {_detail(o)}"


def _status(o: FeedOutcome) -> str:
    """The feed's status after this poll, as `digest feeds` will show it."""
    return FeedStatus.DISABLED.value if o.gone else o.status.value


def _detail(o: FeedOutcome) -> str:
    """What one poll came to, in a few words."""
    if o.status is not FeedStatus.OK:
        return o.error or "failed"
    detail = ("not modified (304)" if o.not_modified else "unchanged, not parsed again"
              if o.unchanged else f"{o.new_items} new")
    detail += "".join(f"; {note}" for note in o.notes)  # what the parse left out
    return detail + (f"; moved permanently to {o.moved_to}" if o.moved_to else "")


@cli.command()
@click.option("--all", "force", is_flag=True, help="Poll every feed now, due or not.")
@FORMAT_TABLE_JSON
@click.pass_obj
def fetch(state: State, force: bool, fmt: str) -> None:
    """Poll the feeds that are due and store their new items.

    A broken feed is reported and the others go on; the exit code stays 0.

    \b
    Example:
      digest fetch --all
    """
    with state.app() as app:
        app.poller.sync_feeds()
        names = _feed_names(app)
        with _progress(names) as progress:
            outcomes = app.poller.refresh(force=force, on_start=progress.start,
                                          on_done=progress)
        _print_outcomes(outcomes, names, fmt)


@cli.command()
@click.option("--preview", is_flag=True,
              help="Write the HTML, the text, the whole message (.eml) and the JSON, print "
                   "their paths, open a browser if any.")
@click.option("--out", type=click.Path(path_type=Path), metavar="PATH",
              help="Write here instead of standard output (a folder with --preview).")
@click.option("--format", "fmt", type=click.Choice(["html", "text", "json", "eml"]),
              default="html", show_default=True, help="What to write without --preview.")
@click.option("--edition", metavar="DATE", help="The edition's date (default: the next send).")
@click.option("--no-fetch", is_flag=True, help="Use stored items only; poll nothing.")
@click.option("--explain", is_flag=True,
              help="Say on stderr why each story is where it is, and what was dropped.")
@click.pass_obj
def build(state: State, preview: bool, out: Path | None, fmt: str, edition: str | None,
          no_fetch: bool, explain: bool) -> None:
    """Assemble an edition without sending it.

    \b
    Examples:
      digest build --preview
      digest build --format json --edition 2026-11-30 --no-fetch
    """
    from digest.editions import parse_edition

    day = parse_edition(edition)
    with state.app() as app:
        app.poller.sync_feeds()
        result = app.editions.build(day, fetch=not no_fetch)
        failing = [o for o in result.fetched if o.status is FeedStatus.ERROR]
        for o in failing:
            _warn(f"feed {o.url}: {o.error}")
        if explain:
            for line in result.explain:
                err.print(line, highlight=False, markup=False)
        for line in result.trimmed:
            _warn(f"left out to keep the email under the size budget: {line}")
        if not result.edition.stories:
            _warn(f"edition {result.edition.date} has no stories in its window")
        if preview:
            folder = out or Path(app.settings.source).resolve().parent / "preview"
            paths = app.editions.write_preview(result, folder)
            count = len(result.edition.stories)
            sections = ", ".join(f"{s.title} {len(s.stories)}" for s in result.edition.sections)
            click.echo(f"Edition {result.edition.date}: {count} stories ({sections})")
            for path in paths:
                click.echo(f"  {path.suffix.lstrip('.')}: {path}")
            _open_in_browser(paths[0])
            return
        content = app.editions.export(result, fmt)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(content, encoding="utf-8")
            click.echo(f"wrote {out}", err=True)
        else:
            click.echo(content)


@cli.command()
@click.argument("addresses", nargs=-1, required=True, metavar="ADDR...")
@click.pass_obj
def unsubscribe(state: State, addresses: tuple[str, ...]) -> None:
    """Stop sending to these addresses: every later send skips them and records that.

    \b
    Examples:
      digest unsubscribe ana@example.org
      digest unsubscribe ana@example.org ben@example.org
    """
    from digest.config import check_email

    for address in addresses:
        try:
            check_email(address)
        except ValueError as e:
            raise UsageError(f"unsubscribe: {e}") from None
    with state.app() as app:
        app.readers.sync_config()
        for address, added in app.readers.unsubscribe_addresses(addresses):
            click.echo(f"{address}: {'unsubscribed' if added else 'already unsubscribed'}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; any other than loopback needs DIGEST_EDIT_PASSWORD.")
@click.option("--port", default=8025, show_default=True, type=int, help="Port to listen on.")
@click.option("--edition", metavar="DATE", help="The edition's date (default: the next send).")
@click.option("--serve", "serve_pages", is_flag=True,
              help="Serve the pages (what preview always does; the name the docs use).")
@click.pass_obj
def preview(state: State, host: str, port: int, edition: str | None, serve_pages: bool) -> None:
    """Serve the upcoming edition, rendered again when feeds.yaml or a template changes, and
    the editing page (/edit): each story with its edits, the editor's note, Approve.

    Stored items only: nothing is polled. For template authors: edit a template in the folder
    named by `email.templates` and the page reloads itself. The editing page uses the same
    database as `digest edit`. Bound to anything but 127.0.0.1 it needs the editors' password
    in DIGEST_EDIT_PASSWORD (then every page asks for it; the user name signs the edits).

    \b
    Examples:
      digest preview --serve
      digest preview --port 9000 --edition 2026-11-30
      DIGEST_EDIT_PASSWORD=... digest preview --serve --host 0.0.0.0
    """
    from digest.editions import parse_edition, template_files
    from digest.serve import (
        PASSWORD_ENV,
        Access,
        Page,
        Preview,
        allowed_hosts,
        bound_port,
        check_exposure,
        is_wildcard,
        listen,
        preview_app,
        serve,
    )
    from digest.web.editor import Editor

    day = parse_edition(edition)
    config = Path(state.config).resolve()
    password = os.environ.get(PASSWORD_ENV) or None
    check_exposure(host, password)

    def render() -> Page:
        with state.app() as app:
            app.poller.sync_feeds()
            result = app.editions.build(day, fetch=False)
            rendered = app.editions.rendered(result)
        return Page(rendered.html, rendered.text)

    @contextmanager
    def open_app() -> Iterator[App]:  # per request: a changed feeds.yaml is read again
        with state.app() as app:
            app.poller.sync_feeds()
            yield app

    folder_by_mtime: dict[float, str | None] = {}  # feeds.yaml is read again only once changed

    def watched() -> list[Path]:
        mtime = config.stat().st_mtime if config.exists() else -1.0
        if mtime not in folder_by_mtime:
            try:
                templates = state.settings().email.templates
            except ConfigError:  # shown as the page; the built-in templates are still watched
                templates = None
            folder_by_mtime.clear()
            folder_by_mtime[mtime] = templates
        return [config, *template_files(folder_by_mtime[mtime])]

    try:
        editing_url = state.settings().editing.url
    except ConfigError:  # shown as the page until it is fixed
        editing_url = None
    if is_wildcard(host) and editing_url is None:
        _warn("only the names localhost and 127.0.0.1 are answered (DNS rebinding): set "
              "editing.url to the address editors use")
    sock = listen(host, port)
    bound = bound_port(sock)
    access = Access(allowed_hosts(host, bound, editing_url), password)
    editor = Editor(open_app, edition=day)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"preview of {config.name} at http://{shown}:{bound}/ (Ctrl-C to stop)")
    click.echo(f"editing page at http://{shown}:{bound}/edit"
               + (" (password: DIGEST_EDIT_PASSWORD)" if password else ""))
    try:
        serve(preview_app(Preview(render, watched), access, editor=editor.routes()), sock)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()


def _open_in_browser(path: Path) -> None:
    """Only where someone is looking: a terminal with a graphical session, never in CI."""
    graphical = sys.platform in ("darwin", "win32") or os.environ.get("DISPLAY") or \
        os.environ.get("WAYLAND_DISPLAY")
    if not (sys.stdout.isatty() and graphical and not os.environ.get("CI")):
        return
    import webbrowser

    with suppress(webbrowser.Error):
        webbrowser.open(path.as_uri())


@cli.command()
@click.option("--edition", metavar="DATE", help="The edition's date (default: the next send).")
@click.option("--to", metavar="ADDR", help="Send one test copy to ADDR; nothing is recorded.")
@click.option("--dry-run", is_flag=True, help="Say who would get what; send nothing.")
@click.option("--no-fetch", is_flag=True, help="Use stored items only; poll nothing.")
@click.option("--retry-now", is_flag=True,
              help="Retry deliveries deferred by a 4xx answer now, without waiting for their "
                   "retry time.")
@click.option("--resend-unconfirmed", is_flag=True,
              help="Send again, with the same Message-ID, only the deliveries recorded "
                   "unconfirmed (default edition: the one sent last).")
@click.pass_obj
def send(state: State, edition: str | None, to: str | None, dry_run: bool,
         no_fetch: bool, retry_now: bool, resend_unconfirmed: bool) -> None:
    """Deliver an edition to every recipient who has not received it yet.

    Running it again for the same edition sends nothing twice. A delivery the server
    answered with 4xx is deferred and retried by later runs (5 minutes, then doubling);
    one handed to the server by a run that was killed before the server's answer is
    recorded unconfirmed and not sent again unless --resend-unconfirmed asks. A server that
    is down or refuses the login stops the run (exit 1) and defers no one.

    \b
    Examples:
      digest send --dry-run
      digest send --to me@example.org
      digest send --retry-now
      digest send --resend-unconfirmed --edition 2026-11-30
    """
    from digest.editions import parse_edition

    day = parse_edition(edition)
    if resend_unconfirmed and (to or dry_run or retry_now):
        raise UsageError("--resend-unconfirmed cannot be combined with --to, --dry-run or "
                         "--retry-now")
    if retry_now and to:
        raise UsageError("--retry-now cannot be combined with --to")
    if to is not None:
        from digest.addresses import check_address
        try:
            to = check_address(to).written
        except ValueError as e:
            raise UsageError(f"--to: {e}") from None
    with state.app() as app:
        app.poller.sync_feeds()
        report = app.publisher.deliver(day, to=to, dry_run=dry_run, fetch=not no_fetch,
                                       retry_now=retry_now,
                                       resend_unconfirmed=resend_unconfirmed)
    if report.awaiting:
        click.echo(f"not sent: {report.awaiting}", err=True)
        return
    for r in report.results:
        # a recorded status stays one word, as scripts read it ("sent" + "already recorded"
        # for an earlier run's); what a run records nothing for says what it did
        status = r.status.value if r.status else r.kind
        click.echo(f"{report.edition}  {r.recipient:<32}  {status:<14}  {r.detail}")
    click.echo(f"edition {report.edition}: {report.summary()}", err=True)
    if report.failed:
        raise SystemExit(1)


@cli.command()
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="One line per event on stderr, as text or JSON.")
@click.pass_obj
def run(state: State, log_format: str) -> None:
    """Run the scheduler: poll each feed when due, send each edition on schedule.digest.

    A send missed while digest was down goes out when it is back within schedule.grace
    (12 h); older ones are recorded as skipped. Reloads feeds.yaml on SIGHUP or when the file
    changes (keeping the running config if the new one is invalid); stops cleanly on SIGTERM
    or Ctrl-C. `digest status` shows what it is doing.

    \b
    Examples:
      digest --config /config/feeds.yaml run
      digest run --log-format json
    """
    from digest.app import make_app
    from digest.daemon import Daemon

    def emit(event: str, message: str, **fields: Any) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        if log_format == "json":
            line = json.dumps({"time": now, "event": event, "message": message, **fields},
                              ensure_ascii=False, default=str)
        else:
            line = f"{now} {event}: {message}"
        click.echo(line, err=True)

    daemon = Daemon(state.settings, make_app, config=Path(state.config), on_event=emit)
    raise SystemExit(daemon.run())


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
@FORMAT_TABLE_JSON
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
    if fmt == "json":
        _dump(hits)
        return
    count = f"{found.total} {'story' if found.total == 1 else 'stories'} found"
    _wide_table(f"{count} (page {found.number} of {found.pages})",
                ("edition", "section", "title", "source", "archive"),
                [(h["edition"], Text(h["section"]), Text(h["title"]), Text(h["source"]),
                  Text(h["archive_url"])) for h in hits])


@cli.command()
@FORMAT_TABLE_JSON
@click.option("--check", is_flag=True,
              help="Exit 0 when a `digest run` beat in the last 3 minutes, else 1 (for "
                   "health checks); prints nothing but the reason on failure.")
@click.pass_obj
def status(state: State, fmt: str, check: bool) -> None:
    """Show the running daemon, the next poll and send, the last edition and its deliveries,
    failing feeds and skipped editions.

    \b
    Examples:
      digest status
      digest status --format json
      digest status --check        # Docker's HEALTHCHECK
    """
    if check:  # every minute in Docker: one query, not the whole report; the config and the
        # store only: the light use cases
        from digest.app import make_reports

        reports = make_reports(state.settings())
        try:
            healthy = reports.healthy()
        finally:
            reports.close()
        if not healthy:
            click.echo("unhealthy: no `digest run` has beaten in the last 3 minutes", err=True)
            raise SystemExit(1)
        return
    with state.app() as app:
        report = app.reports.status()
    if fmt == "json":
        _dump(report)
        return
    running = report["running"]
    lines = [f"digest run: {'running' if running else 'not running'}"]
    for r in running:
        lines.append(f"  {r['owner']}  since {r['started_at']}  last beat {r['beat_at']}")
    lines.append(f"next poll: {report['next_poll_at'] or 'no feed is due'}")
    lines.append(f"next send: {report['next_send_at']}")
    last = report["last_edition"]
    if last:
        counts = ", ".join(f"{n} {k}" for k, n in last["deliveries"].items()) or "none yet"
        lines.append(f"last edition: {last['edition']} (frozen {last['frozen_at']}): "
                     f"deliveries {counts}")
    else:
        lines.append("last edition: none yet")
    failing = report["failing_feeds"]
    lines.append(f"failing feeds: {len(failing)}")
    lines.extend(f"  {f['url']}  {f['status']}  {f['last_error'] or ''}" for f in failing)
    for e in report["skipped_editions"]:
        lines.append(f"skipped edition {e['edition']}: {e['reason']}")
    out.print(Text("\n".join(lines)))


@cli.command()
@FORMAT_TABLE_JSON
@click.option("--status", "only", type=click.Choice([s.value for s in DeliveryStatus]),
              help="Only the deliveries with this status (unconfirmed: handed to the server "
                   "by a run that was killed before its answer).")
@click.pass_obj
def history(state: State, fmt: str, only: str | None) -> None:
    """List every delivery: edition, recipient, status, when, Message-ID.

    \b
    Examples:
      digest history --format json
      digest history --status unconfirmed
    """
    with state.app() as app:
        rows = app.reports.history(status=DeliveryStatus(only) if only else None)
    if fmt == "json":
        _dump([{"edition": d.edition.isoformat(), "recipient": d.recipient,
                "status": d.status.value, "sent_at": iso(d.sent_at),
                "message_id": d.message_id} for d in rows])
        return
    _table(f"{len(rows)} deliveries", ("edition", "recipient", "status", "sent at", "detail"), [
        (d.edition.isoformat(), d.recipient, d.status.value,
         _short(d.sent_at),
         Text(d.error or d.message_id or "")) for d in rows])


@cli.group(invoke_without_command=True)
@FORMAT_TABLE_JSON
@click.pass_obj
def feeds(state: State, fmt: str) -> None:
    """Show each feed's health: status, last poll, last error, stored items.

    With a subcommand, import feeds from OPML or export them as OPML instead.

    \b
    Examples:
      digest feeds --format json
      digest feeds import subscriptions.opml --dry-run
      digest feeds export --out feeds.opml
    """
    if click.get_current_context().invoked_subcommand is not None:
        return  # `digest feeds import|export`: the subcommand does the work
    with state.app() as app:
        rows = app.reports.feeds()
    if fmt == "json":
        _dump([{"url": h.url, "name": h.name, "status": h.status.value,
                "last_fetched_at": iso(h.last_fetched_at), "last_error": h.last_error,
                "items": h.items, "last_success_at": iso(h.last_success_at),
                "next_poll_at": iso(h.next_poll_at), "error_count": h.error_count,
                "moved_to": h.moved_to} for h in rows])
        return
    styles = {"ok": "green", "error": "red", "disabled": "red"}
    moved = any(h.moved_to for h in rows)  # a column for moves only when a feed has moved
    columns = ("feed", "status", "items", "last success", "next poll", "last error")
    _table(f"{len(rows)} feeds", columns + (("moved permanently to",) if moved else ()), [
        (Text(h.name), Text(h.status.value, styles.get(h.status.value, "yellow")), str(h.items),
         _short(h.last_success_at) or "never", _next_poll(h), Text(_last_error(h)))
        + ((Text(h.moved_to or ""),) if moved else ())
        for h in rows], right=("items",))


def _next_poll(h: FeedHealth) -> str:
    if h.status is FeedStatus.DISABLED:
        return "not until fetch --all"
    return _short(h.next_poll_at) or "now"


def _last_error(h: FeedHealth) -> str:
    """The last error, with how many polls in a row have failed."""
    if not h.last_error:
        return ""
    return h.last_error + (f" ({h.error_count} failed polls in a row)" if h.error_count > 1
                           else "")


@feeds.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE.opml")
@click.option("--section", metavar="ID",
              help="Put every new feed in this section (or auto); default: the section its "
                   "OPML folder or category names, else auto.")
@click.option("--dry-run", is_flag=True, help="Say what would be added; change nothing.")
@click.option("--allow-files", is_flag=True,
              help="Also import file:// feeds (refused by default: the OPML may come from "
                   "someone else, and they name files on this machine).")
@click.pass_obj
def feeds_import(state: State, file: Path, section: str | None, dry_run: bool,
                 allow_files: bool) -> None:
    """Add the feeds of an OPML file to feeds.yaml.

    Reads the OPML that Feedly, Inoreader, NetNewsWire and other readers export. A feed in a
    folder named like a section (id or title, any case) goes to that section, others to auto.
    Feeds already listed are skipped; new ones go at the end of the feeds list, and the rest of
    feeds.yaml (comments included) stays as it was. Nothing is written unless the result is a
    valid configuration.

    \b
    Examples:
      digest feeds import subscriptions.opml --dry-run
      digest feeds import tech.opml --section tech
    """
    from digest import opml

    settings = state.settings()
    plan = opml.plan_import(opml.read_opml(file), settings, section=section,
                            allow_files=allow_files)
    if plan.added and not dry_run:
        opml.add_feeds(Path(settings.source), plan.added)  # all or nothing, so before any output
    for url, why in plan.rejected:
        _warn(f"rejected {url}: {why}")
    for new in plan.skipped:
        click.echo(f"skipped: {new.url} (already in {settings.source})")
    verb = "would add" if dry_run else "added"
    for new in plan.added:
        name = f"{new.name} " if new.name else ""
        click.echo(f"{verb}: {name}<{new.url}> (section: {new.section or 'auto'})")
    summary = f"{verb} {len(plan.added)}, skipped {len(plan.skipped)}"
    if plan.rejected:
        summary += f", rejected {len(plan.rejected)}"
    click.echo(f"{settings.source}: {summary}" + (" (dry run: nothing written)" if dry_run else ""))


@feeds.command("export")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Write here instead of standard output.")
@click.pass_obj
def feeds_export(state: State, out: Path | None) -> None:
    """Write the feeds as OPML 2.0, for a feed reader.

    One folder per section holds its feeds; auto feeds sit at the top level. `digest feeds
    import` reads the file back into the same sections.

    \b
    Examples:
      digest feeds export --out feeds.opml
      digest --config examples/demo/feeds.yaml feeds export
    """
    from digest import opml

    content = opml.write_opml(state.settings(), datetime.now(UTC))
    if out is None:
        click.echo(content, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(content, encoding="utf-8")
    click.echo(f"wrote {out}", err=True)


# --- readers (issue 18): the audience, as the operator sees it ---

if TYPE_CHECKING:
    from digest.models import Reader


def _reader_statuses() -> list[str]:
    from digest.models import ReaderStatus

    return [s.value for s in ReaderStatus]


READER_CSV_COLUMNS = ("email", "name", "sections", "status", "source", "created_at",
                      "confirmed_at")


def _readers_csv(rows: list[Reader]) -> str:
    """Readers as CSV with a header row, importable by `digest readers import` (sections are
    ids separated by spaces, empty for every section)."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(READER_CSV_COLUMNS)
    for r in rows:
        writer.writerow([r.address, r.name or "", " ".join(r.sections or ()), r.status.value,
                         r.source.value, iso(r.created_at) or "", iso(r.confirmed_at) or ""])
    return buffer.getvalue()


def _wide_table(title: str, columns: tuple[str, ...], rows: list[tuple[str | Text, ...]]) -> None:
    """A table whose first column (addresses) is never cut: folded on a terminal, and printed
    at its full width when the output is a file or a pipe (for grep, not for eyes)."""
    from rich.measure import Measurement
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, overflow="fold", no_wrap=i == 0 and not out.is_terminal)
    for row in rows:
        table.add_row(*row)
    if out.is_terminal:
        out.print(table)
        return
    width = Measurement.get(out, out.options.update(width=1 << 16), table).maximum
    Console(soft_wrap=True, width=max(width, out.width)).print(table)


def _status_of(r: Reader) -> str:
    return r.status.value + (" (paused)" if r.paused else "")


def _since(value: str, tz: Any, now: datetime) -> datetime:
    """`--since`: a date (midnight in the digest's time zone), a time, or an age like 30d."""
    from digest.config import parse_duration

    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        try:
            age = parse_duration(value)
        except ValueError:
            raise UsageError(f"--since: not a date (2026-11-01) or an age (30d, 12h): "
                             f"{value!r}") from None
        assert isinstance(age, timedelta)
        return now - age
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


@cli.group("readers")
def readers_group() -> None:
    """The audience: list, show, add, remove, import, export and erase readers.

    Every command here first brings `recipients:` of feeds.yaml into the database (readers
    managed by the operator). Only active readers who have not paused are sent editions.

    \b
    Examples:
      digest readers list --status active
      digest readers add ana@example.org --section tech
      digest readers import people.csv --confirmed "sign-up sheet, Lagos meetup, 2026-10-03"
      digest readers forget ana@example.org --yes
    """


@readers_group.command("list")
@click.option("--status", "only", type=click.Choice(_reader_statuses()),
              help="Only the readers with this status.")
@click.option("--section", metavar="ID",
              help="Only the readers who get this section (chose it, or chose nothing).")
@click.option("--since", metavar="DATE|AGE",
              help="Only the readers who joined since: a date (2026-11-01) or an age (30d).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True,
              help="A table for people, JSON for tools, or CSV (`readers import` reads it).")
@click.pass_obj
def readers_list(state: State, only: str | None, section: str | None, since: str | None,
                 fmt: str) -> None:
    """List the readers in the order they joined.

    \b
    Examples:
      digest readers list
      digest readers list --status active --section tech --since 30d
      digest readers list --format csv > readers.csv
    """
    from digest.models import ReaderStatus
    from digest.readers import reader_to_dict

    with state.app() as app:
        after = _since(since, app.settings.tz, app.clock()) if since else None
        app.readers.sync_config()
        rows = app.readers.select(status=ReaderStatus(only) if only else None, section=section,
                                  since=after)
    if fmt == "json":
        _dump([reader_to_dict(r) for r in rows])
    elif fmt == "csv":
        click.echo(_readers_csv(rows), nl=False)
    else:
        _wide_table(f"{len(rows)} readers",
                    ("address", "name", "status", "sections", "source", "joined"), [
                        (Text(r.address), Text(r.name or ""), _status_of(r),
                         " ".join(r.sections) if r.sections is not None else "all",
                         r.source.value + (" (feeds.yaml)" if r.in_config else ""),
                         _short(r.created_at)) for r in rows])


@readers_group.command("show")
@click.argument("address", metavar="ADDR")
@FORMAT_TABLE_JSON
@click.pass_obj
def readers_show(state: State, address: str, fmt: str) -> None:
    """Show one reader: their record, their consent, what came back about them (bounces,
    complaints, with the server's words) and every delivery to them.

    \b
    Examples:
      digest readers show ana@example.org
      digest readers show ana@example.org --format json
    """
    with state.app() as app:
        app.readers.sync_config()
        if fmt == "json":
            _dump(app.readers.export_one(address))
            return
        reader = app.readers.find(address)
        deliveries = app.readers.history(reader)
        bounces = app.bounces.events(reader)
    lines = [("address", reader.address), ("name", reader.name or ""),
             ("status", _status_of(reader)),
             ("sections", ", ".join(reader.sections) if reader.sections is not None
              else "all"),
             ("source", reader.source.value + (" (listed in feeds.yaml recipients)"
                                               if reader.in_config else "")),
             ("joined", _short(reader.created_at)), ("confirmed", _short(reader.confirmed_at))]
    if reader.unsubscribed_at or reader.unsubscribe_reason:
        lines.append(("left", " ".join(filter(None, (_short(reader.unsubscribed_at),
                                                     reader.unsubscribe_reason)))))
    consent = reader.consent
    if consent is None:
        lines.append(("consent", "none recorded"))
    else:
        lines += [("consent", f"{_short(consent.at)} via {consent.form}"
                   + (f" from {consent.ip}" if consent.ip else "")),
                  ("agreed to", consent.text)]
    for label, value in lines:
        click.echo(f"{label + ':':<11} {value}".rstrip())
    if bounces:  # the reason a reader stopped getting mail, and what led up to it
        _wide_table(f"{len(bounces)} bounces and complaints",
               ("at", "kind", "source", "edition", "reason"), [
                   (_short(b.at), b.kind.value, b.source, b.edition or "", Text(b.reason))
                   for b in bounces])
    if not deliveries:
        click.echo("deliveries: none")
        return
    _table(f"{len(deliveries)} deliveries", ("edition", "status", "sent at", "detail"), [
        (d.edition.isoformat(), d.status.value, _short(d.sent_at),
         Text(d.error or d.message_id or "")) for d in deliveries])


@readers_group.command("add")
@click.argument("address", metavar="ADDR")
@click.option("--name", metavar="NAME", help="The reader's name.")
@click.option("--section", "sections", multiple=True, metavar="ID",
              help="Send only this section (repeat for more; default: every section).")
@click.pass_obj
def readers_add(state: State, address: str, name: str | None,
                sections: tuple[str, ...]) -> None:
    """Add an active reader on your word (no confirmation email is sent).

    For people who asked you directly; use `readers import` for a list, and the subscribe
    page for everyone else (double opt-in).

    \b
    Examples:
      digest readers add ana@example.org
      digest readers add ben@example.org --name "Ben Okafor" --section tech --section europe
    """
    with state.app() as app:
        app.readers.sync_config()
        try:
            reader = app.readers.add(address, name=name,
                                     sections=tuple(dict.fromkeys(sections)) or None)
        except ValueError as e:  # the address is not one
            raise UsageError(f"readers add: {e}") from None
    chosen = " ".join(reader.sections) if reader.sections is not None else "every section"
    click.echo(f"{reader.address}: added, active ({chosen})")


@readers_group.command("remove")
@click.argument("address", metavar="ADDR")
@click.option("--reason", metavar="TEXT", help="Why, kept with the reader.")
@click.pass_obj
def readers_remove(state: State, address: str, reason: str | None) -> None:
    """End a reader's subscription: no later edition goes to them. Their record and send
    history are kept (`readers forget` erases them).

    \b
    Examples:
      digest readers remove ana@example.org
      digest readers remove ben@example.org --reason "asked by phone"
    """
    from digest.models import ReaderStatus

    with state.app() as app:
        app.readers.sync_config()
        before = app.readers.find(address)
        reader = app.readers.remove(address, reason=reason)
    if before.status in (ReaderStatus.ACTIVE, ReaderStatus.PENDING):
        click.echo(f"{reader.address}: unsubscribed")
    else:
        click.echo(f"{reader.address}: already {reader.status.value}, nothing changed")
    if reader.in_config:
        _warn(f"{reader.address} is still listed in recipients: of {state.config}; it stays "
              "unsubscribed, but take the line out too")


@readers_group.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE.csv")
@click.option("--confirmed", metavar="SOURCE",
              help="They already agreed, here (kept as their consent's source): active at once, "
                   "no confirmation email.")
@click.option("--dry-run", is_flag=True, help="Check the file and say what would be added.")
@click.pass_obj
def readers_import(state: State, file: Path, confirmed: str | None, dry_run: bool) -> None:
    """Add readers from a CSV file with a header row: `email`, and optionally `name` and
    `sections` (ids separated by spaces); `readers export` writes such a file.

    Without --confirmed they are pending and each is sent a confirmation email (this needs
    web.base_url and web.secret). Every bad row is reported as FILE.csv:LINE and then nothing
    is added (exit 2). Addresses already readers are left as they are; a row whose `status`
    (as `readers export` writes it) says they left (unsubscribed, bounced, complained) is
    imported as having left, so they stay out.

    \b
    Examples:
      digest readers import people.csv --dry-run
      digest readers import people.csv --confirmed "sign-up sheet, Lagos meetup, 2026-10-03"
    """
    try:
        data = file.read_bytes()
    except OSError as e:
        raise UsageError(f"{file}: cannot read: {e.strerror}") from None
    with state.app() as app:
        app.readers.sync_config()
        report = app.readers.import_csv(data, name=file.name, confirmed=confirmed,
                                        dry_run=dry_run)
        if report.errors:
            for line, problem in report.errors:
                click.echo(f"{file}:{line}: {problem}" if line else f"{file}: {problem}",
                           err=True)
            raise UsageError(f"{file}: {len(report.errors)} bad "
                             f"{'row' if len(report.errors) == 1 else 'rows'}; nothing imported")
        sent = 0 if dry_run else app.readers.send_notices(report.notices)
    verb = "would add" if dry_run else "added"
    summary = f"{file}: {verb} {len(report.added)}"
    if not confirmed and report.added:
        summary += " pending"
    summary += f", already readers {len(report.existing)}"
    if report.left:
        summary += f", {'would import' if dry_run else 'imported'} {len(report.left)} as " \
            "having left"
    if dry_run:
        summary += " (dry run: nothing written)"
    elif report.notices:
        summary += f"; confirmation emails sent {sent} of {len(report.notices)}"
    click.echo(summary)
    if not dry_run and sent < len(report.notices):
        _warn(f"{len(report.notices) - sent} confirmation emails not sent (see the log with -v); "
              "those readers stay pending and can subscribe again")


@readers_group.command("export")
@click.argument("address", metavar="[ADDR]", required=False)
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]),
              help="CSV (importable; the default) or JSON; one reader is always JSON.")
@click.pass_obj
def readers_export(state: State, address: str | None, fmt: str | None) -> None:
    """Write every reader as CSV (or JSON), or everything held about one reader as JSON (a
    GDPR access request: their record, consent and deliveries).

    \b
    Examples:
      digest readers export > readers.csv
      digest readers export ana@example.org > ana.json
    """
    from digest.readers import reader_to_dict

    if address is not None and fmt == "csv":
        raise UsageError("readers export ADDR writes JSON (everything held about the reader); "
                         "leave out --format csv")
    with state.app() as app:
        app.readers.sync_config()
        if address is not None:
            _dump(app.readers.export_one(address))
            return
        rows = app.readers.select()
    if fmt == "json":
        _dump([reader_to_dict(r) for r in rows])
    else:
        click.echo(_readers_csv(rows), nl=False)


def _interactive() -> bool:
    return sys.stdin.isatty()


@readers_group.command("forget")
@click.argument("address", metavar="ADDR")
@click.option("--yes", is_flag=True, help="Do not ask (needed when not on a terminal).")
@click.pass_obj
def readers_forget(state: State, address: str, yes: bool) -> None:
    """Erase a reader (a GDPR erasure request): their record goes, and their address leaves the
    send history. Only a one-way hash of the address stays, so that no config line, import or
    `readers add` brings them back; they can still sign up again themselves.

    \b
    Examples:
      digest readers forget ana@example.org
      digest readers forget ana@example.org --yes
    """
    if not address.strip() or "@" not in address:
        raise UsageError(f"readers forget: not an email address: {address!r}")
    if not yes:
        if not _interactive():
            raise UsageError("readers forget erases for good: pass --yes to confirm when not "
                             "on a terminal")
        click.confirm(f"Erase {address.strip()} and their send history for good?", abort=True)
    with state.app() as app:
        app.readers.sync_config()
        held = app.readers.forget(address)
    if held:
        click.echo(f"{address.strip()}: erased (a one-way hash is kept to keep them out)")
    else:
        click.echo(f"{address.strip()}: nothing held; kept out from now on")
    settings_lines = [r.email for r in app.settings.recipients]
    if any(line.strip().lower() == address.strip().lower() for line in settings_lines):
        _warn(f"{address.strip()} is listed in recipients: of {state.config}: it is not sent "
              "editions; take the line out")


@cli.group()
def db() -> None:
    """Show or upgrade the database schema (every command upgrades it anyway when it opens it).

    \b
    Examples:
      digest db current
      digest db upgrade
    """


@db.command("upgrade")
@click.pass_obj
def db_upgrade(state: State) -> None:
    """Bring the database schema to the latest revision; nothing to do when it is there.

    Another instance migrating at the same time is waited for, not raced.

    \b
    Example:
      digest --config /config/feeds.yaml db upgrade
    """
    from digest.app import make_schema

    schema = make_schema(state.settings())
    try:
        before, after = schema.upgrade()
    finally:
        schema.close()
    if before == after:
        click.echo(f"database: at {after} (latest)")
    else:
        click.echo(f"database: {before or 'empty'} -> {after}")


@db.command("prune")
@click.pass_obj
def db_prune(state: State) -> None:
    """Delete stored items first seen longer ago than `retention` (180 days); editions that
    went out, their deliveries and fingerprints are kept. `digest run` does this daily.

    \b
    Example:
      digest db prune
    """
    with state.app() as app:
        deleted = app.housekeeping.prune()
    click.echo(f"database: {deleted} items older than {_days(app.settings.retention)} deleted")


@db.command("current")
@FORMAT_TABLE_JSON
@click.pass_obj
def db_current(state: State, fmt: str) -> None:
    """Show the database's schema revision and whether it is the latest; changes nothing.

    \b
    Examples:
      digest db current
      digest db current --format json
    """
    from digest.app import make_schema

    schema = make_schema(state.settings())
    try:
        revision, head = schema.current()
    finally:
        schema.close()
    latest = revision == head
    if fmt == "json":
        _dump({"current": revision, "head": head, "latest": latest})
    elif latest:
        click.echo(f"database: at {revision} (latest)")
    else:
        where = f"at {revision}" if revision else "empty, or from before migrations"
        click.echo(f"database: {where} (not the latest: {head}; `digest db upgrade` or "
                   "any command brings it there)")


@cli.group()
def config() -> None:
    """Check feeds.yaml, or print its JSON Schema.

    \b
    Example:
      digest --config feeds.yaml config check
    """


@config.command("check")
@click.pass_obj
def config_check(state: State) -> None:
    """Validate the configuration; list every problem with its key path (exit 2).

    \b
    Example:
      digest --config feeds.yaml config check
    """
    from digest.app import dkim_key

    settings = state.settings()
    dkim_key(settings)  # a DKIM key that cannot be read or used: exit 2, naming it
    click.echo(f"{settings.source}: ok ({len(settings.feeds)} feeds, "
               f"{len(settings.sections)} sections, {len(settings.recipients)} recipients)")
    if settings.delivery.transport == "smtp" and settings.email.postal_address is None:
        _warn("email.postal_address is not set: CAN-SPAM requires a postal address in every "
              "message sent (it goes in the footer)")
    if settings.schedule.approval_required and not settings.editors:
        _warn(f"schedule.approval is {settings.schedule.approval} but no editors are listed: "
              "nobody is emailed the draft (approve with `digest edit approve`)")
    if settings.editors and settings.editing.url is None:
        _warn("editors are listed but editing.url is not set: their draft email cannot link "
              "to the editing page")


@config.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of feeds.yaml (for editor autocompletion).

    \b
    Example:
      digest config schema > feeds.schema.json
    """
    from digest.config import json_schema

    click.echo(json_schema())


@cli.group("bounces")
def bounces_group() -> None:
    """What comes back: bounces and complaints (issue 20).

    A refusal at send time counts at once. Afterwards, delivery reports (DSNs) and
    complaint reports (ARF) reach the bounce mailbox through each message's signed envelope
    sender (bounces+TOKEN@domain, `bounces.address`), and mailed unsubscribes through the
    signed List-Unsubscribe address; `bounces fetch` reads it over IMAP (`digest run` does
    every bounces.imap.every). Amazon SES and Postmark post theirs to the web service.
    `bounces.hard_limit` hard or `bounces.soft_limit` soft bounces within
    `bounces.soft_within` mark a reader bounced; a complaint marks them complained at once.
    `digest readers show ADDR` shows what came back about a reader.

    \b
    Examples:
      digest bounces fetch
      digest readers show ana@example.org
    """


@bounces_group.command("fetch")
@click.option("--limit", type=click.IntRange(1, 10_000), default=500, show_default=True,
              help="Read at most this many messages.")
@FORMAT_TABLE_JSON
@click.pass_obj
def bounces_fetch(state: State, limit: int, fmt: str) -> None:
    """Read the bounce mailbox once: each new message is acted on, recorded and moved to
    bounces.imap.done_folder (or flagged), so it is read once.

    \b
    Examples:
      digest bounces fetch
      digest bounces fetch --format json
    """
    with state.app() as app:
        report = app.bounces.fetch(limit=limit)
    if fmt == "json":
        _dump([{"kind": h.what, "reader": h.reader, "outcome": h.outcome, "detail": h.detail}
               for h in report.handled])
        return
    if report.handled:
        _wide_table(f"{len(report.handled)} messages", ("kind", "reader", "outcome", "detail"),
                    [(h.what, Text(h.reader or ""), h.outcome, Text(h.detail))
                     for h in report.handled])
    err.print(report.summary(), highlight=False)


@cli.command("dns")
@FORMAT_TABLE_JSON
@click.pass_obj
def dns(state: State, fmt: str) -> None:
    """Print the DNS records to publish for the configured domains: SPF (the envelope
    sender's domain), DKIM (delivery.dkim's public key) and DMARC (the From domain), and
    what in the configuration keeps them from aligning.

    \b
    Examples:
      digest dns
      digest dns --format json
    """
    from digest.app import dkim_domain, dkim_key
    from digest.dnsrecords import records

    settings = state.settings()
    key = dkim_key(settings)
    found, warnings = records(settings, dkim_domain=dkim_domain(settings) if key else None,
                              dkim_value=key.dns_value() if key else None)
    if fmt == "json":
        _dump({"records": [{"name": r.name, "type": r.type, "value": r.value,
                            "purpose": r.purpose} for r in found], "warnings": warnings})
        return
    for r in found:
        click.echo(f"; {r.purpose}")
        click.echo(r.zone_line())
    for warning in warnings:
        _warn(warning)


# --- the editor's pass (issue 22) ---


def _editor() -> str:
    """Who makes an edit from the command line: the login name."""
    import getpass

    with suppress(Exception):
        return f"{getpass.getuser()} (cli)"
    return "cli"


EDITION_OPTION = click.option("--edition", metavar="DATE",
                              help="The edition's date (default: the next send).")
BY_OPTION = click.option("--by", metavar="NAME", default=None,
                         help="Who makes the edit (default: your login name).")


@cli.group("edit")
def edit_group() -> None:
    """The editor's pass: change an edition before it is sent, then approve it.

    Edits are kept per edition and applied over the automatic edition on every build, until
    the edition is frozen (approved, or sent). Refer to a story by its id, as `digest edit
    show` and `digest build --explain` print it, or by the link of one of its articles.

    \b
    Examples:
      digest edit show
      digest edit pin 3f9a2c1d
      digest edit note --file note.md
      digest edit approve
    """


def _edition_day(edition: str | None) -> date | None:
    from digest.editions import parse_edition

    return parse_edition(edition)


def _done(edit: Any) -> None:
    click.echo(f"edition {edit.edition}: edit #{edit.id} {edit.kind} saved")


@edit_group.command("show")
@EDITION_OPTION
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output for people or JSON for tools.")
@click.pass_obj
def edit_show(state: State, edition: str | None, fmt: str) -> None:
    """The edition as edited: each edit and what it did, what changed against the automatic
    edition, and every story with its id.

    \b
    Example:
      digest edit show --edition 2026-12-07 --format json
    """
    from digest.editing import overview_to_dict

    with state.app() as app:
        app.poller.sync_feeds()
        view = app.editing.overview(_edition_day(edition))
    data = overview_to_dict(view)
    if fmt == "json":
        _dump(data)
        return
    state_line = {"open": "open for edits", "frozen": "frozen (sent): no more edits",
                  "approved": f"approved by {data['approved_by']} at {data['approved_at']}"}
    click.echo(f"Edition {data['edition']}, sent {data['send_at']}: {state_line[view.state]}")
    if data["edits"]:
        click.echo("\nEdits:")
        for e in data["edits"]:
            click.echo(f"  #{e['id']} {e['at'][:16].replace('T', ' ')} {e['by']}: {e['effect']}")
    for problem in data["problems"]:
        _warn(f"not applied: {problem}")
    if data["changes"]:
        click.echo("\nAgainst the automatic edition:")
        for line in data["changes"]:
            click.echo(f"  {line}")
    if data["note"]:
        click.echo("\nEditor's note:")
        for line in data["note"].splitlines():
            click.echo(f"  {line}")
    for section in data["sections"]:
        click.echo(f"\n[{section['id']}] {section['title']}")
        for st in section["stories"]:
            marks = "".join(m for m, on in (("*", st["pinned"]), ("+", "added" in st["edited"]),
                                            ("~", bool(st["edited"])), ("!", st["new"])) if on)
            click.echo(f"  {st['id']} {marks:<3} {st['title']} ({st['source']})")
    if data["not_selected"]:
        click.echo("\nNot selected (pin or move one to bring it in):")
        for st in data["not_selected"]:
            new = " !" if st["new"] else ""
            click.echo(f"  {st['id']}{new} [{st['section']}] {st['title']} ({st['source']})")
    click.echo("\n* pinned  + added  ~ edited  ! new since the draft", err=True)


@edit_group.command("note")
@EDITION_OPTION
@click.argument("text", required=False)
@click.option("--file", "file", type=click.File("r", encoding="utf-8"), metavar="FILE",
              help="Read the note from FILE (- for standard input).")
@click.option("--clear", is_flag=True, help="Remove the editor's note.")
@BY_OPTION
@click.pass_obj
def edit_note(state: State, edition: str | None, text: str | None, file: Any, clear: bool,
              by: str | None) -> None:
    """Write the editor's note (Markdown) at the top of the edition.

    \b
    Examples:
      digest edit note "A quiet week in Brussels, a loud one in Nairobi."
      digest edit note --file note.md
      digest edit note --clear
    """
    given = [x for x in (text is not None, file is not None, clear) if x]
    if len(given) != 1:
        raise UsageError("edit note: give the TEXT, --file FILE or --clear (one of them)")
    body = "" if clear else (text if text is not None else file.read(1_000_000))
    with state.app() as app:
        _done(app.editing.note(_edition_day(edition), body, by=by or _editor()))


@edit_group.command("pin")
@EDITION_OPTION
@click.argument("story")
@BY_OPTION
@click.pass_obj
def edit_pin(state: State, edition: str | None, story: str, by: str | None) -> None:
    """Put a story at the lead of its section (the last pinned leads).

    \b
    Example:
      digest edit pin 3f9a2c1d
    """
    with state.app() as app:
        app.poller.sync_feeds()
        _done(app.editing.pin(_edition_day(edition), story, by=by or _editor()))


@edit_group.command("drop")
@EDITION_OPTION
@click.argument("story")
@BY_OPTION
@click.pass_obj
def edit_drop(state: State, edition: str | None, story: str, by: str | None) -> None:
    """Leave a story out of the edition.

    \b
    Example:
      digest edit drop https://example.com/news/late-story
    """
    with state.app() as app:
        app.poller.sync_feeds()
        _done(app.editing.drop(_edition_day(edition), story, by=by or _editor()))


@edit_group.command("move")
@EDITION_OPTION
@click.argument("story")
@click.argument("section")
@BY_OPTION
@click.pass_obj
def edit_move(state: State, edition: str | None, story: str, section: str,
              by: str | None) -> None:
    """Put a story in another section (by the section's id).

    \b
    Example:
      digest edit move 3f9a2c1d europe
    """
    with state.app() as app:
        app.poller.sync_feeds()
        _done(app.editing.move(_edition_day(edition), story, section, by=by or _editor()))


@edit_group.command("retitle")
@EDITION_OPTION
@click.argument("story")
@click.option("--title", metavar="TEXT", help="The new headline.")
@click.option("--summary", metavar="TEXT", help="The new (shorter) summary.")
@BY_OPTION
@click.pass_obj
def edit_retitle(state: State, edition: str | None, story: str, title: str | None,
                 summary: str | None, by: str | None) -> None:
    """Give a story a new headline, a shorter summary, or both.

    \b
    Example:
      digest edit retitle 3f9a2c1d --title "Kenya's budget, explained"
    """
    with state.app() as app:
        app.poller.sync_feeds()
        _done(app.editing.retitle(_edition_day(edition), story, title=title, summary=summary,
                                  by=by or _editor()))


@edit_group.command("add")
@EDITION_OPTION
@click.argument("url")
@click.option("--section", metavar="ID", help="Its section (default: where its words put it).")
@click.option("--pin", is_flag=True, help="Also put it at the lead of its section.")
@BY_OPTION
@click.pass_obj
def edit_add(state: State, edition: str | None, url: str, section: str | None, pin: bool,
             by: str | None) -> None:
    """Add a story from a web page: fetched and read like a feed item.

    \b
    Example:
      digest edit add https://example.com/2026/12/the-story --section africa
    """
    who = by or _editor()
    with state.app() as app:
        app.poller.sync_feeds()
        day = _edition_day(edition)
        added = app.editing.add(day, url, section=section, by=who)
        _done(added)
        click.echo(f"  {added.value['title']} ({added.value['source']})")
        if pin:
            assert added.story is not None
            _done(app.editing.pin(day, added.story, by=who))


@edit_group.command("reset")
@EDITION_OPTION
@click.argument("ids", nargs=-1, type=click.IntRange(1), metavar="[ID]...")
@click.pass_obj
def edit_reset(state: State, edition: str | None, ids: tuple[int, ...]) -> None:
    """Undo edits: the ones given by number (`digest edit show`), else all of them.

    \b
    Examples:
      digest edit reset 3
      digest edit reset --edition 2026-12-07
    """
    with state.app() as app:
        count = app.editing.reset(_edition_day(edition), ids)
    click.echo(f"{count} edit{'s' if count != 1 else ''} undone")


@edit_group.command("approve")
@EDITION_OPTION
@BY_OPTION
@click.pass_obj
def edit_approve(state: State, edition: str | None, by: str | None) -> None:
    """Approve the edition as it stands: it is frozen, and is what goes out at the send.

    \b
    Example:
      digest edit approve --edition 2026-12-07
    """
    with state.app() as app:
        app.poller.sync_feeds()
        done = app.editing.approve(_edition_day(edition), by=by or _editor())
    stories = sum(len(section["stories"]) for section in done.frozen.payload["sections"])
    if done.already:
        who = f"approved by {done.by}" if done.by else "frozen when it was sent"
        click.echo(f"edition {done.edition} was {who} already; nothing changed")
    else:
        click.echo(f"edition {done.edition} approved and frozen ({stories} stories): "
                   f"{done.frozen.subject}")


@edit_group.command("draft")
@EDITION_OPTION
@click.option("--no-fetch", is_flag=True, help="Use stored items only; poll nothing.")
@click.pass_obj
def edit_draft(state: State, edition: str | None, no_fetch: bool) -> None:
    """Build the draft and email it to `editors` (what `digest run` does
    `schedule.draft_before` each send); the editors are emailed once per edition.

    \b
    Example:
      digest edit draft
    """
    with state.app() as app:
        app.poller.sync_feeds()
        draft = app.editing.draft(_edition_day(edition), fetch=not no_fetch)
    click.echo(f"edition {draft.edition}: draft of {draft.stories} stories; " + (
        f"emailed to {', '.join(draft.notified)}" if draft.notified else draft.note))


def main(argv: list[str] | None = None) -> int:
    """Entry point: one clear line per error, the exit code from the contract."""
    try:
        cli.main(args=argv, prog_name="digest", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.Abort:
        err.print("aborted")
        return 1
    except DigestError as e:
        _warn(str(e), "error", "red")
        # -v: the traceback too, except for a config error (its problems say it all)
        if logging.getLogger().isEnabledFor(logging.INFO) and not isinstance(e, ConfigError):
            err.print_exception()
        return e.exit_code
    except SystemExit as e:
        return int(e.code or 0)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
