"""0007: the archive's search (issue 19): `archive_stories`, one row per story of each frozen
edition (its section, place, title, summary, source and link), filled in from the editions
frozen before; and its full-text index, which differs by database: on SQLite an FTS5 table over
it (external content, kept in step by triggers), on PostgreSQL a generated tsvector column with
a GIN index. The index is not in digest.schema (SQLAlchemy has no type for either); the store
queries it by name.

Frozen: never imports digest.schema.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

SQLITE_INDEX = (
    # porter: "elections" finds "election"; remove_diacritics: "Zürich" finds "Zurich"
    "CREATE VIRTUAL TABLE archive_search USING fts5(title, summary, source, section_title, "
    "content='archive_stories', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER archive_stories_ai AFTER INSERT ON archive_stories BEGIN "
    "INSERT INTO archive_search(rowid, title, summary, source, section_title) "
    "VALUES (new.id, new.title, new.summary, new.source, new.section_title); END",
    "CREATE TRIGGER archive_stories_ad AFTER DELETE ON archive_stories BEGIN "
    "INSERT INTO archive_search(archive_search, rowid, title, summary, source, section_title) "
    "VALUES ('delete', old.id, old.title, old.summary, old.source, old.section_title); END",
)
# Each text twice: stemmed ('english': "elections" finds "election") and as written
# ('simple': stop words such as "who" or "the" stay findable, as they are on SQLite).
POSTGRES_INDEX = (
    "ALTER TABLE archive_stories ADD COLUMN search tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('english', coalesce(title, '')) || "
    "to_tsvector('simple', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(summary, '')) || "
    "to_tsvector('simple', coalesce(summary, '')), 'B') || "
    "setweight(to_tsvector('english', coalesce(source, '') || ' ' || "
    "coalesce(section_title, '')) || to_tsvector('simple', coalesce(source, '') || ' ' || "
    "coalesce(section_title, '')), 'C')) STORED",
    "CREATE INDEX ix_archive_stories_search ON archive_stories USING GIN (search)",
)


def upgrade() -> None:
    stories = op.create_table(
        "archive_stories",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("edition_id", sa.Integer, sa.ForeignKey("editions.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("section_id", sa.String(100), nullable=False),
        sa.Column("section_title", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
    )
    op.create_index("ix_archive_stories_edition_id", "archive_stories", ["edition_id"])
    conn = op.get_bind()
    for statement in SQLITE_INDEX if conn.dialect.name == "sqlite" else POSTGRES_INDEX:
        op.execute(sa.text(statement))
    editions = sa.table("editions", sa.column("id", sa.Integer),
                        sa.column("payload", sa.Text))
    rows = []
    for edition_id, payload in conn.execute(sa.select(editions.c.id, editions.c.payload)):
        rows.extend(story_rows(edition_id, json.loads(payload)))
    if rows:
        op.bulk_insert(stories, rows)


def story_rows(edition_id: int, payload: dict[str, object]) -> list[dict[str, object]]:
    """The rows of one edition's stories, from its JSON (models.edition_to_dict's shape)."""
    rows: list[dict[str, object]] = []
    for section in payload.get("sections") or []:  # type: ignore[attr-defined]
        for story in section.get("stories") or []:
            rows.append({"edition_id": edition_id, "position": len(rows),
                         "section_id": str(section.get("id", "")),
                         "section_title": str(section.get("title", "")),
                         "title": str(story.get("title", "")),
                         "summary": str(story.get("summary", "")),
                         "source": str(story.get("source", "")),
                         "url": str(story.get("url", ""))})
    return rows


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        op.execute(sa.text("DROP TRIGGER IF EXISTS archive_stories_ad"))
        op.execute(sa.text("DROP TRIGGER IF EXISTS archive_stories_ai"))
        op.execute(sa.text("DROP TABLE IF EXISTS archive_search"))
    op.drop_index("ix_archive_stories_edition_id", "archive_stories")
    op.drop_table("archive_stories")
