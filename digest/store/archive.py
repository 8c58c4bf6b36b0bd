"""The store's archive (issue 19): the editions that went out (frozen, and delivered to at
least one reader), newest first, and full-text search over their stories (SQLite FTS5 or
PostgreSQL's text search, made by migration 0007). Returns our own types; decides nothing about
what is public (digest.archive does)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    and_,
    column,
    exists,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from digest.models import DELIVERED
from digest.schema import archive_stories, deliveries, editions
from digest.store.base import StoreBase, _utc


@dataclass(frozen=True, slots=True)
class SentEdition:
    """An edition that went out: as frozen, and when its first message was sent."""

    edition: date
    title: str
    subject: str
    payload: dict[str, Any]
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoryHit:
    """One story found by a search, with the edition that carried it."""

    edition: date
    position: int  # its place in that edition, from 0
    section_id: str
    section_title: str
    title: str
    summary: str
    source: str
    url: str


_SENT = exists().where(deliveries.c.edition_id == editions.c.id,
                       deliveries.c.status.in_([s.value for s in DELIVERED]))
_FIRST_SENT = (select(func.min(deliveries.c.sent_at))
               .where(deliveries.c.edition_id == editions.c.id,
                      deliveries.c.status.in_([s.value for s in DELIVERED]))
               .scalar_subquery())
_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 16


def story_rows(edition_id: int, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The archive rows of one frozen edition's stories, in the edition's order."""
    rows: list[dict[str, Any]] = []
    for section in payload.get("sections") or []:
        for story in section.get("stories") or []:
            rows.append({"edition_id": edition_id, "position": len(rows),
                         "section_id": section["id"], "section_title": section["title"],
                         "title": story["title"], "summary": story.get("summary") or "",
                         "source": story.get("source") or "", "url": story["url"]})
    return rows


def search_terms(query: str) -> list[str]:
    """The words of a search as typed, at most MAX_TERMS: every one must match (no operators,
    so nothing a reader types is FTS5 or tsquery syntax)."""
    return _WORD.findall(query.lower())[:MAX_TERMS]


class ArchiveStore(StoreBase):
    """Sent editions and the search over their stories."""

    def sent_editions(self, *, since: date | None = None, limit: int | None = None,
                      offset: int = 0) -> list[SentEdition]:
        """The editions that went out (from `since` on), newest first."""
        query = (select(editions, _FIRST_SENT.label("sent_at")).where(_SENT)
                 .order_by(editions.c.edition.desc()).offset(offset))
        if since is not None:
            query = query.where(editions.c.edition >= since.isoformat())
        if limit is not None:
            query = query.limit(limit)
        with self._tx() as conn:
            return [_sent(r) for r in conn.execute(query)]

    def count_sent_editions(self, *, since: date | None = None) -> int:
        query = select(func.count()).select_from(editions).where(_SENT)
        if since is not None:
            query = query.where(editions.c.edition >= since.isoformat())
        with self._tx() as conn:
            return int(conn.execute(query).scalar_one())

    def sent_edition(self, day: date, *, since: date | None = None
                     ) -> tuple[SentEdition, date | None, date | None] | None:
        """One edition that went out, with the sent editions before and after it (None when
        it did not go out, or is before `since`)."""
        if since is not None and day < since:
            return None
        name = day.isoformat()
        floor = (since or date.min).isoformat()
        with self._tx() as conn:
            row = conn.execute(select(editions, _FIRST_SENT.label("sent_at"))
                               .where(editions.c.edition == name, _SENT)).first()
            if row is None:
                return None
            before = conn.execute(select(func.max(editions.c.edition)).where(
                _SENT, editions.c.edition < name, editions.c.edition >= floor)).scalar()
            after = conn.execute(select(func.min(editions.c.edition)).where(
                _SENT, editions.c.edition > name)).scalar()
        return (_sent(row), date.fromisoformat(before) if before else None,
                date.fromisoformat(after) if after else None)

    def search_stories(self, query: str, *, since: date | None = None, limit: int = 20,
                       offset: int = 0) -> tuple[list[StoryHit], int]:
        """Stories of sent editions matching every word of `query`, best first (title words
        weigh most, then the summary, then source and section), and how many match in all."""
        terms = search_terms(query)
        if not terms:
            return [], 0
        with self._tx() as conn:
            if conn.dialect.name == "sqlite":
                return self._search_sqlite(conn, terms, since, limit, offset)
            return self._search_postgres(conn, terms, since, limit, offset)

    @staticmethod
    def _filters(since: date | None) -> list[Any]:
        where: list[ColumnElement[bool]] = [_SENT]
        if since is not None:
            where.append(editions.c.edition >= since.isoformat())
        return where

    def _search_sqlite(self, conn: Connection, terms: list[str], since: date | None,
                       limit: int, offset: int) -> tuple[list[StoryHit], int]:
        # Each word quoted (a string in FTS5's syntax) and a prefix of longer words: "chip"
        # also finds "chipmaker". bm25 weights: title 10, summary 3, source 1, section 1.
        match = " ".join(f'"{t}"' + ("*" if len(t) > 3 else "") for t in terms)
        found = text("SELECT rowid AS id, bm25(archive_search, 10.0, 3.0, 1.0, 1.0) AS rank "
                     "FROM archive_search WHERE archive_search MATCH :match") \
            .columns(column("id", Integer), column("rank", Float)).subquery("found")
        base = (select(archive_stories, editions.c.edition, found.c.rank)
                .join(found, found.c.id == archive_stories.c.id)
                .join(editions, editions.c.id == archive_stories.c.edition_id)
                .where(*self._filters(since)))
        total = conn.execute(select(func.count()).select_from(base.subquery()),
                             {"match": match}).scalar_one()
        rows = conn.execute(base.order_by(found.c.rank, editions.c.edition.desc(),
                                          archive_stories.c.position)
                            .limit(limit).offset(offset), {"match": match}).all()
        return [_hit(r) for r in rows], int(total)

    def _search_postgres(self, conn: Connection, terms: list[str], since: date | None,
                         limit: int, offset: int) -> tuple[list[StoryHit], int]:
        # Every word required, as on SQLite: each as stemmed or as written (a stop word has
        # no stemmed form), a prefix when longer than 3 letters. to_tsquery gets \w+ words.
        tsquery = None
        for t in terms:
            word = f"{t}:*" if len(t) > 3 else t
            either = func.to_tsquery("english", word).op("||")(func.to_tsquery("simple", word))
            tsquery = either if tsquery is None else tsquery.op("&&")(either)
        search: ColumnElement[Any] = literal_column("archive_stories.search")
        matches = and_(search.op("@@")(tsquery), *self._filters(since))
        base = (select(archive_stories, editions.c.edition,
                       func.ts_rank(search, tsquery).label("rank"))
                .join(editions, editions.c.id == archive_stories.c.edition_id)
                .where(matches))
        total = conn.execute(select(func.count()).select_from(base.subquery())).scalar_one()
        rows = conn.execute(base.order_by(text("rank DESC"), editions.c.edition.desc(),
                                          archive_stories.c.position)
                            .limit(limit).offset(offset)).all()
        return [_hit(r) for r in rows], int(total)


def _sent(r: Any) -> SentEdition:
    return SentEdition(date.fromisoformat(r.edition), r.title, r.subject, json.loads(r.payload),
                       _utc(r.sent_at) if isinstance(r.sent_at, datetime) else
                       (_utc(datetime.fromisoformat(r.sent_at)) if r.sent_at else None))


def _hit(r: Any) -> StoryHit:
    return StoryHit(date.fromisoformat(r.edition), r.position, r.section_id, r.section_title,
                    r.title, r.summary, r.source, r.url)
