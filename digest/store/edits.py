"""The store's side of the editor's pass (issue 22): each edition's edits in the order they were
made, and where the edition stands in review (draft sent to the editors, approved). Decides
nothing about what an edit means (digest.edits) or who may make one (digest.editing)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from digest.models import Edit, EditKind
from digest.schema import edition_edits, edition_reviews
from digest.store.base import StoreBase, _db_time, _insert_ignore, _utc


@dataclass(frozen=True, slots=True)
class Review:
    """Where one edition stands in review."""

    edition: date
    drafted_at: datetime | None = None  # the draft the editors were sent was built then
    notified_at: datetime | None = None  # the editors were emailed
    approved_at: datetime | None = None
    approved_by: str | None = None


class EditsStore(StoreBase):
    """Edits and reviews, per edition."""

    def add_edit(self, edition: date, kind: EditKind, story: str | None,
                 value: Mapping[str, Any], *, by: str, at: datetime) -> Edit:
        with self._tx() as conn:
            key = conn.execute(edition_edits.insert().values(
                edition=edition.isoformat(), kind=kind.value, story=story,
                value=json.dumps(dict(value), ensure_ascii=False), made_by=by,
                made_at=_db_time(at))).inserted_primary_key
        assert key is not None
        return Edit(int(key[0]), edition, kind, story, dict(value), by, at)

    def edits(self, edition: date) -> list[Edit]:
        """The edition's edits, oldest first."""
        with self._tx() as conn:
            rows = conn.execute(select(edition_edits).where(
                edition_edits.c.edition == edition.isoformat()).order_by(edition_edits.c.id)).all()
        return [Edit(row.id, edition, EditKind(row.kind), row.story, json.loads(row.value),
                     row.made_by, _utc(row.made_at) or datetime.min) for row in rows]

    def edits_stamp(self, edition: date) -> tuple[int, int]:
        """How many edits the edition has and the newest one's id: changes with every edit
        and every reset (for caches)."""
        with self._tx() as conn:
            row = conn.execute(select(func.count(), func.max(edition_edits.c.id)).where(
                edition_edits.c.edition == edition.isoformat())).one()
        return int(row[0]), int(row[1] or 0)

    def remove_edits(self, edition: date, ids: Sequence[int] | None = None) -> int:
        """Forget the edition's edits (`ids`: only these); how many went."""
        query = delete(edition_edits).where(edition_edits.c.edition == edition.isoformat())
        if ids is not None:
            query = query.where(edition_edits.c.id.in_(list(ids)))
        with self._tx() as conn:
            return int(conn.execute(query).rowcount or 0)

    def review(self, edition: date) -> Review:
        with self._tx() as conn:
            row = conn.execute(select(edition_reviews).where(
                edition_reviews.c.edition == edition.isoformat())).first()
        if row is None:
            return Review(edition)
        return Review(edition, _utc(row.drafted_at), _utc(row.notified_at),
                      _utc(row.approved_at), row.approved_by)

    def record_draft(self, edition: date, at: datetime) -> None:
        """The draft was built (the first time counts: later items are new against it)."""
        with self._tx() as conn:
            _insert_ignore(conn, edition_reviews, [{"edition": edition.isoformat()}])
            conn.execute(update(edition_reviews).where(
                edition_reviews.c.edition == edition.isoformat(),
                edition_reviews.c.drafted_at.is_(None)).values(drafted_at=_db_time(at)))

    def claim_notice(self, edition: date, at: datetime) -> bool:
        """Take the sending of the draft to the editors: True for exactly one caller, across
        every instance sharing the database."""
        with self._tx() as conn:
            _insert_ignore(conn, edition_reviews, [{"edition": edition.isoformat()}])
            claimed = conn.execute(update(edition_reviews).where(
                edition_reviews.c.edition == edition.isoformat(),
                edition_reviews.c.notified_at.is_(None)).values(notified_at=_db_time(at)))
            return bool(claimed.rowcount)

    def release_notice(self, edition: date) -> None:
        """The draft could not be sent: the next try may claim it again."""
        with self._tx() as conn:
            conn.execute(update(edition_reviews).where(
                edition_reviews.c.edition == edition.isoformat()).values(notified_at=None))

    def record_approval(self, edition: date, *, by: str, at: datetime) -> None:
        with self._tx() as conn:
            _insert_ignore(conn, edition_reviews, [{"edition": edition.isoformat()}])
            conn.execute(update(edition_reviews).where(
                edition_reviews.c.edition == edition.isoformat(),
                edition_reviews.c.approved_at.is_(None)).values(
                    approved_at=_db_time(at), approved_by=by))
