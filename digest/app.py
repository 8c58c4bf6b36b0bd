"""The composition root (`make_app`) and the use cases: refresh, build, deliver, history.

The only module that combines the store with the pipeline steps; it owns the clock, passes
`now` to the pure decision steps and turns settings into each step's own parameters.
Delivering an edition (`App.deliver`) is in digest.delivery, which App inherits.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from queue import Empty, SimpleQueue
from random import Random
from time import monotonic

from digest import classify, dedupe, features, rank
from digest.config import Settings, load_lexicon

# Re-exported: they were digest.app's before delivery moved out (tests and bench import some)
from digest.delivery import DELIVERY_BATCH as DELIVERY_BATCH
from digest.delivery import DeliveryMixin
from digest.delivery import DeliveryResult as DeliveryResult
from digest.delivery import SendReport as SendReport
from digest.delivery import retry_delay as retry_delay
from digest.errors import ConfigError, RenderError, UsageError
from digest.fetch import FeedRequest, FetchLimits, fetch_feeds
from digest.models import (
    Delivery,
    Edition,
    FeedHealth,
    FeedOutcome,
    FeedState,
    FeedStatus,
    Rendered,
    Section,
    Story,
    edition_from_dict,
    edition_to_dict,
)
from digest.owner import this_process
from digest.polling import plan_next_poll
from digest.render import Renderer, template_dir
from digest.schedule import next_send, send_time_on
from digest.send import (
    FileTransport,
    Letter,
    SmtpOptions,
    SmtpPool,
    SmtpTransport,
    Transport,
    Unsubscribe,
    list_id,
)
from digest.store import FrozenEdition, PollRecord, Store

log = logging.getLogger(__name__)

ELSEWHERE_MAX_STORIES = 5
STORE_BATCH = 200  # outcomes stored in one transaction, at most
FEED_LEASE = timedelta(minutes=10)  # a feed leased for polling; a crashed poller's runs out
STORE_LINGER = 0.25  # seconds a batch waits for more outcomes before it is stored
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


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


class App(DeliveryMixin):
    """digest's use cases over one configuration, one store and one clock."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        clock: Clock = utc_now,
        limits: FetchLimits | None = None,
        transport: Callable[[], Transport] | None = None,
        random: Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.limits = limits or fetch_limits(settings)
        self.random = random or Random()  # backoff jitter
        self.sleep = sleep  # waits between messages under delivery.smtp.max_per_second
        self._last_send = float("-inf")
        e = settings.email
        try:
            self.renderer = Renderer(settings.tz, lang=e.lang, direction=e.dir,
                                     overrides=e.templates, subject=e.subject,
                                     thumbnails=e.thumbnails, view_url=e.view_url)
        except RenderError as error:  # a subject template that does not parse: a config error
            raise ConfigError(settings.source, [str(error)]) from error
        self._transport = transport or self._configured_transport
        self.lexicon = section_lexicon(settings)
        self.analyser = features.Analyser(self.lexicon)
        secret = settings.delivery.unsubscribe_secret
        self.unsubscribe_links = Unsubscribe(
            settings.delivery.unsubscribe_url,
            secret.get_secret_value().encode() if secret else b"")
        self.feed_sections = {f.url: f.section for f in settings.feeds}
        self.poll_every = {f.url: f.poll_every or settings.schedule.poll_every
                           for f in settings.feeds}
        store.sync_feeds((f.url, f.name, f.weight) for f in settings.feeds)

    def close(self) -> None:
        self.store.close()

    # --- fetching ---

    def refresh(
        self, *, force: bool = False, on_done: Callable[[FeedOutcome], None] | None = None,
        on_start: Callable[[int], None] | None = None, as_of: datetime | None = None,
        stop: threading.Event | None = None,
    ) -> list[FeedOutcome]:
        """Poll the feeds that are due (all with force, disabled ones included) and store
        their new items. `on_start` learns how many feeds are due; `on_done` sees each outcome
        once it is stored (from a worker thread).

        A new item dated more than the edition window before `as_of` (default now; a build
        passes its edition's send time, when that is earlier) is kept as seen only: a feed's
        back catalogue never floods an edition. `stop` set: downloads under way are
        abandoned (those feeds stay due); what finished is stored.
        """
        urls = [f.url for f in self.settings.feeds]
        first = self.clock()
        states = self.store.feed_states(urls)
        due = [s for s in states if force or (s.status is not FeedStatus.DISABLED and (
            s.next_poll_at is None or s.next_poll_at <= first))]
        if on_start is not None:
            on_start(len(due))
        if force:  # every feed, now, leased or not
            return self._poll_round(due, first, as_of, on_done, stop)
        # In rounds of leased feeds: instances sharing the database split the due feeds, and
        # each feed is polled once per due period.
        owner = this_process()
        outcomes: list[FeedOutcome] = []
        while stop is None or not stop.is_set():
            now = self.clock()
            leased = self.store.take_due_feeds(urls, owner=owner, now=now, lease=FEED_LEASE,
                                               limit=self.limits.concurrency * 16)
            if not leased:
                break
            outcomes += self._poll_round(leased, now, as_of, on_done, stop)
            self.store.release_feeds(owner, [s.url for s in leased])  # those abandoned
        order = {url: n for n, url in enumerate(urls)}
        return sorted(outcomes, key=lambda o: order.get(o.url, len(order)))  # config order

    def _poll_round(self, due: Sequence[FeedState], now: datetime, as_of: datetime | None,
                    on_done: Callable[[FeedOutcome], None] | None,
                    stop: threading.Event | None) -> list[FeedOutcome]:
        stale_before = min(now, as_of or now) - self.settings.edition.window
        failures = {s.url: s.error_count for s in due}
        requests = [FeedRequest(s.url, s.fetch_url, s.etag, s.last_modified, s.body_hash)
                    for s in due]
        outcomes: dict[str, FeedOutcome] = {}
        finished: SimpleQueue[FeedOutcome | None] = SimpleQueue()

        def write() -> None:
            # One writer thread stores outcomes while the downloads go on, in batches of what
            # finished within STORE_LINGER: one transaction per batch, not per feed.
            done = False
            while not done:
                batch = [finished.get()]
                deadline = monotonic() + STORE_LINGER
                while batch[-1] is not None and len(batch) < STORE_BATCH:
                    try:
                        batch.append(finished.get(timeout=max(deadline - monotonic(), 0)))
                    except Empty:
                        break
                done = batch[-1] is None
                real = [o for o in batch if o is not None]
                for stored in self._record(real, now, failures, stale_before):
                    outcomes[stored.url] = stored
                    if on_done is not None:
                        on_done(stored)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-store") as writer:
            writing = writer.submit(write)
            try:
                fetch_feeds(requests, self.limits, finished.put, stop=stop)
            finally:
                finished.put(None)
                writing.result()  # a store error surfaces here, after the downloads
        # after a stop, only the feeds that finished
        return [outcomes[r.url] for r in requests if r.url in outcomes]

    def _record(self, batch: Sequence[FeedOutcome], now: datetime, failures: dict[str, int],
                stale_before: datetime) -> list[FeedOutcome]:
        records = []
        for outcome in batch:
            keyed = []
            for item in outcome.items:
                item = replace(item, key=dedupe.item_key(item))
                keyed.append((item, dedupe.canonical_url(item.url)))
            failed = outcome.status is FeedStatus.ERROR
            plan = plan_next_poll(outcome, now=now, every=self.poll_every[outcome.url],
                                  failures=failures.get(outcome.url, 0) + 1 if failed else 0,
                                  max_backoff=self.settings.fetch.max_backoff,
                                  draw=self.random.random())
            records.append(PollRecord(outcome, keyed, plan.next_poll_at))
            if failed:
                log.info("feed %s: %s; next poll %s", outcome.url, outcome.error, plan.reason)
            if outcome.moved_to:
                log.warning("feed %s moved permanently to %s; polling the new URL from now on",
                            outcome.url, outcome.moved_to)
        new = self.store.record_polls(records, now=now, stale_before=stale_before,
                                      features=self.analyser)
        return [replace(o, items=(), new_items=n) for o, n in zip(batch, new, strict=True)]

    # --- editions ---

    def edition_for(self, day: date | None = None) -> tuple[date, datetime]:
        """The edition's name (its send date) and send time; default: the upcoming send."""
        tz = self.settings.tz
        cron = self.settings.schedule.digest
        if day is None:
            send_at = next_send(cron, tz, self.clock().astimezone(tz))
            return send_at.date(), send_at
        return day, send_time_on(cron, tz, day)

    def build(self, day: date | None = None, *, fetch: bool = True) -> BuildResult:
        """Assemble an edition (or show the frozen one, if it was already sent)."""
        day, send_at = self.edition_for(day)
        frozen = self.store.frozen_edition(day.isoformat())
        if frozen is not None:
            return BuildResult(edition_from_dict(frozen.payload), send_at, frozen=True,
                               explain=(f"edition {day} was frozen when first sent; "
                                        "shown as it went out",))
        fetched = tuple(self.refresh(as_of=send_at)) if fetch else ()
        s = self.settings
        with dedupe.gc_paused():  # see there: about a fifth of a large build's time
            window, placed, dropped = self._placed(day, send_at)
            sections = rank.select_sections(placed, self._limits(), now=send_at,
                                            half_life=s.edition.half_life,
                                            max_stories=s.edition.max_stories)
        edition = Edition(date=day, title=s.title, generated_at=self.clock(),
                          sections=tuple(sections), dropped=tuple(dropped))
        edition, rendered, trimmed = self._within_budget(edition)
        return BuildResult(edition, send_at, frozen=False,
                           explain=tuple(_explain(edition, placed, window)), fetched=fetched,
                           trimmed=tuple(trimmed), rendered=rendered)

    def _placed(self, day: date, send_at: datetime) -> tuple[int, list[Story], list[str]]:
        """The window's stories, each in its section: how many items the window had, the
        stories placed, and a line per story left out (already sent, unmatched)."""
        s = self.settings
        items = self.store.items_between(send_at - s.edition.window, send_at,
                                         [f.url for f in s.feeds], features_key=self.analyser.key)
        known, fresh = self.analyser.features(items)
        self.store.save_features(self.analyser.key, fresh)  # items stored without: once
        sent = self.store.sent_fingerprints(except_edition=day.isoformat())
        stories, dropped = dedupe.cluster_stories(items, sent, [f.text for f in known])
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

    def _limits(self) -> list[rank.SectionLimit]:
        e = self.settings.edition
        limits = [rank.SectionLimit(x.id, x.title, x.max_stories, x.min_stories,
                                    x.max_per_source or e.max_per_source, x.boost)
                  for x in self.settings.sections]
        if self._fallback:
            limits.append(rank.SectionLimit(self._fallback, classify.ELSEWHERE_TITLE,
                                            ELSEWHERE_MAX_STORIES, max_per_source=e.max_per_source))
        return limits

    def _within_budget(self, edition: Edition) -> tuple[Edition, Rendered, list[str]]:
        """Leave out the lowest-ranked stories until the HTML fits `email.max_html_bytes`
        (Gmail clips messages over about 102 KB and hides the rest behind a link); returns
        the edition, its rendering (kept: export, preview and freezing reuse it) and a line per
        story left out."""
        budget = self.settings.email.max_html_bytes
        trimmed: list[str] = []
        while True:
            rendered = self.render(edition)
            size = len(rendered.html.encode())
            if size <= budget or not edition.stories:
                break
            worst = min(edition.stories, key=lambda st: (st.score, st.title))
            sections = tuple(
                Section(sec.id, sec.title, tuple(st for st in sec.stories if st is not worst))
                for sec in edition.sections)
            edition = replace(edition, sections=tuple(sec for sec in sections if sec.stories))
            trimmed.append(f"{worst.title!r} ({worst.source}, score {worst.score:.3f}): the "
                           f"HTML was {size:,} bytes, over the {budget:,}-byte budget")
        return edition, rendered, trimmed

    def _rendered(self, result: BuildResult) -> Rendered:
        """The whole edition rendered: as build rendered it, or now (a frozen edition)."""
        return result.rendered or self.render(result.edition)

    def render(self, edition: Edition, sections: Sequence[str] | None = None) -> Rendered:
        return self.renderer.render(edition, sections=sections)

    def export(self, result: BuildResult, fmt: str) -> str:
        """The edition in one of the `digest build --format` formats."""
        if fmt == "json":
            return json.dumps(edition_to_dict(result.edition), indent=2, ensure_ascii=False)
        rendered = self._rendered(result)
        if fmt == "html":
            return rendered.html
        if fmt == "text":
            return rendered.text
        if fmt == "eml":
            return self._preview_message(result, rendered)
        raise UsageError(f"unknown format {fmt!r}")

    def _preview_message(self, result: BuildResult, rendered: Rendered) -> str:
        """The whole message as the first recipient would get it."""
        first = self.settings.recipients[0].email if self.settings.recipients else None
        letter = self._letter(rendered, result.edition.date.isoformat())
        return letter.for_recipient(first or "preview@example.invalid").data.decode()

    def write_preview(self, result: BuildResult, out_dir: Path) -> list[Path]:
        """Write the edition's HTML, text, the whole message (.eml, as the first recipient would
        get it) and JSON next to each other; returns their paths, the HTML first."""
        rendered = self._rendered(result)
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = f"edition-{result.edition.date.isoformat()}"
        files = {
            out_dir / f"{stem}.html": rendered.html,
            out_dir / f"{stem}.txt": rendered.text,
            out_dir / f"{stem}.eml": self._preview_message(result, rendered),
            out_dir / f"{stem}.json": json.dumps(edition_to_dict(result.edition), indent=2,
                                                 ensure_ascii=False),
        }
        for path, content in files.items():
            path.write_text(content, encoding="utf-8")
        return list(files)

    # --- delivery ---

    def _configured_transport(self) -> Transport:
        d = self.settings.delivery
        if d.transport == "file":
            return FileTransport(d.outbox)
        password = d.smtp.password.get_secret_value() if d.smtp.password else None
        options = SmtpOptions(d.smtp.host, d.smtp.port, d.smtp.security, d.smtp.username,
                              password, d.smtp.timeout, d.smtp.ca_file)
        if d.smtp.connections > 1:
            return SmtpPool(options, d.smtp.connections)
        return SmtpTransport(options)

    def _letter(self, rendered: Rendered, edition: str) -> Letter:
        d = self.settings.delivery
        return Letter(rendered, sender=d.from_, edition=edition,
                      list_id=list_id(self.settings.title, d.from_),
                      unsubscribe=self.unsubscribe_links)

    def _freeze(self, result: BuildResult) -> FrozenEdition:
        rendered = self._rendered(result)
        marks = {mark for story in result.edition.stories for item in story.items
                 for mark in dedupe.fingerprints(item)}
        return self.store.freeze_edition(
            result.edition.date.isoformat(), title=result.edition.title,
            payload=edition_to_dict(result.edition), subject=rendered.subject,
            html=rendered.html, text=rendered.text, fingerprints=marks, now=self.clock())

    def unsubscribe(self, addresses: Sequence[str]) -> list[tuple[str, bool]]:
        """Add addresses to the suppression list: (address, newly added) each."""
        return [(a, self.store.suppress(a, now=self.clock(), source="command"))
                for a in addresses]

    def prune(self) -> int:
        """Delete items past `retention` (never sent-edition records), and the stored features
        of items older than two edition windows; how many items went."""
        now = self.clock()
        deleted = self.store.prune_items(now=now, keep=self.settings.retention)
        self.store.forget_features(before=now - 2 * self.settings.edition.window)
        return deleted

    # --- reports ---

    def history(self) -> list[Delivery]:
        return self.store.history()

    def feeds(self) -> list[FeedHealth]:
        """Health of the configured feeds, in config order (feeds since removed from the
        config keep their stored items but are not shown)."""
        health = {h.url: h for h in self.store.feed_health()}
        return [health[f.url] for f in self.settings.feeds if f.url in health]



def _explain(edition: Edition, placed: Sequence[Story], candidates: int) -> list[str]:
    lines = [f"{candidates} items in the window became {len(placed)} candidate stories"]
    chosen = {story.url for story in edition.stories}
    for section in edition.sections:
        lines.append(f"[{section.id}] {section.title}: {len(section.stories)} stories")
        for story in section.stories:
            lines.append(f"  {story.score:.3f}  {story.title} ({story.source})")
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


def section_lexicon(settings: Settings) -> classify.Lexicon:
    """Every section's words: its built-in word lists, its keywords, less its exclusions."""
    specs = []
    for section in settings.sections:
        terms = [term for name in section.lexicons() for term in load_lexicon(name)]
        terms.extend((k.term, k.weight) for k in section.keywords)
        specs.append(classify.SectionSpec(section.id, section.title, tuple(terms),
                                          section.exclude, section.weight))
    # What readers expect under "Elsewhere" even when it happens in a section's region: sport,
    # entertainment, science. Listed last, so a tie goes to a real section.
    specs.append(classify.SectionSpec(classify.ELSEWHERE_ID, classify.ELSEWHERE_TITLE,
                                      load_lexicon(classify.ELSEWHERE_ID)))
    return classify.Lexicon(specs)


def fetch_limits(settings: Settings) -> FetchLimits:
    """The `fetch:` block of feeds.yaml as the fetcher's limits."""
    f = settings.fetch
    return FetchLimits(concurrency=f.concurrency, per_host=f.per_host,
                       connect_timeout=f.connect_timeout.total_seconds(),
                       total_timeout=f.timeout.total_seconds(), max_bytes=f.max_bytes,
                       max_redirects=f.max_redirects)


def make_app(settings: Settings, *, clock: Clock = utc_now) -> App:
    """Wire the collaborators for one configuration."""
    return App(settings, Store(settings.database), clock=clock)


def parse_edition(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--edition: not a date like 2026-11-30: {value!r}") from None

