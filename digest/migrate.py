"""Schema migrations: bring a database up to the schema digest.schema describes, with the
Alembic revisions in digest/migrations, once, under a lock; never reads or writes digest's data.

The store calls `upgrade` whenever it opens a database, so it must be cheap when there is
nothing to do: one query of `alembic_version`, and Alembic is imported only when a migration
is due. Two instances starting together (issue 9) never migrate at once: PostgreSQL holds an
advisory lock on the migrating connection, SQLite an exclusive flock on `<db>.migrate-lock`.
A database made before migrations existed (digest's tables, no `alembic_version`) is stamped
0001 and upgraded: 0002 adds only what it lacks.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from digest import locks
from digest.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

HEAD = "0009"  # the newest revision in digest/migrations/versions (a test keeps them equal)
FIRST = "0001"  # the first released schema: where a database from before migrations stands
SCRIPTS = Path(__file__).resolve().parent / "migrations"
_VERSIONS = text("SELECT version_num FROM alembic_version")


def current(engine: Engine) -> str | None:
    """The database's revision; None for an empty database or one from before migrations."""
    try:
        with engine.connect() as conn:
            return _current(conn)
    except SQLAlchemyError as e:
        raise StoreError(f"database {_name(engine)}: {e.__cause__ or e}") from e


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the database to HEAD; returns (the revision it was at, HEAD). None: it was empty.
    A database from before migrations reports FIRST."""
    if _at_head(engine):
        return HEAD, HEAD
    try:
        with engine.connect() as conn, locks.held(conn, "migrate"):
            with conn.begin():
                # Another instance may have migrated while this one waited for the lock.
                before = _current(conn)
                if before == HEAD:
                    return HEAD, HEAD
                legacy = before is None and "feeds" in inspect(conn).get_table_names()
                _run(conn, legacy=legacy)
            if legacy:
                before = FIRST
            log.info("database %s: upgraded from %s to %s", _name(engine), before or "empty",
                     HEAD)
            return before, HEAD
    except SQLAlchemyError as e:
        raise StoreError(f"cannot open database {_name(engine)}: {e.__cause__ or e}") from e


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code (no alembic.ini): the script folder, and the
    connection env.py runs the revisions on."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _at_head(engine: Engine) -> bool:
    """The fast path, one query: any failure (no such table yet) means "look closer"."""
    try:
        with engine.connect() as conn:
            return [row[0] for row in conn.execute(_VERSIONS)] == [HEAD]
    except SQLAlchemyError:
        return False


def _current(conn: Connection) -> str | None:
    if "alembic_version" not in inspect(conn).get_table_names():
        return None
    versions = [row[0] for row in conn.execute(_VERSIONS)]
    return versions[0] if len(versions) == 1 else None


def _run(conn: Connection, *, legacy: bool) -> None:
    from alembic import command
    from alembic.util import CommandError

    config = alembic_config(conn)
    try:
        if legacy:
            log.info("database %s: made before migrations; stamping it %s", _name(conn.engine),
                     FIRST)
            command.stamp(config, FIRST)
        command.upgrade(config, "head")
    except CommandError as e:
        # Typically a revision this digest does not know: a newer digest migrated the database.
        raise StoreError(f"database {_name(conn.engine)}: {e} (made by a newer digest?)") from e


def _name(engine: Engine) -> str:
    """The URL without its password."""
    return engine.url.render_as_string(hide_password=True)
