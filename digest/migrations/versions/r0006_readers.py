"""0006: the readers store (issue 18): `readers`, `forgotten_readers` and `rate_limits`. The
suppression list becomes readers: each suppressed address is a reader who unsubscribed (source
`command`, or the link), when it was suppressed; `suppressions` goes. The downgrade puts every
reader who left back on a suppression list (the other readers are lost: they lived in
feeds.yaml before).

Frozen: never imports digest.schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    readers = op.create_table(
        "readers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("address_key", sa.String(320), nullable=False, unique=True),
        sa.Column("name", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sections", sa.Text),
        sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("in_config", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("config_sections", sa.Text),
        sa.Column("consent_at", sa.DateTime(timezone=True)),
        sa.Column("consent_ip", sa.String(64)),
        sa.Column("consent_form", sa.Text),
        sa.Column("consent_text", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True)),
        sa.Column("unsubscribed_at", sa.DateTime(timezone=True)),
        sa.Column("unsubscribe_reason", sa.Text),
        sa.Column("unsubscribed_by", sa.String(16)),
    )
    op.create_index("ix_readers_address", "readers", ["address"])
    op.create_index("ix_readers_status", "readers", ["status"])
    op.create_table(
        "forgotten_readers",
        sa.Column("address_hash", sa.String(64), primary_key=True),
        sa.Column("forgotten_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("window_start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("hits", sa.Integer, nullable=False),
    )
    conn = op.get_bind()
    # Read through typed columns: SQLite hands back times as text, which the DateTime columns
    # of the insert below would refuse.
    old = sa.table("suppressions", sa.column("address", sa.String),
                   sa.column("added_at", sa.DateTime(timezone=True)),
                   sa.column("source", sa.String))
    rows = conn.execute(sa.select(old.c.address, old.c.added_at, old.c.source)).all()
    if rows:  # stored in lower case: the address is its own key
        op.bulk_insert(readers, [
            {"address": r.address, "address_key": r.address, "status": "unsubscribed",
             "source": "command", "created_at": r.added_at, "updated_at": r.added_at,
             "unsubscribed_at": r.added_at,
             "unsubscribed_by": "reader" if r.source == "link" else "operator",
             "unsubscribe_reason": f"on the suppression list ({r.source})"}
            for r in rows])
    op.drop_table("suppressions")


def downgrade() -> None:
    suppressions = op.create_table(
        "suppressions",
        sa.Column("address", sa.String(320), primary_key=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
    )
    conn = op.get_bind()
    readers = sa.table("readers", sa.column("address_key", sa.String),
                       sa.column("status", sa.String),
                       sa.column("unsubscribed_at", sa.DateTime(timezone=True)),
                       sa.column("updated_at", sa.DateTime(timezone=True)))
    rows = conn.execute(sa.select(readers.c.address_key, readers.c.unsubscribed_at,
                                  readers.c.updated_at).where(
        readers.c.status.in_(["unsubscribed", "bounced", "complained"]))).all()
    seen: set[str] = set()
    kept = []
    for r in rows:
        address = r.address_key.lower()
        if address not in seen:
            seen.add(address)
            kept.append({"address": address, "added_at": r.unsubscribed_at or r.updated_at,
                         "source": "command"})
    if kept:
        op.bulk_insert(suppressions, kept)
    op.drop_table("rate_limits")
    op.drop_table("forgotten_readers")
    op.drop_index("ix_readers_status", "readers")
    op.drop_index("ix_readers_address", "readers")
    op.drop_table("readers")
