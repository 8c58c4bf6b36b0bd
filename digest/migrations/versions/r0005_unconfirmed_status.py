"""0005: the `unconfirmed` delivery status (issue 17). A message handed to the server by a run
that was killed (or lost its connection) before the server's answer used to be recorded `sent`
with a note starting "unconfirmed"; those rows get the status of their own, so the history
tells them apart and `digest send --resend-unconfirmed` finds them. No column changes.

Frozen: never imports digest.schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.execute(sa.text("UPDATE deliveries SET status = 'unconfirmed' "
                       "WHERE status = 'sent' AND error LIKE 'unconfirmed%'"))


def downgrade() -> None:
    op.execute(sa.text("UPDATE deliveries SET status = 'sent' WHERE status = 'unconfirmed'"))
