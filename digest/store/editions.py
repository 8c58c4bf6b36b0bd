"""The store's editions: a frozen edition keeps its rendered content and the fingerprints of
every story it carried."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from digest.models import DELIVERED
from digest.schema import (
    archive_stories,
    deliveries,
    edition_fingerprints,
    editions,
    skipped_editions,
)
from digest.store.archive import story_rows
from digest.store.base import StoreBase, _db_time, _utc

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FrozenEdition:
    """An edition as it was frozen: what was (or will be) sent, byte for byte."""

    id: int  # the store's handle of this edition's row (its deliveries refer to it)
    edition: date  # the edition's name: the date of its scheduled send
    payload: dict[str, Any]
    subject: str
    html: str
    text: str


class EditionsStore(StoreBase):
    """Frozen editions and the fingerprints of what they carried."""

    def sent_fingerprints(self, *, except_edition: date | None = None) -> dict[str, date]:
        """Fingerprints of stories in editions that went to at least one recipient, each with
        the name of the (earliest) edition that carried it."""
        sent = select(deliveries.c.edition_id).where(
            deliveries.c.status.in_([s.value for s in DELIVERED]))
        query = (select(edition_fingerprints.c.fingerprint, editions.c.edition)
                 .join(editions, editions.c.id == edition_fingerprints.c.edition_id)
                 .where(edition_fingerprints.c.edition_id.in_(sent))
                 .order_by(editions.c.edition.desc()))
        if except_edition is not None:
            query = query.where(editions.c.edition != except_edition.isoformat())
        with self._tx() as conn:
            return {fingerprint: date.fromisoformat(edition)
                    for fingerprint, edition in conn.execute(query)}

    def frozen_edition(self, edition: date) -> FrozenEdition | None:
        with self._tx() as conn:
            row = conn.execute(select(editions).where(
                editions.c.edition == edition.isoformat())).first()
        if row is None:
            return None
        return FrozenEdition(row.id, date.fromisoformat(row.edition), json.loads(row.payload),
                             row.subject, row.html, row.text)

    def freeze_edition(
        self, edition: date, *, title: str, payload: dict[str, Any], subject: str, html: str,
        text: str, fingerprints: Iterable[str], now: datetime,
    ) -> FrozenEdition:
        """Keep an edition as it will be sent; if another process froze it first, theirs wins."""
        try:
            with self._tx() as conn:
                edition_id = conn.execute(editions.insert().values(
                    edition=edition.isoformat(), title=title, subject=subject, html=html, text=text,
                    payload=json.dumps(payload), frozen_at=_db_time(now))).inserted_primary_key
                edition_id = int(edition_id[0]) if edition_id else 0
                rows = [{"edition_id": edition_id, "fingerprint": f} for f in set(fingerprints)]
                if rows:
                    conn.execute(edition_fingerprints.insert(), rows)
                stories = story_rows(edition_id, payload)  # the archive's search (issue 19)
                if stories:
                    conn.execute(archive_stories.insert(), stories)
        except IntegrityError:
            log.info("edition %s was frozen by another process; using that one", edition)
        frozen = self.frozen_edition(edition)
        assert frozen is not None
        return frozen

    def latest_edition(self) -> tuple[date, datetime] | None:
        """The most recent frozen edition's name and when it was frozen."""
        with self._tx() as conn:
            row = conn.execute(select(editions.c.edition, editions.c.frozen_at)
                               .order_by(editions.c.edition.desc()).limit(1)).first()
        return ((date.fromisoformat(row.edition), _utc(row.frozen_at) or datetime.min)
                if row else None)

    def edition_names(self, since: date) -> set[date]:
        """Frozen and skipped editions from `since` on."""
        with self._tx() as conn:
            frozen = conn.execute(select(editions.c.edition).where(
                editions.c.edition >= since.isoformat())).scalars().all()
            skipped = conn.execute(select(skipped_editions.c.edition).where(
                skipped_editions.c.edition >= since.isoformat())).scalars().all()
        return {date.fromisoformat(name) for name in (*frozen, *skipped)}
