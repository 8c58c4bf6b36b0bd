"""0004: items.features and features_key: each item's words as an edition build reads them
(digest/features.py), worked out when the item is stored, with the key they were worked out
under. Existing items get none; a build works theirs out and stores them back.

Frozen: never imports digest.schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("items")}
    # plain ADD COLUMN (no batch copy of the table): instant on both databases, whatever the
    # number of items
    if "features" not in present:
        op.add_column("items", sa.Column("features", sa.Text))
    if "features_key" not in present:
        op.add_column("items", sa.Column("features_key", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("features_key")
        batch.drop_column("features")
