"""What comes back about readers' mail (use case, issue 20): refusals at send time, the bounce
mailbox (DSNs, complaint reports, mailed unsubscribes) and the providers' webhooks (Amazon SES
through SNS, Postmark), each recorded once and acted on by the limits of `bounces:`.

Given the settings, the store, the clock, the signed bounce addresses (digest.tokens.Verp), a
way to open the mailbox and the metrics each recorded event is counted in. Reading what a
message or a payload means is digest.inbound's and digest.webhooks' job; the IMAP session is
digest.mailbox's. Only a signed address names a reader from the mailbox: a forged bounce or
unsubscribe names nobody. A provider's webhook names the address itself, and is believed
because it is signed (SNS) or authenticated (Postmark's basic auth, checked by the web
service).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from digest.addresses import address_key
from digest.config import Settings
from digest.errors import UsageError
from digest.inbound import Inbound, read_message
from digest.mailbox import ImapOptions, Mailbox
from digest.metrics import Metrics, Unsubscribe
from digest.models import BounceKind, Reader
from digest.store import BounceEvent, BounceLimits, BounceRecord, Recorded, Store
from digest.tokens import Verp
from digest.webhooks import ProviderEvent

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
OpenMailbox = Callable[[ImapOptions], Mailbox]
_EDITION_IN_ID = re.compile(r"<digest\.(\d{4}-\d{2}-\d{2})\.")
FETCH_LIMIT = 500  # mailbox messages read by one fetch, at most


@dataclass(frozen=True, slots=True)
class Handled:
    """What one mailbox message or provider event did."""

    what: str  # hard, soft, complaint, unsubscribe, other
    reader: str | None  # the address it named (None: nobody)
    outcome: str  # ended, counted, duplicate, ignored
    detail: str


@dataclass(slots=True)
class FetchReport:
    """What `digest bounces fetch` did."""

    handled: list[Handled] = field(default_factory=list)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for h in self.handled:
            counts[h.outcome] = counts.get(h.outcome, 0) + 1
        if not counts:
            return "no new messages"
        return ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))


class Bounces:
    """Bounces and complaints of one newsletter."""

    def __init__(self, settings: Settings, store: Store, *, clock: Clock, verp: Verp | None,
                 open_mailbox: OpenMailbox = Mailbox, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.verp = verp
        self.open_mailbox = open_mailbox
        self.metrics = metrics or Metrics()
        b = settings.bounces
        self.limits = BounceLimits(b.hard_limit, b.soft_limit, b.soft_within)

    # --- at send time ---

    def at_send(self, reader: Reader, kind: BounceKind, reply: str, edition: date) -> None:
        """The SMTP server refused the reader's message (Deliverer's on_bounce)."""
        outcome = self.store.record_bounce(BounceRecord(
            reader.key, kind, "smtp", reply, self.clock(), edition.isoformat()), self.limits)
        self._count(kind, "smtp", outcome)
        if outcome is Recorded.ENDED:
            log.info("reader %s bounced: %s", reader.address, reply)

    # --- the mailbox ---

    def fetch(self, *, limit: int = FETCH_LIMIT) -> FetchReport:
        """Read the bounce mailbox once: every message not yet processed is read, recorded
        (once: its hash is the event's id, so a message read again after a crash counts once)
        and moved to the done folder (or flagged)."""
        imap = self.settings.bounces.imap
        if imap is None:
            raise UsageError("no bounce mailbox is configured: set bounces.imap in the config")
        if self.verp is None:
            raise UsageError("bounces.imap needs bounces.address: only messages to its signed "
                             "addresses name a reader")
        options = ImapOptions(
            imap.host, imap.port, imap.security, imap.username,
            imap.password.get_secret_value(), imap.folder, imap.done_folder, imap.ca_file,
            imap.timeout)
        report = FetchReport()
        with self.open_mailbox(options) as mailbox:
            for item in mailbox.pending(limit):
                if item.data is None:
                    report.handled.append(Handled("other", None, "ignored",
                                                  f"too large ({item.size} bytes), not read"))
                else:
                    report.handled.append(self.message(item.data))
                mailbox.done(item.uid)
        return report

    def message(self, data: bytes) -> Handled:
        """Act on one message of the bounce mailbox."""
        assert self.verp is not None
        inbound = read_message(data, verp_local=self.verp.local)
        event_id = "mailbox:" + hashlib.sha256(data).hexdigest()[:40]
        if inbound.kind is BounceKind.OTHER:
            return Handled("other", None, "ignored", inbound.reason or "nothing to act on")
        reader = self._signed_reader(inbound)
        if reader is None:
            return Handled(inbound.kind.value, None, "ignored",
                           "no signed address of ours in it: names nobody")
        match = _EDITION_IN_ID.match(inbound.original_message_id or "")
        reason = inbound.reason or _DEFAULT_REASON[inbound.kind]
        return self._record(reader.key, reader.address, inbound.kind, "mailbox", reason,
                            self.clock(), match.group(1) if match else None, event_id)

    def _signed_reader(self, inbound: Inbound) -> Reader | None:
        """The reader the first of our verified tokens names. A mailed unsubscribe counts only
        at the unsubscribe address (not at the envelope sender, where auto-replies go)."""
        assert self.verp is not None
        for token in inbound.tokens:
            claims = self.verp.claims(token)
            if claims is None:
                continue
            kind, reader_id = claims
            if inbound.kind is BounceKind.UNSUBSCRIBE and kind != Verp.UNSUBSCRIBE:
                continue
            reader = self.store.reader_by_id(reader_id)
            if reader is not None and self.verp.verify(token, reader.key):
                return reader
        return None

    # --- providers ---

    def provider_events(self, events: list[ProviderEvent]) -> list[Handled]:
        """Act on a provider's events (already verified by digest.webhooks and the route)."""
        handled = []
        for event in events:
            key = address_key(event.address)
            reader = self.store.reader(key)
            if reader is None:
                handled.append(Handled(event.kind.value, event.address, "ignored",
                                       "not a reader"))
                continue
            match = _EDITION_IN_ID.match(event.message_id or "")
            handled.append(self._record(
                key, reader.address, event.kind, event.provider, event.reason,
                event.at or self.clock(), match.group(1) if match else None, event.event_id))
        return handled

    def _record(self, key: str, address: str, kind: BounceKind, source: str, reason: str,
                at: datetime, edition: str | None, event_id: str) -> Handled:
        outcome = self.store.record_bounce(
            BounceRecord(key, kind, source, reason, at, edition, event_id), self.limits)
        self._count(kind, source, outcome)
        if outcome is Recorded.ENDED:
            log.info("reader %s %s (%s): %s", address, _ENDED[kind], source, reason)
        return Handled(kind.value, address, outcome.value, reason)

    def _count(self, kind: BounceKind, source: str, outcome: Recorded) -> None:
        """Into the metrics: each bounce and complaint once, and a mailed unsubscribe that
        ended a subscription."""
        if kind is BounceKind.UNSUBSCRIBE:
            if outcome is Recorded.ENDED:
                self.metrics.unsubscribed(Unsubscribe.MAIL)
        elif outcome is not Recorded.DUPLICATE:
            self.metrics.bounced(kind, source)

    # --- the operator's view ---

    def events(self, reader: Reader, *, limit: int = 20) -> list[BounceEvent]:
        return self.store.bounce_events(reader.key, limit=limit)


_DEFAULT_REASON = {BounceKind.HARD: "a delivery status notification (permanent)",
                   BounceKind.SOFT: "a delivery status notification (temporary)",
                   BounceKind.COMPLAINT: "a spam complaint report",
                   BounceKind.UNSUBSCRIBE: "asked to unsubscribe by mail"}
_ENDED = {BounceKind.HARD: "bounced", BounceKind.SOFT: "bounced",
          BounceKind.COMPLAINT: "complained", BounceKind.UNSUBSCRIBE: "unsubscribed by mail",
          BounceKind.OTHER: "-"}
