"""feeds: the feeds' health, and OPML import and export."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from rich.text import Text

from digest.cli.output import LISTING_FORMAT, Column, emit, err
from digest.cli.root import State, _short, _warn, cli
from digest.errors import UsageError
from digest.models import FeedHealth, FeedStatus, iso


@cli.group(invoke_without_command=True)
@LISTING_FORMAT
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
        categories = {f.url: f.category for f in app.settings.feeds}
    styles = {"ok": "green", "error": "red", "disabled": "red"}
    moved = any(h.moved_to for h in rows)  # a column for moves only when a feed has moved
    filed = any(categories.values())  # and for categories only when a feed has one
    emit(fmt, rows, lambda h: {
        "url": h.url, "name": h.name, "status": h.status.value,
        "last_fetched_at": iso(h.last_fetched_at), "last_error": h.last_error, "items": h.items,
        "last_success_at": iso(h.last_success_at), "next_poll_at": iso(h.next_poll_at),
        "error_count": h.error_count, "moved_to": h.moved_to,
        "category": categories.get(h.url)}, [
        Column("feed", "name", lambda h: Text(h.name)),
        *([Column("category", "category", lambda h: Text(categories.get(h.url) or ""))]
          if filed else []),
        Column("status", "status",
               lambda h: Text(h.status.value, styles.get(h.status.value, "yellow"))),
        Column("items", "items", right=True),
        Column("last success", "last_success_at", lambda h: _short(h.last_success_at) or "never"),
        Column("next poll", "next_poll_at", _next_poll),
        Column("last error", "last_error", lambda h: Text(_last_error(h))),
        *([Column("moved permanently to", "moved_to")] if moved else [])],
        title=f"{len(rows)} feeds", fields=HEALTH_FIELDS)


HEALTH_FIELDS = ("url", "name", "status", "last_fetched_at", "last_error", "items",
                 "last_success_at", "next_poll_at", "error_count", "moved_to", "category")


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
@click.option("--map", "maps", multiple=True, metavar="FOLDER=SECTION",
              help="Put the feeds of this OPML folder in this section (id, title or auto); "
                   "repeatable. Other folders go to the section they are named like, else auto.")
@click.option("--dry-run", is_flag=True, help="Say what would be added; change nothing.")
@click.option("--allow-files", is_flag=True,
              help="Also import local feeds: file:// URLs, and paths relative to the OPML "
                   "file's folder (refused by default: the OPML may come from someone else, "
                   "and they name files on this machine).")
@LISTING_FORMAT
@click.pass_obj
def feeds_import(state: State, file: Path, section: str | None, maps: tuple[str, ...],
                 dry_run: bool, allow_files: bool, fmt: str) -> None:
    """Add the feeds of an OPML file to feeds.yaml.

    Reads the OPML that Feedly, Inoreader, NetNewsWire and other readers export, also when it is
    not well-formed XML (a warning says where). A feed in a folder named like a section (id or
    title, any case), or mapped with --map, goes to that section, others to auto; its folder is
    kept as its `category`, with its description and site link. Feeds already listed are
    skipped; new ones go at the end of the feeds list, and the rest of feeds.yaml (comments
    included) stays as it was. Nothing is written unless the result is a valid configuration.

    \b
    Examples:
      digest feeds import subscriptions.opml --dry-run
      digest feeds import tech.opml --section tech
      digest feeds import news.opml --map Germany=europe --map 'Photography=auto'
      digest feeds import news.opml --dry-run --format json
    """
    from digest import opml, opmlplan
    from digest.opmlplan import Verdict

    settings = state.settings()
    if section is not None and maps:
        raise UsageError("--section and --map: give one (--section puts every feed in one "
                         "section, --map places folders)")
    mapping = opmlplan.parse_map(settings, maps)
    document = opml.read_opml(file)
    plan = opmlplan.plan_import(document, settings, section=section, mapping=mapping,
                                allow_files=allow_files)
    if plan.added and not dry_run:
        opml.add_feeds(Path(settings.source), plan.added)  # all or nothing, so before any output
    for warning in document.warnings:
        _warn(warning)
    for folder in plan.unmapped:
        _warn(f"--map {folder!r}: no feed in {file} is in a folder of that name")
    outcomes = {Verdict.ADD: "would_add" if dry_run else "added", Verdict.SKIP: "skipped",
                Verdict.REJECT: "rejected"}
    verb = "would add" if dry_run else "added"
    summary = f"{settings.source}: {verb} {len(plan.added)}, skipped {len(plan.skipped)}"
    summary += f", rejected {len(plan.rejected)}" if plan.rejected else ""
    summary += " (dry run: nothing written)" if dry_run else ""
    if fmt != "table":  # one record per feed outline on stdout; the summary apart, on stderr
        emit(fmt, plan.items, lambda p: {
            "url": p.feed.url, "name": p.feed.name, "section": p.feed.section or "auto",
            "category": p.feed.category, "outcome": outcomes[p.verdict], "detail": p.detail},
            [Column("url", "url")], fields=IMPORT_FIELDS)
        err.print(Text(summary))
        return
    for planned in plan.items:
        if planned.verdict is Verdict.REJECT:
            _warn(f"rejected {planned.feed.url}: {planned.detail}")
        elif planned.verdict is Verdict.ADD and planned.detail:
            _warn(f"{planned.feed.url}: {planned.detail}")
    for planned in plan.items:
        if planned.verdict is Verdict.SKIP:
            click.echo(f"skipped: {planned.feed.url} ({planned.detail})")
    for new in plan.added:
        name = f"{new.name} " if new.name else ""
        category = f", category: {new.category}" if new.category else ""
        click.echo(f"{verb}: {name}<{new.url}> (section: {new.section or 'auto'}{category})")
    click.echo(summary)


IMPORT_FIELDS = ("url", "name", "section", "category", "outcome", "detail")


@feeds.command("export")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Write here instead of standard output.")
@click.pass_obj
def feeds_export(state: State, out: Path | None) -> None:
    """Write the feeds as OPML 2.0, for a feed reader.

    A folder per section holds its feeds, a folder per category its own; auto feeds without a
    category sit at the top level. Each feed keeps its description and site link; one with no
    `name:` is written under the title a fetch learned. Local feeds under the config's folder
    are written as paths relative to it: keep the file beside feeds.yaml to import it again
    (`digest feeds import FILE --allow-files` gives back the same feeds, sections and
    categories).

    \b
    Examples:
      digest feeds export --out feeds.opml
      digest --config examples/demo/feeds.yaml feeds export
    """
    from digest import opml

    with state.app() as app:  # the titles fetches learned, for feeds with no name
        titles = {h.url: h.name for h in app.reports.feeds() if h.name != h.url}
        content = opml.write_opml(app.settings, datetime.now(UTC), titles)
    if out is None:
        click.echo(content, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(content, encoding="utf-8")
    click.echo(f"wrote {out}", err=True)
