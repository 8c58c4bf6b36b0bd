"""`digest readers list|show|add|remove|import|export|forget` end to end (issue 18): output
formats, one-line errors and exit codes, CSV that imports again, erasure, and that `digest send`
follows what these commands did."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from conftest import DEMO_EDITION
from digest.addresses import forget_hash
from digest.cli import cli, main

READER_KEYS = {"address", "name", "status", "sections", "paused", "source", "in_config",
               "created_at", "confirmed_at", "unsubscribed_at", "unsubscribe_reason", "consent"}
CSV_HEADER = ["email", "name", "sections", "status", "source", "created_at", "confirmed_at"]
SECRET = "a-test-secret-that-is-long-enough-0123456789"
LONG = "a-rather-long-local-part-for-a-reader.with.dots@newsletters.subdomain.example.org"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


class Digest:
    """`digest --config CONFIG ...` in this process, its output captured."""

    def __init__(self, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.config, self.capsys = config, capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        return run(self.capsys, "--config", str(self.config), *args)

    def ok(self, *args: str) -> str:
        code, out, err = self(*args)
        assert code == 0, err
        return out

    def usage_error(self, *args: str) -> str:
        """The one line on stderr of a command that must exit 2."""
        code, out, err = self(*args)
        assert code == 2, (out, err)
        assert "Traceback" not in err and err.count("\n") == 1, err
        return err

    def readers(self, *args: str) -> list[dict[str, Any]]:
        data = json.loads(self.ok("readers", "list", "--format", "json", *args))
        assert isinstance(data, list)
        return data


@pytest.fixture
def digest(demo: Path, capsys: pytest.CaptureFixture[str]) -> Digest:
    return Digest(demo, capsys)


def _edit(config: Path, **changes: Any) -> None:
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data.update(changes)
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _with_web(config: Path) -> None:
    _edit(config, web={"base_url": "https://news.example.org", "secret": SECRET})


# --- list ---


def test_list_shows_the_config_readers_in_every_format(digest: Digest) -> None:
    readers = digest.readers()
    assert [r["address"] for r in readers] == ["ana@example.org", "ben@example.org",
                                               "kofi@example.org"]
    assert all(set(r) == READER_KEYS for r in readers)
    ben = readers[1]
    assert (ben["status"], ben["sections"], ben["source"], ben["in_config"], ben["paused"]) == (
        "active", ["tech", "europe"], "config", True, False)
    assert readers[0]["sections"] is None
    assert ben["consent"]["text"] == "listed by the operator in feeds.yaml recipients"
    assert set(ben["consent"]) == {"at", "ip", "form", "text"}

    rows = list(csv.reader(io.StringIO(digest.ok("readers", "list", "--format", "csv"))))
    assert rows[0] == CSV_HEADER
    assert [row[:5] for row in rows[1:]] == [
        ["ana@example.org", "", "", "active", "config"],
        ["ben@example.org", "", "tech europe", "active", "config"],
        ["kofi@example.org", "", "", "active", "config"]]
    assert all(row[5] == r["created_at"] for row, r in zip(rows[1:], readers, strict=True))

    code, table, err = digest("readers", "list")
    assert code == 0 and "tech europe" in table and "config (feeds.yaml)" in table
    # off a terminal the table is plain columns: its title on stderr, a header and a line each
    assert err == "3 readers\n"
    assert table.splitlines()[0].split() == ["address", "name", "status", "sections", "source",
                                             "joined"]
    assert [line.split()[0] for line in table.splitlines()[1:]] == [
        "ana@example.org", "ben@example.org", "kofi@example.org"]

    tsv = digest.ok("readers", "list", "--format", "tsv").splitlines()
    assert [line.split("\t") for line in tsv] == rows


def test_the_table_never_cuts_an_address_when_not_on_a_terminal(digest: Digest) -> None:
    digest.ok("readers", "add", LONG, "--name", "Someone With A Fairly Long Name Indeed",
              "--section", "tech", "--section", "africa")
    table = digest.ok("readers", "list")
    assert LONG in table
    assert "Someone With A Fairly Long Name Indeed" in table
    assert "…" not in table


def test_list_filters(digest: Digest) -> None:
    digest.ok("readers", "add", "zoe@example.org", "--section", "africa")
    digest.ok("readers", "remove", "kofi@example.org")
    assert [r["address"] for r in digest.readers("--status", "active")] == [
        "ana@example.org", "ben@example.org", "zoe@example.org"]
    assert [r["address"] for r in digest.readers("--status", "unsubscribed")] == [
        "kofi@example.org"]
    assert digest.readers("--status", "pending") == []
    # who gets the section: those who chose it, and those who chose nothing
    assert [r["address"] for r in digest.readers("--section", "africa")] == [
        "ana@example.org", "kofi@example.org", "zoe@example.org"]
    assert [r["address"] for r in digest.readers("--section", "europe")] == [
        "ana@example.org", "ben@example.org", "kofi@example.org"]
    assert len(digest.readers("--since", "2000-01-01")) == 4
    assert len(digest.readers("--since", "30d")) == 4  # they all joined moments ago
    assert digest.readers("--since", "2999-01-01T00:00:00+00:00") == []
    assert "--since: not a date" in digest.usage_error("readers", "list", "--since", "lately")
    assert "unknown section 'sport'" in digest.usage_error("readers", "list", "--section",
                                                           "sport")
    code, _, err = digest("readers", "list", "--status", "gone")
    assert code == 2 and "'gone' is not one of" in err


# --- add, remove, show ---


def test_add_makes_an_active_reader_on_the_operators_word(digest: Digest) -> None:
    out = digest.ok("readers", "add", "zoe@example.org", "--name", "Zoé Okafor",
                    "--section", "tech", "--section", "europe", "--section", "tech")
    assert out == "zoe@example.org: added, active (tech europe)\n"
    [zoe] = [r for r in digest.readers() if r["address"] == "zoe@example.org"]
    assert (zoe["status"], zoe["source"], zoe["name"], zoe["sections"], zoe["in_config"]) == (
        "active", "command", "Zoé Okafor", ["tech", "europe"], False)
    assert zoe["confirmed_at"] == zoe["created_at"]
    assert zoe["consent"]["form"] == "digest readers add"


def test_add_refuses_in_one_line(digest: Digest) -> None:
    err = digest.usage_error("readers", "add", "zoe at example.org")
    assert "not an email address: 'zoe at example.org'" in err
    err = digest.usage_error("readers", "add", "zoe@example.org", "--section", "sport")
    assert "--section: unknown section 'sport' (one of tech, africa, europe)" in err
    err = digest.usage_error("readers", "add", "ben@EXAMPLE.org")  # the domain in any case
    assert "ben@EXAMPLE.org: already a reader (active)" in err
    digest.ok("readers", "forget", "kofi@example.org", "--yes")
    err = digest.usage_error("readers", "add", "kofi@example.org")
    assert "kofi@example.org: erased at their request" in err
    assert [r["address"] for r in digest.readers()] == ["ana@example.org", "ben@example.org"]


def test_remove_unsubscribes_and_keeps_the_record(digest: Digest) -> None:
    digest.ok("readers", "add", "zoe@example.org")
    assert digest.ok("readers", "remove", "zoe@example.org", "--reason", "asked by phone") == \
        "zoe@example.org: unsubscribed\n"
    assert digest.ok("readers", "remove", "zoe@example.org") == \
        "zoe@example.org: already unsubscribed, nothing changed\n"
    zoe = json.loads(digest.ok("readers", "show", "zoe@example.org", "--format", "json"))
    assert (zoe["status"], zoe["unsubscribe_reason"]) == ("unsubscribed", "asked by phone")
    assert zoe["unsubscribed_at"] is not None and zoe["deliveries"] == []
    assert "no such reader" in digest.usage_error("readers", "remove", "nobody@example.org")
    # a reader listed in feeds.yaml: removed, and told to take the line out too
    code, out, err = digest("readers", "remove", "ana@example.org")
    assert code == 0 and out == "ana@example.org: unsubscribed\n"
    assert "still listed in recipients" in err
    assert digest.readers("--status", "active")[0]["address"] == "ben@example.org"  # stays out


def test_show_a_reader_their_consent_and_deliveries(digest: Digest) -> None:
    out = digest.ok("readers", "show", "ben@example.org")
    assert "address:    ben@example.org" in out
    assert "sections:   tech, europe" in out
    assert "source:     config (listed in feeds.yaml recipients)" in out
    assert "agreed to:  listed by the operator in feeds.yaml recipients" in out
    assert "deliveries: none" in out
    shown = json.loads(digest.ok("readers", "show", "ben@example.org", "--format", "json"))
    assert set(shown) == READER_KEYS | {"deliveries", "bounces"}
    assert "no such reader" in digest.usage_error("readers", "show", "nobody@example.org")


# --- import ---


def test_import_reports_each_bad_row_and_adds_nothing(digest: Digest, tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_bytes(b'email,name,sections\nzoe@example.org,Zoe,tech\n'
                       b'"lee@example.org","Lee\nSmith",\nnot-an-address,,\n'
                       b"zoe@example.org,,\nkwame@example.org,,sport\n")
    code, out, err = digest("readers", "import", str(people), "--confirmed", "a list")
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert lines[:4] == [
        f"{people}:3: name: at most 200 characters on one line",
        f"{people}:5: not an email address: 'not-an-address': An email address must have "
        "an @-sign.",
        f"{people}:6: zoe@example.org: already on line 2",
        f"{people}:7: unknown section 'sport' (one of tech, africa, europe)"]
    assert len(lines) == 5 and "nothing imported" in lines[4]
    assert len(digest.readers()) == 3  # zoe, on a good line, was not added either

    err = digest.usage_error("readers", "import", str(tmp_path / "missing.csv"),
                             "--confirmed", "x")
    assert f"{tmp_path / 'missing.csv'}: cannot read: No such file or directory" in err


def test_import_confirmed_adds_active_readers_with_their_consent(
        digest: Digest, tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text("email,name,sections\nzoe@example.org,Zoé,tech\n"
                      "ana@example.org,,\n", encoding="utf-8")
    out = digest.ok("readers", "import", str(people), "--dry-run", "--confirmed", "meetup")
    assert out == f"{people}: would add 1, already readers 1 (dry run: nothing written)\n"
    assert len(digest.readers()) == 3

    out = digest.ok("readers", "import", str(people), "--confirmed",
                    "sign-up sheet, Lagos meetup, 2026-10-03")
    assert out == f"{people}: added 1, already readers 1\n"
    [zoe] = digest.readers("--since", "2000-01-01", "--section", "tech")[-1:]
    assert (zoe["address"], zoe["status"], zoe["source"], zoe["name"]) == (
        "zoe@example.org", "active", "import", "Zoé")
    assert zoe["consent"]["form"] == \
        "import people.csv: sign-up sheet, Lagos meetup, 2026-10-03"
    assert "needs the source" in digest.usage_error("readers", "import", str(people),
                                                    "--confirmed", " ")


def test_import_without_confirmed_sends_confirmation_emails(
        demo: Path, digest: Digest, tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text("email\nzoe@example.org\nlee@example.org\n", encoding="utf-8")
    assert "--confirmed SOURCE" in digest.usage_error("readers", "import", str(people))
    assert len(digest.readers()) == 3  # nothing added

    _with_web(demo)
    out = digest.ok("readers", "import", str(people))
    assert out == f"{people}: added 2 pending, already readers 0; confirmation emails sent 2 " \
                  "of 2\n"
    assert [r["address"] for r in digest.readers("--status", "pending")] == [
        "zoe@example.org", "lee@example.org"]
    notices = sorted((demo.parent / "outbox" / "notices").iterdir())
    assert len(notices) == 2
    message = email.message_from_bytes(notices[0].read_bytes(), policy=email.policy.default)
    assert str(message["To"]) in {"zoe@example.org", "lee@example.org"}
    assert str(message["Subject"]).startswith("Confirm your subscription")


# --- export ---


def test_csv_export_imports_into_a_fresh_database(digest: Digest, demo: Path) -> None:
    digest.ok("readers", "add", "zoe@example.org", "--name", 'Zoé "Z" Okafor, PhD',
              "--section", "africa")
    digest.ok("readers", "remove", "ben@example.org")
    export = demo.parent / "readers.csv"
    export.write_text(digest.ok("readers", "export"), encoding="utf-8")
    assert export.read_text(encoding="utf-8") == digest.ok("readers", "list", "--format", "csv")

    fresh = demo.parent / "fresh.yaml"
    fresh.write_text(demo.read_text(encoding="utf-8"), encoding="utf-8")
    _edit(fresh, database="fresh.db", recipients=[])
    other = Digest(fresh, digest.capsys)
    assert other.readers() == []
    out = other.ok("readers", "import", str(export), "--confirmed", "moved from the old server")
    assert out == f"{export}: added 3, already readers 0, imported 1 as having left\n"

    def essence(readers: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(r["address"], r["name"], r["sections"], r["status"]) for r in readers]

    assert essence(other.readers()) == essence(digest.readers())
    assert [r["address"] for r in other.readers("--status", "unsubscribed")] == [
        "ben@example.org"]


def test_export_one_reader_is_everything_held_about_them(digest: Digest) -> None:
    data = json.loads(digest.ok("readers", "export", "ben@example.org"))
    assert set(data) == READER_KEYS | {"deliveries", "bounces"}
    assert data["address"] == "ben@example.org" and data["deliveries"] == []
    everyone = json.loads(digest.ok("readers", "export", "--format", "json"))
    assert [r["address"] for r in everyone] == ["ana@example.org", "ben@example.org",
                                                "kofi@example.org"]
    assert "writes JSON" in digest.usage_error("readers", "export", "ben@example.org",
                                               "--format", "csv")
    assert "no such reader" in digest.usage_error("readers", "export", "nobody@example.org")


# --- forget ---


def test_forget_needs_yes_when_not_on_a_terminal(digest: Digest) -> None:
    assert "pass --yes" in digest.usage_error("readers", "forget", "ana@example.org")
    assert len(digest.readers()) == 3  # nothing erased


def test_forget_asks_on_a_terminal(digest: Digest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("digest.cli.readers._interactive", lambda: True)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, out, err = digest("readers", "forget", "ana@example.org")
    assert code == 1 and "Erase ana@example.org" in out and "aborted" in err
    assert len(digest.readers()) == 3
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    code, out, _ = digest("readers", "forget", "ana@example.org")
    assert code == 0 and "ana@example.org: erased" in out
    assert len(digest.readers()) == 2


# --- what a send does with them ---


def test_send_reaches_an_added_reader_and_not_a_removed_one_and_forget_scrubs_it(
        digest: Digest, demo: Path) -> None:
    digest.ok("build", "--edition", DEMO_EDITION, "--format", "json")  # stores the items
    digest.ok("readers", "add", "zoe@example.org", "--section", "africa")
    digest.ok("readers", "remove", "ben@example.org")
    digest.ok("send", "--verbose", "--edition", DEMO_EDITION, "--no-fetch")

    outbox = demo.parent / "outbox" / DEMO_EDITION
    assert sorted(p.name for p in outbox.glob("*.eml")) == [
        "ana@example.org.eml", "kofi@example.org.eml", "zoe@example.org.eml"]
    zoe = email.message_from_bytes((outbox / "zoe@example.org.eml").read_bytes(),
                                   policy=email.policy.default)
    text = zoe.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "AFRICA" in text and "TECH" not in text  # her own sections

    shown = json.loads(digest.ok("readers", "show", "zoe@example.org", "--format", "json"))
    assert [(d["edition"], d["status"]) for d in shown["deliveries"]] == [(DEMO_EDITION, "sent")]
    assert shown["deliveries"][0]["message_id"] == str(zoe["Message-ID"])
    ben = json.loads(digest.ok("readers", "export", "ben@example.org"))
    assert all(d["status"] != "sent" for d in ben["deliveries"])

    assert digest.ok("readers", "forget", "zoe@example.org", "--yes") == \
        "zoe@example.org: erased (a one-way hash is kept to keep them out)\n"
    history = json.loads(digest.ok("history", "--format", "json"))
    recipients = {h["recipient"] for h in history}
    assert "zoe@example.org" not in recipients
    assert "forgotten:" + forget_hash("zoe@example.org")[:16] in recipients
    assert "zoe@example.org" not in digest.ok("readers", "list", "--format", "csv")


# --- help ---


# the lazy `digest` group loads the readers' module when asked for the command
@pytest.mark.parametrize("command", sorted(
    cli.get_command(click.Context(cli), "readers").commands))  # type: ignore[union-attr]
def test_each_readers_command_has_an_example(command: str, digest: Digest) -> None:
    out = digest.ok("readers", command, "--help")
    assert "Example" in out and f"digest readers {command}" in out.split("Example", 1)[1]
