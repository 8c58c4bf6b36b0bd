"""The health check's light path (issue 24): `digest.beats` reads the daemons' heartbeats with
the database's own driver, and `digest.configfile.database_url` finds the database without
validating the config. Both must give the answers of the full path (the store, `load_settings`)
on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digest.beats import beating, last_beats
from digest.config import load_settings
from digest.configfile import database_url
from digest.owner import ALIVE
from digest.reports import Reports
from digest.store import Store

NOW = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


def test_the_light_path_agrees_with_the_store(db_url: str, tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(f"database: {db_url}\nfeeds: []\n")
    settings = load_settings(config)
    if db_url.startswith("sqlite"):  # no file yet: nothing beat, and nothing is created
        assert last_beats(settings.database) == []
        assert not Path(db_url.partition(":///")[2]).exists()
    store = Store(settings.database)
    reports = Reports(settings, store, clock=lambda: NOW)
    try:
        assert last_beats(settings.database) == [] and not reports.healthy()
        cases = [  # (beat, stopped cleanly): does a daemon count as running?
            (NOW - ALIVE - timedelta(seconds=1), False),  # too old
            (NOW - timedelta(seconds=30), True),  # beat, then stopped cleanly
            (NOW - ALIVE + timedelta(seconds=5), False),  # just in time
        ]
        answers = []
        for i, (beat, stopped) in enumerate(cases):
            owner = f"host:{i}:1"
            store.beat(owner, started_at=beat, now=beat, next_send_at=None, config="")
            if stopped:
                store.instance_stopped(owner, now=beat)
            answers.append((beating(settings.database, NOW), reports.healthy()))
        assert answers == [(False, False), (False, False), (True, True)]
        assert sorted(last_beats(settings.database)) == sorted(
            [cases[0][0], cases[2][0]])  # the stopped one is not among them
        assert all(b.tzinfo is not None for b in last_beats(settings.database))
    finally:
        store.close()


def test_an_unreadable_database_is_a_value_error(tmp_path: Path) -> None:
    broken = tmp_path / "digest.db"
    broken.write_bytes(b"not a database at all" * 100)
    with pytest.raises(ValueError, match=r"digest\.db"):
        last_beats(f"sqlite:///{broken}")
    with pytest.raises(ValueError, match="not a sqlite"):
        last_beats("mysql://db/digest")


@pytest.mark.parametrize(("written", "env"), [
    (None, {}),  # the default: digest.db beside feeds.yaml
    ("data/news.db", {}),
    ("sqlite:///rel/news.db", {}),
    ("${DB_FILE}", {"DB_FILE": "from-env.db"}),
    ("${DB_FILE:-fallback.db}", {}),
    ("news.db", {"DIGEST_DATABASE_URL": "postgresql+psycopg://u:pw@db.example.org/digest"}),
    ("~/news.db", {}),
])
def test_database_url_is_what_load_settings_resolves(tmp_path: Path, written: str | None,
                                                      env: dict[str, str]) -> None:
    config = tmp_path / "conf" / "feeds.yaml"
    config.parent.mkdir()
    config.write_text((f"database: '{written}'\n" if written else "") + "feeds: []\n")
    assert database_url(config, env) == load_settings(config, env).database


def test_database_url_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    for text, problem in [("database: [1, 2]\n", "database: not a string"),
                          ("database: ${NOPE}\n", "NOPE is not set"),
                          ("database: 'mysql://x/y'\n", "not a sqlite"),
                          ("feeds: [\n", "invalid YAML")]:
        config.write_text(text)
        with pytest.raises(ValueError, match=problem):
            database_url(config, {})
    with pytest.raises(ValueError, match=r"missing\.yaml"):
        database_url(tmp_path / "missing.yaml", {})
