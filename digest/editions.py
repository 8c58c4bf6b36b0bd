"""Editions: which edition is next, building one from the stored window, rendering, exporting
and freezing it for sending (use case).

`Editions` is given its collaborators (the store, the poller that refreshes feeds before a
build, the renderer, the section words, the features analyser, the letter maker for the .eml
preview, the clock, the metrics each build is timed into); it sends nothing (digest.delivery
does) and makes no decision a pure step makes (dedupe, classify, rank).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from time import monotonic

from digest import classify, dedupe, edits, rank
from digest.config import Settings
from digest.delivery import Letters
from digest.errors import UsageError
from digest.features import Analyser
from digest.gcpause import gc_paused
from digest.metrics import Metrics
from digest.models import (
    PREFERENCES_PLACEHOLDER,
    UNSUBSCRIBE_PLACEHOLDER,
    Edit,
    Edition,
    FeedOutcome,
    Rendered,
    Section,
    Story,
    edition_from_dict,
    edition_to_dict,
)
from digest.parse import cut_text
from digest.refresh import Poller
from digest.render import Renderer, template_dir
from digest.schedule import next_send, send_time_on
from digest.send import unsubscribe_mailto
from digest.store import FrozenEdition, Store

ELSEWHERE_MAX_STORIES = 5
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class BuildResult:
    """An assembled edition, plus how it came to be (for --explain)."""

    edition: Edition
    send_at: datetime
    frozen: bool  # True: this edition was already frozen for sending; shown as it went out
    explain: tuple[str, ...] = ()
    fetched: tuple[FeedOutcome, ...] = ()
    trimmed: tuple[str, ...] = ()  # stories left out to keep the HTML under the size budget
    rendered: Rendered | None = None  # the whole edition, as the size check rendered it
    edited: edits.Plan | None = None  # what the editor's edits made of it (None: no edits)
    candidates: tuple[Story, ...] = ()  # every story placed in a section, chosen or not


class Editions:
    """Builds, renders, exports and freezes the editions of one configuration."""

    def __init__(self, settings: Settings, store: Store, *, poller: Poller,
                 renderer: Renderer, lexicon: classify.Lexicon, analyser: Analyser,
                 letters: Letters, clock: Clock, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.store = store
        self.poller = poller
        self.renderer = renderer
        self.lexicon = lexicon
        self.analyser = analyser
        self.letters = letters
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.feed_sections = {f.url: f.section for f in settings.feeds}
        self.feed_names = {f.url: f.name for f in settings.feeds}  # who a story is credited to

    def edition_for(self, day: date | None = None) -> tuple[date, datetime]:
        """The edition's name (its send date) and send time; default: the upcoming send."""
        tz = self.settings.tz
        cron = self.settings.schedule.digest
        if day is None:
            send_at = next_send(cron, tz, self.clock().astimezone(tz))
            return send_at.date(), send_at
        return day, send_time_on(cron, tz, day)

    def frozen(self, day: date) -> FrozenEdition | None:
        """The edition as it was frozen for sending, if it was."""
        return self.store.frozen_edition(day)

    def build(self, day: date | None = None, *, fetch: bool = True,
              edited: bool = True) -> BuildResult:
        """Assemble an edition, with the editor's edits unless `edited` is False (the
        automatic edition, to compare); or show the frozen one, if it was already sent."""
        day, send_at = self.edition_for(day)
        frozen = self.store.frozen_edition(day)
        if frozen is not None:
            return BuildResult(edition_from_dict(frozen.payload), send_at, frozen=True,
                               explain=(f"edition {day} was frozen when first sent; "
                                        "shown as it went out",))
        fetched = tuple(self.poller.refresh(as_of=send_at)) if fetch else ()
        started = monotonic()  # the build's own time, after the feeds' refresh
        s = self.settings
        limits = self.section_limits()
        with gc_paused():  # see there: about a fifth of a large build's time
            window, placed, dropped = self._placed(day, send_at)
            stored = self.store.edits(day) if edited else []
            plan = self._plan(stored, placed, limits) if stored else None
            sections = rank.select_sections(plan.candidates if plan else placed, limits,
                                            now=send_at, half_life=s.edition.half_life,
                                            max_stories=s.edition.max_stories)
            made_room: list[str] = []
            if plan is not None:
                sections, made_room = edits.arrange(sections, plan, limits, now=send_at,
                                                    half_life=s.edition.half_life)
        edition = Edition(date=day, title=s.title, generated_at=self.clock(),
                          sections=tuple(sections), dropped=tuple(dropped),
                          note=plan.note if plan else None)
        edition, rendered, trimmed = self._within_budget(
            edition, keep=plan.chosen if plan else frozenset())
        # the automatic edition an editor compares with is timed, but its sections are not
        # the edition's
        self.metrics.built(monotonic() - started, {
            **{section.id: 0 for section in s.sections},
            **{section.id: len(section.stories) for section in edition.sections}}
            if edited else None)
        explain = _explain(edition, plan.candidates if plan else placed, window)
        if plan is not None:
            explain += [f"editor: {line}" for line in (*plan.lines, *made_room)]
            explain += [f"editor: not applied: {line}" for line in plan.problems]
        return BuildResult(edition, send_at, frozen=False, explain=tuple(explain),
                           fetched=fetched, trimmed=tuple(trimmed), rendered=rendered,
                           edited=plan, candidates=plan.candidates if plan else tuple(placed))

    def _plan(self, stored: list[Edit], placed: list[Story],
              limits: list[rank.SectionLimit]) -> edits.Plan:
        """The editor's edits over the placed candidates; an added story with no section
        named goes where its words put it, else the catch-all section, else the first."""
        s = self.settings

        def place(story: Story) -> Story:
            found, _ = classify.classify_stories(
                [story], self.lexicon, {}, fallback=self._fallback,
                min_score=s.edition.min_score)
            if found:
                return found[0]
            first = limits[0].id if limits else classify.ELSEWHERE_ID
            return replace(story, section=first,
                           section_reason=f"no section's words matched: {first}, the first")

        return edits.plan(stored, placed, sections={x.id: x.title for x in limits}, place=place)

    def build_and_freeze(self, day: date, *, fetch: bool = True,
                         frozen_by: Callable[[FrozenEdition], None] | None = None
                         ) -> tuple[FrozenEdition | None, BuildResult | None]:
        """The edition frozen for sending: as frozen before, or built and frozen now (one
        instance builds and freezes; the others wait, then take what it froze). The build
        too, when this call made it; no frozen edition when it has no stories. `frozen_by`
        is called with what this call froze, before any other instance sees it (an
        approval is recorded there)."""
        with self.store.exclusive("edition"):
            frozen = self.store.frozen_edition(day)
            if frozen is not None:
                return frozen, None
            result = self.build(day, fetch=fetch)
            if not result.edition.stories:
                return None, result
            frozen = self._freeze(result)
            if frozen_by is not None:
                frozen_by(frozen)
            return frozen, result

    def _placed(self, day: date, send_at: datetime) -> tuple[int, list[Story], list[str]]:
        """The window's stories, each in its section: how many items the window had, the
        stories placed, and a line per story left out (already sent, unmatched)."""
        s = self.settings
        items = self.store.items_between(send_at - s.edition.window, send_at,
                                         [f.url for f in s.feeds], features_key=self.analyser.key)
        known, fresh = self.analyser.features(items)
        self.store.save_features(self.analyser.key, fresh)  # items stored without: once
        sent = self.store.sent_fingerprints(except_edition=day)
        stories, dropped = dedupe.cluster_stories(items, sent, [f.text for f in known],
                                                  feeds=self.feed_names)
        placed, unplaced = classify.classify_stories(
            stories, self.lexicon, self.feed_sections, fallback=self._fallback,
            always=s.edition.classify == "always", min_score=s.edition.min_score,
            found={item.id: f.found for item, f in zip(items, known, strict=True)
                   if item.id is not None})
        return len(items), placed, dropped + unplaced

    @property
    def _fallback(self) -> str | None:
        """The section of stories no section's words match, if they are kept."""
        return classify.ELSEWHERE_ID if self.settings.edition.unmatched == "elsewhere" else None

    def section_limits(self) -> list[rank.SectionLimit]:
        """The sections an edition can have, in order, with their limits."""
        e = self.settings.edition
        limits = [rank.SectionLimit(x.id, x.title, x.max_stories, x.min_stories,
                                    x.max_per_source or e.max_per_source, x.boost)
                  for x in self.settings.sections]
        if self._fallback:
            limits.append(rank.SectionLimit(self._fallback, classify.ELSEWHERE_TITLE,
                                            ELSEWHERE_MAX_STORIES, max_per_source=e.max_per_source))
        return limits

    def _within_budget(self, edition: Edition, keep: frozenset[str] = frozenset()
                       ) -> tuple[Edition, Rendered, list[str]]:
        """Leave stories out until the HTML fits `email.max_html_bytes` (Gmail clips messages
        over about 102 KB and hides the rest behind a link): first any story too big to fit
        beside others, then, render by render, the costliest outlier before the lowest-ranked
        story (`rank.next_to_leave_out`), so one heavy story never pushes the rest out; the
        stories an editor chose (`keep`, by URL) go last. Returns the edition, its rendering
        (kept: export, preview and freezing reuse it) and a line per story left out."""
        budget = self.settings.email.max_html_bytes
        trimmed: list[str] = []

        def leave_out(story: Story, why: str) -> Edition:
            trimmed.append(f"{cut_text(story.title, 120)!r} ({cut_text(story.source, 120)}, score "
                           f"{story.score:.3f}): {why}")
            sections = (Section(sec.id, sec.title,
                                tuple(st for st in sec.stories if st is not story))
                        for sec in edition.sections)
            return replace(edition, sections=tuple(sec for sec in sections if sec.stories))

        for story in rank.too_costly(edition.stories, budget):
            edition = leave_out(story, f"it alone would take about {rank.html_cost(story):,} "
                                       f"bytes of the {budget:,}-byte budget")
        while True:
            rendered = self.render(edition)
            size = len(rendered.html.encode())
            if size <= budget or not edition.stories:
                return edition, rendered, trimmed
            story, why = rank.next_to_leave_out(
                [st for st in edition.stories if st.url not in keep] or edition.stories)
            edition = leave_out(story, f"{why}; the HTML was {size:,} bytes, over the "
                                       f"{budget:,}-byte budget")

    def rendered(self, result: BuildResult) -> Rendered:
        """The whole edition rendered: as build rendered it, or now (a frozen edition)."""
        return result.rendered or self.render(result.edition)

    def render(self, edition: Edition, sections: Sequence[str] | None = None) -> Rendered:
        return self.renderer.render(edition, sections=sections)

    def export(self, result: BuildResult, fmt: str) -> str:
        """The edition in one of the `digest build --format` formats."""
        if fmt == "json":
            return json.dumps(edition_to_dict(result.edition), indent=2, ensure_ascii=False)
        rendered = self.rendered(result)
        if fmt == "html":
            return self.readable(rendered.html)
        if fmt == "text":
            return self.readable(rendered.text)
        if fmt == "eml":
            return self._preview_message(result, rendered)
        raise UsageError(f"unknown format {fmt!r}")

    def readable(self, part: str) -> str:
        """A rendered part as a person outside a delivery sees it (a preview, `build --format
        html`): the holes where each reader's own links go get links that work for anyone:
        unsubscribing by mail to the sender, and the subscribe page (or the mail link again)
        for the preferences."""
        mailto = unsubscribe_mailto(self.settings.delivery.from_)
        base = self.settings.web.base_url
        return part.replace(UNSUBSCRIBE_PLACEHOLDER, mailto).replace(
            PREFERENCES_PLACEHOLDER, f"{base}/subscribe" if base else mailto)

    def _preview_message(self, result: BuildResult, rendered: Rendered) -> str:
        """The whole message as the first recipient would get it."""
        first = self.settings.recipients[0].email if self.settings.recipients else None
        letter = self.letters.letter(rendered, result.edition.date)
        return letter.for_recipient(first or "preview@example.invalid").data.decode()

    def write_preview(self, result: BuildResult, out_dir: Path) -> list[Path]:
        """Write the edition's HTML, text, the whole message (.eml, as the first recipient would
        get it) and JSON next to each other; returns their paths, the HTML first."""
        rendered = self.rendered(result)
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = f"edition-{result.edition.date.isoformat()}"
        files = {
            out_dir / f"{stem}.html": self.readable(rendered.html),
            out_dir / f"{stem}.txt": self.readable(rendered.text),
            out_dir / f"{stem}.eml": self._preview_message(result, rendered),
            out_dir / f"{stem}.json": json.dumps(edition_to_dict(result.edition), indent=2,
                                                 ensure_ascii=False),
        }
        for path, content in files.items():
            path.write_text(content, encoding="utf-8")
        return list(files)

    def _freeze(self, result: BuildResult) -> FrozenEdition:
        rendered = self.rendered(result)
        marks = {mark for story in result.edition.stories for item in story.items
                 for mark in dedupe.fingerprints(item)}
        return self.store.freeze_edition(
            result.edition.date, title=result.edition.title,
            payload=edition_to_dict(result.edition), subject=rendered.subject,
            html=rendered.html, text=rendered.text, fingerprints=marks, now=self.clock())


def _explain(edition: Edition, placed: Sequence[Story], candidates: int) -> list[str]:
    lines = [f"{candidates} items in the window became {len(placed)} candidate stories"]
    chosen = {story.url for story in edition.stories}
    for section in edition.sections:
        lines.append(f"[{section.id}] {section.title}: {len(section.stories)} stories")
        for story in section.stories:
            lines.append(f"  {story.score:.3f}  [{edits.story_id(story.url)}] {story.title} "
                         f"({story.source})")
            lines.append(f"         section: {story.section_reason}")
            lines.extend(f"         {reason}" for reason in story.merge_reasons)
    lines.extend(f"dropped: {line}" for line in edition.dropped)
    for story in placed:
        if story.url not in chosen:
            lines.append(f"not selected (section or edition full): {story.title!r} "
                         f"[{story.section}] ({story.source})")
            lines.extend(f"         {reason}" for reason in story.merge_reasons)
    return lines


def template_files(templates: str | None) -> list[Path]:
    """The templates an edition is rendered from: the built-in ones and, when an override
    folder is set (`email.templates`), its own (for `preview --serve` to watch)."""
    folders = [template_dir(), *([Path(templates)] if templates else [])]
    return [path for folder in folders for path in sorted(folder.glob("*.j2"))]
