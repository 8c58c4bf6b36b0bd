"""Delivering a frozen edition to its recipients, each exactly once (use case).

`Deliverer` is given its collaborators (the store, the delivery settings, the audience (who
gets the edition now, and each reader's links: digest.readers), a transport factory, the letter
maker, a renderer for readers who chose some sections only, the clock, the sleep used for
pacing, whom to tell of a refusal about a reader's address: digest.bounces, and the metrics
each recorded outcome is counted in). It claims deliveries, sends, paces and records outcomes;
it builds and freezes nothing (digest.editions does) and needs no templates or word lists when
every recipient takes the whole edition.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.utils import parseaddr
from time import monotonic
from typing import Any

from digest.config import DeliverySettings
from digest.errors import DeliveryError
from digest.metrics import Metrics
from digest.models import (
    DELIVERED,
    BounceKind,
    DeliveryStatus,
    Edition,
    Reader,
    ReaderLinks,
    Rendered,
    edition_from_dict,
    iso,
)
from digest.owner import gone, this_process
from digest.send import Letter, SmtpPool, Transport, Unsubscribe, new_message_id
from digest.store import FrozenEdition, HandOver, Outcome, Store, Taken

log = logging.getLogger(__name__)

DELIVERY_BATCH = 100  # recipients claimed together, in one transaction
RECORD_EVERY = 1.0  # seconds between writes of delivery outcomes during a batch

RETRY_FIRST = timedelta(minutes=5)
RETRY_MAX = timedelta(hours=6)
Clock = Callable[[], datetime]
# Renders an edition, whole (None) or only some sections (by id), for readers who chose them.
RenderSections = Callable[[Edition, Sequence[str] | None], Rendered]
LetterFor = Callable[[tuple[str, ...] | None], Letter | None]
# A reader's own links, or None for the configured defaults.
LinksFor = Callable[[Reader], ReaderLinks | None]
# Told of each refusal that says something about a reader's address (issue 20): the reader,
# hard or soft, the server's reply, the edition.
OnBounce = Callable[[Reader, BounceKind, str, date], None]
Progress = Callable[[int, int], None]  # (readers done, readers in all) during a send


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    recipient: str
    status: DeliveryStatus | None  # None: nothing recorded (dry run, test copy, skipped, ...)
    detail: str = ""
    earlier: bool = False  # recorded by an earlier run; this one did nothing
    did: str | None = None  # without a record, what this run did: "would send", "test copy sent"

    @property
    def kind(self) -> str:
        """What this run did, for counts and the listing: `sent`, `failed`, ..., `would send`,
        `test copy sent`, `skipped`, or e.g. `sent before` when an earlier run sent it."""
        kind = self.status.value if self.status else self.did or "skipped"
        return f"{kind} before" if self.earlier else kind


@dataclass(slots=True)
class SendReport:
    edition: date
    results: list[DeliveryResult] = field(default_factory=list)
    dry_run: bool = False
    awaiting: str | None = None  # not sent: the edition awaits an editor's approval (why)

    @property
    def failed(self) -> list[DeliveryResult]:
        return [r for r in self.results if r.status is DeliveryStatus.FAILED]

    def counts(self) -> dict[str, int]:
        """How many readers each outcome (`DeliveryResult.kind`) had, by name."""
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r.kind] = counts.get(r.kind, 0) + 1
        return dict(sorted(counts.items()))

    def summary(self) -> str:
        return ", ".join(f"{n} {k}" for k, n in self.counts().items()) or "no recipients"


@dataclass(frozen=True, slots=True)
class Letters:
    """Makes the message of an edition (headers and both parts encoded once; see send.Letter)
    from what every message of this list shares."""

    sender: str
    list_id: str
    unsubscribe: Unsubscribe
    reply_to: str | None = None
    sign: Callable[[bytes], bytes] | None = None  # DKIM: the signature header of a message

    def letter(self, rendered: Rendered, edition: date) -> Letter:
        return Letter(rendered, sender=self.sender, edition=edition.isoformat(),
                      list_id=self.list_id, unsubscribe=self.unsubscribe,
                      reply_to=self.reply_to, sign=self.sign)


class Deliverer:
    """Sends frozen editions to the audience, each reader once; dry runs and test copies
    too."""

    def __init__(
        self, store: Store, delivery: DeliverySettings, audience: Callable[[], Sequence[Reader]],
        *, transport: Callable[[], Transport], letters: Letters, clock: Clock,
        links: LinksFor | None = None, render: RenderSections | None = None,
        sleep: Callable[[float], None] = time.sleep, on_bounce: OnBounce | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.delivery = delivery
        self.audience = audience
        self.links = links
        self.transport = transport
        self.letters = letters
        self.clock = clock
        self.render = render
        self.sleep = sleep  # waits between messages under delivery.smtp.max_per_second
        self.on_bounce = on_bounce
        self.metrics = metrics or Metrics()
        self._last_send = float("-inf")  # when _pace last let a message go (time.monotonic)

    def send(self, frozen: FrozenEdition, *, stop: threading.Event | None = None,
             retry_now: bool = False, resend_unconfirmed: bool = False,
             progress: Progress | None = None) -> SendReport:
        """Send a frozen edition to every recipient who has not had it yet. `stop` set: no new
        message is started; those under way finish and are recorded. `retry_now`: deliveries
        deferred by a 4xx answer are tried now rather than after their retry time.
        `resend_unconfirmed`: only the deliveries recorded unconfirmed are sent, again, with
        the Message-ID recorded (a reader's mail program shows a second copy with the same
        one once, as Gmail does), and recorded sent; nothing else is sent. `progress` is told
        (done, total) as each chunk of readers is recorded.

        The audience is read once, at the start; a reader who leaves (or pauses) during
        the send is not sent the message if it has not reached the point of no return
        (recorded suppressed): the store checks at each hand-over.

        Readers go in chunks of DELIVERY_BATCH, in the order they joined: the chunk's deliveries
        are claimed in one transaction (several instances share a list: each takes what the
        others have not), sent, and their outcomes recorded together, at least every
        RECORD_EVERY seconds. Only the hand-over note is written per message, before its
        final "." (see _deliver_one): a run that dies leaves its unrecorded sends with the
        note, and the next run records them as unconfirmed (counted as sent) instead of
        sending them again.

        The transport failing as a whole (no connection, TLS or login refused, the server
        closing the session) stops the run with a DeliveryError naming the server: the
        recipient being tried is given back with those not reached, claimable at once by the
        next run; no one is deferred for it."""
        report = SendReport(frozen.edition)
        recipients = tuple(self.audience())
        resend: dict[str, str | None] | None = None
        if resend_unconfirmed:  # each with the Message-ID recorded
            resend = {d.recipient: d.message_id for d in self.store.history(
                status=DeliveryStatus.UNCONFIRMED, edition=frozen.edition)}
            current = {r.address for r in recipients}
            report.results.extend(
                DeliveryResult(a, DeliveryStatus.UNCONFIRMED,
                               "not sent again: no longer among the readers", earlier=True)
                for a in resend if a not in current)
            recipients = tuple(r for r in recipients if r.address in resend)
            if not resend:
                report.results.append(DeliveryResult(
                    "*", None, "no delivery of this edition is unconfirmed"))
                return report
        letter_for = self._letters_of(edition_from_dict(frozen.payload), frozen)
        claims = self.store.open_claims(frozen.id)
        run = _Run(frozen.edition, frozen.id, this_process(),
                   {c.owner for c in claims.values() if c.owner and gone(c.owner)},
                   retry_now=retry_now, resend=resend)
        with self.transport() as transport, \
                _Dispatch(transport.size if isinstance(transport, SmtpPool) else 1) as dispatch:
            for start in range(0, len(recipients), DELIVERY_BATCH):
                if dispatch.stopped or (stop is not None and stop.is_set()):
                    break
                chunk = recipients[start:start + DELIVERY_BATCH]
                report.results.extend(self._deliver_chunk(
                    transport, dispatch, run, chunk, letter_for, stop))
                if progress is not None:
                    progress(start + len(chunk), len(recipients))
        if dispatch.stopped:
            raise dispatch.stopped
        return report

    def last_edition(self) -> date | None:
        """The edition frozen (first sent) last."""
        latest = self.store.latest_edition()
        return latest[0] if latest else None

    def test_copy(self, edition: Edition, to: str, *, dry_run: bool = False) -> SendReport:
        """One copy of the edition to `to`: not recorded, freezes nothing."""
        report = SendReport(edition.date, dry_run=dry_run)
        if not dry_run:
            letter = self._letters_of(edition)(None)
            assert letter is not None
            with self.transport() as transport:
                transport.send(letter.for_recipient(to))
        report.results.append(DeliveryResult(
            to, None, "a test copy, not recorded",
            did="would send a test copy" if dry_run else "test copy sent"))
        return report

    def dry_run(self, edition: Edition, *, frozen: FrozenEdition | None = None) -> SendReport:
        """Who would get what (of the edition as frozen, if it was), sending nothing and
        recording nothing."""
        report = SendReport(edition.date, dry_run=True)
        report.results.extend(self._dry_run(edition, self._letters_of(edition, frozen)))
        return report

    def _letters_of(self, edition: Edition, frozen: FrozenEdition | None = None) -> LetterFor:
        """The letter for a choice of sections (None: the whole edition; the frozen one as it
        was rendered when frozen), made once per choice; None when none of the chosen
        sections has stories."""
        letters: dict[tuple[str, ...] | None, Letter] = {}
        if frozen is not None:
            letters[None] = self.letters.letter(
                Rendered(frozen.subject, frozen.html, frozen.text), edition.date)

        def letter_for(key: tuple[str, ...] | None) -> Letter | None:
            if key not in letters:
                if key is not None and not any(s.id in key for s in edition.sections):
                    return None
                if self.render is None:
                    raise ValueError("this deliverer was given no renderer: it can send "
                                     "whole frozen editions only")
                letters[key] = self.letters.letter(self.render(edition, key), edition.date)
            return letters[key]

        return letter_for

    def _dry_run(self, edition: Edition, letter_for: LetterFor) -> list[DeliveryResult]:
        results = []
        for recipient in self.audience():
            address = recipient.address
            key = tuple(recipient.sections) if recipient.sections else None
            letter = letter_for(key)
            if letter is None:
                results.append(DeliveryResult(address, None, "no stories in the chosen sections"))
            else:
                stories = sum(len(s.stories) for s in edition.sections
                              if key is None or s.id in key)
                results.append(DeliveryResult(address, None, f"{stories} stories: {letter.subject}",
                                              did="would send"))
        return results

    def _deliver_chunk(
        self, transport: Transport, dispatch: _Dispatch, run: _Run,
        chunk: Sequence[Reader], letter_for: LetterFor, stop: threading.Event | None,
    ) -> list[DeliveryResult]:
        """Claim, send and record one chunk of readers; results in the chunk's order."""
        edition_id = run.edition_id
        now = self.clock()
        states = self.store.delivery_states(edition_id, [r.address for r in chunk])
        results: dict[str, DeliveryResult | Future[tuple[DeliveryResult, Outcome | None]]] = {}
        wanted: dict[str, tuple[Letter, Reader]] = {}
        for recipient in chunk:
            address = recipient.address
            status, retry_after = states.get(address, (None, None))
            if run.resend is not None:  # only the unconfirmed ones, still so
                if status is not DeliveryStatus.UNCONFIRMED:
                    if status is not None:
                        results[address] = DeliveryResult(address, status,
                                                          "no longer unconfirmed", earlier=True)
                    continue
            elif status in (*DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.SUPPRESSED):
                results[address] = DeliveryResult(address, status, "already recorded",
                                                  earlier=True)
                continue
            letter = letter_for(tuple(recipient.sections) if recipient.sections else None)
            if letter is None:
                results[address] = DeliveryResult(address, None,
                                                  "no stories in the chosen sections")
                continue
            if status is DeliveryStatus.DEFERRED and retry_after and retry_after > now \
                    and not run.retry_now:
                results[address] = DeliveryResult(
                    address, DeliveryStatus.DEFERRED,
                    f"deferred: next try after {iso(retry_after)}")
                continue
            wanted[address] = (letter, recipient)
        domain = parseaddr(self.letters.sender)[1].rpartition("@")[2]
        edition = run.edition.isoformat()
        taken = self.store.take_deliveries(
            edition_id, list(wanted), owner=run.owner, now=now,
            message_ids={a: new_message_id(edition, domain) for a in wanted},
            stale_before=now - self.delivery.claim_timeout, gone=run.gone,
            retry_now=run.retry_now, unconfirmed=run.resend is not None)
        order = {address: n for n, address in enumerate(wanted)}
        taken.sort(key=lambda claim: order[claim.recipient])  # the audience's order
        last_write = monotonic()

        def record(wait_all: bool) -> None:
            """Write the outcomes of finished sends in one transaction (all of them once
            the chunk is done; else at most every RECORD_EVERY seconds, so a crash leaves
            few sends unrecorded)."""
            nonlocal last_write
            if wait_all:
                dispatch.drain()
            elif monotonic() - last_write < RECORD_EVERY:
                return
            outcomes = []
            for address, value in list(results.items()):
                if not isinstance(value, Future) or not value.done():
                    continue
                if value.exception() is not None:
                    del results[address]  # not recorded: released below
                    continue
                result, outcome = value.result()
                results[address] = result
                if outcome is not None:
                    outcomes.append(outcome)
            self.store.finish_deliveries(edition_id, outcomes, now=self.clock())
            for outcome in outcomes:  # counted once recorded
                self.metrics.delivered(outcome.status)
            last_write = monotonic()

        for claim in taken:
            if dispatch.stopped or (stop is not None and stop.is_set()):
                break
            self._pace()
            results[claim.recipient] = dispatch.submit(
                self._deliver_one, transport, run, claim, *wanted[claim.recipient])
            record(wait_all=False)
        record(wait_all=True)
        # Not sent: the run stopped first, or its transport failed (the error stops the
        # run): pending again for the next one, which takes them at once (unconfirmed
        # again when resending).
        unfinished = [c.recipient for c in taken if c.recipient not in results]
        self.store.release_claims(run.owner, edition_id, unfinished,
                                  unconfirmed=run.resend is not None)
        for address in unfinished:
            results[address] = DeliveryResult(
                address, DeliveryStatus.PENDING if run.resend is None
                else DeliveryStatus.UNCONFIRMED, "not sent: this run stopped first")
        for address in wanted:
            results.setdefault(address, DeliveryResult(
                address, DeliveryStatus.SENDING, "claimed by another run"))
        return [r for a in (r.address for r in chunk)
                if isinstance(r := results.get(a), DeliveryResult)]

    def _deliver_one(self, transport: Transport, run: _Run, claim: Taken, letter: Letter,
                     reader: Reader) -> tuple[DeliveryResult, Outcome | None]:
        """Send one claimed delivery (in a sender thread when there are several connections)
        and say how it ended; the chunk records it.

        A delivery claimed before (`attempts` > 1) may have gone out in a run that died
        before recording it. It is recorded as sent, not sent again, when the transport shows
        the message went out (the file outbox); it is recorded unconfirmed, not sent again,
        when that run had noted the hand-over (SMTP: just before the final "." of DATA, so the
        server most likely has it, but that run never heard it say so). When resending
        unconfirmed deliveries, neither applies: the message goes again, with the Message-ID
        recorded."""
        address = claim.recipient
        resend = run.resend is not None
        links = (self.links(reader) if self.links is not None else None) or ReaderLinks()
        message = letter.for_recipient(
            address, message_id=(run.resend.get(address) if run.resend is not None else None)
            or claim.message_id, unsubscribe=links.unsubscribe,
            preferences=links.preferences, envelope=links.envelope, mailto=links.mailto)
        mid = message.message_id
        if not resend and claim.attempts > 1 and transport.delivered(message):
            why = "sent before the last run stopped; recorded now"
            return (DeliveryResult(address, DeliveryStatus.SENT, why),
                    Outcome(address, DeliveryStatus.SENT, mid, why))
        if not resend and claim.handed_over_at is not None:
            why = ("unconfirmed: the last run stopped after handing it to the server; "
                   "not sent again")
            return (DeliveryResult(address, DeliveryStatus.UNCONFIRMED, why),
                    Outcome(address, DeliveryStatus.UNCONFIRMED, mid, why))

        def handed_over() -> None:
            answer = self.store.handed_over(run.edition_id, address, now=self.clock(),
                                            owner=run.owner)
            if answer is HandOver.READER_LEFT:
                raise ReaderLeft(f"{address}: unsubscribed or paused during the send; not sent")
            if answer is HandOver.CLAIM_LOST:
                raise ClaimLost(f"{address}: the claim was released or taken over; "
                                "not sent by this run")

        try:
            transport.send(message, handed_over)
        except ReaderLeft as e:  # the transport dropped the message before its end
            return (DeliveryResult(address, DeliveryStatus.SUPPRESSED, str(e)),
                    Outcome(address, DeliveryStatus.SUPPRESSED, error=str(e)))
        except ClaimLost as e:  # the transport dropped the message before its end
            return DeliveryResult(address, DeliveryStatus.SENDING, str(e)), None
        except DeliveryError as e:
            if e.unconfirmed:  # the server may have it: a second copy is the worse outcome
                why = f"unconfirmed: {e}"
                return (DeliveryResult(address, DeliveryStatus.UNCONFIRMED, why),
                        Outcome(address, DeliveryStatus.UNCONFIRMED, mid, why))
            if e.connection:  # the session failed, not this recipient: stop the run; the
                # claim is given back unrecorded (see _deliver_chunk), so no one waits for it
                rest = ("the rest stay unconfirmed" if resend
                        else "the rest will be sent on the next run")
                raise DeliveryError(f"{e}; stopped, {rest}", permanent=e.permanent,
                                    connection=True) from e
            status = DeliveryStatus.FAILED if e.permanent else DeliveryStatus.DEFERRED
            log.info("delivery to %s %s: %s", address, status.value, e)
            if e.bounce and self.on_bounce is not None:  # the reader's address refused
                self.on_bounce(reader, BounceKind(e.bounce), str(e), run.edition)
            retry = (self.clock() + retry_delay(claim.attempts)
                     if status is DeliveryStatus.DEFERRED else None)  # back off, more each time
            return (DeliveryResult(address, status, str(e)),
                    Outcome(address, status, error=str(e), retry_after=retry))
        return (DeliveryResult(address, DeliveryStatus.SENT, mid),
                Outcome(address, DeliveryStatus.SENT, mid,
                        "sent again: the first copy was unconfirmed" if resend else None))

    def _pace(self) -> None:
        """Keep to delivery.smtp.max_per_second (SMTP only: the outbox has no limit)."""
        rate = self.delivery.smtp.max_per_second
        if rate is None or self.delivery.transport != "smtp":
            return
        wait = self._last_send + 1 / rate - time.monotonic()
        if wait > 0:
            self.sleep(wait)
        self._last_send = time.monotonic()


class ClaimLost(Exception):
    """This run's claim on a delivery is gone (released at shutdown, or taken over)."""


class ReaderLeft(ClaimLost):
    """The reader left (or paused) after the send started: the message must not go out."""


@dataclass(frozen=True, slots=True)
class _Run:
    """One `send` call: the edition, who claims (this process), whose claims are dead, and
    what it sends (see Deliverer.send)."""

    edition: date
    edition_id: int  # the store's handle of the frozen edition
    owner: str
    gone: frozenset[str] | set[str]
    retry_now: bool = False  # deferred deliveries are due now
    # resending the unconfirmed deliveries: each one's recorded Message-ID (None: not sending
    # again, the normal run)
    resend: dict[str, str | None] | None = None


class _Dispatch:
    """Runs deliveries inline (one connection) or on `workers` threads with at most two each
    waiting. The first failure that stops the run (the transport is down, or a bug) stops new
    submissions; deliveries already started finish and are recorded, then it is raised."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.stopped: BaseException | None = None
        self._pool = ThreadPoolExecutor(workers, "digest-send") if workers > 1 else None
        self._pending: set[Future[Any]] = set()

    def __enter__(self) -> _Dispatch:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._settle(self._pending)

    def submit(self, fn: Callable[..., Any], *args: object) -> Future[Any]:
        if self._pool is None:
            future: Future[Any] = Future()
            try:
                future.set_result(fn(*args))
            except Exception as e:  # re-raised by deliver once the chunk is recorded
                future.set_exception(e)
                self.stopped = self.stopped or e
            return future
        while len(self._pending) >= 2 * self.workers:
            done, self._pending = wait(self._pending, return_when=FIRST_COMPLETED)
            self._settle(done)
        future = self._pool.submit(fn, *args)
        self._pending.add(future)
        return future

    def drain(self) -> None:
        """Wait for every delivery submitted so far."""
        pending, self._pending = self._pending, set()
        self._settle(wait(pending).done)

    def _settle(self, done: set[Future[Any]]) -> None:
        for future in done:
            error = future.exception()
            if error is not None and self.stopped is None:
                self.stopped = error


def retry_delay(attempts: int) -> timedelta:
    """How long a deferred (4xx) delivery waits before the next try: 5 minutes after the first
    attempt, doubling with each one, at most 6 hours."""
    delay: timedelta = RETRY_FIRST * 2 ** max(attempts - 1, 0)
    return min(delay, RETRY_MAX)
