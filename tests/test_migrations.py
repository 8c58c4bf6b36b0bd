"""migrate: Alembic revisions bring an empty, a first-release and a pre-migrations database to
digest.schema, keep the rows, never run twice at once; `digest db upgrade|current` (a SQLite
file, and PostgreSQL when DIGEST_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    select,
    text,
)

from conftest import WriteConfig
from digest import locks, migrate
from digest.cli import main
from digest.errors import StoreError
from digest.models import DeliveryStatus, FeedStatus
from digest.schema import metadata
from digest.store import Store

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

# The first released schema, as `git show 7d3abe5:digest/store.py` created it with
# metadata.create_all: what a database from before migrations started as.
OLD = MetaData()
Table(
    "feeds", OLD,
    Column("id", Integer, primary_key=True),
    Column("url", String(2048), nullable=False, unique=True),
    Column("name", Text), Column("title", Text),
    Column("weight", Float, nullable=False, default=1.0),
    Column("status", String(16), nullable=False, default="new"),
    Column("etag", Text), Column("last_modified", Text),
    Column("last_fetched_at", DateTime(timezone=True)),
    Column("last_success_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("error_count", Integer, nullable=False, default=0),
    Column("next_poll_at", DateTime(timezone=True)),
)
Table(
    "items", OLD,
    Column("id", Integer, primary_key=True),
    Column("feed_id", Integer, ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False),
    Column("key", Text, nullable=False), Column("guid", Text),
    Column("url", Text, nullable=False), Column("canonical_url", Text, nullable=False),
    Column("title", Text, nullable=False), Column("summary", Text, nullable=False, default=""),
    Column("author", Text), Column("published_at", DateTime(timezone=True)),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("feed_id", "key", name="uq_items_feed_key"),
    Index("ix_items_published_at", "published_at"),
    Index("ix_items_first_seen_at", "first_seen_at"),
    Index("ix_items_canonical_url", "canonical_url"),
)
Table(
    "editions", OLD,
    Column("id", Integer, primary_key=True),
    Column("edition", String(10), nullable=False, unique=True),
    Column("title", Text, nullable=False), Column("subject", Text, nullable=False),
    Column("payload", Text, nullable=False), Column("html", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("frozen_at", DateTime(timezone=True), nullable=False),
)
Table(
    "edition_fingerprints", OLD,
    Column("edition_id", Integer, ForeignKey("editions.id", ondelete="CASCADE"),
           primary_key=True),
    Column("fingerprint", Text, primary_key=True),
    Index("ix_edition_fingerprints_fingerprint", "fingerprint"),
)
Table(
    "deliveries", OLD,
    Column("id", Integer, primary_key=True),
    Column("edition_id", Integer, ForeignKey("editions.id", ondelete="CASCADE"),
           nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_at", DateTime(timezone=True)), Column("sent_at", DateTime(timezone=True)),
    Column("message_id", Text), Column("error", Text),
    UniqueConstraint("edition_id", "recipient", name="uq_deliveries_edition_recipient"),
)

# The suppression list, as revisions 0001 to 0005 had it (0006 made its rows readers).
SUPPRESSIONS = Table(
    "suppressions", MetaData(),
    Column("address", String(320), primary_key=True),
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("source", String(32), nullable=False),
)

ROWS: dict[str, list[dict[str, Any]]] = {
    "feeds": [{"id": 1, "url": "https://wire.example/rss.xml", "name": "Wire", "title": "The Wire",
               "weight": 1.5, "status": FeedStatus.OK.value, "etag": '"abc"',
               "last_modified": "Sat, 28 Nov 2026 11:00:00 GMT", "last_fetched_at": NOW,
               "last_success_at": NOW, "last_error": None, "error_count": 0,
               "next_poll_at": NOW}],
    "items": [{"id": 1, "feed_id": 1, "key": "guid:wire#1", "guid": "wire#1",
               "url": "https://wire.example/1?utm_source=rss",
               "canonical_url": "https://wire.example/1", "title": "Chips in Nairobi",
               "summary": "A summary.", "author": "A. Writer", "published_at": NOW,
               "first_seen_at": NOW}],
    "editions": [{"id": 1, "edition": "2026-11-30", "title": "The Weekly Brief",
                  "subject": "Subject", "payload": '{"edition": "2026-11-30", "sections": []}',
                  "html": "<p>html</p>", "text": "text", "frozen_at": NOW}],
    "edition_fingerprints": [{"edition_id": 1, "fingerprint": "https://wire.example/1"}],
    "deliveries": [{"id": 1, "edition_id": 1, "recipient": "ana@example.org",
                    "status": DeliveryStatus.SENT.value, "attempts": 1, "claimed_at": NOW,
                    "sent_at": NOW, "message_id": "<1@example.org>", "error": None}],
}


def differences(engine: Engine) -> list[Any]:
    """What Alembic's autogenerate would change to reach digest.schema: nothing, when the
    migrations match it. (No type-affinity noise to filter: on SQLite the reflected types
    compare equal to ours, so every difference reported is a real one.)"""
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(
            conn, opts={"include_object": not_the_search_index}), metadata))


def not_the_search_index(obj: Any, name: str | None, type_: str, reflected: bool,
                         compare_to: Any) -> bool:
    """The archive's full-text index (0007) is made by hand per database and is not in
    digest.schema: SQLite's FTS5 table and its shadow tables, PostgreSQL's tsvector column
    and its GIN index."""
    name = name or ""
    return not (name.startswith("archive_search") or name == "ix_archive_stories_search"
                or (type_ == "column" and name == "search"))


def utc(value: Any) -> Any:
    """SQLite gives naive datetimes back; we always store UTC."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def insert_rows(engine: Engine) -> None:
    with engine.begin() as conn:
        for name, rows in ROWS.items():
            conn.execute(OLD.tables[name].insert(), rows)
        if conn.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            for name in ("feeds", "items", "editions", "deliveries"):
                conn.execute(text(f"SELECT setval('{name}_id_seq', 1)"))


def assert_rows_intact(engine: Engine) -> None:
    with engine.connect() as conn:
        for name, rows in ROWS.items():
            table = OLD.tables[name]
            stored = [{k: utc(v) for k, v in row._mapping.items()}
                      for row in conn.execute(select(table))]
            assert stored == rows, name


def versions(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


@pytest.fixture
def engine(db_url: str) -> Any:
    e = create_engine(db_url)
    yield e
    e.dispose()


def test_head_is_the_newest_revision_in_the_script_folder() -> None:
    assert ScriptDirectory.from_config(migrate.alembic_config()).get_current_head() == \
        migrate.HEAD


def test_empty_database_upgrades_to_exactly_the_schema(db_url: str, engine: Engine) -> None:
    assert migrate.current(engine) is None

    assert migrate.upgrade(engine) == (None, migrate.HEAD)

    assert differences(engine) == []
    assert versions(engine) == [migrate.HEAD]
    assert migrate.upgrade(engine) == (migrate.HEAD, migrate.HEAD)  # nothing more to do


def test_first_release_with_rows_upgrades_keeping_them(db_url: str, engine: Engine) -> None:
    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), "0001")
    assert migrate.current(engine) == "0001"
    insert_rows(engine)

    store = Store(db_url)
    try:
        assert migrate.current(store.engine) == migrate.HEAD
        assert differences(engine) == []
        assert_rows_intact(engine)
        with engine.connect() as conn:  # the added NOT NULL column got its default
            assert conn.execute(text("SELECT seen_only FROM items")).scalar() in (False, 0)
        [delivery] = store.history()
        assert (delivery.edition, delivery.recipient, delivery.status, delivery.sent_at) == \
            (date(2026, 11, 30), "ana@example.org", DeliveryStatus.SENT, NOW)
        [health] = store.feed_health()
        assert (health.url, health.name, health.items) == ("https://wire.example/rss.xml",
                                                          "Wire", 1)
        assert store.sent_fingerprints() == {"https://wire.example/1": date(2026, 11, 30)}
        store.sync_feeds([("https://post.example/atom.xml", None, 1.0)])  # new rows still go in
        assert len(store.feed_health()) == 2
    finally:
        store.close()


def test_database_from_before_migrations_is_stamped_and_upgraded(
        db_url: str, engine: Engine) -> None:
    OLD.create_all(engine)
    insert_rows(engine)

    Store(db_url).close()

    assert versions(engine) == [migrate.HEAD]
    assert differences(engine) == []
    assert_rows_intact(engine)


def test_database_brought_forward_by_add_missing_columns_is_upgraded(
        db_url: str, engine: Engine) -> None:
    # What an earlier digest left: the old tables, a new table from create_all, and some new
    # columns added the way `_add_missing_columns` did (plain ALTER TABLE, so seen_only is
    # nullable, and rows existing then got its DEFAULT).
    OLD.create_all(engine)
    insert_rows(engine)
    SUPPRESSIONS.create(engine)
    no = "false" if engine.dialect.name == "postgresql" else "0"
    with engine.begin() as conn:
        conn.execute(text('ALTER TABLE feeds ADD COLUMN "fetch_url" TEXT'))
        conn.execute(text(f'ALTER TABLE items ADD COLUMN "seen_only" BOOLEAN DEFAULT {no}'))
        conn.execute(text('ALTER TABLE deliveries ADD COLUMN "claimed_by" VARCHAR(200)'))
        conn.execute(text("UPDATE feeds SET fetch_url = 'https://wire.example/moved.xml'"))
    assert differences(engine) != []  # the test starts from a database that needs work

    Store(db_url).close()

    assert versions(engine) == [migrate.HEAD]
    assert differences(engine) == []  # seen_only is NOT NULL now, too
    assert_rows_intact(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT fetch_url FROM feeds")).scalar() == \
            "https://wire.example/moved.xml"


def test_sends_recorded_as_unconfirmed_before_0005_are_told_apart(
        db_url: str, engine: Engine) -> None:
    # Before 0005 a message a killed run had handed over was recorded `sent`, with a note
    # starting "unconfirmed"; now it has a status of its own (issue 17), so that `history
    # --status unconfirmed` finds the earlier ones and `send --resend-unconfirmed` can send
    # them again. Sends confirmed some other way keep `sent`.
    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), "0004")
        conn.execute(text(
            "INSERT INTO editions (id, edition, title, subject, payload, html, text, frozen_at)"
            " VALUES (1, '2026-11-30', 'T', 'S', '{}', 'h', 't', :now)"), {"now": NOW})
        conn.execute(text(
            "INSERT INTO deliveries (edition_id, recipient, status, attempts, sent_at, "
            "message_id, error) VALUES (1, :r, 'sent', 1, :now, :mid, :note)"), [
            {"r": "ana@example.org", "now": NOW, "mid": "<a@x>", "note": None},
            {"r": "ben@example.org", "now": NOW, "mid": "<b@x>",
             "note": "unconfirmed: the last run stopped after handing it to the server; "
                     "not sent again"},
            {"r": "kofi@example.org", "now": NOW, "mid": "<k@x>",
             "note": "sent before the last run stopped; recorded now"}])

    store = Store(db_url)
    try:
        assert differences(engine) == []
        assert [(d.recipient, d.status, d.message_id) for d in store.history()] == [
            ("ana@example.org", DeliveryStatus.SENT, "<a@x>"),
            ("ben@example.org", DeliveryStatus.UNCONFIRMED, "<b@x>"),
            ("kofi@example.org", DeliveryStatus.SENT, "<k@x>")]
    finally:
        store.close()


def test_database_from_a_newer_digest_is_refused_naming_it(db_url: str, engine: Engine) -> None:
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))

    with pytest.raises(StoreError, match=r"database .*9999"):
        Store(db_url)


# --- several processes ---


def digest_cmd(config: Path, *args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "digest"), "--config", str(config), *args]


@pytest.mark.slow
def test_two_processes_upgrading_at_once_migrate_once(
        db_url: str, engine: Engine, write_config: WriteConfig) -> None:
    config = write_config({"database": db_url})
    procs = [subprocess.Popen(digest_cmd(config, "db", "upgrade"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]

    assert [code for code, _, _ in results] == [0, 0], results
    outputs = sorted(out.strip() for _, out, _ in results)
    # One migrated; the other waited for the lock (or came later) and found it done.
    assert outputs == [f"database: at {migrate.HEAD} (latest)",
                       f"database: empty -> {migrate.HEAD}"], results
    assert versions(engine) == [migrate.HEAD]
    assert differences(engine) == []


@pytest.mark.slow
def test_upgrade_waits_for_the_lock(
        db_url: str, engine: Engine, write_config: WriteConfig, tmp_path: Path) -> None:
    config = write_config({"database": db_url})
    with engine.connect() as conn, locks.held(conn, "migrate"):
        proc = subprocess.Popen(digest_cmd(config, "db", "upgrade"), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=3)  # held back by the lock
        assert migrate.current(engine) is None
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.strip() == f"database: empty -> {migrate.HEAD}"


# --- the commands ---


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_db_current_and_upgrade_commands(
        db_url: str, engine: Engine, write_config: WriteConfig,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config({"database": db_url}))
    head = migrate.HEAD

    code, out, _ = run(capsys, "--config", config, "db", "current", "--format", "json")
    assert code == 0
    assert json.loads(out) == {"current": None, "head": head, "latest": False}
    code, out, _ = run(capsys, "--config", config, "db", "current")
    assert (code, out) == (0, f"database: empty, or from before migrations (not the latest: "
                              f"{head}; `digest db upgrade` or any command brings it there)\n")
    assert migrate.current(engine) is None  # `current` changed nothing

    code, out, _ = run(capsys, "--config", config, "db", "upgrade")
    assert (code, out) == (0, f"database: empty -> {head}\n")
    code, out, _ = run(capsys, "--config", config, "db", "upgrade")
    assert (code, out) == (0, f"database: at {head} (latest)\n")

    code, out, _ = run(capsys, "--config", config, "db", "current")
    assert (code, out) == (0, f"database: at {head} (latest)\n")
    code, out, _ = run(capsys, "--config", config, "db", "current", "--format", "json")
    assert json.loads(out) == {"current": head, "head": head, "latest": True}


def test_db_upgrade_from_an_older_revision_says_so(
        db_url: str, engine: Engine, write_config: WriteConfig,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config({"database": db_url}))
    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), "0001")

    code, out, _ = run(capsys, "--config", config, "db", "current", "--format", "json")
    assert json.loads(out) == {"current": "0001", "head": migrate.HEAD, "latest": False}
    code, out, _ = run(capsys, "--config", config, "db", "upgrade")
    assert (code, out) == (0, f"database: 0001 -> {migrate.HEAD}\n")


def test_db_commands_name_an_unusable_database_without_its_password(
        write_config: WriteConfig, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config(
        {"database": "postgresql+psycopg://digest:s3cret@127.0.0.1:1/digest"}))
    for command_ in ("current", "upgrade"):
        code, out, err = run(capsys, "--config", config, "db", command_)
        assert code == StoreError.exit_code  # as every command maps a store error
        assert "digest:***@127.0.0.1:1/digest" in err
        assert "s3cret" not in out + err


def test_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--config", str(tmp_path / "missing.yaml"), "db", "current")
    assert code == 2
    assert "missing.yaml" in err
