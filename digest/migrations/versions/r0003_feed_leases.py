"""0003: feeds.leased_by and lease_until (issue 9: several instances share the polling; a feed
is leased to one of them until a time), and ix_items_dated_at, the index of an item's date
(published, else first seen) that an edition's window reads.

Idempotent like 0002: a development database may have them from `_add_missing_columns`.
Frozen: never imports digest.schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("feeds")}
    if "leased_by" not in present:
        op.add_column("feeds", sa.Column("leased_by", sa.String(200)))
    if "lease_until" not in present:
        op.add_column("feeds", sa.Column("lease_until", sa.DateTime(timezone=True)))
    op.create_index("ix_items_dated_at", "items",
                    [sa.text("coalesce(published_at, first_seen_at)")], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_items_dated_at", "items")
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("leased_by")
