"""The editor's pass (issue 22), as a use case: taking edits from the command line and the
editing page, checking what they refer to, showing what they change against the automatic
edition, approving (which freezes the edition as approved), and the draft that goes to the
editors before each send.

`Editing` is given the store, the editions use case (which applies the stored edits on every
build: digest.edits), a reader of web pages (an article added by URL) and the transport for the
editors' email. An edit is refused once its edition is frozen: what went out, or was approved,
is never changed afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from markupsafe import Markup

from digest import dedupe, notes
from digest.config import Settings, one_line
from digest.editions import BuildResult, Editions
from digest.edits import MAX_SUMMARY, MAX_TITLE, edit_to_dict, links_of, story_id
from digest.errors import DeliveryError, UsageError
from digest.models import Edit, EditKind, Story, iso
from digest.parse import cut_text
from digest.send import Outgoing, Transport, notice
from digest.store import FrozenEdition, Review, Store

if TYPE_CHECKING:
    from digest.article import Article

Clock = Callable[[], datetime]
MAX_BY = 100  # characters of an editor's name


class EditError(UsageError):
    """An edit that cannot be made: the story or section it names does not exist, the value
    is not acceptable, or the edition is frozen."""


@dataclass(frozen=True, slots=True)
class Overview:
    """An edition in review: as edited, against the automatic one."""

    edition: date
    send_at: datetime
    result: BuildResult  # with the edits (or as frozen)
    automatic: BuildResult | None  # without them (None: frozen, or nothing edited)
    edits: tuple[Edit, ...]
    review: Review
    changes: tuple[str, ...]  # what the edits change, story by story
    new: frozenset[str] = field(default_factory=frozenset)  # story urls with items after the draft

    @property
    def state(self) -> str:
        if self.review.approved_at is not None:
            return "approved"
        return "frozen" if self.result.frozen else "open"


@dataclass(frozen=True, slots=True)
class Approved:
    edition: date
    frozen: FrozenEdition
    already: bool  # approved (or sent) before this call
    by: str | None
    at: datetime | None


@dataclass(frozen=True, slots=True)
class Draft:
    edition: date
    send_at: datetime
    stories: int
    notified: tuple[str, ...] = ()  # the editors this call emailed
    note: str = ""  # why nobody was emailed, when nobody was


class Editing:
    """Edits, review and approval of the editions of one configuration."""

    def __init__(self, settings: Settings, store: Store, editions: Editions, *,
                 read_article: Callable[[str], Article], transport: Callable[[], Transport],
                 clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.editions = editions
        self.read_article = read_article
        self.transport = transport
        self.clock = clock

    # --- looking ---

    def overview(self, day: date | None = None, *, compare: bool = True) -> Overview:
        """The edition as edited; with `compare`, also without the edits, and the changes."""
        day, send_at = self.editions.edition_for(day)
        result = self.editions.build(day, fetch=False)
        stored = tuple(self.store.edits(day))
        review = self.store.review(day)
        automatic = None
        if compare and stored and not result.frozen:
            automatic = self.editions.build(day, fetch=False, edited=False)
        changes = tuple(_changes(automatic.edition.sections if automatic else (),
                                 result.edition.sections)) if automatic else ()
        new = frozenset(
            story.url for story in result.candidates
            if review.drafted_at is not None and any(
                item.first_seen is not None and item.first_seen > review.drafted_at
                for item in story.items))
        return Overview(day, send_at, result, automatic, stored, review, changes, new)

    def review(self, day: date) -> Review:
        """Where the edition stands in review (draft, approval)."""
        return self.store.review(day)

    # --- edits ---

    def note(self, day: date | None, text: str, *, by: str) -> Edit:
        """Write (or, with an empty text, remove) the edition's editor's note (Markdown)."""
        try:
            checked = notes.check_note(text)
        except notes.NoteError as e:
            raise EditError(f"note: {e}") from None
        return self._add(day, EditKind.NOTE, None, {"text": checked}, by=by)

    def pin(self, day: date | None, ref: str, *, by: str) -> Edit:
        return self._add(day, EditKind.PIN, self._story(day, ref).url, {}, by=by)

    def drop(self, day: date | None, ref: str, *, by: str) -> Edit:
        return self._add(day, EditKind.DROP, self._story(day, ref).url, {}, by=by)

    def move(self, day: date | None, ref: str, section: str, *, by: str) -> Edit:
        self._check_section(section)
        return self._add(day, EditKind.MOVE, self._story(day, ref).url, {"section": section},
                         by=by)

    def retitle(self, day: date | None, ref: str, *, title: str | None = None,
                summary: str | None = None, by: str) -> Edit:
        value: dict[str, Any] = {}
        if title is not None:
            value["title"] = _checked("title", title, MAX_TITLE)
        if summary is not None:
            value["summary"] = _checked("summary", summary, MAX_SUMMARY, lines=True)
        if not value:
            raise EditError("retitle: give a new title, a new summary or both")
        return self._add(day, EditKind.RETITLE, self._story(day, ref).url, value, by=by)

    def add(self, day: date | None, url: str, *, section: str | None = None,
            by: str) -> Edit:
        """Add the story at `url`: fetched and read like a feed item (digest.article)."""
        if section is not None:
            self._check_section(section)
        self._open(day)  # before fetching anything
        article = self.read_article(url)
        link = dedupe.clean_link(article.url)
        value: dict[str, Any] = {
            "url": article.url, "title": article.title, "summary": article.summary,
            "source": article.site_name or (urlsplit(article.url).hostname or ""),
            "image": article.image,
            "published": article.published.isoformat() if article.published else None}
        if section is not None:
            value["section"] = section
        return self._add(day, EditKind.ADD, link, value, by=by)

    def reset(self, day: date | None, ids: Sequence[int] = ()) -> int:
        """Undo the edition's edits (`ids`: only these); how many were undone."""
        day = self._open(day)
        with self.store.exclusive("edition"):
            self._not_frozen(day)
            if ids:
                known = {e.id for e in self.store.edits(day)}
                unknown = [i for i in ids if i not in known]
                if unknown:
                    raise EditError(f"edition {day} has no edit #{unknown[0]} "
                                    "(see `digest edit show`)")
            return self.store.remove_edits(day, list(ids) or None)

    def _add(self, day: date | None, kind: EditKind, story: str | None,
             value: Mapping[str, Any], *, by: str) -> Edit:
        day = self._open(day)
        who = _checked("by", by, MAX_BY)
        with self.store.exclusive("edition"):  # not after the freeze, not under it
            self._not_frozen(day)
            return self.store.add_edit(day, kind, story, value, by=who, at=self.clock())

    # --- approval ---

    def approve(self, day: date | None, *, by: str) -> Approved:
        """Freeze the edition as it stands now (with its edits): what goes out at the send.
        Once per edition, however many instances or people approve it at the same time."""
        day, _ = self.editions.edition_for(day)
        who = _checked("by", by, MAX_BY)
        frozen, result = self.editions.build_and_freeze(
            day, fetch=False,
            frozen_by=lambda _: self.store.record_approval(day, by=who, at=self.clock()))
        if frozen is None:
            raise EditError(f"edition {day} has no stories: there is nothing to approve")
        already = result is None
        review = self.store.review(day)
        return Approved(day, frozen, already, review.approved_by, review.approved_at)

    def waiting(self, day: date, send_at: datetime) -> str | None:
        """Why the edition may not be sent yet (it awaits approval), or None."""
        schedule = self.settings.schedule
        if not schedule.approval_required or self.store.frozen_edition(day) is not None:
            return None
        timeout = schedule.approval_timeout
        if timeout is None:
            return (f"edition {day} awaits an editor's approval (schedule.approval: required): "
                    "`digest edit approve` or the editing page")
        deadline = send_at + timeout
        if self.clock() < deadline:
            return (f"edition {day} awaits an editor's approval until {deadline.isoformat()}, "
                    "then goes out as it stands")
        return None

    # --- the draft for the editors ---

    def draft(self, day: date | None = None, *, fetch: bool = True) -> Draft:
        """Build the upcoming edition's draft and, the first time (whichever instance gets
        there), email it to `editors` with a link to the editing page."""
        day, send_at = self.editions.edition_for(day)
        if self.store.frozen_edition(day) is not None:
            return Draft(day, send_at, 0, note=f"edition {day} is frozen already")
        result = self.editions.build(day, fetch=fetch)
        now = self.clock()
        self.store.record_draft(day, now)
        stories = len(result.edition.stories)
        editors = self.settings.editors
        if not editors:
            return Draft(day, send_at, stories, note="no editors: nobody to email")
        if not self.store.claim_notice(day, now):
            return Draft(day, send_at, stories, note="the editors were emailed already")
        messages = [self._draft_message(result, send_at, to) for to in editors]
        try:
            with self.transport() as transport:
                for message in messages:
                    transport.send(message)
        except DeliveryError:
            self.store.release_notice(day)  # the next try sends it
            raise
        return Draft(day, send_at, stories, notified=editors)

    def page_url(self, day: date) -> str | None:
        """The editing page of one edition (`editing.url`), or None."""
        url = self.settings.editing.url
        if url is None:
            return None
        parts = urlsplit(url)
        query = "&".join(q for q in (parts.query, urlencode({"edition": day.isoformat()})) if q)
        return urlunsplit(parts._replace(query=query))

    def _draft_message(self, result: BuildResult, send_at: datetime, to: str) -> Outgoing:
        rendered = self.editions.rendered(result)
        day = result.edition.date
        lines = self._draft_lines(day, send_at)
        link = self.page_url(day)
        banner = Markup(
            '<div style="margin:0;padding:14px 18px;background:#fff7d6;color:#1f2328;'
            'font:15px/1.5 Arial,sans-serif;border-bottom:2px solid #d4a72c;">'
            '<p style="margin:0 0 6px;font-weight:bold;">{}</p>{}{}</div>').format(
            lines[0], Markup("").join(Markup('<p style="margin:0 0 6px;">{}</p>').format(x)
                                      for x in lines[1:]),
            Markup('<p style="margin:0;"><a href="{}" style="color:#0b57d0;">Review, change and '
                   'approve it</a></p>').format(link) if link else Markup(""))
        html = self.editions.readable(rendered.html)
        body = re.search(r"<body[^>]*>", html)
        html = (html[:body.end()] + banner + html[body.end():]) if body else banner + html
        text = "\n".join([*lines, *([f"Review, change and approve it: {link}"] if link else []),
                          "", self.editions.readable(rendered.text)])
        return notice(sender=self.settings.delivery.from_, to=to,
                      subject=cut_text(f"Draft for review: {rendered.subject}", 200), text=text,
                      html=html, kind="draft")

    def _draft_lines(self, day: date, send_at: datetime) -> list[str]:
        schedule = self.settings.schedule
        when = send_at.astimezone(self.settings.tz).strftime("%A %d %B %Y, %H:%M %Z")
        lines = [f"Draft of {self.settings.title}, edition {day}, to be sent {when}."]
        timeout = schedule.approval_timeout
        if not schedule.approval_required:
            lines.append("It goes out on schedule; changes made before then are included.")
        elif timeout is None:
            lines.append("It goes out only once an editor approves it.")
        else:
            deadline = (send_at + timeout).astimezone(self.settings.tz)
            lines.append("It goes out once an editor approves it, or as it stands at "
                         f"{deadline.strftime('%A %d %B, %H:%M %Z')} if nobody does.")
        if self.settings.editing.url is None:
            lines.append(f"Review it with `digest preview --serve` or `digest edit show "
                         f"--edition {day}` on the server.")
        return lines

    # --- helpers ---

    def _open(self, day: date | None) -> date:
        day, _ = self.editions.edition_for(day)
        self._not_frozen(day)
        return day

    def _not_frozen(self, day: date) -> None:
        if self.store.frozen_edition(day) is not None:
            review = self.store.review(day)
            how = (f"approved by {review.approved_by}" if review.approved_by
                   else "frozen when it was first sent")
            raise EditError(f"edition {day} was {how}: it can no longer be edited")

    def _check_section(self, section: str) -> None:
        known = [limit.id for limit in self.editions.section_limits()]
        if section not in known:
            raise EditError(f"no section {section!r}; the sections are: {', '.join(known)}")

    def _story(self, day: date | None, ref: str) -> Story:
        """The story `ref` names, among the edition's candidates: its id (as `edit show` and
        `build --explain` print it) or a link to any of its articles."""
        day = self._open(day)
        ref = ref.strip()
        candidates = self.editions.build(day, fetch=False).candidates
        if ref.startswith(("http://", "https://")):
            link = dedupe.clean_link(ref)
            found = [s for s in candidates if link in links_of(s)]
        elif re.fullmatch(r"[0-9a-f]{4,64}", wanted := ref.lower().strip("[]")):
            found = [s for s in candidates if story_id(s.url).startswith(wanted)]
            if len(found) > 1:
                raise EditError(f"story id {ref!r} is ambiguous: give more of it")
        else:
            found = []
        if not found:
            raise EditError(f"no story of edition {day} is {cut_text(ref, 200)!r}: give its id "
                            "(`digest edit show`) or the link of one of its articles")
        return found[0]


def _checked(what: str, value: str, limit: int, *, lines: bool = False) -> str:
    """What an editor typed, its runs of spaces made one: one line (`lines`: its line breaks
    kept), within `limit` characters, without control characters; EditError naming `what`."""
    parts = [" ".join(line.split()) for line in value.strip().splitlines()]
    value = "\n".join(parts) if lines else " ".join(parts)
    if not value and not lines:
        raise EditError(f"{what}: empty")
    if len(value) > limit:
        raise EditError(f"{what}: at most {limit} characters ({len(value)} given)")
    try:
        one_line(value.replace("\n", " "))
    except ValueError as e:
        raise EditError(f"{what}: {e}") from None
    return value


def _changes(before: Sequence[Any], after: Sequence[Any]) -> list[str]:
    """What differs between the automatic edition's sections and the edited one's."""
    def where(sections: Sequence[Any]) -> dict[str, tuple[str, int, Story]]:
        return {story.url: (section.title, i, story) for section in sections
                for i, story in enumerate(section.stories)}

    old, new = where(before), where(after)
    lines: list[str] = []
    for url, (section, position, story) in new.items():
        title = repr(cut_text(story.title, 80))
        if url not in old:
            lines.append(f"+ {title} in {section}")
            continue
        was_section, was_position, was = old[url]
        if was_section != section:
            lines.append(f"~ {title} moved from {was_section} to {section}")
        elif position == 0 and was_position != 0:
            lines.append(f"^ {title} now leads {section}")
        if was.title != story.title:
            lines.append(f"~ {cut_text(was.title, 80)!r} is headed {title}")
        if was.summary != story.summary:
            lines.append(f"~ {title}: summary rewritten")
    for url, (section, _, story) in old.items():
        if url not in new:
            lines.append(f"- {cut_text(story.title, 80)!r} no longer in {section}")
    return lines


def overview_to_dict(view: Overview) -> dict[str, Any]:
    """The edition in review as `digest edit show --format json` prints it (and the editing
    page reads it)."""
    plan = view.result.edited
    effects = plan.effects if plan else {}
    chosen = {story.url for story in view.result.edition.stories}
    pins = plan.pins if plan else {}
    done = plan.edited if plan else {}

    def story(s: Story) -> dict[str, Any]:
        return {"id": story_id(s.url), "title": s.title, "url": s.url, "source": s.source,
                "section": s.section, "summary": s.summary, "pinned": s.url in pins,
                "edited": list(done.get(s.url, ())), "new": s.url in view.new}

    r = view.review
    return {
        "edition": view.edition.isoformat(), "send_at": view.send_at.isoformat(),
        "state": view.state, "approved_by": r.approved_by, "approved_at": iso(r.approved_at),
        "drafted_at": iso(r.drafted_at), "notified_at": iso(r.notified_at),
        "note": view.result.edition.note,
        "edits": [{**edit_to_dict(e), "effect": effects.get(e.id, "")} for e in view.edits],
        "problems": list(plan.problems if plan else ()),
        "changes": list(view.changes),
        "sections": [{"id": sec.id, "title": sec.title,
                      "stories": [story(s) for s in sec.stories]}
                     for sec in view.result.edition.sections],
        "not_selected": [story(s) for s in view.result.candidates if s.url not in chosen],
    }
