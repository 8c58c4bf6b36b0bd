"""The daemons' last heartbeats, read with the database's own driver: Docker's health check.

`digest status --check` runs every minute in each container and must answer in well under
0.3 s, most of which the full path (pydantic settings, SQLAlchemy, the store's modules) would
spend on imports. So this reads one table through sqlite3 or psycopg directly: the `instances`
rows that `digest.store.daemon` writes (owner, beat_at, stopped_at), and nothing else. It never
writes, creates or migrates anything: a database that is missing, or older than the table,
means no daemon beat. `Reports.healthy` answers the same question through the store; a test
holds the two to the same answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from digest.owner import recent

_QUERY = "SELECT beat_at FROM instances WHERE stopped_at IS NULL"


def _utc(value: datetime | str) -> datetime:
    """SQLite keeps SQLAlchemy's datetimes as text without an offset, in UTC."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def last_beats(database: str) -> list[datetime]:
    """When each daemon that did not stop cleanly last beat (UTC). `database` is a resolved
    sqlite:/// or postgresql:// URL (`configfile.database_url`). OSError-free: a database
    that cannot be read raises ValueError saying why."""
    scheme = database.partition("://")[0].partition("+")[0].lower()
    if scheme == "sqlite":
        return _sqlite(database.partition(":///")[2].split("?")[0])
    if scheme == "postgresql":
        return _postgresql(database)
    raise ValueError(f"not a sqlite:/// or postgresql:// URL: {scheme}://")


def _sqlite(path: str) -> list[datetime]:
    import sqlite3

    if not Path(path).is_file():
        return []
    try:
        # read-only, so a health check never creates the file or takes a write lock
        with sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True,
                             timeout=10) as conn:
            rows = conn.execute(_QUERY).fetchall()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return []
        raise ValueError(f"database {path}: {e}") from None
    except sqlite3.Error as e:
        raise ValueError(f"database {path}: {e}") from None
    return [_utc(r[0]) for r in rows]


def _postgresql(url: str) -> list[datetime]:
    import psycopg

    parts = urlsplit(url)
    # SQLAlchemy's postgresql+psycopg://user:pw@host:port/db?... is libpq's postgresql://...
    conninfo = parts._replace(scheme="postgresql").geturl()
    try:
        with psycopg.connect(conninfo, connect_timeout=10) as conn:
            rows = conn.execute("SELECT to_regclass('instances')").fetchone()
            if rows is None or rows[0] is None:
                return []
            return [_utc(r[0]) for r in conn.execute(_QUERY).fetchall()]
    except psycopg.Error as e:
        host = unquote(parts.hostname or "localhost")
        raise ValueError(f"database postgresql://{host}{parts.path}: "
                         f"{str(e).strip().splitlines()[0]}") from None


def beating(database: str, now: datetime) -> bool:
    """Whether some daemon beat recently, as `owner.alive` decides it."""
    return any(recent(beat, now) for beat in last_beats(database))
