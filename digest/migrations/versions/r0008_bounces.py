"""0008: what came back about readers' mail (issue 20): `bounce_events`. The downgrade drops
it (readers already marked bounced or complained stay so).

Frozen: never imports digest.schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "bounce_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.String(300), unique=True),
        sa.Column("address_key", sa.String(320), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("edition", sa.String(10)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_bounce_events_reader", "bounce_events", ["address_key", "kind", "at"])


def downgrade() -> None:
    op.drop_index("ix_bounce_events_reader", "bounce_events")
    op.drop_table("bounce_events")
