"""The store's record of daemons: their heartbeats, and the editions they skipped."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from digest.schema import instances, skipped_editions
from digest.store.base import StoreBase, _db_time, _utc


class DaemonStore(StoreBase):
    """Daemons' heartbeats and skipped editions."""

    def skip_edition(self, edition: date, *, scheduled_at: datetime, now: datetime,
                     reason: str) -> bool:
        """Record that a scheduled edition was not sent; False if it was recorded already."""
        try:
            with self._tx() as conn:
                conn.execute(skipped_editions.insert().values(
                    edition=edition.isoformat(), scheduled_at=_db_time(scheduled_at),
                    recorded_at=_db_time(now), reason=reason))
        except IntegrityError:
            return False
        return True

    def skipped(self) -> list[tuple[date, datetime, str]]:
        """Skipped editions, newest first: (edition, scheduled at, reason)."""
        with self._tx() as conn:
            rows = conn.execute(select(skipped_editions)
                                .order_by(skipped_editions.c.edition.desc())).all()
        return [(date.fromisoformat(r.edition), _utc(r.scheduled_at) or datetime.min, r.reason)
                for r in rows]

    def beat(self, owner: str, *, started_at: datetime, now: datetime,
             next_send_at: datetime | None, config: str) -> None:
        """A running daemon says it is alive (one row per process)."""
        values = {"beat_at": _db_time(now),
                  "next_send_at": _db_time(next_send_at) if next_send_at else None,
                  "config": config}
        with self._tx() as conn:
            done = conn.execute(update(instances).where(instances.c.owner == owner)
                                .values(**values))
            if done.rowcount == 0:
                conn.execute(instances.insert().values(
                    owner=owner, started_at=_db_time(started_at), **values))

    def instance_stopped(self, owner: str, *, now: datetime) -> None:
        """A daemon stopped cleanly. Its row stays: its last beat tells the next daemon since
        when sends were missed. Rows of daemons gone for 90 days are dropped."""
        with self._tx() as conn:
            conn.execute(update(instances).where(instances.c.owner == owner).values(
                beat_at=_db_time(now), stopped_at=_db_time(now)))
            conn.execute(delete(instances).where(
                instances.c.beat_at < _db_time(now - timedelta(days=90))))

    def last_beat(self, *, besides: str) -> datetime | None:
        """When a daemon other than `besides` last said it was alive (also one that has since
        stopped: a clean stop keeps its last beat for this, with no owner)."""
        with self._tx() as conn:
            value = conn.execute(select(func.max(instances.c.beat_at)).where(
                instances.c.owner != besides)).scalar()
        return _utc(value)

    def instances(self) -> list[tuple[str, datetime, datetime, datetime | None]]:
        """(owner, started at, last beat, next send) of every daemon that beat and did not
        stop cleanly, newest first."""
        with self._tx() as conn:
            rows = conn.execute(select(instances).where(instances.c.stopped_at.is_(None))
                                .order_by(instances.c.beat_at.desc())).all()
        return [(r.owner, _utc(r.started_at) or datetime.min, _utc(r.beat_at) or datetime.min,
                 _utc(r.next_send_at)) for r in rows]
