"""0002: from the first released schema to the one before issue 9: feeds.fetch_url and body_hash,
items.image and seen_only, deliveries.retry_after, claimed_by and handed_over_at, and the
suppressions, skipped_editions and instances tables. No index was added since 0001.

Idempotent: before Alembic, each digest brought an older database forward itself (create_all
plus `_add_missing_columns`), so a database stamped 0001 may already have any of these. Each
column or table is added only when it is missing, and items.seen_only, which that path added
as nullable, is made NOT NULL. Frozen: never imports digest.schema.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


# Functions, not constants: a Column joins the table it is added to, so each run needs new ones.
def _new_columns() -> dict[str, list[sa.Column[Any]]]:
    return {
        "feeds": [
            sa.Column("fetch_url", sa.Text),
            sa.Column("body_hash", sa.String(64)),
        ],
        "items": [
            sa.Column("image", sa.Text),
            sa.Column("seen_only", sa.Boolean, nullable=False, server_default=sa.false()),
        ],
        "deliveries": [
            sa.Column("retry_after", sa.DateTime(timezone=True)),
            sa.Column("claimed_by", sa.String(200)),
            sa.Column("handed_over_at", sa.DateTime(timezone=True)),
        ],
    }


def _new_tables() -> dict[str, list[sa.Column[Any]]]:
    return {
        "suppressions": [
            sa.Column("address", sa.String(320), primary_key=True),
            sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("source", sa.String(32), nullable=False),
        ],
        "skipped_editions": [
            sa.Column("edition", sa.String(10), primary_key=True),
            sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("reason", sa.Text, nullable=False),
        ],
        "instances": [
            sa.Column("owner", sa.String(200), primary_key=True),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("next_send_at", sa.DateTime(timezone=True)),
            sa.Column("stopped_at", sa.DateTime(timezone=True)),
            sa.Column("config", sa.Text),
        ],
    }


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())
    for table, columns in _new_columns().items():
        present = {c["name"]: c for c in inspector.get_columns(table)}
        for column in columns:
            if column.name not in present:
                op.add_column(table, column)
        seen_only = present.get("seen_only") if table == "items" else None
        if seen_only is not None and seen_only["nullable"]:
            # `_add_missing_columns` added it without NOT NULL (its DEFAULT filled the rows it
            # had then); on SQLite this copies the table (batch mode).
            items = sa.table("items", sa.column("seen_only", sa.Boolean))
            op.execute(items.update().where(items.c.seen_only.is_(None))
                       .values(seen_only=sa.false()))
            with op.batch_alter_table("items") as batch:
                batch.alter_column("seen_only", existing_type=sa.Boolean(), nullable=False,
                                   existing_server_default=sa.false())
    for table, columns in _new_tables().items():
        if table not in tables:
            op.create_table(table, *columns)


def downgrade() -> None:
    for table in _new_tables():
        op.drop_table(table)
    for table, columns in _new_columns().items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_column(column.name)
