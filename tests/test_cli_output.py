"""What the command line prints for people and for tools (issue 24): CSV and TSV that carry the
JSON records, plain untruncated tables off a terminal, `history` filters, `send`'s summary,
per-reader lines, JSON and progress, one logging setup (text or JSON lines), and
`digest db backup` with a restore.

Everything runs in this process through `digest.cli.main` on real SQLite files (the demo, or a
feeds.yaml written here); a failing feed is one on a closed port of 127.0.0.1. Times are never
compared with today: the demo's edition is named, and what a run records is read back, not
predicted. `bounces fetch` is left to tests/test_bounces_mailbox.py (it needs dovecot), `feeds
import` to the OPML tests.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import shutil
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from conftest import DATA, DEMO_DAY, DEMO_EDITION, HANG, WriteConfig, free_port
from digest.cli import main
from digest.cli.logs import EVENTS, log_event, setup_logging, teardown_logging

# --- helpers ---


class Digest:
    """`digest --config CONFIG ...` in this process, its output captured."""

    def __init__(self, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.config, self.capsys = config, capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        code = main(["--config", str(self.config), *args])
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err

    def ok(self, *args: str) -> str:
        code, out, err = self(*args)
        assert code == 0, (out, err)
        return out

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--format", "json"))

    def usage_error(self, *args: str) -> str:
        """The one line on stderr of a command that must exit 2."""
        code, out, err = self(*args)
        assert code == 2, (out, err)
        assert "Traceback" not in err and err.count("\n") == 1, err
        return err


@pytest.fixture
def digest(demo: Path, capsys: pytest.CaptureFixture[str]) -> Digest:
    return Digest(demo, capsys)


@pytest.fixture
def sqlite_digest(demo: Path, suite_db: str | None, capsys: pytest.CaptureFixture[str]
                  ) -> Digest:
    """The demo on its own SQLite file (`db backup` copies SQLite databases only)."""
    if suite_db is not None:
        pytest.skip("the suite runs on PostgreSQL here: `db backup` copies SQLite files")
    return Digest(demo, capsys)


def cell(value: Any) -> str:
    """A JSON value as one CSV/TSV cell, as the contract says: null empty, lists of plain
    values joined by spaces, true/false in lower case."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


TSV_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}


def tsv_rows(text: str) -> list[list[str]]:
    """Linear TSV read back: one record a line, `\\t`, `\\n`, `\\r`, `\\\\` undone."""
    assert text.endswith("\n")
    return [[re.sub(r"\\(.)", lambda m: TSV_ESCAPES[m.group(1)], c) for c in line.split("\t")]
            for line in text[:-1].split("\n")]


def check_formats(run: Digest, *args: str, records: list[dict[str, Any]] | None = None,
                  header: list[str] | None = None) -> list[dict[str, Any]]:
    """`args` with --format json, csv and tsv: the CSV header is the JSON keys in order (or
    `header`), each CSV and TSV row the JSON record's values. Returns the JSON records."""
    data = records if records is not None else run.json(*args)
    assert isinstance(data, list) and data, "a listing to compare needs a record"
    keys = header or list(data[0])
    assert all(list(r) == list(data[0]) for r in data)  # stable keys, in the same order
    expected = [keys, *([cell(r[k]) for k in keys] for r in data)] if header is None else None
    out_csv = run.ok(*args, "--format", "csv")
    rows = list(csv.reader(io.StringIO(out_csv)))
    out_tsv = run.ok(*args, "--format", "tsv")
    assert len(out_tsv.split("\n")) == len(data) + 2  # a header, a line each, the last newline
    if expected is not None:
        assert rows == expected
        assert tsv_rows(out_tsv) == expected
    else:
        assert rows[0] == keys and tsv_rows(out_tsv) == rows
    return data


def columns_line_up(table: str, second: str) -> None:
    """Plain columns: the second column starts at the same offset on every line."""
    lines = table.splitlines()
    offset = lines[0].index(second)
    assert offset > 0
    for line in lines:
        assert line[offset - 2:offset] == "  " and line[offset] != " ", (offset, line)


def sent_demo(run: Digest) -> None:
    """The demo edition sent through the file transport (3 readers)."""
    code, out, err = run("send", "--edition", DEMO_EDITION)
    assert code == 0 and out == "", err
    assert err == f"edition {DEMO_EDITION}: 3 sent\n"


LONG_ADDRESS = ("a-very-long-local-part-that-keeps-going-on-and-on@"
                "newsletters.subdomain.department.university-of-somewhere-else.example.org")
LONG_NAME = "The " + " ".join(["Extraordinarily Long Feed Name"] * 4) + " Quarterly Review"
assert len(LONG_ADDRESS) >= 120 and len(LONG_NAME) >= 120

# A feed name with a tab, a newline and a backslash: feeds.yaml keeps it as written.
AWKWARD = "Tab\there New\nline Back\\slash"


def closed_url() -> str:
    """A feed on a port nothing listens on: every poll fails, the same way each time (no
    server thread to print on the tests' stderr)."""
    return f"http://127.0.0.1:{free_port()}/gone.xml"


def awkward_config(write_config: WriteConfig, tmp_path: Path) -> Path:
    """A local feed with an awkward name, one with a 120-character name, and one that
    fails."""
    (tmp_path / "rss2.xml").write_bytes((DATA / "feeds" / "rss2.xml").read_bytes())
    (tmp_path / "atom.xml").write_bytes((DATA / "feeds" / "atom.xml").read_bytes())
    return write_config({"feeds": [
        {"url": "rss2.xml", "name": AWKWARD, "section": "tech"},
        {"url": "atom.xml", "name": LONG_NAME},
        {"url": closed_url(), "name": "Gone"}]})


# --- 1. CSV and TSV carry the JSON records ---


def test_fetch_and_feeds_csv_tsv_are_the_json_records(
        write_config: WriteConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = Digest(awkward_config(write_config, tmp_path), capsys)
    run.ok("fetch", "--all")  # later polls find the same files: the same outcomes each time
    outcomes = check_formats(run, "fetch", "--all")
    assert [o["status"] for o in outcomes] == ["ok", "ok", "error"]
    assert outcomes[0]["name"] == AWKWARD and "connection refused" in outcomes[2]["error"]
    assert outcomes[0]["moved_to"] is None and outcomes[0]["notes"] == []

    feeds = check_formats(run, "feeds")
    assert [f["name"] for f in feeds] == [AWKWARD, LONG_NAME, "Gone"]
    assert feeds[2]["status"] == "error" and feeds[2]["error_count"] >= 1

    # linear TSV: the tab, the newline and the backslash inside the name are escaped
    tsv = run.ok("feeds", "--format", "tsv")
    assert "\tTab\\there New\\nline Back\\\\slash\t" in tsv
    assert tsv.count("\n") == 4
    assert all(line.count("\t") == len(feeds[0]) - 1 for line in tsv.splitlines())
    # CSV quotes it instead and keeps it as it is
    assert '"Tab\there New\nline Back\\slash"' in run.ok("feeds", "--format", "csv")


def test_history_send_readers_and_archive_csv_tsv_are_the_json_records(
        digest: Digest) -> None:
    digest.ok("readers", "add", "zoe@example.org", "--name", "Zoë Back\\slash",
              "--section", "africa")
    dry = digest.json("send", "--dry-run", "--edition", DEMO_EDITION)
    check_formats(digest, "send", "--dry-run", "--edition", DEMO_EDITION,
                  records=dry["deliveries"])
    digest.ok("send", "--edition", DEMO_EDITION)

    history = check_formats(digest, "history")
    assert len(history) == 4 and {h["status"] for h in history} == {"sent"}
    assert all(h["error"] is None and h["message_id"] for h in history)

    # a second send records nothing new: every run prints the same records
    again = digest.json("send", "--edition", DEMO_EDITION)
    records = check_formats(digest, "send", "--edition", DEMO_EDITION,
                            records=again["deliveries"])
    assert list(records[0]) == ["edition", "recipient", "outcome", "status", "detail"]
    assert {r["outcome"] for r in records} == {"sent before"}

    hits = check_formats(digest, "archive", "search", "africa")
    assert len(hits) >= 2
    assert list(hits[0]) == ["edition", "section", "title", "source", "summary", "url",
                             "archive_url"]

    # readers list: CSV and TSV have the columns `readers import` reads, JSON its own keys
    readers = digest.json("readers", "list")
    header = ["email", "name", "sections", "status", "source", "created_at", "confirmed_at"]
    expected = [header, *([r["address"], cell(r["name"]), cell(r["sections"]), r["status"],
                          r["source"], cell(r["created_at"]), cell(r["confirmed_at"])]
                         for r in readers)]
    check_formats(digest, "readers", "list", records=readers, header=header)
    assert list(csv.reader(io.StringIO(digest.ok("readers", "list", "--format", "csv")))) \
        == expected
    tsv = digest.ok("readers", "list", "--format", "tsv")
    assert tsv_rows(tsv) == expected
    assert "\tZoë Back\\\\slash\tafrica\t" in tsv  # the backslash escaped, once


EMPTY_LISTINGS = {
    "history": ["history", "--edition", "2026-11-16"],  # an edition nobody was sent
    "fetch": ["fetch"],  # nothing due: the second poll within poll_every
    "archive search": ["archive", "search", "zzzzqqq"],
}


@pytest.mark.parametrize("listing", list(EMPTY_LISTINGS))
def test_an_empty_listing_has_the_same_csv_header(listing: str, digest: Digest) -> None:
    digest.ok("send", "--edition", DEMO_EDITION)
    digest.ok("fetch", "--all")
    full = {"history": digest.json("history"),
            "fetch": digest.json("fetch", "--all"),
            "archive search": digest.json("archive", "search", "africa")}[listing]
    empty_args = EMPTY_LISTINGS[listing]
    assert digest.json(*empty_args) == []
    for fmt, sep in (("csv", ","), ("tsv", "\t")):
        assert digest.ok(*empty_args, "--format", fmt) == sep.join(full[0]) + "\n"


# --- 2. tables off a terminal: plain columns, never cut ---


def test_history_table_off_a_terminal_is_whole_and_aligned(digest: Digest) -> None:
    digest.ok("readers", "add", LONG_ADDRESS)
    digest.ok("send", "--edition", DEMO_EDITION)
    code, table, err = digest("history")
    assert code == 0 and err == "4 deliveries\n"  # the title on stderr
    lines = table.splitlines()
    assert lines[0].split() == ["edition", "recipient", "status", "sent", "at", "detail"]
    assert len(lines) == 5 and "…" not in table
    assert sum(LONG_ADDRESS in line for line in lines) == 1
    history = digest.json("history")
    for h in history:  # every message id whole, on its reader's line
        (line,) = [x for x in lines[1:] if f" {h['recipient']} " in x]
        assert line.startswith(DEMO_EDITION) and line.endswith(h["message_id"])
    columns_line_up(table, "recipient")


def test_feed_tables_off_a_terminal_are_whole_and_aligned(
        write_config: WriteConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "atom.xml").write_bytes((DATA / "feeds" / "atom.xml").read_bytes())
    run = Digest(write_config({"feeds": [
        {"url": "atom.xml", "name": LONG_NAME},
        {"url": closed_url(), "name": "Gone"}]}), capsys)
    code, table, err = run("fetch")
    assert code == 0
    assert err.splitlines()[-1] == "2 feeds polled"  # after the progress lines
    lines = table.splitlines()
    assert lines[0].split() == ["feed", "status", "new", "detail"] and len(lines) == 3
    assert lines[1].startswith(LONG_NAME + "  ") and "…" not in table
    assert lines[2].startswith("Gone ") and "connection refused" in lines[2]
    columns_line_up(table, "status")

    code, table, err = run("feeds")
    assert code == 0 and err == "2 feeds\n"
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["feed", "status"] and len(lines) == 3
    assert lines[1].startswith(LONG_NAME + "  ") and "…" not in table
    columns_line_up(table, "status")


# --- 3. history filters ---


def _second_edition(config: Path) -> None:
    """An earlier edition, frozen and delivered through the store: ana's delivery failed,
    Zed's went out."""
    from digest.app import make_app
    from digest.config import load_settings
    from digest.models import DeliveryStatus
    from digest.store import Outcome

    app = make_app(load_settings(config))
    try:
        at = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
        day = date(2026, 11, 23)
        frozen = app.store.freeze_edition(
            day, title="The Weekly Brief (demo)", subject="An earlier edition", html="<p>x</p>",
            text="x", fingerprints=[], now=at,
            payload={"edition": day.isoformat(), "title": "The Weekly Brief (demo)",
                     "generated_at": at.isoformat(), "sections": []})
        readers = ["ana@example.org", "Zed.Mixed@Example.ORG"]
        app.store.take_deliveries(frozen.id, readers, owner="test", now=at, stale_before=at)
        app.store.finish_deliveries(frozen.id, [
            Outcome("ana@example.org", DeliveryStatus.FAILED,
                    error="550 5.1.1 mailbox unavailable"),
            Outcome("Zed.Mixed@Example.ORG", DeliveryStatus.SENT, "<earlier@example.org>")],
            now=at + timedelta(minutes=1))
    finally:
        app.close()


def test_history_filters(digest: Digest) -> None:
    digest.ok("readers", "add", "Zed.Mixed@Example.ORG")  # kept as written
    digest.ok("send", "--edition", DEMO_EDITION)
    _second_edition(digest.config)

    def rows(*args: str) -> list[tuple[str, str, str]]:
        return [(h["edition"], h["recipient"], h["status"])
                for h in digest.json("history", *args)]

    everything = rows()
    assert len(everything) == 6
    assert [e for e, _, _ in everything] == [DEMO_EDITION] * 4 + ["2026-11-23"] * 2
    assert sorted(rows("--edition", "2026-11-23")) == [
        ("2026-11-23", "Zed.Mixed@Example.ORG", "sent"), ("2026-11-23", "ana@example.org",
                                                          "failed")]
    assert len(rows("--edition", DEMO_EDITION)) == 4
    assert rows("--edition", "2026-11-16") == []
    (failed,) = digest.json("history", "--status", "failed")
    assert (failed["recipient"], failed["edition"]) == ("ana@example.org", "2026-11-23")
    assert failed["error"] == "550 5.1.1 mailbox unavailable" and failed["sent_at"] is None
    assert len(rows("--status", "sent")) == 5
    assert rows("--status", "deferred") == []
    # --reader: the address in any case, local part and domain, spaces around it ignored
    for spelled in ("ana@example.org", "ANA@EXAMPLE.ORG", "Ana@Example.Org", " ana@example.org "):
        assert rows("--reader", spelled) == [(DEMO_EDITION, "ana@example.org", "sent"),
                                             ("2026-11-23", "ana@example.org", "failed")]
    for spelled in ("zed.mixed@example.org", "ZED.MIXED@EXAMPLE.ORG"):
        assert rows("--reader", spelled) == [
            (DEMO_EDITION, "Zed.Mixed@Example.ORG", "sent"),
            ("2026-11-23", "Zed.Mixed@Example.ORG", "sent")]
    assert rows("--reader", "nobody@example.org") == []
    assert rows("--reader", "ana@example") == []  # the whole address, not a prefix
    # combined
    assert rows("--edition", "2026-11-23", "--status", "sent") == [
        ("2026-11-23", "Zed.Mixed@Example.ORG", "sent")]
    assert rows("--reader", "ANA@example.org", "--status", "failed") == [
        ("2026-11-23", "ana@example.org", "failed")]
    assert rows("--reader", "ana@example.org", "--edition", DEMO_EDITION, "--status",
                "failed") == []
    # --limit: the newest editions first
    assert rows("--limit", "1") == everything[:1]
    assert rows("--limit", "5") == everything[:5]
    assert rows("--limit", "1", "--reader", "ana@example.org") == [
        (DEMO_EDITION, "ana@example.org", "sent")]
    assert rows("--limit", "100") == everything
    # the filters in the other formats too
    csv_rows = list(csv.reader(io.StringIO(digest.ok(
        "history", "--reader", "zed.mixed@example.org", "--format", "csv"))))
    assert [r[:3] for r in csv_rows[1:]] == [[e, r, s] for e, r, s in rows(
        "--reader", "zed.mixed@example.org")]
    code, table, err = digest("history", "--status", "failed")
    assert code == 0 and err.startswith("1 deliver") and len(table.splitlines()) == 2
    assert "550 5.1.1 mailbox unavailable" in table


def test_a_readers_own_history_is_by_the_address_as_written(digest: Digest) -> None:
    """`history --reader` is the operator's search, in any case; a reader's own record (`readers
    show`, their export) keeps to their address as written: `Ana@` and `ana@` may be two
    mailboxes (digest.addresses)."""
    from digest.app import make_app
    from digest.config import load_settings
    from digest.models import DeliveryStatus
    from digest.store import Outcome

    digest.ok("readers", "add", "Ana@example.org")  # another mailbox than ana@example.org
    app = make_app(load_settings(digest.config))
    try:
        at = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
        frozen = app.store.freeze_edition(
            date(2026, 11, 23), title="t", subject="s", html="<p>x</p>", text="x",
            fingerprints=[], now=at, payload={"edition": "2026-11-23", "title": "t",
                                              "generated_at": at.isoformat(), "sections": []})
        both = ["ana@example.org", "Ana@example.org"]
        app.store.take_deliveries(frozen.id, both, owner="test", now=at, stale_before=at)
        app.store.finish_deliveries(frozen.id, [Outcome(a, DeliveryStatus.SENT, f"<{n}@x>")
                                                for n, a in enumerate(both)], now=at)
    finally:
        app.close()
    assert sorted(h["recipient"] for h in digest.json("history", "--reader", "ANA@example.org")
                  ) == ["Ana@example.org", "ana@example.org"]
    shown = digest.json("readers", "show", "Ana@example.org")
    assert [d["message_id"] for d in shown["deliveries"]] == ["<1@x>"]


def test_history_refuses_bad_filters(digest: Digest) -> None:
    for bad in ("2026-13-45", "next monday", "30/11/2026"):
        err = digest.usage_error("history", "--edition", bad)
        assert "--edition" in err and bad in err
    code, _, err = digest("history", "--limit", "0")
    assert code == 2 and "--limit" in err and "Traceback" not in err
    code, _, err = digest("history", "--limit", "many")
    assert code == 2 and "--limit" in err
    code, _, err = digest("history", "--status", "lost")
    assert code == 2 and "--status" in err
    assert not (digest.config.parent / "outbox").exists()


# --- 4. send: summary, per-reader lines, JSON, CSV, progress ---


def test_send_prints_one_summary_line_off_a_terminal(digest: Digest) -> None:
    code, out, err = digest("send", "--dry-run", "--edition", DEMO_EDITION)
    assert (code, out, err) == (0, "", f"edition {DEMO_EDITION}: 3 would send\n")
    code, out, err = digest("send", "--dry-run", "--verbose", "--edition", DEMO_EDITION)
    assert code == 0 and err == f"edition {DEMO_EDITION}: 3 would send\n"
    assert [line.split()[:3] for line in out.splitlines()] == [
        [DEMO_EDITION, a, "would"] for a in ("ana@example.org", "ben@example.org",
                                              "kofi@example.org")]
    sent_demo(digest)
    assert len(list((digest.config.parent / "outbox" / DEMO_EDITION).glob("*.eml"))) == 3
    code, out, err = digest("send", "--verbose", "--edition", DEMO_EDITION)
    assert code == 0 and err == f"edition {DEMO_EDITION}: 3 sent before\n"
    lines = out.splitlines()
    assert len(lines) == 3
    assert all(re.match(rf"{DEMO_EDITION}  \S+@example\.org +sent +already recorded$", line)
               for line in lines)


def test_send_json_counts_are_the_deliveries_outcomes(digest: Digest) -> None:
    code, out, err = digest("send", "--dry-run", "--format", "json", "--edition",
                            DEMO_EDITION)
    assert code == 0 and err == ""  # stdout is the document; nothing else is printed
    dry = json.loads(out)
    assert list(dry) == ["edition", "dry_run", "awaiting", "counts", "deliveries"]
    assert (dry["edition"], dry["dry_run"], dry["awaiting"]) == (DEMO_EDITION, True, None)
    assert dry["counts"] == {"would send": 3}
    assert Counter(d["outcome"] for d in dry["deliveries"]) == dry["counts"]
    assert all(d["status"] is None and d["edition"] == DEMO_EDITION for d in dry["deliveries"])
    assert not (digest.config.parent / "outbox").exists()

    report = digest.json("send", "--edition", DEMO_EDITION)
    assert (report["dry_run"], report["counts"]) == (False, {"sent": 3})
    assert Counter(d["outcome"] for d in report["deliveries"]) == report["counts"]
    assert sorted(d["recipient"] for d in report["deliveries"]) == [
        "ana@example.org", "ben@example.org", "kofi@example.org"]
    history = {h["recipient"]: h for h in digest.json("history")}
    for d in report["deliveries"]:  # the detail of a sent one is its Message-ID
        assert d["status"] == "sent" and d["detail"] == history[d["recipient"]]["message_id"]

    again = digest.json("send", "--edition", DEMO_EDITION)
    assert again["counts"] == {"sent before": 3}
    assert Counter(d["outcome"] for d in again["deliveries"]) == again["counts"]
    # CSV: a header and a line per reader, no summary on stdout
    rows = list(csv.reader(io.StringIO(digest.ok("send", "--edition", DEMO_EDITION,
                                                 "--format", "csv"))))
    assert rows[0] == ["edition", "recipient", "outcome", "status", "detail"]
    assert sorted(r[1:4] for r in rows[1:]) == [
        [a, "sent before", "sent"] for a in ("ana@example.org", "ben@example.org",
                                             "kofi@example.org")]


READERS = 150  # with the demo's 3: past DELIVERY_BATCH, so several chunks


def _many_readers(run: Digest, tmp_path: Path) -> int:
    people = tmp_path / "people.csv"
    with people.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["email", "name"])
        writer.writerows([f"reader{n:03d}@example.org", f"Reader {n}"] for n in range(READERS))
    out = run.ok("readers", "import", str(people), "--confirmed", "a test list")
    assert f"added {READERS}" in out
    return READERS + 3


def test_send_progress_is_told_each_chunk(digest: Digest, tmp_path: Path) -> None:
    from digest.app import make_app
    from digest.config import load_settings
    from digest.delivery import DELIVERY_BATCH

    total = _many_readers(digest, tmp_path)
    assert total > DELIVERY_BATCH
    calls: list[tuple[int, int]] = []
    app = make_app(load_settings(digest.config))
    try:
        app.poller.sync_feeds()
        report = app.publisher.deliver(DEMO_DAY, progress=lambda done, of: calls.append(
            (done, of)))
    finally:
        app.close()
    assert report.counts() == {"sent": total}
    assert calls == [(min(n, total), total) for n in range(DELIVERY_BATCH, total
                                                           + DELIVERY_BATCH, DELIVERY_BATCH)]
    assert len(calls) >= 2 and calls[-1] == (total, total)
    assert len(list((digest.config.parent / "outbox" / DEMO_EDITION).glob("*.eml"))) == total


def test_send_draws_a_progress_bar_on_a_terminal(digest: Digest, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    total = _many_readers(digest, tmp_path)
    screen = io.StringIO()
    # stderr as a terminal: rich's Console forced to one, writing where the test reads
    monkeypatch.setattr("digest.cli.pipeline.err",
                        Console(file=screen, force_terminal=True, width=100))
    code, out, err = digest("send", "--edition", DEMO_EDITION)
    assert code == 0 and out == ""
    assert err == f"edition {DEMO_EDITION}: {total} sent\n"  # the bar goes, the summary stays
    drawn = screen.getvalue()
    assert "sending" in drawn and f"{total}/{total}" in drawn
    assert "reader000@" not in drawn  # a bar, not a line per reader

    screen = io.StringIO()
    monkeypatch.setattr("digest.cli.pipeline.err",
                        Console(file=screen, force_terminal=True, width=100))
    code, out, _ = digest("send", "--verbose", "--edition", DEMO_EDITION)
    assert code == 0 and len(out.splitlines()) == total  # --verbose: lines instead of the bar
    assert screen.getvalue() == ""


# --- 5. logging: one setup, text or JSON lines ---


TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
LOG_KEYS = ["time", "level", "event", "message", "logger"]


@pytest.fixture
def logging_state() -> Iterator[None]:
    """Put back the levels `setup_logging` changes (handlers go with teardown_logging)."""
    root, events = logging.getLogger(), logging.getLogger(EVENTS)
    levels = root.level, events.level
    yield
    teardown_logging()
    root.setLevel(levels[0])
    events.setLevel(levels[1])


@pytest.fixture
def failing_feed(write_config: WriteConfig, tmp_path: Path) -> tuple[Path, str]:
    """A config with a local feed and a failing one (a closed port), and that one's URL."""
    (tmp_path / "rss2.xml").write_bytes((DATA / "feeds" / "rss2.xml").read_bytes())
    url = closed_url()
    return write_config({"feeds": [{"url": "rss2.xml", "name": "Local"},
                                   {"url": url, "name": "Gone"}]}), url


def _json_log_lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def _check_fetch_json_logs(err: str, url: str) -> None:
    logs = _json_log_lines(err)
    assert logs
    for entry in logs:
        assert list(entry)[:5] == LOG_KEYS
        assert re.fullmatch(TIME, entry["time"])
        assert entry["level"] in ("debug", "info", "warning", "error", "critical")
    failing = [e for e in logs if url in e["message"]]
    assert failing and failing[0]["logger"] == "digest.refresh"
    assert failing[0]["event"] == "feed_error" and "connection refused" in failing[0]["message"]
    assert failing[0]["url"] == url and failing[0]["level"] == "warning"


@pytest.mark.usefixtures("logging_state")
def test_fetch_logs_json_lines_with_log_format_json(
        failing_feed: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    config, url = failing_feed
    code = main(["--config", str(config), "--log-format", "json", "-v", "fetch", "--all",
                 "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0 and [o["status"] for o in json.loads(out)] == ["ok", "error"]
    _check_fetch_json_logs(err, url)


@pytest.mark.usefixtures("logging_state")
def test_fetch_logs_json_lines_with_digest_log_format_in_the_environment(
        failing_feed: tuple[Path, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    config, url = failing_feed
    monkeypatch.setenv("DIGEST_LOG_FORMAT", "json")
    code = main(["--config", str(config), "-v", "fetch", "--format", "json"])
    _, err = capsys.readouterr()
    assert code == 0
    _check_fetch_json_logs(err, url)
    # the option wins over the environment
    code = main(["--config", str(config), "--log-format", "text", "-v", "fetch", "--all",
                 "--format", "json"])
    _, err = capsys.readouterr()
    assert code == 0 and _json_log_lines(err) == []
    monkeypatch.setenv("DIGEST_LOG_FORMAT", "xml")
    code = main(["--config", str(config), "fetch"])
    _, err = capsys.readouterr()
    assert code == 2 and "--log-format" in err


@pytest.mark.usefixtures("logging_state")
def test_with_log_format_json_a_command_error_is_a_json_line(
        failing_feed: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = failing_feed
    code = main(["--config", str(config), "--log-format", "json", "history", "--edition",
                 "soon"])
    out, err = capsys.readouterr()
    (line,) = [json.loads(x) for x in err.splitlines()]
    assert code == 2 and out == "" and list(line)[:5] == LOG_KEYS
    assert (line["level"], line["event"], line["exit_code"]) == ("error", "error", 2)
    assert line["message"] == "--edition: not a date like 2026-11-30: 'soon'"
    # as text, the same one line
    code = main(["--config", str(config), "history", "--edition", "soon"])
    assert code == 2 and capsys.readouterr().err == (
        "error: --edition: not a date like 2026-11-30: 'soon'\n")


@pytest.mark.usefixtures("logging_state")
def test_with_log_format_json_every_stderr_line_of_fetch_is_json(
        failing_feed: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    config, url = failing_feed
    code = main(["--config", str(config), "--log-format", "json", "-v", "fetch", "--format",
                 "json"])
    _, err = capsys.readouterr()
    assert code == 0 and err
    for line in err.splitlines():
        assert list(json.loads(line))[:5] == LOG_KEYS
    # and a failing feed is the daemon's event: feed_error, a warning with url and error
    events = [e for e in _json_log_lines(err) if e["event"] == "feed_error"]
    assert [e["url"] for e in events] == [url]
    assert events[0]["level"] == "warning" and "connection refused" in events[0]["error"]


@pytest.mark.usefixtures("logging_state")
def test_fetch_logs_text_lines_by_default(
        failing_feed: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    config, url = failing_feed
    assert main(["--config", str(config), "db", "upgrade"]) == 0  # its log is not at issue
    capsys.readouterr()
    code = main(["--config", str(config), "-v", "fetch", "--format", "json"])
    _, err = capsys.readouterr()
    assert code == 0
    logs = err.splitlines()
    assert logs and _json_log_lines(err) == []
    for line in logs:
        assert re.match(rf"{TIME}( (debug|warning|error|critical))? [\w.-]+: ", line), err
    # the failing feed: the poller's warning, as the daemon prints it; the progress event
    assert any(re.match(rf"{TIME} warning feed_error: feed {re.escape(url)}: connection "
                        "refused", line) for line in logs)
    assert any(re.match(rf"{TIME} feed_polled: \[\d/2\] error Gone: ", line) for line in logs)
    # without -v: only those two (no module's information)
    code = main(["--config", str(config), "fetch", "--all", "--format", "json"])
    _, err = capsys.readouterr()
    events = [re.match(rf"{TIME}(?: warning)? ([\w.-]+): ", line) for line in err.splitlines()]
    assert code == 0 and all(events), err
    assert sorted(m.group(1) for m in events if m) == ["feed_error", "feed_polled", "feed_polled"]


@pytest.mark.usefixtures("logging_state")
def test_log_event_json_lines_carry_the_fields() -> None:
    stream = io.StringIO()
    setup_logging("json", 0, stream)
    setup_logging("json", 0, stream)  # again: still one handler, each line once
    log_event("poll", "2 feeds polled, 5 new items", feeds=2, new=5, name="clash",
              msg="also a clash", args=["a"], levelname="x", asctime="y", time="t",
              level="l", logger="g")
    log_event("feed_error", "https://gone.example/rss: HTTP 404", url="https://gone.example/rss",
              error="HTTP 404")
    log_event("delivery_failed", "ana@example.org: 550", recipient="ana@example.org")
    logging.getLogger("digest.refresh").info("not shown without -v")
    logging.getLogger("digest.refresh").warning("shown: %s", "a warning")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("digest.daemon").exception("job failed")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 5

    poll = lines[0]
    assert list(poll)[:5] == LOG_KEYS and re.fullmatch(TIME, poll["time"])
    assert (poll["level"], poll["event"], poll["message"], poll["logger"]) == (
        "info", "poll", "2 feeds polled, 5 new items", EVENTS)
    assert (poll["feeds"], poll["new"]) == (2, 5)
    # fields named like a LogRecord's attributes are kept under another name
    assert (poll["name_"], poll["msg_"], poll["args_"], poll["levelname_"], poll["asctime_"]) \
        == ("clash", "also a clash", ["a"], "x", "y")
    # and so are those named like the line's own keys
    assert (poll["time_"], poll["level_"], poll["logger_"]) == ("t", "l", "g")
    assert (lines[1]["level"], lines[1]["event"], lines[1]["url"], lines[1]["error"]) == (
        "warning", "feed_error", "https://gone.example/rss", "HTTP 404")
    assert (lines[2]["level"], lines[2]["event"]) == ("error", "delivery_failed")
    assert (lines[3]["level"], lines[3]["event"], lines[3]["message"], lines[3]["logger"]) == (
        "warning", "refresh", "shown: a warning", "digest.refresh")
    assert lines[4]["event"] == "daemon" and "ValueError: boom" in lines[4]["exception"]

    teardown_logging()
    assert not [h for h in logging.getLogger().handlers if getattr(h, "_digest", False)]
    log_event("poll", "after teardown")
    assert len(stream.getvalue().splitlines()) == 5


@pytest.mark.usefixtures("logging_state")
def test_log_event_takes_fields_named_message_and_event() -> None:
    stream = io.StringIO()
    setup_logging("json", 0, stream)
    fields = {"message": "a field", "event": "another"}
    log_event("poll", "2 feeds polled", **fields)
    (line,) = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert (line["event"], line["message"]) == ("poll", "2 feeds polled")
    assert (line["message_"], line["event_"]) == ("a field", "another")


@pytest.mark.usefixtures("logging_state")
def test_log_event_text_lines() -> None:
    stream = io.StringIO()
    setup_logging("text", 1, stream)
    log_event("send", f"edition {DEMO_EDITION}: 3 sent", sent=3, name="x")
    log_event("feed_error", "https://gone.example/rss: HTTP 404")
    logging.getLogger("digest.refresh").info("feed https://x.example/: 3 new")
    logging.getLogger("digest.refresh").debug("not shown at -v")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert re.fullmatch(rf"{TIME} send: edition {DEMO_EDITION}: 3 sent", lines[0])
    assert re.fullmatch(rf"{TIME} warning feed_error: https://gone\.example/rss: HTTP 404",
                        lines[1])
    assert re.fullmatch(rf"{TIME} refresh: feed https://x\.example/: 3 new", lines[2])


# --- 6. db backup ---


def _integrity(path: Path) -> str:
    """SQLite's verdict on a file opened read-only (a WAL-mode file would need its -shm)."""
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as conn:
        verdict: str = conn.execute("PRAGMA integrity_check").fetchone()[0]
        mode: str = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    assert mode == "delete", mode
    return verdict


def _database(run: Digest) -> Path:
    return run.config.parent / "demo.db"


def test_backup_is_one_whole_sqlite_file_and_restores(sqlite_digest: Digest,
                                                      tmp_path: Path) -> None:
    run = sqlite_digest
    sent_demo(run)
    history, status = run.json("history"), run.json("status")
    backups = tmp_path / "backups"
    backups.mkdir()
    target = backups / "digest-2026-11-30.db"
    out = run.ok("db", "backup", str(target))
    assert re.fullmatch(rf"database: copied to {re.escape(str(target))} \([\d,]+ bytes\)\n",
                        out)
    assert f"{target.stat().st_size:,} bytes" in out
    assert sorted(p.name for p in backups.iterdir()) == [target.name]  # no -wal, no partial
    assert target.read_bytes()[18:20] == b"\x01\x01"  # a rollback-journal file, not WAL
    assert _integrity(target) == "ok"
    assert sorted(p.name for p in backups.iterdir()) == [target.name]
    with sqlite3.connect(f"{target.as_uri()}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 3
    conn.close()

    # after the backup: ben is erased, which changes the history
    run.ok("readers", "forget", "ben@example.org", "--yes")
    assert run.json("history") != history

    # restore: digest stopped (nothing here holds the file), the copy put in place
    database = _database(run)
    for extra in ("-wal", "-shm"):
        database.with_name(database.name + extra).unlink(missing_ok=True)
    shutil.copyfile(target, database)
    assert run.json("history") == history
    assert run.json("status") == status
    assert [r["address"] for r in run.json("readers", "list")] == [
        "ana@example.org", "ben@example.org", "kofi@example.org"]


def test_backup_refuses_to_overwrite_or_to_guess(sqlite_digest: Digest, tmp_path: Path) -> None:
    run = sqlite_digest
    sent_demo(run)
    target = tmp_path / "backup.db"
    target.write_bytes(b"an older backup, kept")
    err = run.usage_error("db", "backup", str(target))
    assert str(target) in err and "--force" in err
    assert target.read_bytes() == b"an older backup, kept"

    assert "copied to" in run.ok("db", "backup", str(target), "--force")
    assert _integrity(target) == "ok"
    with sqlite3.connect(f"{target.as_uri()}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 3
    conn.close()

    missing = tmp_path / "no-such-folder" / "backup.db"
    err = run.usage_error("db", "backup", str(missing))
    assert "no such folder" in err and str(missing.parent) in err
    assert not missing.parent.exists()

    code, _, err = run("db", "backup", str(tmp_path))  # a folder is not a file
    assert code == 2 and "Traceback" not in err

    database = _database(run)
    err = run.usage_error("db", "backup", str(database))  # said before --force is asked for
    assert "the database itself" in err


def test_backup_refuses_the_database_itself(sqlite_digest: Digest) -> None:
    run = sqlite_digest
    sent_demo(run)
    history = run.json("history")
    database = _database(run)
    for spelled in (database, database.parent / ".." / database.parent.name / database.name):
        code, out, err = run("db", "backup", str(spelled), "--force")
        assert code != 0 and out == ""
        assert "the database itself" in err and err.count("\n") == 1
    assert run.json("history") == history
    assert not list(database.parent.glob(".*partial"))


def test_backup_onto_the_database_itself_is_a_usage_error(sqlite_digest: Digest) -> None:
    run = sqlite_digest
    sent_demo(run)
    run.usage_error("db", "backup", str(_database(run)), "--force")


def test_backup_while_another_thread_writes(sqlite_digest: Digest, tmp_path: Path) -> None:
    from digest.app import make_app
    from digest.config import load_settings

    run = sqlite_digest
    sent_demo(run)
    database = _database(run)
    # Past one step of the online backup (1,024 pages), so writes land between its steps.
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE ballast (id INTEGER PRIMARY KEY, data BLOB)")
        conn.executemany("INSERT INTO ballast (data) VALUES (randomblob(4000))", [()] * 4000)
        assert conn.execute("PRAGMA page_count").fetchone()[0] > 3 * 1024
    conn.close()

    written: list[str] = []
    started, stop = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def write() -> None:
        app = make_app(load_settings(run.config))
        try:
            n = 0
            while not stop.is_set():
                address = f"writer{n:05d}@example.org"
                app.readers.add(address)
                written.append(address)
                started.set()
                n += 1
        except BaseException as e:  # reported by the test, not lost in the thread
            failures.append(e)
            started.set()
        finally:
            app.close()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        assert started.wait(HANG), "the writer never wrote"
        before = len(written)
        target = tmp_path / "during.db"
        code, out, err = run("db", "backup", str(target))
        still_writing = writer.is_alive() and not failures
    finally:
        stop.set()
        writer.join(HANG)
    assert not failures, failures
    assert code == 0 and "copied to" in out, err
    assert before >= 1 and still_writing
    assert _integrity(target) == "ok"
    with sqlite3.connect(f"{target.as_uri()}?mode=ro", uri=True) as conn:
        copied = [r[0] for r in conn.execute(
            "SELECT address FROM readers WHERE address LIKE 'writer%' ORDER BY address")]
        assert conn.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 3
    conn.close()
    # a consistent moment: the first readers written, in order, none missing
    assert len(copied) >= before and copied == written[:len(copied)]


def _postgres_demo(run: Digest) -> str:
    url = os.environ.get("DIGEST_TEST_DATABASE_URL")
    if not url:
        pytest.skip("DIGEST_TEST_DATABASE_URL is not set")
    data = yaml.safe_load(run.config.read_text(encoding="utf-8"))
    data["database"] = url
    run.config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return url


def test_backup_on_postgresql_names_pg_dump(digest: Digest, tmp_path: Path) -> None:
    _postgres_demo(digest)
    target = tmp_path / "backup.db"
    code, out, err = digest("db", "backup", str(target))
    assert code != 0 and out == "" and "pg_dump" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "postgres@" in err or "postgresql" in err
    assert not target.exists() and list(tmp_path.glob(".backup.db*")) == []


def test_backup_on_postgresql_is_a_usage_error(digest: Digest, tmp_path: Path) -> None:
    _postgres_demo(digest)
    assert "pg_dump" in digest.usage_error("db", "backup", str(tmp_path / "backup.db"))
