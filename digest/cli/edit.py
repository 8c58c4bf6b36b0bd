"""edit: the editor's pass over an edition before it is sent (issue 22)."""

from __future__ import annotations

from contextlib import suppress
from datetime import date
from typing import TYPE_CHECKING, Any

import click

from digest.cli.output import dump
from digest.cli.root import State, _warn, cli, parse_edition
from digest.errors import UsageError

if TYPE_CHECKING:

    pass


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
        dump(data)
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
