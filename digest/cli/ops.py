"""The operator's commands: status, history, db, config, bounces, dns."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.text import Text

from digest.cli.output import FORMAT_TABLE_JSON, LISTING_FORMAT, Column, dump, emit, err, out
from digest.cli.root import State, _days, _short, _warn, cli, parse_edition
from digest.models import DeliveryStatus, iso

if TYPE_CHECKING:

    pass


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
    if check:  # every minute in Docker: one query, not the whole report
        if not _healthy(state):
            click.echo("unhealthy: no `digest run` has beaten in the last 3 minutes", err=True)
            raise SystemExit(1)
        return
    with state.reports() as reports:
        report = reports.status()
    if fmt == "json":
        dump(report)
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


def _healthy(state: State) -> bool:
    """The usual answer, a daemon beat, comes by the light path (digest.beats: feeds.yaml's
    `database` and the database's own driver, no pydantic or SQLAlchemy). Anything else goes
    the full way, which validates the config (exit 2 for a broken one) and says what is wrong
    with the database. A running daemon keeps its last valid config, so a beat means healthy
    even if feeds.yaml was broken since."""
    from datetime import UTC, datetime

    from digest.beats import beating
    from digest.configfile import database_url

    try:
        if beating(database_url(state.config), datetime.now(UTC)):
            return True
    except ValueError:
        pass
    with state.reports() as reports:
        return reports.healthy()


@cli.command()
@LISTING_FORMAT
@click.option("--edition", metavar="DATE", help="Only this edition's deliveries.")
@click.option("--status", "only", type=click.Choice([s.value for s in DeliveryStatus]),
              help="Only the deliveries with this status (unconfirmed: handed to the server "
                   "by a run that was killed before its answer).")
@click.option("--reader", metavar="ADDR", help="Only the deliveries to this address.")
@click.option("--limit", type=click.IntRange(1), metavar="N",
              help="At most N deliveries, the newest editions first.")
@click.pass_obj
def history(state: State, fmt: str, edition: str | None, only: str | None, reader: str | None,
            limit: int | None) -> None:
    """List the deliveries, newest edition first: edition, recipient, status, when, Message-ID.

    \b
    Examples:
      digest history --edition 2026-11-30 --status failed
      digest history --reader ana@example.org --limit 10
      digest history --format csv > deliveries.csv
    """
    day = parse_edition(edition)
    with state.reports() as reports:
        rows = reports.history(status=DeliveryStatus(only) if only else None, edition=day,
                               reader=reader, limit=limit)
    emit(fmt, rows, lambda d: {
        "edition": d.edition.isoformat(), "recipient": d.recipient, "status": d.status.value,
        "sent_at": iso(d.sent_at), "message_id": d.message_id, "error": d.error}, [
        Column("edition", "edition"), Column("recipient", "recipient"),
        Column("status", "status"), Column("sent at", "sent_at", lambda d: _short(d.sent_at)),
        Column("detail", "error", lambda d: Text(d.error or d.message_id or ""))],
        title=f"{len(rows)} {'delivery' if len(rows) == 1 else 'deliveries'}",
        fields=("edition", "recipient", "status", "sent_at", "message_id", "error"))


@cli.group()
def db() -> None:
    """Show or upgrade the database schema (every command upgrades it anyway when it opens it).

    \b
    Examples:
      digest db current
      digest db upgrade
      digest db backup digest-backup.db
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


@db.command("backup")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@click.pass_obj
def db_backup(state: State, file: Path, force: bool) -> None:
    """Copy the SQLite database to FILE while digest runs (SQLite's online backup API).

    The copy is consistent even with `digest run` writing, is checked with SQLite's integrity
    check, and replaces FILE only once it is whole. To restore, stop digest and put the copy
    where `database:` points. For PostgreSQL use pg_dump (README, Backups).

    \b
    Examples:
      digest db backup backups/digest-$(date +%F).db
      digest db backup /backup/digest.db --force
    """
    from digest.app import make_schema

    schema = make_schema(state.settings())
    try:
        size = schema.backup(file, replace=force)
    finally:
        schema.close()
    click.echo(f"database: copied to {file} ({size:,} bytes)")


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
        dump({"current": revision, "head": head, "latest": latest})
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
@LISTING_FORMAT
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
    if fmt == "table" and not report.handled:
        err.print(report.summary(), highlight=False)
        return
    emit(fmt, report.handled, lambda h: {
        "kind": h.what, "reader": h.reader, "outcome": h.outcome, "detail": h.detail}, [
        Column("kind", "kind"), Column("reader", "reader"), Column("outcome", "outcome"),
        Column("detail", "detail", lambda h: Text(h.detail))],
        title=f"{len(report.handled)} messages", fields=("kind", "reader", "outcome", "detail"))
    if fmt == "table":
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
        dump({"records": [{"name": r.name, "type": r.type, "value": r.value,
                            "purpose": r.purpose} for r in found], "warnings": warnings})
        return
    for r in found:
        click.echo(f"; {r.purpose}")
        click.echo(r.zone_line())
    for warning in warnings:
        _warn(warning)
