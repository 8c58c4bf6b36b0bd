"""Locks that hold across processes and machines, by name: a PostgreSQL advisory lock (the
key a hash of the name), or on SQLite an exclusive flock on a file beside the database
(`<db>.<name>-lock`, left in place: removing it could race with another process). Used to
migrate the schema once and to build an edition once when several instances share a
database."""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import func, select
from sqlalchemy.engine import Connection


def key(name: str) -> int:
    """pg_advisory_lock's bigint for a name (the same in every instance)."""
    return int.from_bytes(hashlib.sha256(f"digest:{name}".encode()).digest()[:8], "big") >> 1


@contextmanager
def held(conn: Connection, name: str) -> Iterator[None]:
    """Hold the lock `name` for as long as the block runs (waiting for it first)."""
    if conn.dialect.name == "postgresql":
        # Session-level, so it outlives the transactions in between; released explicitly.
        conn.execute(select(func.pg_advisory_lock(key(name))))
        conn.commit()
        try:
            yield
        finally:
            if conn.in_transaction():
                conn.rollback()
            conn.execute(select(func.pg_advisory_unlock(key(name))))
            conn.commit()
        return
    database = conn.engine.url.database if conn.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield  # in-memory: no other process can see it
        return
    with open(f"{database}.{name}-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
