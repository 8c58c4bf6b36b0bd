"""The store's readers (issue 18): one row per reader with status, sections, source and consent;
the hashes of erased readers; the rate-limit counters the web service shares across instances.
Returns models.Reader, never rows; decides nothing about who may join or leave (that is
digest.readers)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, false, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from digest.addresses import forget_hash
from digest.errors import StoreError
from digest.models import Consent, Reader, ReaderSource, ReaderStatus
from digest.schema import bounce_events, deliveries, forgotten_readers, rate_limits, readers
from digest.store.base import StoreBase, _db_time, _insert_ignore, _utc

CONFIG_CONSENT = "listed by the operator in feeds.yaml recipients"


@dataclass(frozen=True, slots=True)
class NewReader:
    """A reader to add: the address as written and its key (digest.addresses), and the rest."""

    address: str
    key: str
    status: ReaderStatus
    source: ReaderSource
    name: str | None = None
    sections: tuple[str, ...] | None = None
    consent: Consent | None = None


@dataclass(frozen=True, slots=True)
class ConfigLine:
    """One entry of `recipients:` in feeds.yaml."""

    address: str
    key: str
    sections: tuple[str, ...] | None


@dataclass(slots=True)
class SyncReport:
    """What syncing `recipients:` did: addresses added, brought back, updated, left out (they
    left, or were erased), and taken off (their line is gone)."""

    added: list[str]
    back: list[str]
    updated: list[str]
    kept_out: list[tuple[str, str]]  # (address, why)
    removed: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.added or self.back or self.updated or self.removed)


def _sections_json(sections: Sequence[str] | None) -> str | None:
    return None if sections is None else json.dumps(list(sections))


def _sections(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(json.loads(value))


def _reader(r: Row[Any]) -> Reader:
    consent = None
    if r.consent_at is not None:
        consent = Consent(_utc(r.consent_at) or r.consent_at, r.consent_ip, r.consent_form or "",
                          r.consent_text or "")
    return Reader(
        id=r.id, address=r.address, key=r.address_key, status=ReaderStatus(r.status),
        source=ReaderSource(r.source), created_at=_utc(r.created_at) or r.created_at,
        name=r.name, sections=_sections(r.sections), paused=bool(r.paused),
        in_config=bool(r.in_config), consent=consent, confirmed_at=_utc(r.confirmed_at),
        unsubscribed_at=_utc(r.unsubscribed_at), unsubscribe_reason=r.unsubscribe_reason,
        updated_at=_utc(r.updated_at))


def consent_values(consent: Consent | None) -> dict[str, Any]:
    """The columns of a consent record (for update_reader too)."""
    if consent is None:
        return {"consent_at": None, "consent_ip": None, "consent_form": None,
                "consent_text": None}
    return {"consent_at": _db_time(consent.at), "consent_ip": consent.ip,
            "consent_form": consent.form, "consent_text": consent.text}


def _new_row(new: NewReader, now: datetime) -> dict[str, Any]:
    return {"address": new.address, "address_key": new.key, "name": new.name,
            "status": new.status.value, "sections": _sections_json(new.sections),
            "source": new.source.value, "created_at": _db_time(now), "updated_at": _db_time(now),
            "confirmed_at": _db_time(now) if new.status is ReaderStatus.ACTIVE else None,
            "paused": False, "in_config": False, **consent_values(new.consent)}


class ReadersStore(StoreBase):
    """Readers, erased readers' hashes and the shared rate-limit counters."""

    # --- reading ---

    def reader(self, key: str) -> Reader | None:
        """The reader with this address key (digest.addresses.address_key)."""
        with self._tx() as conn:
            row = conn.execute(select(readers).where(readers.c.address_key == key)).first()
        return _reader(row) if row is not None else None

    def readers_any_case(self, key: str) -> list[Reader]:
        """The readers whose address is this one in any case (the local part too)."""
        with self._tx() as conn:
            return [_reader(r) for r in conn.execute(select(readers).where(
                func.lower(readers.c.address_key) == key.lower()).order_by(readers.c.id))]

    def reader_by_id(self, reader_id: int) -> Reader | None:
        with self._tx() as conn:
            row = conn.execute(select(readers).where(readers.c.id == reader_id)).first()
        return _reader(row) if row is not None else None

    def readers(self, *, status: ReaderStatus | None = None,
                since: datetime | None = None) -> list[Reader]:
        """Every reader in the order they joined (of one status; joined at or after `since`)."""
        query = select(readers).order_by(readers.c.id)
        if status is not None:
            query = query.where(readers.c.status == status.value)
        if since is not None:
            query = query.where(readers.c.created_at >= _db_time(since))
        with self._tx() as conn:
            return [_reader(r) for r in conn.execute(query)]

    def audience(self) -> list[Reader]:
        """The readers an edition goes to now: active and not paused, in the order they joined."""
        return [r for r in self.readers(status=ReaderStatus.ACTIVE) if not r.paused]

    def reader_counts(self) -> dict[ReaderStatus, int]:
        with self._tx() as conn:
            rows = conn.execute(select(readers.c.status, func.count())
                                .group_by(readers.c.status)).all()
        return {ReaderStatus(status): int(n) for status, n in rows}

    def is_forgotten(self, key: str) -> bool:
        with self._tx() as conn:
            return conn.execute(select(forgotten_readers.c.address_hash).where(
                forgotten_readers.c.address_hash == forget_hash(key))).first() is not None

    # --- writing ---

    def add_reader(self, new: NewReader, *, now: datetime) -> Reader | None:
        """Insert a reader; None when one with this key exists already (nothing changed)."""
        try:
            with self._tx() as conn:
                row = conn.execute(readers.insert().values(_new_row(new, now))
                                   .returning(*readers.c)).one()
        except IntegrityError:
            return None
        return _reader(row)

    def add_readers(self, rows: Sequence[NewReader], *, now: datetime) -> list[str]:
        """Insert readers in one transaction, all or none; the addresses already there (by key)
        are left as they are. Returns the addresses added."""
        added: list[str] = []
        with self._tx() as conn:
            existing = self._existing_keys(conn, [r.key for r in rows])
            for new in rows:
                if new.key in existing:
                    continue
                conn.execute(readers.insert().values(_new_row(new, now)))
                existing.add(new.key)
                added.append(new.address)
        return added

    def existing_keys(self, keys: Sequence[str]) -> set[str]:
        with self._tx() as conn:
            return self._existing_keys(conn, keys)

    def forgotten_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of these keys belong to erased readers."""
        hashes = {forget_hash(k): k for k in keys}
        found: set[str] = set()
        with self._tx() as conn:
            for chunk in _chunks(list(hashes), 500):
                found.update(hashes[h] for h in conn.execute(
                    select(forgotten_readers.c.address_hash)
                    .where(forgotten_readers.c.address_hash.in_(chunk))).scalars())
        return found

    @staticmethod
    def _existing_keys(conn: Connection, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(list(keys), 500):
            found.update(conn.execute(select(readers.c.address_key)
                                      .where(readers.c.address_key.in_(chunk))).scalars())
        return found

    def update_reader(self, reader_id: int, *, now: datetime,
                      only_if: Iterable[ReaderStatus] | None = None,
                      **values: Any) -> Reader | None:
        """Change a reader's columns (sections as a tuple or None, times as datetimes, status
        as ReaderStatus); with `only_if`, only while their status is one of those. Returns the
        reader as it is now, or None when no such reader (or the status did not match)."""
        values = {k: _column_value(k, v) for k, v in values.items()}
        values["updated_at"] = _db_time(now)
        query = update(readers).where(readers.c.id == reader_id)
        if only_if is not None:
            query = query.where(readers.c.status.in_([s.value for s in only_if]))
        try:
            with self._tx() as conn:
                row = conn.execute(query.values(values).returning(*readers.c)).first()
        except IntegrityError as e:  # the new address key belongs to another reader
            raise StoreError("that address belongs to another reader") from e
        return _reader(row) if row is not None else None

    def forget_reader(self, key: str, *, now: datetime) -> bool:
        """Erase a reader: their row and their address in the send history go, a hash of the
        address stays (GDPR article 17). True when there was a reader or a history to erase;
        the hash is kept either way."""
        digest_hash = forget_hash(key)
        with self._tx() as conn:
            address = conn.execute(select(readers.c.address).where(
                readers.c.address_key == key)).scalar()
            gone = conn.execute(delete(readers).where(readers.c.address_key == key)).rowcount
            conn.execute(delete(bounce_events).where(bounce_events.c.address_key == key))
            spellings = {key, address} if address else {key}
            # the history keeps its counts, not the address: the hash's first 16 hex digits
            # (never an address: no "@")
            scrubbed = conn.execute(update(deliveries).where(
                deliveries.c.recipient.in_(list(spellings))).values(
                recipient="forgotten:" + digest_hash[:16], message_id=None,
                error=None)).rowcount
            _insert_ignore(conn, forgotten_readers, [
                {"address_hash": digest_hash, "forgotten_at": _db_time(now)}])
        return bool(gone or scrubbed)

    def unforget(self, key: str) -> None:
        """Drop an erased reader's hash: they signed up again themselves and confirmed."""
        with self._tx() as conn:
            conn.execute(delete(forgotten_readers).where(
                forgotten_readers.c.address_hash == forget_hash(key)))

    def sync_config_readers(self, lines: Sequence[ConfigLine], *, now: datetime,
                            source: str) -> SyncReport:
        """Make `recipients:` of feeds.yaml readers, in one transaction: a new line is an active
        operator-managed reader (unless the address was erased); a line of someone who left
        (unsubscribed, bounced, complained) never brings them back, unless what ended it was
        their line's removal; a line's sections are applied when the line changed since the
        last sync (a reader's own later choice stands until then); a removed line ends an
        operator-managed reader's subscription (unsubscribed by `config`), and deletes nothing."""
        report = SyncReport([], [], [], [], [])
        c = readers.c
        at = _db_time(now)
        by_key = {line.key: line for line in lines}
        with self._tx() as conn:
            # A write first, so that on SQLite the transaction holds the write lock from its
            # start: two processes syncing at once (two `digest send`) take turns instead of
            # one failing. On PostgreSQL a line the other inserted meanwhile is skipped below.
            conn.execute(update(readers).where(false()).values(updated_at=at))
            rows = {r.address_key: r for r in conn.execute(select(readers).where(
                (c.in_config == True) | c.address_key.in_(list(by_key))))}  # noqa: E712
            forgotten = {forget_hash(k) for k in by_key if k not in rows}
            erased = set(conn.execute(select(forgotten_readers.c.address_hash).where(
                forgotten_readers.c.address_hash.in_(list(forgotten)))).scalars()) \
                if forgotten else set()
            fresh: list[dict[str, Any]] = []  # inserted together, in the file's order
            for line in lines:
                row = rows.get(line.key)
                wanted = _sections_json(line.sections)
                if row is None:
                    if forget_hash(line.key) in erased:
                        report.kept_out.append((line.address, "erased at their request "
                                                              "(`digest readers forget`)"))
                        continue
                    row_values = _new_row(NewReader(
                        line.address, line.key, ReaderStatus.ACTIVE, ReaderSource.CONFIG,
                        sections=line.sections,
                        consent=Consent(now, None, source, CONFIG_CONSENT)), now)
                    fresh.append({**row_values, "in_config": True, "config_sections": wanted})
                    report.added.append(line.address)
                    continue
                values: dict[str, Any] = {}
                if not row.in_config:
                    values["in_config"] = True
                if row.config_sections != wanted or not row.in_config:
                    values["config_sections"] = wanted
                    if row.sections != wanted:
                        values["sections"] = wanted
                        report.updated.append(line.address)
                if row.status != ReaderStatus.ACTIVE.value:
                    if row.status == ReaderStatus.UNSUBSCRIBED.value and \
                            row.unsubscribed_by == "config":
                        values.update(status=ReaderStatus.ACTIVE.value, unsubscribed_at=None,
                                      unsubscribe_reason=None, unsubscribed_by=None)
                        report.back.append(line.address)
                    elif row.status == ReaderStatus.PENDING.value:
                        # the operator vouches for them: listed is as good as confirmed
                        values.update(status=ReaderStatus.ACTIVE.value, confirmed_at=at)
                        report.back.append(line.address)
                    else:
                        since = _utc(row.unsubscribed_at)
                        report.kept_out.append((line.address, f"{row.status}" + (
                            f" on {since:%Y-%m-%d}" if since else "") + ": not re-activated"))
                if values:
                    values["updated_at"] = at
                    conn.execute(update(readers).where(c.id == row.id).values(values))
            _insert_ignore(conn, readers, fresh)
            for key, row in rows.items():
                if key in by_key or not row.in_config:
                    continue
                values = {"in_config": False, "config_sections": None, "updated_at": at}
                if row.source == ReaderSource.CONFIG.value and \
                        row.status == ReaderStatus.ACTIVE.value:
                    values.update(status=ReaderStatus.UNSUBSCRIBED.value, unsubscribed_at=at,
                                  unsubscribed_by="config",
                                  unsubscribe_reason="removed from recipients in feeds.yaml")
                    report.removed.append(row.address)
                conn.execute(update(readers).where(c.id == row.id).values(values))
        return report

    # --- rate limits ---

    def hit_rate_limit(self, key: str, *, limit: int, window: timedelta,
                       now: datetime) -> timedelta | None:
        """Count one hit on `key` in the current fixed window (shared by every instance through
        the database); None when it is within `limit`, else how long until the window ends."""
        seconds = int(window.total_seconds())
        epoch = int(now.timestamp())
        start = datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)
        row = {"key": key[:200], "window_start": _db_time(start), "hits": 1}
        with self._tx() as conn:
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            statement = insert(rate_limits).values(row)
            hits = conn.execute(statement.on_conflict_do_update(
                index_elements=["key", "window_start"],
                set_={"hits": rate_limits.c.hits + 1}).returning(rate_limits.c.hits)).scalar_one()
        if hits <= limit:
            return None
        return start + window - now

    def prune_rate_limits(self, *, before: datetime) -> int:
        with self._tx() as conn:
            return int(conn.execute(delete(rate_limits).where(
                rate_limits.c.window_start < _db_time(before))).rowcount)


def _column_value(name: str, value: Any) -> Any:
    if name == "sections":
        return _sections_json(value)
    if isinstance(value, ReaderStatus | ReaderSource):
        return value.value
    if isinstance(value, datetime):
        return _db_time(value)
    if name == "consent":
        raise TypeError("set consent_at, consent_ip, consent_form and consent_text")
    return value


def _chunks(values: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]

