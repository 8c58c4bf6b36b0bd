"""0001: the first released schema (commit 7d3abe5): feeds, items, editions,
edition_fingerprints and deliveries.

Frozen: written out by hand, never from digest.schema, so it creates the same tables forever.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_CASCADE = "CASCADE"


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("url", sa.String(2048), nullable=False, unique=True),
        sa.Column("name", sa.Text),
        sa.Column("title", sa.Text),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("last_fetched_at", sa.DateTime(timezone=True)),
        sa.Column("last_success_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.Column("error_count", sa.Integer, nullable=False),
        sa.Column("next_poll_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("feed_id", sa.Integer, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("guid", sa.Text),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("canonical_url", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("author", sa.Text),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["feed_id"], ["feeds.id"], ondelete=_CASCADE),
        sa.UniqueConstraint("feed_id", "key", name="uq_items_feed_key"),
    )
    op.create_index("ix_items_published_at", "items", ["published_at"])
    op.create_index("ix_items_first_seen_at", "items", ["first_seen_at"])
    op.create_index("ix_items_canonical_url", "items", ["canonical_url"])
    op.create_table(
        "editions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("edition", sa.String(10), nullable=False, unique=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("html", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "edition_fingerprints",
        sa.Column("edition_id", sa.Integer, primary_key=True),
        sa.Column("fingerprint", sa.Text, primary_key=True),
        sa.ForeignKeyConstraint(["edition_id"], ["editions.id"], ondelete=_CASCADE),
    )
    op.create_index("ix_edition_fingerprints_fingerprint", "edition_fingerprints",
                    ["fingerprint"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("edition_id", sa.Integer, nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("message_id", sa.Text),
        sa.Column("error", sa.Text),
        sa.ForeignKeyConstraint(["edition_id"], ["editions.id"], ondelete=_CASCADE),
        sa.UniqueConstraint("edition_id", "recipient", name="uq_deliveries_edition_recipient"),
    )


def downgrade() -> None:
    for table in ("deliveries", "edition_fingerprints", "editions", "items", "feeds"):
        op.drop_table(table)
