"""readers (issue 18), the use case and its store: `recipients:` synced into the readers table,
who a sync may and may not bring back, how addresses compare, erasure, CSV import, and the
migration of the old suppression list (a SQLite file, and PostgreSQL when
DIGEST_TEST_DATABASE_URL is set)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, select, text

from conftest import WriteConfig
from digest import migrate
from digest.addresses import address_key, forget_hash
from digest.app import configured_transport
from digest.config import Settings, load_settings
from digest.models import Reader, ReaderSource, ReaderStatus
from digest.readers import ReaderError, Readers
from digest.schema import deliveries, editions, forgotten_readers, readers
from digest.store import Store

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SECRET = "a-test-secret-that-is-long-enough-0123456789"
SECTIONS = [{"id": "tech", "title": "Tech", "keywords": ["AI"]},
            {"id": "europe", "title": "Europe", "keywords": ["EU"]},
            {"id": "africa", "title": "Africa", "keywords": ["AU"]}]


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class World:
    """One configuration over one database, re-read when the test rewrites feeds.yaml."""

    write_config: WriteConfig
    db_url: str
    clock: Clock
    web: bool = True

    def settings(self, recipients: list[Any], **extra: Any) -> Settings:
        data: dict[str, Any] = {"database": self.db_url, "sections": SECTIONS,
                                "recipients": recipients, **extra}
        if self.web:
            data["web"] = {"base_url": "https://news.example.org", "secret": SECRET}
        return load_settings(self.write_config(data))

    @contextmanager
    def readers(self, recipients: list[Any], **extra: Any) -> Iterator[Readers]:
        settings = self.settings(recipients, **extra)
        store = Store(settings.database)
        try:
            yield Readers(settings, store, clock=self.clock,
                          transport=lambda: configured_transport(settings))
        finally:
            store.close()


@pytest.fixture
def world(write_config: WriteConfig, db_url: str) -> World:
    return World(write_config, db_url, Clock())


def _by_address(found: list[Reader]) -> dict[str, Reader]:
    return {r.address: r for r in found}


def _record_delivery(store: Store, recipient: str, edition: date = date(2026, 11, 30)) -> None:
    """A sent delivery to `recipient` in `edition` (frozen here if it is not yet)."""
    with store.engine.begin() as conn:
        edition_id = conn.execute(select(editions.c.id).where(
            editions.c.edition == edition.isoformat())).scalar()
        if edition_id is None:
            edition_id = conn.execute(editions.insert().values(
                edition=edition.isoformat(), title="T", subject="S", payload="{}", html="h",
                text="t", frozen_at=T0).returning(editions.c.id)).scalar_one()
        conn.execute(deliveries.insert().values(
            edition_id=edition_id, recipient=recipient, status="sent", attempts=1, sent_at=T0,
            message_id=f"<{edition}.{recipient}@example.org>"))


def _token(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


# --- `recipients:` in feeds.yaml ---


def test_config_lines_become_active_operator_managed_readers(world: World) -> None:
    with world.readers(["ana@example.org",
                        {"email": "ben@example.org", "sections": ["tech"]}]) as r:
        report = r.sync_config()
        assert report.added == ["ana@example.org", "ben@example.org"]
        found = _by_address(r.select())
        assert set(found) == {"ana@example.org", "ben@example.org"}
        for reader in found.values():
            assert (reader.status, reader.source, reader.in_config) == (
                ReaderStatus.ACTIVE, ReaderSource.CONFIG, True)
            assert reader.confirmed_at == T0 and reader.consent is not None
            assert reader.consent.form.startswith("feeds.yaml (")
        assert found["ana@example.org"].sections is None
        assert found["ben@example.org"].sections == ("tech",)
        assert [a.address for a in r.audience()] == ["ana@example.org", "ben@example.org"]
        again = r.sync_config()
        assert not again.changed and again.added == []
        assert len(r.select()) == 2


def _leave(r: Readers, how: str, address: str) -> None:
    reader = r.find(address)
    if how == "link":
        links = r.links(reader)
        assert links is not None
        r.unsubscribe(_token(links.unsubscribe), reason="one-click")
    elif how == "command":
        r.remove(address, reason="asked by phone")
    elif how == "digest unsubscribe":
        r.unsubscribe_addresses([address])
    else:  # what the bounce handling (issue 20) records
        r.store.update_reader(reader.id, now=r.clock(), status=ReaderStatus(how),
                              unsubscribed_at=r.clock())


@pytest.mark.parametrize("how", ["link", "command", "digest unsubscribe", "bounced",
                                 "complained"])
def test_a_sync_never_brings_back_someone_who_left(world: World, how: str) -> None:
    lines: list[Any] = ["ana@example.org", {"email": "ben@example.org", "sections": ["tech"]}]
    with world.readers(lines) as r:
        r.sync_config()
        world.clock.advance(days=1)
        _leave(r, how, "ben@example.org")
        left = r.find("ben@example.org").status
        assert left is not ReaderStatus.ACTIVE
        report = r.sync_config()
        assert [a for a, _ in report.kept_out] == ["ben@example.org"]
        assert "not re-activated" in report.kept_out[0][1]
    world.clock.advance(days=1)
    # the line changes (its sections), and still nothing brings them back
    with world.readers(["ana@example.org",
                        {"email": "ben@example.org", "sections": ["europe"]}]) as r:
        r.sync_config()
        ben = r.find("ben@example.org")
        assert ben.status is left
        assert [a.address for a in r.audience()] == ["ana@example.org"]


def test_removing_a_line_ends_the_subscription_and_putting_it_back_restores_it(
        world: World) -> None:
    with world.readers(["ana@example.org", "ben@example.org", "cleo@example.org"]) as r:
        r.sync_config()
        # cleo also signed up herself: she is not operator-managed, the line only listed her
        r.store.update_reader(r.find("cleo@example.org").id, now=r.clock(),
                              source=ReaderSource.FORM)
        _record_delivery(r.store, "ben@example.org")
    world.clock.advance(days=3)
    with world.readers(["ana@example.org"]) as r:
        report = r.sync_config()
        assert report.removed == ["ben@example.org"]
        ben = r.find("ben@example.org")  # the row stays
        assert (ben.status, ben.in_config) == (ReaderStatus.UNSUBSCRIBED, False)
        assert ben.unsubscribe_reason == "removed from recipients in feeds.yaml"
        assert ben.unsubscribed_at == world.clock.now
        assert [(d.edition, d.recipient) for d in r.history(ben)] == [
            (date(2026, 11, 30), "ben@example.org")]
        cleo = r.find("cleo@example.org")
        assert (cleo.status, cleo.in_config) == (ReaderStatus.ACTIVE, False)
        assert [a.address for a in r.audience()] == ["ana@example.org", "cleo@example.org"]
    world.clock.advance(days=3)
    with world.readers(["ana@example.org", "ben@example.org"]) as r:
        report = r.sync_config()
        assert report.back == ["ben@example.org"] and report.added == []
        ben = r.find("ben@example.org")
        assert (ben.status, ben.in_config, ben.unsubscribed_at) == (
            ReaderStatus.ACTIVE, True, None)
        assert ben.created_at == T0  # the same reader, not a new one
        assert len(r.history(ben)) == 1


def test_a_lines_sections_apply_when_it_changes_but_the_readers_own_choice_stands(
        world: World) -> None:
    with world.readers([{"email": "ben@example.org", "sections": ["tech"]}]) as r:
        r.sync_config()
        ben = r.find("ben@example.org")
        links = r.links(ben)
        assert links is not None
        r.update_preferences(_token(links.preferences), sections=["europe"], paused=False)
        assert r.find("ben@example.org").sections == ("europe",)
        report = r.sync_config()  # the line did not change: his choice stands
        assert report.updated == []
        assert r.find("ben@example.org").sections == ("europe",)
    with world.readers([{"email": "ben@example.org", "sections": ["tech", "africa"]}]) as r:
        report = r.sync_config()  # the line changed: the operator's word applies
        assert report.updated == ["ben@example.org"]
        assert r.find("ben@example.org").sections == ("tech", "africa")
        r.sync_config()
        assert r.find("ben@example.org").sections == ("tech", "africa")
    with world.readers(["ben@example.org"]) as r:  # a bare line: every section
        r.sync_config()
        assert r.find("ben@example.org").sections is None


# --- how addresses compare ---


def test_address_keys_compare_the_domain_in_any_case_and_the_local_part_as_written() -> None:
    assert address_key("Ana@Example.ORG") == address_key("Ana@example.org") == \
        "Ana@example.org"
    assert address_key("ana@example.org") != address_key("Ana@example.org")
    assert address_key("  Ana@EXAMPLE.org ") == "Ana@example.org"


def test_two_spellings_of_one_domain_are_one_reader_another_local_part_is_another(
        world: World) -> None:
    with world.readers(["Ana@Example.ORG"]) as r:
        r.sync_config()
        with pytest.raises(ReaderError, match=r"Ana@example\.org: already a reader \(active\)"):
            r.add("Ana@example.org")
        assert r.find("Ana@example.org").address == "Ana@Example.ORG"  # as first written
        with pytest.raises(ReaderError, match="no such reader"):
            r.find("ana@example.org")
        other = r.add("ana@example.org")
        assert other.address == "ana@example.org" and other.key != r.find("Ana@example.org").key
        assert [x.address for x in r.select()] == ["Ana@Example.ORG", "ana@example.org"]
        report = r.import_csv(b"email\nANA@example.org\nAna@EXAMPLE.org\n", name="x.csv",
                              confirmed="a list")
        assert report.errors == []
        assert report.added == ["ANA@example.org"] and report.existing == ["Ana@EXAMPLE.org"]
        assert len(r.select()) == 3


# --- erasure (GDPR article 17) ---


def test_forget_erases_the_reader_scrubs_the_history_and_keeps_them_out(world: World) -> None:
    with world.readers(["ana@example.org", "Ben@Example.org"]) as r:
        r.sync_config()
        _record_delivery(r.store, "Ben@Example.org", date(2026, 11, 23))
        _record_delivery(r.store, "Ben@Example.org", date(2026, 11, 30))
        _record_delivery(r.store, "ana@example.org", date(2026, 11, 30))

        assert r.forget("Ben@example.org") is True

        with pytest.raises(ReaderError, match="no such reader"):
            r.find("Ben@example.org")
        with r.store.engine.connect() as conn:
            rows = [tuple(row) for table in (readers, deliveries, forgotten_readers)
                    for row in conn.execute(select(table))]
            hashes = list(conn.execute(select(forgotten_readers.c.address_hash)).scalars())
            recipients = sorted(conn.execute(select(deliveries.c.recipient)).scalars())
        assert not any("ben@" in str(value).lower() for row in rows for value in row)
        assert hashes == [forget_hash("Ben@example.org")] and "@" not in hashes[0]
        # the history keeps its counts, not the address
        scrubbed = "forgotten:" + forget_hash("Ben@example.org")[:16]
        assert recipients == ["ana@example.org", scrubbed, scrubbed]
        assert [d.message_id for d in r.store.history(recipient=scrubbed)] == [None, None]

        # the config line is still there: kept out, never added again
        report = r.sync_config()
        assert report.added == []
        assert [a for a, _ in report.kept_out] == ["Ben@Example.org"]
        assert "erased" in report.kept_out[0][1]
        assert [x.address for x in r.select()] == ["ana@example.org"]
        # nor by the operator's hand, in any spelling
        with pytest.raises(ReaderError, match="erased at their request"):
            r.add("Ben@example.org")
        with pytest.raises(ReaderError, match="erased at their request"):
            r.add("ben@EXAMPLE.org")
        report = r.import_csv(b"email\nzoe@example.org\nBEN@example.org\n", name="p.csv",
                              confirmed="a list")
        assert report.errors == [(3, "BEN@example.org: erased at their request; only they "
                                     "can sign up again")]
        assert report.added == [] and len(r.select()) == 1  # nothing added at all

        assert r.forget("nobody@example.org") is False  # nothing held; kept out all the same
        with pytest.raises(ReaderError, match="erased"):
            r.add("nobody@example.org")


# --- CSV import ---


def test_import_confirmed_records_where_they_agreed(world: World) -> None:
    with world.readers(["ana@example.org"]) as r:
        r.sync_config()
        world.clock.advance(hours=5)
        report = r.import_csv(
            "email,name,sections\nzoe@example.org,Zoé Okafor,tech europe\n"
            "ana@example.org,Ana,\nkwame@example.org,,africa;tech\n".encode(),
            name="people.csv", confirmed="sign-up sheet, Lagos meetup, 2026-10-03")
        assert report.errors == [] and report.notices == []
        assert report.added == ["zoe@example.org", "kwame@example.org"]
        assert report.existing == ["ana@example.org"]
        found = _by_address(r.select())
        zoe = found["zoe@example.org"]
        assert (zoe.status, zoe.source, zoe.name, zoe.sections) == (
            ReaderStatus.ACTIVE, ReaderSource.IMPORT, "Zoé Okafor", ("tech", "europe"))
        assert zoe.confirmed_at == world.clock.now
        assert zoe.consent is not None
        assert zoe.consent.form == "import people.csv: sign-up sheet, Lagos meetup, 2026-10-03"
        assert zoe.consent.text == \
            "confirmed before the import: sign-up sheet, Lagos meetup, 2026-10-03"
        assert zoe.consent.at == world.clock.now
        assert found["kwame@example.org"].sections == ("africa", "tech")
        assert found["ana@example.org"].source is ReaderSource.CONFIG  # left as it was
        assert found["ana@example.org"].name is None


def test_import_without_confirmed_makes_pending_readers_and_mails_each(
        world: World, tmp_path: Path) -> None:
    with world.readers([]) as r:
        report = r.import_csv(b"email\nzoe@example.org\nkwame@example.org\n", name="p.csv")
        assert report.added == ["zoe@example.org", "kwame@example.org"]
        assert [n.recipient for n in report.notices] == report.added
        assert {x.status for x in r.select()} == {ReaderStatus.PENDING}
        assert r.audience() == []
        assert r.send_notices(report.notices) == 2
        mails = sorted(p.name for p in (tmp_path / "outbox" / "notices").iterdir())
        assert len(mails) == 2 and all(m.startswith("confirm-") for m in mails)
        body = (tmp_path / "outbox" / "notices" / mails[0]).read_text(encoding="utf-8")
        assert "https://news.example.org/confirm?token=" in body


def test_import_without_confirmed_needs_the_web_service(world: World) -> None:
    world.web = False
    with world.readers([]) as r, pytest.raises(ReaderError, match="--confirmed SOURCE"):
        r.import_csv(b"email\nzoe@example.org\n", name="p.csv")
    with world.readers([]) as r, pytest.raises(ReaderError, match="needs the source"):
        r.import_csv(b"email\nzoe@example.org\n", name="p.csv", confirmed="  ")


def test_import_never_brings_back_someone_who_left(world: World) -> None:
    with world.readers(["ana@example.org"]) as r:
        r.sync_config()
        r.remove("ana@example.org")
        report = r.import_csv(b"email\nana@example.org\n", name="p.csv", confirmed="a list")
        assert report.existing == ["ana@example.org"] and report.added == []
        assert r.find("ana@example.org").status is ReaderStatus.UNSUBSCRIBED


def test_a_dry_run_adds_nothing(world: World) -> None:
    with world.readers([]) as r:
        report = r.import_csv(b"email\nzoe@example.org\n", name="p.csv", dry_run=True)
        assert report.added == ["zoe@example.org"] and report.notices == []
        assert r.select() == []


BAD_FILES = {
    "bad address": (b"email,name\nzoe@example.org,Zoe\nnot-an-address,X\n",
                    [(3, "not an email address: 'not-an-address'")]),
    "unknown section": (b"email,sections\nzoe@example.org,tech sport\n",
                        [(2, "unknown section 'sport' (one of tech, europe, africa)")]),
    "duplicate in the file": (b"email\nzoe@example.org\nkofi@example.org\nzoe@EXAMPLE.org\n",
                              [(4, "zoe@EXAMPLE.org: already on line 2")]),
    "wrong field count": (b"email,name\nzoe@example.org,Zoe,extra\nkofi@example.org\n",
                          [(2, "3 fields where the header has 2"),
                           (3, "1 fields where the header has 2")]),
    "unknown column": (b"email,phone\nzoe@example.org,123\n", [(1, "(unknown: 'phone')")]),
    "no email column": (b"name\nZoe\n", [(1, "must name an `email` column")]),
    "not UTF-8": (b"email,name\nzoe@example.org,Zoe\nkofi@example.org,Kof\xe9\n",
                  [(3, "not UTF-8 text")]),
    "not UTF-8 after a BOM": (b"\xef\xbb\xbfemail,name\nzoe@example.org,Zoe\n"
                              b"kofi@example.org,Kof\xe9\n", [(3, "not UTF-8 text")]),
    "a bad status": (b"email,status\nzoe@example.org,gone\n",
                     [(2, "status: 'gone' is not one of")]),
    # A quoted field may hold line breaks: a row is named by the line it starts on.
    "multi-line fields": (b'email,name,sections\nzoe@example.org,Zoe,"tech\neurope"\n'
                          b'"bad\naddress",X,\nkofi@example.org,"Kofi\nAnnan",\n'
                          b"x@y\n",
                          [(4, "control characters"), (6, "name: at most 200 characters"),
                           (8, "1 fields where the header has 3")]),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_import_reports_every_bad_line_and_adds_nothing(world: World, case: str) -> None:
    data, expected = BAD_FILES[case]
    with world.readers(["ana@example.org"]) as r:
        r.sync_config()
        report = r.import_csv(data, name="p.csv", confirmed="a list")
        assert [line for line, _ in report.errors] == [line for line, _ in expected]
        for (_, problem), (_, wanted) in zip(report.errors, expected, strict=True):
            assert wanted in problem
        assert report.added == [] and report.notices == []
        assert [x.address for x in r.select()] == ["ana@example.org"]  # all or nothing


def test_import_accepts_a_bom_and_blank_lines(world: World) -> None:
    with world.readers([]) as r:
        report = r.import_csv(b"\xef\xbb\xbfEmail,Name\r\nzoe@example.org,Zoe\r\n\r\n"
                              b"kofi@example.org,\r\n", name="excel.csv", confirmed="a list")
        assert report.errors == []
        assert [(x.address, x.name) for x in r.select()] == [("zoe@example.org", "Zoe"),
                                                             ("kofi@example.org", None)]


def test_import_of_an_export_keeps_those_who_left_out(world: World) -> None:
    data = (b"email,name,sections,status,source,created_at,confirmed_at\n"
            b"zoe@example.org,Zoe,tech,active,form,2026-01-01T00:00:00+00:00,\n"
            b"kofi@example.org,,,unsubscribed,config,2026-01-01T00:00:00+00:00,\n"
            b"lee@example.org,,,bounced,import,2026-01-01T00:00:00+00:00,\n")
    with world.readers([]) as r:
        report = r.import_csv(data, name="export.csv", confirmed="moved from the old server")
        assert report.errors == []
        assert report.added == ["zoe@example.org"]
        assert report.left == ["kofi@example.org", "lee@example.org"]
        found = _by_address(r.select())
        assert {a: x.status for a, x in found.items()} == {
            "zoe@example.org": ReaderStatus.ACTIVE,
            "kofi@example.org": ReaderStatus.UNSUBSCRIBED,
            "lee@example.org": ReaderStatus.BOUNCED}
        assert found["kofi@example.org"].consent is None
        assert [x.address for x in r.audience()] == ["zoe@example.org"]


def test_add_checks_the_address_the_sections_and_who_is_there(world: World) -> None:
    with world.readers(["ana@example.org"]) as r:
        r.sync_config()
        zoe = r.add(" zoe@example.org ", name="  Zoe   Okafor ", sections=["tech"])
        assert (zoe.address, zoe.name, zoe.status, zoe.source, zoe.sections) == (
            "zoe@example.org", "Zoe Okafor", ReaderStatus.ACTIVE, ReaderSource.COMMAND,
            ("tech",))
        with pytest.raises(ValueError, match="not an email address"):
            r.add("zoe at example.org")
        with pytest.raises(ReaderError, match="unknown section 'sport'"):
            r.add("kofi@example.org", sections=["sport"])
        with pytest.raises(ReaderError, match="already a reader"):
            r.add("ana@example.org")
        r.remove("zoe@example.org")
        with pytest.raises(ReaderError, match=r"already a reader \(unsubscribed\)"):
            r.add("zoe@example.org")


# --- the migration of the suppression list (0006) ---


def test_the_migration_made_suppressed_addresses_readers_who_left(
        db_url: str, world: World) -> None:
    # (On SQLite, 0006 once copied the times as text, which the new columns refuse.)
    engine = create_engine(db_url)
    try:
        at = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
        with engine.begin() as conn:
            command.upgrade(migrate.alembic_config(conn), "0005")
            conn.execute(text("INSERT INTO suppressions (address, added_at, source) "
                              "VALUES (:a, :t, :s)"), [
                {"a": "ben@example.org", "t": at, "s": "link"},
                {"a": "kofi@example.org", "t": at, "s": "command"}])
        Store(db_url).close()  # opening the store migrates it
        assert not inspect(engine).has_table("suppressions")
        with engine.connect() as conn:
            by = dict(conn.execute(select(readers.c.address, readers.c.unsubscribed_by)).all())
        assert by == {"ben@example.org": "reader", "kofi@example.org": "operator"}
    finally:
        engine.dispose()
    with world.readers(["ana@example.org", "ben@example.org", "kofi@example.org"]) as r:
        ben = r.find("ben@example.org")
        assert (ben.status, ben.unsubscribed_at, ben.unsubscribe_reason) == (
            ReaderStatus.UNSUBSCRIBED, at, "on the suppression list (link)")
        report = r.sync_config()  # listed in feeds.yaml: still not mailed
        assert report.added == ["ana@example.org"]
        assert sorted(a for a, _ in report.kept_out) == ["ben@example.org", "kofi@example.org"]
        assert [x.address for x in r.audience()] == ["ana@example.org"]
