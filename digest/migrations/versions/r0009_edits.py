"""0009: the editor's pass (issue 22): `edition_edits` and `edition_reviews`. The downgrade
drops both (frozen editions keep what the edits made of them).

Frozen: never imports digest.schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "edition_edits",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("edition", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("story", sa.String(2048)),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("made_by", sa.String(200), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_edition_edits_edition", "edition_edits", ["edition", "id"])
    op.create_table(
        "edition_reviews",
        sa.Column("edition", sa.String(10), primary_key=True),
        sa.Column("drafted_at", sa.DateTime(timezone=True)),
        sa.Column("notified_at", sa.DateTime(timezone=True)),
        sa.Column("approved_at", sa.DateTime(timezone=True)),
        sa.Column("approved_by", sa.String(200)),
    )


def downgrade() -> None:
    op.drop_table("edition_reviews")
    op.drop_index("ix_edition_edits_edition", "edition_edits")
    op.drop_table("edition_edits")
