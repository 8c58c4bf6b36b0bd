"""The pipeline's commands: fetch, build, preview, send, and run (the daemon)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.text import Text

from digest.cli.logs import LOG_FORMATS, log_event, setup_logging
from digest.cli.output import LISTING_FORMAT, Column, dump, emit, err, format_option
from digest.cli.root import State, _warn, cli, parse_edition
from digest.errors import ConfigError, UsageError
from digest.models import FeedOutcome, FeedStatus

if TYPE_CHECKING:
    from rich.progress import Progress

    from digest.app import App
    from digest.delivery import SendReport


OUTCOME_FIELDS = ("url", "name", "status", "new_items", "not_modified", "unchanged", "moved_to",
                  "error", "notes")
SEND_FIELDS = ("edition", "recipient", "outcome", "status", "detail")


def _print_outcomes(outcomes: list[FeedOutcome], names: dict[str, str], fmt: str) -> None:
    emit(fmt, outcomes, lambda o: {
        "url": o.url, "name": names.get(o.url, o.title or o.url), "status": _status(o),
        "new_items": o.new_items, "not_modified": o.not_modified, "unchanged": o.unchanged,
        "moved_to": o.moved_to, "error": o.error, "notes": list(o.notes)}, [
        Column("feed", "name", lambda o: Text(names.get(o.url, o.title or o.url))),
        Column("status", "status", lambda o: Text(
            _status(o), "green" if o.status is FeedStatus.OK else "red")),
        Column("new", "new_items", right=True),
        Column("detail", "error", lambda o: Text(_detail(o)))],
        title=f"{len(outcomes)} feeds polled", fields=OUTCOME_FIELDS)


def _feed_names(app: App) -> dict[str, str]:
    return {h.url: h.name for h in app.reports.feeds()}


class _FetchProgress:
    """A progress bar on a terminal; a `feed_polled` log line per feed on stderr when it is
    not one (cron, Docker logs: text or JSON, as --log-format says), so a long poll is never
    silent. `start` learns how many feeds are due; each finished feed is passed to the
    instance."""

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
        # through logging, no rich rendering: a thousand lines must cost next to nothing
        log_event("feed_polled", f"[{self.done}/{self.total}] "
                  f"{_outcome_line(outcome, self.names)}", done=self.done, total=self.total,
                  url=outcome.url, status=_status(outcome), new_items=outcome.new_items)


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
@LISTING_FORMAT
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
    day = parse_edition(edition)
    with state.app() as app:
        app.poller.sync_feeds()
        result = app.editions.build(day, fetch=not no_fetch)
        # each failing feed was logged by the poller (a `feed_error` warning on stderr)
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
    from digest.editions import template_files
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
@click.option("--verbose", "each", is_flag=True,
              help="A line per reader (default: a progress bar on a terminal, then one "
                   "summary line).")
@format_option("table", "json", "csv", "tsv")
@click.pass_obj
def send(state: State, edition: str | None, to: str | None, dry_run: bool,
         no_fetch: bool, retry_now: bool, resend_unconfirmed: bool, each: bool,
         fmt: str) -> None:
    """Deliver an edition to every recipient who has not received it yet.

    Running it again for the same edition sends nothing twice. A delivery the server
    answered with 4xx is deferred and retried by later runs (5 minutes, then doubling);
    one handed to the server by a run that was killed before the server's answer is
    recorded unconfirmed and not sent again unless --resend-unconfirmed asks. A server that
    is down or refuses the login stops the run (exit 1) and defers no one.

    Prints one summary line on stderr (`edition 2026-11-30: 3 sent`); --verbose adds a line
    per reader on stdout, and --format json|csv|tsv prints each reader's outcome for tools.

    \b
    Examples:
      digest send --dry-run --verbose
      digest send --to me@example.org
      digest send --retry-now
      digest send --resend-unconfirmed --edition 2026-11-30
      digest send --format json > sent.json
    """
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
    with state.app() as app, _send_progress(fmt == "table" and not each) as progress:
        app.poller.sync_feeds()
        report = app.publisher.deliver(day, to=to, dry_run=dry_run, fetch=not no_fetch,
                                       retry_now=retry_now,
                                       resend_unconfirmed=resend_unconfirmed, progress=progress)
    _print_send(report, fmt, each)
    if report.failed:
        raise SystemExit(1)


@contextmanager
def _send_progress(wanted: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr while readers are sent to, when it is a terminal."""
    if not wanted or not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("sending"), BarColumn(), MofNCompleteColumn(), console=err,
                  transient=True) as bar:
        task = bar.add_task("sending", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _print_send(report: SendReport, fmt: str, each: bool) -> None:
    edition = report.edition.isoformat()
    if report.awaiting:
        if fmt == "json":
            dump({"edition": edition, "awaiting": report.awaiting, "counts": {},
                  "deliveries": []})
        click.echo(f"not sent: {report.awaiting}", err=True)
        return
    records = [{"edition": edition, "recipient": r.recipient, "outcome": r.kind,
                "status": r.status.value if r.status else None, "detail": r.detail}
               for r in report.results]
    if fmt == "json":
        dump({"edition": edition, "dry_run": report.dry_run, "awaiting": None,
              "counts": report.counts(), "deliveries": records})
        return
    if fmt in ("csv", "tsv"):
        emit(fmt, records, lambda r: r, [], fields=SEND_FIELDS)
    elif each:
        for r in report.results:
            # a recorded status stays one word, as scripts read it ("sent" + "already
            # recorded" for an earlier run's); what a run records nothing for says what it did
            status = r.status.value if r.status else r.kind
            click.echo(f"{edition}  {r.recipient:<32}  {status:<14}  {r.detail}")
    click.echo(f"edition {edition}: {report.summary()}", err=True)


@cli.command()
@click.option("--log-format", type=click.Choice(LOG_FORMATS), default=None,
              help="The same as `digest --log-format` (default: text, or DIGEST_LOG_FORMAT).")
@click.pass_obj
def run(state: State, log_format: str | None) -> None:
    """Run the scheduler: poll each feed when due, send each edition on schedule.digest.

    A send missed while digest was down goes out when it is back within schedule.grace
    (12 h); older ones are recorded as skipped. Reloads feeds.yaml on SIGHUP or when the file
    changes (keeping the running config if the new one is invalid); stops cleanly on SIGTERM
    or Ctrl-C. `digest status` shows what it is doing. Each event is a line on stderr, text or
    JSON, with the same names as the other commands' logs.

    \b
    Examples:
      digest --config /config/feeds.yaml run
      digest --log-format json run
    """
    from digest.app import make_app
    from digest.daemon import Daemon

    if log_format is not None and log_format != state.log_format:
        setup_logging(log_format, state.verbose)
    daemon = Daemon(state.settings, make_app, config=Path(state.config), on_event=log_event)
    raise SystemExit(daemon.run())
