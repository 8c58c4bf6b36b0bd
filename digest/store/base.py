"""The store's base: the engine (SQLite in WAL mode, or PostgreSQL), its transactions and
database-wide locks, and the helpers every domain of the store shares (UTC times, a URL safe to
show, INSERT ... ON CONFLICT DO NOTHING)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

from digest import locks, migrate
from digest.errors import StoreError, UsageError


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _db_time(value: datetime) -> datetime:
    """What we write: UTC. SQLite keeps datetimes as text without an offset, so a local time
    written or compared there would be read back hours off."""
    return value.astimezone(UTC)


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


class StoreBase:
    """The engine and its transactions, shared by the store's domains (digest.store.Store)."""

    def __init__(self, url: str, *, upgrade: bool = True) -> None:
        """Open the database and bring its schema up to date (migrate.upgrade); with
        `upgrade=False` leave the schema as it is (`digest db current`)."""
        self.url = url
        try:
            parsed = make_url(url)
        except ArgumentError as e:
            raise StoreError(f"database: not a database URL: {url!r}") from e
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            try:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"database {_safe_url(url)}: cannot create its folder: "
                                 f"{e.strerror}") from e
        try:
            self.engine: Engine = create_engine(url, future=True)
        except (ArgumentError, ImportError) as e:
            raise StoreError(f"database {_safe_url(url)}: {e}") from e
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        if not upgrade:
            return
        try:
            migrate.upgrade(self.engine)
        except SQLAlchemyError as e:
            raise StoreError(f"cannot open database {_safe_url(url)}: {e.__cause__ or e}") from e

    def close(self) -> None:
        self.engine.dispose()

    def backup(self, target: Path, *, replace: bool = False) -> int:
        """Copy the SQLite database to `target` with SQLite's online backup API: a consistent
        copy while other processes go on reading and writing. The copy is one step, inside
        one read transaction: in WAL mode that blocks no writer, and it sees one moment. (In
        several steps, every write by another connection between two steps makes SQLite start
        again, so a busy writer could keep a backup from ever finishing; a test writes in a
        loop during the backup.) It is written beside `target` and renamed into place once
        its integrity check passes, so `target` is never half written; an existing `target`
        only with `replace`. Returns its size in bytes. UsageError, with nothing written, for
        what cannot be backed up so (PostgreSQL has pg_dump) or where."""
        if self.engine.dialect.name != "sqlite":
            raise UsageError(f"database {_safe_url(self.url)}: `digest db backup` copies "
                             "SQLite databases; back PostgreSQL up with pg_dump (see README, "
                             "Backups)")
        import sqlite3

        source = self.engine.url.database
        if source in (None, "", ":memory:"):
            raise UsageError("database: an in-memory database has nothing to back up")
        if not Path(source).is_file():
            raise UsageError(f"database {source}: no such file: nothing to back up")
        if target.exists() and target.resolve() == Path(source).resolve():
            raise UsageError(f"{target}: that is the database itself")
        if target.exists() and not replace:
            raise UsageError(f"{target}: exists; pass --force to replace it")
        if not target.parent.is_dir():
            raise UsageError(f"{target}: no such folder: {target.parent}")
        partial = target.with_name(f".{target.name}.partial")
        try:
            with self.engine.connect() as conn:
                raw = conn.connection.dbapi_connection
                assert isinstance(raw, sqlite3.Connection)
                copy = sqlite3.connect(partial)
                try:
                    raw.backup(copy)  # pages=-1: every page in one step
                    # the copy keeps the source's WAL mode; a single file is what a backup is
                    copy.execute("PRAGMA journal_mode=DELETE")
                    verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
                finally:
                    copy.close()
            if verdict != "ok":
                raise StoreError(f"{target}: the copy failed SQLite's integrity check: {verdict}")
            partial.replace(target)
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"{target}: backup failed: {e}") from e
        finally:
            partial.unlink(missing_ok=True)
        return target.stat().st_size

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except SQLAlchemyError as e:
            raise StoreError(f"database {_safe_url(self.url)}: {e.__cause__ or e}") from e

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Hold the database-wide lock `name` (digest.locks) while the block runs."""
        try:
            with self.engine.connect() as conn, locks.held(conn, name):
                yield
        except SQLAlchemyError as e:
            raise StoreError(f"database {_safe_url(self.url)}: {e.__cause__ or e}") from e


def _insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT the rows, leaving any that would break a unique key (ON CONFLICT DO NOTHING)."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(pg_insert(table).on_conflict_do_nothing(), rows)
    elif dialect == "sqlite":
        conn.execute(sqlite_insert(table).on_conflict_do_nothing(), rows)
    else:
        raise StoreError(f"unsupported database: {dialect}")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # First, so that the pragmas below wait too: switching a new database to WAL needs it to
    # itself, and two instances starting at once on one new file (one creating its tables)
    # failed with "database is locked" under load.
    cursor.execute("PRAGMA busy_timeout=10000")  # another process writing: wait, don't fail
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    # In WAL mode NORMAL never corrupts the database; a power cut may lose the last commits,
    # which the next poll fetches again. FULL would fsync every feed's commit.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
