"""readers and unsubscribe: the audience, as the operator sees it (issue 18)."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.text import Text

from digest.cli.output import (
    FORMAT_TABLE_JSON,
    LISTING_FORMAT,
    Column,
    dump,
    emit,
    format_option,
    table,
)
from digest.cli.root import State, _short, _warn, cli
from digest.errors import UsageError
from digest.models import iso

if TYPE_CHECKING:

    pass


# --- readers (issue 18): the audience, as the operator sees it ---

if TYPE_CHECKING:
    from digest.models import Reader


def _reader_statuses() -> list[str]:
    from digest.models import ReaderStatus

    return [s.value for s in ReaderStatus]


READER_CSV_COLUMNS = ("email", "name", "sections", "status", "source", "created_at",
                      "confirmed_at")


def _csv_record(r: Reader) -> dict[str, str]:
    """A reader as `digest readers import` reads it (sections: ids separated by spaces, empty
    for every section)."""
    return {"email": r.address, "name": r.name or "", "sections": " ".join(r.sections or ()),
            "status": r.status.value, "source": r.source.value,
            "created_at": iso(r.created_at) or "", "confirmed_at": iso(r.confirmed_at) or ""}


READER_COLUMNS: list[Column[Reader]] = [
    Column("address", "email"), Column("name", "name"),
    Column("status", "status", lambda r: _status_of(r)),
    Column("sections", "sections",
           lambda r: " ".join(r.sections) if r.sections is not None else "all"),
    Column("source", "source",
           lambda r: r.source.value + (" (feeds.yaml)" if r.in_config else "")),
    Column("joined", "created_at", lambda r: _short(r.created_at))]


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
@format_option("table", "json", "csv", "tsv")
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
        dump([reader_to_dict(r) for r in rows])
        return
    # CSV and TSV have the columns `digest readers import` reads
    emit(fmt, rows, _csv_record, READER_COLUMNS, title=f"{len(rows)} readers",
         fields=READER_CSV_COLUMNS)


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
            dump(app.readers.export_one(address))
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
        table(f"{len(bounces)} bounces and complaints",
              [Column(h, h) for h in ("at", "kind", "source", "edition", "reason")], [
                  (_short(b.at), b.kind.value, b.source, b.edition or "", Text(b.reason))
                  for b in bounces])
    if not deliveries:
        click.echo("deliveries: none")
        return
    table(f"{len(deliveries)} deliveries",
          [Column(h, h) for h in ("edition", "status", "sent at", "detail")], [
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
            dump(app.readers.export_one(address))
            return
        rows = app.readers.select()
    if fmt == "json":
        dump([reader_to_dict(r) for r in rows])
    else:
        emit("csv", rows, _csv_record, READER_COLUMNS, fields=READER_CSV_COLUMNS)


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




@cli.command()
@click.argument("addresses", nargs=-1, required=True, metavar="ADDR...")
@LISTING_FORMAT
@click.pass_obj
def unsubscribe(state: State, addresses: tuple[str, ...], fmt: str) -> None:
    """Stop sending to these addresses: every later send skips them and records that.

    A line per address (`unsubscribed`, or `already unsubscribed`); --format json|csv|tsv
    gives `{"address", "outcome"}` records (`unsubscribed`, `already_unsubscribed`).

    \b
    Examples:
      digest unsubscribe ana@example.org
      digest unsubscribe ana@example.org ben@example.org --format json
    """
    from digest.config import check_email

    for address in addresses:
        try:
            check_email(address)
        except ValueError as e:
            raise UsageError(f"unsubscribe: {e}") from None
    with state.app() as app:
        app.readers.sync_config()
        done = app.readers.unsubscribe_addresses(addresses)
    if fmt == "table":
        for address, added in done:
            click.echo(f"{address}: {'unsubscribed' if added else 'already unsubscribed'}")
        return
    emit(fmt, done, lambda d: {"address": d[0],
                               "outcome": "unsubscribed" if d[1] else "already_unsubscribed"},
         [], fields=("address", "outcome"))
