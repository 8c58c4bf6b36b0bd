"""The audience (use case, issue 18): readers join (double opt-in), choose sections, pause,
change address and leave through signed links; the operator syncs `recipients:`, adds, removes,
imports, exports and erases them. Given the store, the settings, the clock, the tokens, a
transport factory for the confirmation emails and the metrics joins and leaves are counted in.

It does not speak HTTP (digest.web does) or parse command lines (digest.cli); it sends no
edition (digest.delivery reads `audience()`). Every answer to a subscribe request is the same
whatever the address's state: the difference goes only into the email to that address.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from typing import Any

from digest.addresses import Address, address_key, check_address
from digest.config import Settings
from digest.errors import UsageError
from digest.metrics import Metrics, Subscription, Unsubscribe
from digest.models import (
    Consent,
    Delivery,
    Reader,
    ReaderLinks,
    ReaderSource,
    ReaderStatus,
    iso,
)
from digest.send import Outgoing, Transport, list_id, notice
from digest.store import ConfigLine, NewReader, Store, SyncReport
from digest.store.readers import consent_values
from digest.tokens import Claims, Purpose, TokenError, Tokens, Verp, address_hash

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
MAX_IMPORT_BYTES = 64 * 1024 * 1024  # a CSV of readers larger than this is refused unread
MAX_NAME = 200
IMPORT_COLUMNS = ("email", "name", "sections")
# The other columns `digest readers list|export --format csv` writes, accepted so that an export
# imports again: a `status` of someone who left (unsubscribed, bounced, complained) imports them
# as having left, so they stay out; the others are recorded anew by the import.
EXPORT_COLUMNS = ("status", "source", "created_at", "confirmed_at")
LEFT = (ReaderStatus.UNSUBSCRIBED, ReaderStatus.BOUNCED, ReaderStatus.COMPLAINED)
_Row = tuple[Address, str | None, tuple[str, ...] | None, ReaderStatus | None, int]


class ReaderError(UsageError):
    """A request about readers that cannot be done, said in one line (exit 2 on the command
    line, 400 on the web)."""


@dataclass(slots=True)
class ImportReport:
    """What an import did, or would have done: nothing at all when `errors` has any."""

    added: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)  # already readers: left as they are
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, problem)
    left: list[str] = field(default_factory=list)  # imported as having left (their `status`)
    notices: list[Outgoing] = field(default_factory=list)  # confirmation emails to send


class Readers:
    """The readers of one newsletter."""

    def __init__(self, settings: Settings, store: Store, *, clock: Clock,
                 transport: Callable[[], Transport], metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.transport = transport
        self.metrics = metrics or Metrics()
        web = settings.web
        self.tokens: Tokens | None = None
        if web.secret is not None:
            self.tokens = Tokens(web.secret.get_secret_value().encode(),
                                 [s.get_secret_value().encode() for s in web.previous_secrets],
                                 clock=clock)
        self.sections = tuple(s.id for s in settings.sections)
        self.list_id = list_id(settings.title, settings.delivery.from_)
        self.verp = verp(settings)

    # --- what delivery needs ---

    def audience(self) -> list[Reader]:
        """Who the next edition goes to: the active readers who are not paused."""
        return self.store.audience()

    def links(self, reader: Reader) -> ReaderLinks | None:
        """The reader's signed unsubscribe and preferences links (with the web service), and
        their signed bounce and unsubscribe addresses (with a bounce mailbox); None with
        neither."""
        base = self.settings.web.base_url
        envelope = mailto = None
        if self.verp is not None:
            envelope = self.verp.address(Verp.BOUNCE, reader.id, reader.key)
            mailto = self.verp.address(Verp.UNSUBSCRIBE, reader.id, reader.key)
        if self.tokens is None or base is None:
            return ReaderLinks(envelope=envelope, mailto=mailto) if envelope else None
        leave = self.tokens.make(Purpose.UNSUBSCRIBE, reader.id, reader.key)
        choose = self.tokens.make(Purpose.PREFERENCES, reader.id, reader.key)
        return ReaderLinks(f"{base}/unsubscribe?token={leave}",
                           f"{base}/preferences?token={choose}", envelope, mailto)

    # --- the operator's side ---

    def sync_config(self) -> SyncReport:
        """Bring `recipients:` of feeds.yaml into the store (see Store.sync_config_readers)."""
        lines = [ConfigLine(r.email, address_key(r.email), r.sections)
                 for r in self.settings.recipients]
        report = self.store.sync_config_readers(
            lines, now=self.clock(), source=f"feeds.yaml ({self.settings.source or 'config'})")
        for address, why in report.kept_out:
            log.info("recipients: %s not sent editions: %s", address, why)
        return report

    def add(self, address: str, *, name: str | None = None,
            sections: Sequence[str] | None = None) -> Reader:
        """Add an active reader by the operator's word (source `command`)."""
        checked = check_address(address)
        self._check_sections(sections, "--section")
        if self.store.is_forgotten(checked.key):
            raise ReaderError(f"{checked.written}: erased at their request (`digest readers "
                              "forget`); only they can sign up again, on the subscribe page")
        now = self.clock()
        added = self.store.add_reader(NewReader(
            checked.written, checked.key, ReaderStatus.ACTIVE, ReaderSource.COMMAND,
            name=_name(name), sections=tuple(sections) if sections else None,
            consent=Consent(now, None, "digest readers add", "added by the operator")),
            now=now)
        if added is None:
            existing = self.store.reader(checked.key)
            state = existing.status.value if existing else "known"
            raise ReaderError(f"{checked.written}: already a reader ({state})")
        return added

    def remove(self, address: str, *, reason: str | None = None) -> Reader:
        """End a reader's subscription by the operator's word; their row and history stay."""
        reader = self.find(address)
        if reader.status is not ReaderStatus.ACTIVE and reader.status is not ReaderStatus.PENDING:
            return reader
        changed = self.store.update_reader(
            reader.id, now=self.clock(), status=ReaderStatus.UNSUBSCRIBED,
            unsubscribed_at=self.clock(), unsubscribed_by="operator",
            unsubscribe_reason=reason or "removed by the operator")
        assert changed is not None
        self.metrics.unsubscribed(Unsubscribe.COMMAND)
        return changed

    def unsubscribe_addresses(self, addresses: Sequence[str]) -> list[tuple[str, bool]]:
        """`digest unsubscribe`: each address leaves; (address, newly) each. Erring toward
        silence, an address written in another case stops every reader it could mean (the
        local part too); one that was never a reader is recorded as one who left, so no
        config line or import mails it."""
        done = []
        now = self.clock()
        ended: dict[str, Any] = {
            "status": ReaderStatus.UNSUBSCRIBED, "unsubscribed_at": now,
            "unsubscribed_by": "operator", "unsubscribe_reason": "digest unsubscribe"}
        for address in addresses:
            key = address_key(address)
            exact = self.store.reader(key)
            found = [exact] if exact is not None else self.store.readers_any_case(key)
            if not found:
                added = self.store.add_reader(NewReader(
                    address.strip(), key, ReaderStatus.UNSUBSCRIBED, ReaderSource.COMMAND),
                    now=now)
                if added is not None:  # (None: added meanwhile by another process)
                    self.store.update_reader(added.id, now=now, **ended)
                done.append((address, True))
                continue
            newly = False
            for reader in found:
                if reader.status in (ReaderStatus.ACTIVE, ReaderStatus.PENDING):
                    self.store.update_reader(reader.id, now=now, **ended)
                    self.metrics.unsubscribed(Unsubscribe.COMMAND)
                    newly = True
            done.append((address, newly))
        return done

    def find(self, address: str) -> Reader:
        reader = self.store.reader(address_key(address))
        if reader is None:
            raise ReaderError(f"{address.strip()}: no such reader")
        return reader

    def select(self, *, status: ReaderStatus | None = None, section: str | None = None,
             since: datetime | None = None) -> list[Reader]:
        """Readers in the order they joined, filtered: `section` keeps those who get it (who
        chose it, or chose nothing and so get everything)."""
        if section is not None:
            self._check_sections([section], "--section")
        found = self.store.readers(status=status, since=since)
        if section is not None:
            found = [r for r in found if r.sections is None or section in r.sections]
        return found

    def history(self, reader: Reader) -> list[Delivery]:
        return self.store.history(recipient=reader.address)

    def export_one(self, address: str) -> dict[str, Any]:
        """Everything held about one reader (GDPR article 15): their record, consent, every
        delivery to them and what came back about them (bounces, complaints)."""
        reader = self.find(address)
        record = reader_to_dict(reader)
        record["deliveries"] = [
            {"edition": d.edition.isoformat(), "status": d.status.value,
             "sent_at": iso(d.sent_at), "message_id": d.message_id, "error": d.error}
            for d in self.history(reader)]
        record["bounces"] = [
            {"kind": b.kind.value, "source": b.source, "reason": b.reason, "at": iso(b.at),
             "edition": b.edition} for b in self.store.bounce_events(reader.key)]
        return record

    def forget(self, address: str) -> bool:
        """Erase a reader (GDPR article 17): their row and their address in the send history
        go; a one-way hash stays, so no config line or import mails them again. False when
        nothing was held (the hash is kept all the same)."""
        return self.store.forget_reader(address_key(address), now=self.clock())

    def import_csv(self, data: bytes, *, name: str, confirmed: str | None = None,
                   dry_run: bool = False) -> ImportReport:
        """Readers from a CSV file (a header row with `email`, optionally `name` and
        `sections`, ids separated by spaces or `;`; the other columns of `digest readers
        export` are accepted, and a `status` of someone who left imports them as having left).
        Every bad row is reported by its line number and then nothing is added (one
        transaction). Addresses already readers are left as they are (an import never brings
        back someone who left). `confirmed`: they are active at once, and this says where their
        consent was given (kept with each); without it they are pending and each is sent a
        confirmation email (`send_notices`)."""
        report = ImportReport()
        if len(data) > MAX_IMPORT_BYTES:
            report.errors.append((0, f"{name}: larger than {MAX_IMPORT_BYTES // 2**20} MiB"))
            return report
        if confirmed is not None and not confirmed.strip():
            raise ReaderError("--confirmed needs the source of the consent, e.g. "
                              "--confirmed 'sign-up sheet, Lagos meetup, 2026-10-03'")
        if confirmed is None and not self.settings.web.links:
            raise ReaderError(
                "importing pending readers sends each a confirmation link, which needs the web "
                "service (web.base_url and web.secret); or pass --confirmed SOURCE if they "
                "already agreed elsewhere")
        # The BOM (Excel writes one) is dropped first: utf-8-sig would count an error's
        # position from after it, and the line number would then be off.
        body = data.removeprefix(b"\xef\xbb\xbf")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            report.errors.append((body[:e.start].count(b"\n") + 1, "not UTF-8 text"))
            return report
        rows = self._parse_csv(text, report)
        if report.errors:
            return report
        keys = [a.key for a, _, _, _, _ in rows]
        forgotten = self.store.forgotten_keys(keys)
        for address, _, _, _, line in rows:
            if address.key in forgotten:
                report.errors.append((line, f"{address.written}: erased at their request; only "
                                            "they can sign up again"))
        if report.errors:
            return report
        existing = self.store.existing_keys(keys)
        now = self.clock()
        form = f"import {name}" + (f": {confirmed.strip()}" if confirmed else "")
        wording = (f"confirmed before the import: {confirmed.strip()}" if confirmed
                   else self._consent_text())
        new = [NewReader(a.written, a.key,
                         left or (ReaderStatus.ACTIVE if confirmed else ReaderStatus.PENDING),
                         ReaderSource.IMPORT, name=n, sections=s,
                         consent=Consent(now, None, form, wording) if left is None else None)
               for a, n, s, left, _ in rows if a.key not in existing]
        report.existing = [a.written for a, _, _, _, _ in rows if a.key in existing]
        stored = {r.address for r in new} if dry_run else set(self.store.add_readers(new,
                                                                                     now=now))
        report.added = [r.address for r in new if r.address in stored and r.status not in LEFT]
        report.left = [r.address for r in new if r.address in stored and r.status in LEFT]
        if dry_run:
            return report
        if not confirmed:
            for r in new:
                if r.status is not ReaderStatus.PENDING:
                    continue
                reader = self.store.reader(r.key)
                if reader is not None:
                    report.notices.append(self._confirmation(reader))
        return report

    def _parse_csv(self, text: str, report: ImportReport) -> list[_Row]:
        reader = csv.reader(io.StringIO(text, newline=""))
        rows: list[_Row] = []
        try:
            header = next(reader)
        except StopIteration:
            report.errors.append((1, "empty file: a header row with an `email` column is "
                                     "needed"))
            return rows
        except csv.Error as e:
            report.errors.append((1, f"not CSV: {e}"))
            return rows
        columns = [h.strip().lower() for h in header]
        unknown = [c for c in columns if c not in IMPORT_COLUMNS + EXPORT_COLUMNS]
        if "email" not in columns or unknown or len(set(columns)) != len(columns):
            report.errors.append((1, "the header row must name an `email` column and may name "
                                     "`name` and `sections`, each once (and those "
                                     "`digest readers export` writes)" +
                                  (f" (unknown: {', '.join(map(repr, unknown))})"
                                   if unknown else "")))
            return rows
        seen: dict[str, int] = {}
        line = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                report.errors.append((reader.line_num, f"not CSV: {e}"))
                break
            line = reader.line_num - sum(cell.count("\n") for cell in row)  # where it starts
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(columns):
                report.errors.append((line, f"{len(row)} fields where the header has "
                                            f"{len(columns)}"))
                continue
            cells = dict(zip(columns, row, strict=True))
            try:
                address = check_address(cells["email"])
            except ValueError as e:
                report.errors.append((line, str(e)))
                continue
            if address.key in seen:
                report.errors.append((line, f"{address.written}: already on line "
                                            f"{seen[address.key]}"))
                continue
            seen[address.key] = line
            sections: tuple[str, ...] | None = None
            if cells.get("sections", "").strip():
                sections = tuple(dict.fromkeys(cells["sections"].replace(";", " ").split()))
                unknown_sections = [s for s in sections if s not in self.sections]
                if unknown_sections:
                    report.errors.append((line, f"unknown section {unknown_sections[0]!r} (one "
                                                f"of {', '.join(self.sections) or 'none'})"))
                    continue
            name = cells.get("name", "").strip() or None
            if name is not None and (len(name) > MAX_NAME or not name.isprintable()):
                report.errors.append((line, f"name: at most {MAX_NAME} characters on one line"))
                continue
            left: ReaderStatus | None = None
            status = cells.get("status", "").strip().lower()
            if status:
                if status not in {s.value for s in ReaderStatus}:
                    report.errors.append((line, f"status: {status!r} is not one of "
                                                f"{', '.join(ReaderStatus)}"))
                    continue
                left = ReaderStatus(status) if ReaderStatus(status) in LEFT else None
            rows.append((address, name, sections, left, line))
        return rows

    def send_notices(self, notices: Sequence[Outgoing]) -> int:
        """Send confirmation emails; how many went. One that fails is logged, not raised: the
        reader can ask again."""
        if not notices:
            return 0
        sent = 0
        from digest.errors import DeliveryError

        try:
            with self.transport() as transport:
                for message in notices:
                    try:
                        transport.send(message)
                        sent += 1
                    except DeliveryError as e:
                        log.warning("confirmation email to %s not sent: %s", message.recipient, e)
                        if e.connection:
                            break
        except DeliveryError as e:
            log.warning("confirmation emails not sent: %s", e)
        return sent

    # --- the readers' side (the web service) ---

    def subscribe(self, address: str, *, name: str | None = None,
                  sections: Sequence[str] | None = None, ip: str | None = None,
                  form: str = "web /subscribe", via: ReaderSource = ReaderSource.FORM
                  ) -> Outgoing | None:
        """Someone asks to join. ValueError for an address that is not one or a section that
        does not exist; otherwise the email to send (a confirmation link; for an active reader,
        a note with their preferences link), or None when this address has had its
        `confirmations_per_day` already. The caller answers the same in every case."""
        checked = check_address(address)
        chosen = tuple(dict.fromkeys(sections)) if sections else None
        if chosen is not None and not self.settings.web.choose_sections:
            chosen = None
        if chosen is not None:
            unknown = [s for s in chosen if s not in self.sections]
            if unknown:
                raise ValueError(f"unknown section {unknown[0]!r}")
        now = self.clock()
        if self.store.hit_rate_limit(
                f"confirmations {address_hash(checked.key.lower())}",
                limit=self.settings.web.confirmations_per_day, window=_DAY, now=now) is not None:
            log.info("subscribe: confirmation emails to one address over the daily limit")
            return None
        consent = Consent(now, ip, form, self._consent_text())
        reader = self.store.reader(checked.key)
        if reader is None:
            reader = self.store.add_reader(NewReader(
                checked.written, checked.key, ReaderStatus.PENDING, via, name=_name(name),
                sections=chosen, consent=consent), now=now) or self.store.reader(checked.key)
            assert reader is not None
        elif reader.status is ReaderStatus.ACTIVE:
            self.metrics.subscribed(Subscription.REQUESTED)
            return self._already(reader)
        else:  # pending again, or someone who left asking to come back: confirm first
            reader = self.store.update_reader(
                reader.id, now=now, status=ReaderStatus.PENDING, sections=chosen,
                name=_name(name) if name else reader.name, **consent_values(consent)) or reader
        self.metrics.subscribed(Subscription.REQUESTED)
        return self._confirmation(reader)

    def confirm(self, token: str) -> Reader:
        """The confirmation link's button: a pending reader becomes active (and an erased
        reader who signed up again is no longer on the erased list). TokenError otherwise."""
        reader = self._reader_of(Purpose.CONFIRM, token, max_age=True)
        if reader.status is ReaderStatus.ACTIVE:
            return reader
        if reader.status is not ReaderStatus.PENDING:
            raise TokenError("this link is no longer valid: subscribe again")
        now = self.clock()
        done = self.store.update_reader(reader.id, now=now, only_if=(ReaderStatus.PENDING,),
                                        status=ReaderStatus.ACTIVE, confirmed_at=now,
                                        unsubscribed_at=None, unsubscribed_by=None,
                                        unsubscribe_reason=None, paused=False)
        self.store.unforget(reader.key)
        if done is not None:
            self.metrics.subscribed(Subscription.CONFIRMED)
        return done or self.store.reader_by_id(reader.id) or reader

    def reader_for(self, purpose: Purpose, token: str) -> Reader:
        """Who a link is for, changing nothing (the pages a GET shows). TokenError for a link
        that is not valid, or for a reader who is no longer there."""
        return self._reader_of(purpose, token, max_age=purpose in _EXPIRING)

    def unsubscribe(self, token: str, *, reason: str,
                    how: Unsubscribe = Unsubscribe.ONE_CLICK) -> Reader | None:
        """The reader leaves (one-click or the page's button: `how`, for the metrics);
        idempotent. None when the token is valid but the reader was erased since (nothing to
        do)."""
        try:
            reader = self._reader_of(Purpose.UNSUBSCRIBE, token, max_age=False)
        except _Gone:
            return None
        if reader.status not in (ReaderStatus.ACTIVE, ReaderStatus.PENDING):
            return reader
        now = self.clock()
        left = self.store.update_reader(
            reader.id, now=now, only_if=(ReaderStatus.ACTIVE, ReaderStatus.PENDING),
            status=ReaderStatus.UNSUBSCRIBED, unsubscribed_at=now, unsubscribed_by="reader",
            unsubscribe_reason=reason)
        if left is not None:  # (None: another request was first)
            self.metrics.unsubscribed(how)
        return left or self.store.reader_by_id(reader.id)

    def resubscribe(self, token: str, *, ip: str | None) -> Reader:
        """Back in, from the page shown after leaving (the unsubscribe link proves the
        mailbox, as a confirmation would): only someone who left by their own hand."""
        reader = self._reader_of(Purpose.UNSUBSCRIBE, token, max_age=False)
        if reader.status is ReaderStatus.ACTIVE:
            return reader
        if reader.status is not ReaderStatus.UNSUBSCRIBED:
            raise TokenError("this address cannot be subscribed again from here: use the "
                             "subscribe page")
        now = self.clock()
        consent = Consent(now, ip, "web /unsubscribe (resubscribe)", self._consent_text())
        back = self.store.update_reader(
            reader.id, now=now, only_if=(ReaderStatus.UNSUBSCRIBED,), status=ReaderStatus.ACTIVE,
            confirmed_at=now, unsubscribed_at=None, unsubscribed_by=None,
            unsubscribe_reason=None, **consent_values(consent))
        if back is not None:
            self.metrics.subscribed(Subscription.RESUBSCRIBED)
        return back or reader

    def update_preferences(self, token: str, *, sections: Sequence[str] | None,
                           paused: bool) -> Reader:
        """The preferences page's save: the sections chosen (None or all of them: everything)
        and whether deliveries pause. ValueError for an unknown section."""
        reader = self._reader_of(Purpose.PREFERENCES, token, max_age=False)
        chosen = tuple(dict.fromkeys(sections)) if sections else None
        if chosen is not None:
            unknown = [s for s in chosen if s not in self.sections]
            if unknown:
                raise ValueError(f"unknown section {unknown[0]!r}")
            if set(chosen) == set(self.sections):
                chosen = None
        return self.store.update_reader(reader.id, now=self.clock(), sections=chosen,
                                        paused=paused) or reader

    def leave(self, token: str) -> Reader:
        """Leave from the preferences page."""
        reader = self._reader_of(Purpose.PREFERENCES, token, max_age=False)
        if reader.status not in (ReaderStatus.ACTIVE, ReaderStatus.PENDING):
            return reader
        now = self.clock()
        left = self.store.update_reader(
            reader.id, now=now, status=ReaderStatus.UNSUBSCRIBED, unsubscribed_at=now,
            unsubscribed_by="reader", unsubscribe_reason="left from the preferences page")
        if left is not None:
            self.metrics.unsubscribed(Unsubscribe.PREFERENCES)
        return left or reader

    def change_address(self, token: str, new_address: str) -> Outgoing | None:
        """Ask to move to another address: a link to confirm it goes to the new address, and
        nothing changes until it is followed. ValueError for an address that is not one;
        None when the new address has had its confirmations for the day."""
        reader = self._reader_of(Purpose.PREFERENCES, token, max_age=False)
        checked = check_address(new_address)
        if checked.key == reader.key:
            raise ValueError("that is the address you have now")
        now = self.clock()
        if self.store.hit_rate_limit(
                f"confirmations {address_hash(checked.key.lower())}",
                limit=self.settings.web.confirmations_per_day, window=_DAY, now=now) is not None:
            return None
        assert self.tokens is not None
        token = self.tokens.make(Purpose.CHANGE, reader.id, reader.key, checked.written)
        return self._mail(checked.written, "address-change",
                          f"Confirm your new address for {self.settings.title}",
                          ["Someone (we hope you) asked to get "
                           f"{self.settings.title} at this address instead of the one used "
                           "until now.", "To confirm, open this link and press the button:"],
                          f"{self.settings.web.base_url}/change?token={token}",
                          "If it was not you, ignore this email: nothing changes.")

    def confirm_change(self, token: str) -> Reader:
        """The new address's confirmation: the reader's address becomes it."""
        assert self.tokens is not None
        claims = self._claims(Purpose.CHANGE, token, max_age=True)
        reader = self._reader_by_claims(claims)
        if claims.extra is None:
            raise TokenError("this link is not valid")
        checked = check_address(claims.extra)
        other = self.store.reader(checked.key)
        if other is not None and other.id != reader.id:
            raise TokenError("that address already has its own subscription")
        return self.store.update_reader(reader.id, now=self.clock(), address=checked.written,
                                        address_key=checked.key) or reader

    def peek_change(self, token: str) -> tuple[Reader, str]:
        """Who asks to move to which address (the page before the button)."""
        claims = self._claims(Purpose.CHANGE, token, max_age=True)
        if claims.extra is None:
            raise TokenError("this link is not valid")
        return self._reader_by_claims(claims), claims.extra

    def hit(self, key: str, *, limit: int, seconds: int) -> float | None:
        """Count a request against a shared rate limit; None when allowed, else the seconds
        to wait."""
        wait = self.store.hit_rate_limit(key, limit=limit, window=timedelta(seconds=seconds),
                                         now=self.clock())
        return None if wait is None else max(wait.total_seconds(), 1.0)

    def healthy(self) -> bool:
        """Whether the store answers (the web service's /healthz)."""
        self.store.reader_counts()
        return True

    # --- helpers ---

    def _claims(self, purpose: Purpose, token: str, *, max_age: bool) -> Claims:
        if self.tokens is None:
            raise TokenError("reader links are not configured (web.secret)")
        return self.tokens.read(purpose, token, max_age=(
            self.settings.web.confirm_within if max_age else None))

    def _reader_by_claims(self, claims: Claims) -> Reader:
        reader = self.store.reader_by_id(claims.reader_id)
        if reader is None or address_hash(reader.key) != claims.address_hash:
            raise _Gone("this link is for an address that is no longer subscribed here")
        return reader

    def _reader_of(self, purpose: Purpose, token: str, *, max_age: bool) -> Reader:
        return self._reader_by_claims(self._claims(purpose, token, max_age=max_age))

    def _check_sections(self, sections: Sequence[str] | None, where: str) -> None:
        for s in sections or ():
            if s not in self.sections:
                raise ReaderError(f"{where}: unknown section {s!r} (one of "
                                  f"{', '.join(self.sections) or 'no sections defined'})")

    def _consent_text(self) -> str:
        return self.settings.web.consent_text.replace("{title}", self.settings.title)

    def _confirmation(self, reader: Reader) -> Outgoing:
        assert self.tokens is not None
        token = self.tokens.make(Purpose.CONFIRM, reader.id, reader.key)
        days = self.settings.web.confirm_within.total_seconds() / 86400
        return self._mail(reader.address, "confirm", f"Confirm your subscription to "
                          f"{self.settings.title}",
                          [f"Someone (we hope you) asked to get {self.settings.title} at this "
                           "address.", "To confirm, open this link and press the button:"],
                          f"{self.settings.web.base_url}/confirm?token={token}",
                          f"The link works for {days:g} days. If it was not you, ignore this "
                          "email: you will get nothing more.")

    def _already(self, reader: Reader) -> Outgoing:
        links = self.links(reader)
        assert links is not None and links.preferences is not None  # the web service's
        return self._mail(reader.address, "already", f"You already get {self.settings.title}",
                          [f"Someone (we hope you) asked to get {self.settings.title} at this "
                           "address, which already gets it.",
                           "To choose sections, pause or leave, use this link:"],
                          links.preferences, "If it was not you, ignore this email.")

    def _mail(self, to: str, kind: str, subject: str, lines: list[str], link: str,
              after: str) -> Outgoing:
        title = self.settings.title
        postal = self.settings.email.postal_address
        text = "\n\n".join([*lines, link, after, *([f"{title} · {postal}"] if postal else [])])
        html = ("<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">" +
                "".join(f"<p>{escape(line)}</p>" for line in lines) +
                f'<p><a href="{escape(link)}">{escape(link)}</a></p><p>{escape(after)}</p>' +
                (f"<p style=\"color:#555\">{escape(title)} · {escape(postal)}</p>"
                 if postal else "") + "</body></html>")
        return notice(sender=self.settings.delivery.from_, to=to, subject=subject, text=text,
                      html=html, kind=kind, list_id=self.list_id)


class _Gone(TokenError):
    """A valid token for a reader who is no longer there (erased, or moved address)."""


_EXPIRING = (Purpose.CONFIRM, Purpose.CHANGE)


_DAY = timedelta(days=1)


def _name(name: str | None) -> str | None:
    if name is None:
        return None
    name = " ".join(name.split())[:MAX_NAME]
    return name or None


def reader_to_dict(reader: Reader) -> dict[str, Any]:
    """A reader as the JSON outputs show them (`digest readers list --format json`)."""
    consent = reader.consent
    return {
        "address": reader.address, "name": reader.name, "status": reader.status.value,
        "sections": list(reader.sections) if reader.sections is not None else None,
        "paused": reader.paused, "source": reader.source.value, "in_config": reader.in_config,
        "created_at": iso(reader.created_at), "confirmed_at": iso(reader.confirmed_at),
        "unsubscribed_at": iso(reader.unsubscribed_at),
        "unsubscribe_reason": reader.unsubscribe_reason,
        "consent": None if consent is None else {
            "at": iso(consent.at), "ip": consent.ip, "form": consent.form, "text": consent.text},
    }


def verp(settings: Settings) -> Verp | None:
    """The signed bounce addresses of this configuration (None without `bounces.address`)."""
    address, keys = settings.bounces.address, settings.bounce_secrets()
    if address is None or not keys:
        return None
    return Verp(address, keys[0], keys[1:])
