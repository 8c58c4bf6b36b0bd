"""The editor's pass over an edition (issue 22), as pure steps: which stories the stored edits
refer to, what they make of the automatic edition, and a line for each saying so. No I/O, no
clock: the store keeps the edits (digest.store.edits), digest.editing takes them from people,
and digest.editions applies them on every build, so the command line, the editing page and
the send all see one edition.

An edit names its story by a link (`Edit.story`: the clean link of one of the story's articles
when the edit was made), never by a position or the headline: a story that later merges with
another (its representative changing) is still found through the links it carries, and an
edit whose story has left the window is reported, not fatal.

Edits apply in the order they were made; for one story the last word wins (a drop after a pin
leaves it out; a pin, move or add after a drop brings it back). Stories an editor pinned,
moved or added are always in the edition, past the section's and the edition's limits (a
story so brought into a full section takes the place of its lowest-ranked one); pinned stories
lead their section, the last pinned first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from digest import rank
from digest.models import Edit, EditKind, Item, Section, Story
from digest.parse import cut_text

MAX_TITLE = 300  # characters of a headline an editor writes
MAX_SUMMARY = 1000  # characters of a summary an editor writes
ID_CHARS = 8  # a story's id: this many hex digits of its link's hash
# Kinds that put a story in the edition whatever its rank.
CHOOSING = (EditKind.PIN, EditKind.MOVE, EditKind.ADD)


def story_id(link: str) -> str:
    """A short, stable id for a story (from its link), for people to refer to it."""
    return hashlib.sha256(link.encode()).hexdigest()[:ID_CHARS]


def links_of(story: Story) -> tuple[str, ...]:
    """Every link a story carries (its headline's and its other articles'), all clean."""
    return (story.url, *(a.url for a in story.also))


@dataclass(slots=True)
class _Target:
    """What the edits, in order, make of one story."""

    dropped_by: Edit | None = None
    pinned_by: Edit | None = None
    chosen_by: Edit | None = None  # the last pin, move or add: the story is in, whatever its rank
    moved_by: Edit | None = None
    title_by: Edit | None = None
    summary_by: Edit | None = None
    added_by: Edit | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """The candidates as the edits leave them, before ranking."""

    candidates: tuple[Story, ...]  # drops removed, moves and new headlines applied, additions in
    pins: Mapping[str, int]  # story url -> the pin's edit id (a later pin leads)
    note: str | None
    lines: tuple[str, ...]  # one per edit: what it did, or what undid it
    problems: tuple[str, ...]  # edits that found nothing to act on
    edited: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # url -> what was done
    picked: tuple[Story, ...] = ()  # stories in whatever their rank (pinned, moved, added)
    effects: Mapping[int, str] = field(default_factory=dict)  # edit id -> its line or problem

    @property
    def chosen(self) -> frozenset[str]:
        """The urls of the picked stories."""
        return frozenset(story.url for story in self.picked)


def plan(edits: Sequence[Edit], stories: Sequence[Story], *, sections: Mapping[str, str],
         place: Callable[[Story], Story]) -> Plan:
    """Apply `edits` (in id order) to the candidate `stories` (each already in its section).
    `sections` maps the section ids an edition can have to their titles; `place` puts an
    added story in a section (by its words) when the editor named none."""
    # one pass over the candidates, looking only for the links the edits name
    wanted = {e.story for e in edits if e.story}
    index: dict[str, int] = {}
    for i, story in enumerate(stories):
        if story.url in wanted:
            index.setdefault(story.url, i)
        for also in story.also:
            if also.url in wanted:
                index.setdefault(also.url, i)
    candidates = list(stories)
    targets: dict[int, _Target] = {}  # candidate index -> what the edits make of it
    lines: dict[int, str] = {}
    problems: list[str] = []
    effects: dict[int, str] = {}  # edits that found nothing to act on: why
    edits = sorted(edits, key=lambda e: e.id)

    def problem(edit: Edit, line: str) -> None:
        problems.append(f"{edit.label}: {line}")
        effects[edit.id] = f"not applied: {line}"

    note_by: Edit | None = None
    for edit in edits:
        if edit.kind is EditKind.NOTE:
            note_by = edit
            continue
        where = index.get(edit.story or "")
        if edit.kind is EditKind.ADD and where is None:
            added = _added_story(edit, sections, place)
            if added is None:
                problem(edit, f"section {edit.value.get('section')!r} is not in this "
                              "edition's sections: ignored")
                continue
            candidates.append(added)
            where = len(candidates) - 1
            for link in links_of(added):
                index.setdefault(link, where)
        if where is None:
            problem(edit, f"no story in the window carries {edit.story} (it was sent "
                          "already, left the window or its feed): ignored")
            continue
        if edit.kind is EditKind.MOVE and edit.value.get("section") not in sections:
            problem(edit, f"section {edit.value.get('section')!r} is not in this "
                          "edition's sections: ignored")
            continue
        _record(targets.setdefault(where, _Target()), edit)
    edited: dict[str, tuple[str, ...]] = {}
    picked_at: list[int] = []  # candidates the editor chose
    pins: dict[str, int] = {}
    for where, target in targets.items():
        before = candidates[where]
        story, done = _apply(before, target)
        candidates[where] = story
        if target.dropped_by is None:
            if target.chosen_by is not None:
                picked_at.append(where)
            if target.pinned_by is not None:
                pins[story.url] = target.pinned_by.id
        if done:
            edited[story.url] = tuple(done)
        for edit, line in _lines(before, story, target, sections):
            lines[edit.id] = line
    dropped = {where for where, t in targets.items() if t.dropped_by is not None}
    for e in edits:
        if e.kind is not EditKind.NOTE and e.id not in effects and e.id not in lines:
            lines[e.id] = "undone by a later edit of the same story"
    note = None
    for edit in edits:
        if edit.kind is EditKind.NOTE and edit is not note_by:
            lines[edit.id] = "the note was written again later"
    if note_by is not None:
        text = str(note_by.value.get("text") or "")
        note = text or None
        lines[note_by.id] = (f"the editor's note ({len(text)} characters)" if text
                             else "the editor's note removed")
    out_lines = [f"{e.label}: {lines[e.id]}" for e in edits if e.id in lines]
    kept = tuple(s for i, s in enumerate(candidates) if i not in dropped) if dropped else \
        tuple(candidates)
    picked = tuple(candidates[i] for i in sorted(picked_at))
    return Plan(candidates=kept, picked=picked, pins=pins, note=note,
                lines=tuple(out_lines), problems=tuple(problems), edited=edited,
                effects={**effects, **lines})


def _record(target: _Target, edit: Edit) -> None:
    """One edit's word on a story, after the ones before it."""
    if edit.kind is EditKind.DROP:
        target.dropped_by, target.pinned_by, target.chosen_by = edit, None, None
        return
    if edit.kind in CHOOSING:
        target.dropped_by = None
        target.chosen_by = edit
    if edit.kind is EditKind.PIN:
        target.pinned_by = edit
    elif edit.kind is EditKind.MOVE:
        target.moved_by = edit
    elif edit.kind is EditKind.ADD:
        target.added_by = edit
        if edit.value.get("section"):
            target.moved_by = edit
    elif edit.kind is EditKind.RETITLE:
        if edit.value.get("title"):
            target.title_by = edit
        if edit.value.get("summary") is not None:
            target.summary_by = edit


def _apply(story: Story, target: _Target) -> tuple[Story, list[str]]:
    done: list[str] = []
    if target.moved_by is not None:
        section = str(target.moved_by.value["section"])
        if section != story.section:
            story = replace(story, section=section,
                            section_reason=f"{target.moved_by.label}: moved from "
                                           f"{story.section or 'no section'}")
            done.append("moved")
    if target.title_by is not None:
        story = replace(story, title=str(target.title_by.value["title"]))
        done.append("retitled")
    if target.summary_by is not None:
        story = replace(story, summary=str(target.summary_by.value["summary"]))
        done.append("summary")
    if target.pinned_by is not None and target.dropped_by is None:
        done.append("pinned")
    if target.added_by is not None:
        done.append("added")
    return story, done


def _lines(before: Story, after: Story, target: _Target, sections: Mapping[str, str]
           ) -> Iterable[tuple[Edit, str]]:
    """What each edit of one story did, or which later edit undid it."""
    title = repr(cut_text(before.title, 80))
    final = target.dropped_by
    if final is not None:
        yield final, f"{title} left out"
        return
    section = sections.get(after.section, after.section)
    if (e := target.pinned_by) is not None:
        yield e, f"{title} leads {section}"
    if (e := target.added_by) is not None:
        yield e, f"{title} ({after.source}) added to {section}"
    if (e := target.moved_by) is not None and e is not target.added_by:
        yield e, (f"{title} moved from "
                  f"{sections.get(before.section, before.section or 'no section')} to {section}")
    if target.title_by is not None:
        e = target.title_by
        yield e, f"{title} is headed {cut_text(after.title, 80)!r}"
    if target.summary_by is not None and target.summary_by is not target.title_by:
        e = target.summary_by
        yield e, f"{title}'s summary rewritten ({len(after.summary)} characters)"


def _added_story(edit: Edit, sections: Mapping[str, str], place: Callable[[Story], Story]
                 ) -> Story | None:
    v = edit.value
    published = datetime.fromisoformat(v["published"]) if v.get("published") else None
    item = Item(feed_url="", key=str(v["url"]), url=str(v["url"]), title=str(v["title"]),
                summary=str(v.get("summary") or ""), published=published,
                source=str(v.get("source") or ""), first_seen=edit.at,
                image=v.get("image") or None)
    story = Story(title=item.title, url=edit.story or item.url, source=item.source,
                  published=published, summary=item.summary, weight=1.0, items=(item,),
                  image=item.image)
    section = v.get("section")
    if section:
        if section not in sections:
            return None
        return replace(story, section=str(section), section_reason=f"{edit.label}: added")
    placed = place(story)
    return replace(placed, section_reason=f"{edit.label}: added; {placed.section_reason}")


def arrange(selected: Sequence[Section], applied: Plan, limits: Sequence[rank.SectionLimit], *,
            now: datetime, half_life: timedelta) -> tuple[list[Section], list[str]]:
    """The ranked sections with the editor's choices in: chosen stories the ranking left out
    put in their section (a full section gives up its lowest-ranked story that nobody chose),
    then pinned stories first, the last pinned leading. Returns the sections and a line per
    story made room for."""
    by_id = {limit.id: limit for limit in limits}
    buckets: dict[str, list[Story]] = {s.id: list(s.stories) for s in selected}
    present = {story.url for s in selected for story in s.stories}
    chosen = applied.chosen
    lines: list[str] = []
    for story in applied.picked:
        if story.url in present:
            continue
        limit = by_id.get(story.section)
        if limit is None:  # checked when the edit was made; the config may have changed since
            lines.append(f"{cut_text(story.title, 80)!r}: its section {story.section!r} is not "
                         "in this edition: left out")
            continue
        bucket = buckets.setdefault(story.section, [])
        if len(bucket) >= limit.max_stories:
            spare = [s for s in bucket if s.url not in chosen]
            if spare:
                out = min(spare, key=lambda s: (s.score, s.title))
                bucket.remove(out)
                lines.append(f"{cut_text(out.title, 80)!r} left out of {limit.title} to make room "
                             f"for the editor's {cut_text(story.title, 80)!r}")
        bucket.append(replace(story, score=rank.score(story, now, half_life, limit.boost)))
    sections = []
    for limit in limits:
        stories = buckets.get(limit.id)
        if not stories:
            continue
        pinned = sorted((s for s in stories if s.url in applied.pins),
                        key=lambda s: -applied.pins[s.url])
        rest = sorted((s for s in stories if s.url not in applied.pins),
                      key=lambda s: (-s.score, s.title, s.url))
        sections.append(Section(limit.id, limit.title, tuple(pinned + rest)))
    return sections, lines


def edit_to_dict(edit: Edit) -> dict[str, Any]:
    """An edit as `digest edit show --format json` prints it."""
    return {"id": edit.id, "edition": edit.edition.isoformat(), "kind": edit.kind.value,
            "story": edit.story, "story_id": story_id(edit.story) if edit.story else None,
            "value": dict(edit.value), "by": edit.by, "at": edit.at.isoformat()}
