"""The command line end to end: the demo, the JSON contract, exit codes, fetch, send, history."""

from __future__ import annotations

import email
import email.policy
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import click
import pytest
import yaml

from conftest import DEMO_DAY, DEMO_EDITION, FEEDS, FeedServer, WriteConfig
from digest.cli import cli, main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_demo_preview_writes_html_text_eml_and_json(
        demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--config", str(demo), "build", "--preview",
                       "--edition", DEMO_EDITION)
    assert code == 0
    paths = [Path(p) for p in re.findall(r"(?m)^\s+\w+: (/.+)$", out)]
    assert {p.suffix for p in paths} == {".html", ".txt", ".eml", ".json"}
    assert all(p.is_file() and p.parent == demo.parent / "preview" for p in paths)
    html = next(p for p in paths if p.suffix == ".html").read_text(encoding="utf-8")
    assert "The Weekly Brief (demo)" in html
    # the one story with another article (issue 21: copies of its own article are not listed)
    assert "https://savannahpost.example/2026/11/24/ruto-lamu-gulf" in html
    assert "<script" not in html.lower().replace("<script type=\"application/ld+json\"", "")
    edition = json.loads(next(p for p in paths if p.suffix == ".json").read_text())
    assert [s["id"] for s in edition["sections"]] == ["tech", "africa", "europe", "elsewhere"]
    eml = next(p for p in paths if p.suffix == ".eml").read_bytes()
    message = email.message_from_bytes(eml, policy=email.policy.default)
    assert message["To"] == "ana@example.org"
    assert message.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
    assert "The Weekly Brief (demo)" in parts["text/html"] and parts["text/plain"].strip()


def test_build_json_follows_the_contract(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--config", str(demo), "build", "--format", "json",
                       "--edition", DEMO_EDITION)
    assert code == 0
    edition = json.loads(out)
    assert set(edition) == {"edition", "title", "generated_at", "note", "sections"}
    assert edition["note"] is None  # the editor's note (issue 22): none written
    assert edition["edition"] == DEMO_EDITION
    stories = [st for s in edition["sections"] for st in s["stories"]]
    assert len(stories) >= 20
    for section in edition["sections"]:
        assert set(section) == {"id", "title", "stories"}
    for story in stories:
        assert set(story) == {"title", "url", "source", "published", "summary", "score", "also",
                              "image"}  # DESIGN.md's keys, plus image (added, not renamed)
        assert story["image"] is None or story["image"].startswith("https://")
        assert story["url"].startswith("https://")
        assert isinstance(story["score"], float)
        assert all(set(a) == {"source", "url"} for a in story["also"])
    titles = [s["title"] for s in stories]
    assert len(titles) == len(set(titles))
    # The stories carried by two feeds are merged; `also` lists the other articles, never a
    # copy of the headline's own (issue 21: three of the demo's merges are such copies).
    merged = [s for s in stories if s["also"]]
    assert len(merged) >= 1
    # Out-of-window stories never appear; the mixed world feed was sectioned by content.
    assert not any("cross-border rail" in t or "COP31" in t for t in titles)
    by_section = {s["id"]: [st["source"] for st in s["stories"]] for s in edition["sections"]}
    assert "Signal World" in by_section["africa"] and "Signal World" in by_section["elsewhere"]
    # The hostile item arrives as plain text only.
    assert "<script" not in out and "javascript:" not in out and "onerror" not in out


def test_build_text_and_out(demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                            ) -> None:
    code, out, _ = run(capsys, "--config", str(demo), "build", "--format", "text",
                       "--edition", DEMO_EDITION)
    assert code == 0
    assert out.startswith("The Weekly Brief (demo)\nMonday 30 November 2026\n")
    assert "TECH\n----" in out and "<https://" in out and "<p>" not in out
    target = tmp_path / "out" / "edition.html"
    code, out, _ = run(capsys, "--config", str(demo), "build", "--out", str(target),
                       "--edition", DEMO_EDITION, "--no-fetch")
    assert code == 0 and out == ""
    assert target.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")


def test_build_eml_is_a_complete_message(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--config", str(demo), "build", "--format", "eml",
                       "--edition", DEMO_EDITION)
    assert code == 0
    message = email.message_from_string(out, policy=email.policy.default)
    assert message["To"] == "ana@example.org"
    assert len(message["Subject"]) <= 70  # the lead story first (issue 21)
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


def test_fetch_twice_stores_nothing_twice(write_config: WriteConfig, feed_server: FeedServer,
                                          tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "atom.xml").write_bytes((FEEDS / "atom.xml").read_bytes())
    config = write_config({"feeds": [
        {"url": feed_server.url("rss2.xml"), "section": "tech"},
        {"url": "local/atom.xml"},
        {"url": (FEEDS / "latin1.xml").as_uri(), "name": "Latin"},
        {"url": feed_server.url("missing.xml")},
    ]})
    code, out, _ = run(capsys, "--config", str(config), "fetch", "--format", "json")
    assert code == 0  # a broken feed is normal life
    first = json.loads(out)
    assert [o["status"] for o in first] == ["ok", "ok", "ok", "error"]
    assert first[3]["error"] == "HTTP 404 Not Found"
    assert all(o["new_items"] > 0 for o in first[:3])
    code, out, _ = run(capsys, "--config", str(config), "fetch", "--all", "--format", "json")
    assert code == 0
    again = json.loads(out)
    assert [o["new_items"] for o in again] == [0, 0, 0, 0]
    assert again[0]["not_modified"] is True  # conditional GET with the stored ETag
    code, out, _ = run(capsys, "--config", str(config), "feeds", "--format", "json")
    health = json.loads(out)
    contract = {"url", "name", "status", "last_fetched_at", "last_error", "items"}  # DESIGN.md
    assert [set(h) for h in health] == [contract | {
        "last_success_at", "next_poll_at", "error_count", "moved_to", "category"}] * 4
    assert [h["items"] for h in health[:3]] == [o["new_items"] for o in first[:3]]
    assert health[2]["name"] == "Latin"
    assert health[0]["name"] == "Test Wire"  # the feed's own title when no name is set
    assert health[3]["status"] == "error" and "404" in health[3]["last_error"]


def test_removed_feeds_leave_the_health_table(write_config: WriteConfig,
                                              feed_server: FeedServer,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    both = [{"url": feed_server.url("rss2.xml")}, {"url": feed_server.url("atom.xml")}]
    config = write_config({"feeds": both})
    assert run(capsys, "--config", str(config), "fetch")[0] == 0
    config = write_config({"feeds": both[1:]})
    code, out, _ = run(capsys, "--config", str(config), "feeds", "--format", "json")
    assert code == 0 and [h["url"] for h in json.loads(out)] == [both[1]["url"]]


def test_fetch_skips_feeds_not_yet_due(write_config: WriteConfig, feed_server: FeedServer,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config({"feeds": [{"url": feed_server.url("rss2.xml")}]})
    assert run(capsys, "--config", str(config), "fetch")[0] == 0
    assert run(capsys, "--config", str(config), "fetch", "--format", "json")[1].strip() == "[]"
    assert feed_server.hits("rss2.xml") == 1


def test_config_check_reports_problems_and_exits_2(write_config: WriteConfig, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config({"feeds": [{"url": "https://example.org/a.xml"},
                                     {"url": "https://example.org/b.xml"},
                                     {"url": "https://example.org/c.xml"},
                                     {"url": "nowhere/feed.xml"}]})
    code, _, err = run(capsys, "--config", str(config), "config", "check")
    assert code == 2
    assert "feeds[3].url: not an http(s) URL, file:// URL or existing path" in err
    assert "Traceback" not in err
    assert not (tmp_path / "test.db").exists()
    code, _, err = run(capsys, "--config", str(config), "build")  # any command: same check
    assert code == 2 and "feeds[3].url" in err and not (tmp_path / "test.db").exists()


def test_config_check_ok_and_schema(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--config", str(demo), "config", "check")
    assert code == 0 and "ok (4 feeds, 3 sections, 3 recipients)" in out
    code, out, _ = run(capsys, "config", "schema")
    assert code == 0 and "feeds" in json.loads(out)["properties"]


def test_usage_errors_exit_2(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--config", str(demo), "build", "--edition", "next monday")[0] == 2
    assert run(capsys, "--config", str(demo), "build", "--format", "pdf")[0] == 2
    assert run(capsys, "frobnicate")[0] == 2


def test_send_file_transport_once_per_recipient(demo: Path, capsys: pytest.CaptureFixture[str]
                                                ) -> None:
    code, out, _ = run(capsys, "--config", str(demo), "send", "--verbose", "--edition",
                       DEMO_EDITION)
    assert code == 0
    outbox = demo.parent / "outbox" / DEMO_EDITION
    files = sorted(p.name for p in outbox.glob("*.eml"))
    assert files == ["ana@example.org.eml", "ben@example.org.eml", "kofi@example.org.eml"]
    ben = email.message_from_bytes((outbox / "ben@example.org.eml").read_bytes(),
                                   policy=email.policy.default)
    ana = email.message_from_bytes((outbox / "ana@example.org.eml").read_bytes(),
                                   policy=email.policy.default)
    assert ben.get_content_type() == "multipart/alternative"
    ben_text = ben.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    ana_text = ana.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "TECH" in ben_text and "EUROPE" in ben_text and "AFRICA" not in ben_text
    assert "AFRICA" in ana_text
    stamps = {p: p.stat().st_mtime_ns for p in outbox.glob("*.eml")}

    code, out, _ = run(capsys, "--config", str(demo), "send", "--verbose", "--edition",
                       DEMO_EDITION)
    assert code == 0 and out.count("already recorded") == 3
    assert {p: p.stat().st_mtime_ns for p in outbox.glob("*.eml")} == stamps

    code, out, _ = run(capsys, "--config", str(demo), "history", "--format", "json")
    history = json.loads(out)
    assert len(history) == 3
    assert {h["status"] for h in history} == {"sent"}
    # the contract's keys, and the error of a delivery that failed (added in issue 24)
    assert all(set(h) == {"edition", "recipient", "status", "sent_at", "message_id", "error"}
               for h in history)
    assert {h["error"] for h in history} == {None}
    assert str(ana["Message-ID"]) in {h["message_id"] for h in history}


def test_sent_stories_are_not_offered_again(demo: Path, capsys: pytest.CaptureFixture[str]
                                            ) -> None:
    config = yaml.safe_load(demo.read_text())
    config["edition"]["window"] = "21d"  # the next edition's window overlaps this one's
    demo.write_text(yaml.safe_dump(config))
    assert run(capsys, "--config", str(demo), "send", "--verbose", "--edition",
               DEMO_EDITION)[0] == 0
    first = json.loads(run(capsys, "--config", str(demo), "build", "--format", "json",
                           "--edition", DEMO_EDITION)[1])
    sent_urls = {st["url"] for s in first["sections"] for st in s["stories"]}
    sent_urls |= {a["url"] for s in first["sections"] for st in s["stories"] for a in st["also"]}
    code, out, err = run(capsys, "--config", str(demo), "build", "--format", "json",
                         "--edition", "2026-12-07", "--explain")
    assert code == 0
    later = json.loads(out)
    later_urls = {st["url"] for s in later["sections"] for st in s["stories"]}
    assert later_urls, "stories the first edition left out should still be offered"
    assert not later_urls & sent_urls
    assert "already sent" in err


def test_a_sent_story_is_refused_under_a_new_url_and_title(
        demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = yaml.safe_load(demo.read_text())  # a 7-day window: the sent items are out of it
    assert run(capsys, "--config", str(demo), "send", "--verbose", "--edition",
               DEMO_EDITION)[0] == 0
    first = json.loads(run(capsys, "--config", str(demo), "build", "--format", "json",
                           "--edition", DEMO_EDITION)[1])
    sent = first["sections"][0]["stories"][0]
    # A week later another outlet republishes it with a desk prefix, at a new address.
    entries = [
        ("UPDATE 1-" + sent["title"], "https://mirror.example/2026/12/01/republished",
         sent["summary"]),
        ("Volcanic ash closes Iceland's main airport for a second day",
         "https://mirror.example/2026/12/02/iceland-ash",
         "Flights at Keflavik stayed grounded on Wednesday as the ash cloud drifted west."),
    ]
    items = "".join(
        f"<item><title>{escape(t)}</title><link>{u}</link><description>{escape(d)}</description>"
        f"<pubDate>Wed, 02 Dec 2026 08:00:00 GMT</pubDate></item>" for t, u, d in entries)
    (demo.parent / "feeds" / "mirror.xml").write_text(
        f"<rss version='2.0'><channel><title>Mirror</title>{items}</channel></rss>")
    config["feeds"].append({"url": "feeds/mirror.xml", "name": "Mirror", "section": "tech"})
    demo.write_text(yaml.safe_dump(config))

    code, out, err = run(capsys, "--config", str(demo), "build", "--format", "json",
                         "--edition", "2026-12-07", "--explain")

    assert code == 0
    titles = {st["title"] for s in json.loads(out)["sections"] for st in s["stories"]}
    assert entries[1][0] in titles
    assert entries[0][0] not in titles
    refusal = next(line for line in err.splitlines() if "UPDATE 1-" in line)
    assert "already sent" in refusal and f"in edition {DEMO_EDITION}" in refusal
    assert "similarity" in refusal


def test_preview_never_counts_as_sent(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "--config", str(demo), "build", "--preview", "--edition", DEMO_EDITION)
    code, out, _ = run(capsys, "--config", str(demo), "history", "--format", "json")
    assert code == 0 and json.loads(out) == []
    code, out, _ = run(capsys, "--config", str(demo), "send", "--verbose", "--dry-run",
                       "--edition", DEMO_EDITION)
    assert code == 0 and out.count("would send") == 3
    assert not (demo.parent / "outbox").exists()
    assert json.loads(run(capsys, "--config", str(demo), "history", "--format", "json")[1]) == []


def test_test_copy_is_not_recorded(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--config", str(demo), "send", "--verbose", "--to",
                         "editor@example.org",
                         "--edition", DEMO_EDITION)
    assert code == 0
    assert "test copy sent" in out and err.strip().endswith("1 test copy sent")  # not skipped
    assert (demo.parent / "outbox" / DEMO_EDITION / "editor@example.org.eml").is_file()
    assert json.loads(run(capsys, "--config", str(demo), "history", "--format", "json")[1]) == []


def test_broken_feed_is_reported_but_build_succeeds(write_config: WriteConfig,
                                                    feed_server: FeedServer,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config({"feeds": [{"url": feed_server.url("rss2.xml")},
                                     {"url": feed_server.url("not_a_feed.html")}],
                           "edition": {"window": "36500d"}})
    code, out, err = run(capsys, "--config", str(config), "build", "--format", "json",
                         "--edition", "2026-11-30")
    assert code == 0
    assert "not_a_feed.html: not a feed (an HTML page)" in err
    assert json.loads(out)["sections"]


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[str]:
    """Every command and subcommand, so a new one cannot slip in without an example."""
    paths = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # the lazy group imports each command's module
        command = group.get_command(ctx, name)
        assert command is not None, name
        paths.append(" ".join((*prefix, name)))
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*prefix, name))
    return paths


@pytest.mark.parametrize("command", _command_paths(cli))
def test_every_command_help_has_an_example(command: str, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    code, out, _ = run(capsys, *command.split(), "--help")
    assert code == 0
    assert "Example" in out and "digest " in out.split("Example", 1)[1]


def test_installed_entry_point_exit_codes(demo: Path, tmp_path: Path) -> None:
    digest = Path(sys.executable).parent / "digest"
    ok = subprocess.run([str(digest), "--config", str(demo), "config", "check"],
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([str(digest), "--config", str(tmp_path / "none.yaml"), "feeds"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert "cannot read" in bad.stderr and "Traceback" not in bad.stderr


# --- the email's templates and subject from feeds.yaml ---


def _demo_with(demo: Path, email: dict[str, object]) -> None:
    config = yaml.safe_load(demo.read_text())
    config["email"] = email
    demo.write_text(yaml.safe_dump(config))


def test_templates_from_a_folder_replace_the_built_in_ones(
        demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = demo.parent / "my-templates"
    folder.mkdir()
    (folder / "edition.txt.j2").write_text(
        "OUR OWN LAYOUT for {{ title }}\n{% for s in sections %}{{ s.title }}\n{% endfor %}",
        encoding="utf-8")
    _demo_with(demo, {"templates": "my-templates",
                      "subject": "Brief: {{ lead.title if lead else title }}",
                      "lang": "fr", "dir": "ltr",
                      "view_url": "https://brief.example.org/editions/{edition}"})
    code, text, _ = run(capsys, "--config", str(demo), "build", "--format", "text",
                        "--edition", DEMO_EDITION, "--no-fetch")
    assert code == 0 and text.startswith("OUR OWN LAYOUT for The Weekly Brief")
    code, html, _ = run(capsys, "--config", str(demo), "build", "--format", "html",
                        "--edition", DEMO_EDITION, "--no-fetch")
    assert code == 0 and 'lang="fr"' in html  # the built-in HTML template still serves
    assert f'href="https://brief.example.org/editions/{DEMO_EDITION}"' in html
    code, eml, _ = run(capsys, "--config", str(demo), "build", "--format", "eml",
                       "--edition", DEMO_EDITION, "--no-fetch")
    subject = email.message_from_string(eml, policy=email.policy.default)["Subject"]
    assert code == 0 and subject.startswith("Brief: ") and len(subject) > len("Brief: ")


def test_a_broken_override_names_its_file_and_line(
        demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = demo.parent / "my-templates"
    folder.mkdir()
    (folder / "edition.txt.j2").write_text("line one\n{% for s in sections %}\n{{ s.title |",
                                           encoding="utf-8")
    _demo_with(demo, {"templates": "my-templates"})
    code, _, err = run(capsys, "--config", str(demo), "build", "--format", "text",
                       "--edition", DEMO_EDITION, "--no-fetch")
    assert code != 0
    assert str(folder / "edition.txt.j2") in err and "line 3" in err
    assert "Traceback" not in err


def test_bad_email_settings_are_config_errors(demo: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    _demo_with(demo, {"templates": "no-such-folder", "dir": "sideways",
                      "view_url": "ftp://x.example/{edition}"})
    code, _, err = run(capsys, "--config", str(demo), "config", "check")
    assert code == 2
    assert "email.templates: no such folder" in err and "email.dir:" in err
    assert "email.view_url: not an http(s) URL" in err
    _demo_with(demo, {"subject": "{{ title"})
    code, _, err = run(capsys, "--config", str(demo), "build", "--edition", DEMO_EDITION,
                       "--no-fetch")
    assert code == 2 and "email.subject:" in err and "Traceback" not in err


def test_an_edition_over_the_size_budget_is_trimmed_and_says_so(
        demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, full, _ = run(capsys, "--config", str(demo), "build", "--format", "html",
                        "--edition", DEMO_EDITION)
    assert code == 0
    budget = len(full.encode()) * 2 // 3
    _demo_with(demo, {"max_html_bytes": budget})
    code, html, err = run(capsys, "--config", str(demo), "build", "--format", "html",
                          "--edition", DEMO_EDITION, "--no-fetch")
    assert code == 0
    assert len(html.encode()) <= budget < len(full.encode())
    notes = [line for line in err.splitlines() if "size budget" in line]
    assert notes and all("score" in line for line in notes)
    code, out, _ = run(capsys, "--config", str(demo), "build", "--format", "json",
                       "--edition", DEMO_EDITION, "--no-fetch")
    kept = [st["title"] for s in json.loads(out)["sections"] for st in s["stories"]]
    left_out = [m.group(2) for line in notes
                if (m := re.search(r"budget: (['\"])(.*)\1 \(", line))]
    assert len(left_out) == len(notes)
    assert not set(left_out) & set(kept)  # the JSON edition is the trimmed one
    assert set(left_out) <= _untrimmed_titles(demo, capsys)


def test_one_huge_story_never_pushes_the_others_out_of_the_edition(
        demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The attack of issue 17: one item with a 9 MB title (stored before titles were capped
    at parse time, so no parse step saves us) once emptied the edition, as the size budget
    left out the healthy stories first."""
    from sqlalchemy import create_engine, update

    from digest.config import load_settings
    from digest.schema import items

    code, out, _ = run(capsys, "--config", str(demo), "build", "--format", "json",
                       "--edition", DEMO_EDITION)
    assert code == 0
    stories = [st for s in json.loads(out)["sections"] for st in s["stories"]]
    lead = stories[0]
    engine = create_engine(load_settings(str(demo)).database)
    try:
        with engine.begin() as db:
            changed = db.execute(update(items).where(items.c.url == lead["url"])
                                 .values(title="Breaking " + "news " * 1_800_000)).rowcount
    finally:
        engine.dispose()
    assert changed >= 1
    code, out, err = run(capsys, "--config", str(demo), "build", "--format", "json",
                         "--edition", DEMO_EDITION, "--no-fetch")
    assert code == 0
    kept = [st["url"] for s in json.loads(out)["sections"] for st in s["stories"]]
    assert kept == [st["url"] for st in stories[1:]]  # every other story, in the same order
    notes = [line for line in err.splitlines() if "budget" in line]
    assert len(notes) == 1 and "alone would take" in notes[0] and len(notes[0]) < 400


def _untrimmed_titles(demo: Path, capsys: pytest.CaptureFixture[str]) -> set[str]:
    """The demo edition's story titles without a size budget."""
    config = yaml.safe_load(demo.read_text())
    config.pop("email", None)
    demo.write_text(yaml.safe_dump(config))
    out = run(capsys, "--config", str(demo), "build", "--format", "json",
              "--edition", DEMO_EDITION, "--no-fetch")[1]
    return {st["title"] for s in json.loads(out)["sections"] for st in s["stories"]}


# --- the suppression list ---


def test_unsubscribed_addresses_are_skipped_and_recorded(
        demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--config", str(demo), "unsubscribe", "BEN@example.org")
    assert code == 0 and "BEN@example.org: unsubscribed" in out
    code, out, _ = run(capsys, "--config", str(demo), "unsubscribe", "ben@example.org")
    assert code == 0 and "already unsubscribed" in out
    # for tools (issue 24): a record per address, in JSON, CSV or TSV
    code, out, _ = run(capsys, "--config", str(demo), "unsubscribe", "ben@example.org",
                       "zed@example.org", "--format", "json")
    assert code == 0 and json.loads(out) == [
        {"address": "ben@example.org", "outcome": "already_unsubscribed"},
        {"address": "zed@example.org", "outcome": "unsubscribed"}]
    code, out, _ = run(capsys, "--config", str(demo), "unsubscribe", "zed@example.org",
                       "--format", "tsv")
    assert out.splitlines() == ["address\toutcome", "zed@example.org\talready_unsubscribed"]

    code, out, err = run(capsys, "--config", str(demo), "send", "--verbose", "--dry-run",
                         "--edition", DEMO_EDITION)
    assert code == 0 and out.count("would send") == 2 and "ben@" not in out
    # issue 24: the summary counts what the listing says, not "2 skipped"
    assert f"edition {DEMO_EDITION}: 2 would send" in err and "skipped" not in err

    code, out, _ = run(capsys, "--config", str(demo), "send", "--verbose", "--edition",
                       DEMO_EDITION)
    assert code == 0
    outbox = demo.parent / "outbox" / DEMO_EDITION
    assert sorted(p.name for p in outbox.iterdir()) == ["ana@example.org.eml",
                                                        "kofi@example.org.eml"]
    history = json.loads(run(capsys, "--config", str(demo), "history", "--format", "json")[1])
    assert {h["recipient"]: h["status"] for h in history} == {
        "ana@example.org": "sent", "kofi@example.org": "sent"}

    code, out, _ = run(capsys, "--config", str(demo), "send", "--verbose", "--edition",
                       DEMO_EDITION)
    assert code == 0 and "ben@example.org" not in out and out.count("already recorded") == 2


def test_unsubscribe_names_a_bad_address(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--config", str(demo), "unsubscribe", "not-an-address")
    assert code == 2 and "not an email address: 'not-an-address'" in err


def test_each_recipient_gets_a_signed_unsubscribe_link(
        demo: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_UNSUBSCRIBE_SECRET", "a-test-secret-of-some-length")
    config = yaml.safe_load(demo.read_text())
    config["delivery"]["unsubscribe_url"] = "https://brief.example.org/unsubscribe"
    config["delivery"]["unsubscribe_secret"] = "${DIGEST_UNSUBSCRIBE_SECRET}"
    demo.write_text(yaml.safe_dump(config))
    assert run(capsys, "--config", str(demo), "send", "--verbose", "--edition",
               DEMO_EDITION)[0] == 0

    from digest.send import Unsubscribe
    links = Unsubscribe("https://brief.example.org/unsubscribe", b"a-test-secret-of-some-length")
    outbox = demo.parent / "outbox" / DEMO_EDITION
    seen = set()
    for path in sorted(outbox.iterdir()):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        recipient = str(message["To"])
        header = " ".join(str(message["List-Unsubscribe"]).split())  # folding aside
        assert header.startswith("<mailto:brief@example.org?subject=unsubscribe>, <https://")
        assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
        https = re.search(r"<(https://[^>]+)>", header)
        assert https is not None
        query = dict(parse_qsl(urlsplit(https.group(1)).query))
        assert query["u"] == recipient
        assert links.verify(recipient, str(message["List-Id"]), query["t"])
        assert not links.verify("someone@else.example", str(message["List-Id"]), query["t"])
        html = message.get_body(("html",)).get_content()
        text = message.get_body(("plain",)).get_content()
        assert html.count(https.group(1).replace("&", "&amp;")) == 1
        assert f"<{https.group(1)}>" in text
        assert "unsubscribe.invalid" not in html + text  # the placeholder never leaves
        seen.add(https.group(1))
    assert len(seen) == 3  # one message rendered per edition, a link per recipient


def test_an_unsubscribe_url_needs_a_secret(demo: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    config = yaml.safe_load(demo.read_text())
    config["delivery"]["unsubscribe_url"] = "http://brief.example.org/unsubscribe"
    demo.write_text(yaml.safe_dump(config))
    code, _, err = run(capsys, "--config", str(demo), "config", "check")
    assert code == 2 and "delivery.unsubscribe_url: not an https address" in err
    config["delivery"]["unsubscribe_url"] = "https://brief.example.org/unsubscribe"
    demo.write_text(yaml.safe_dump(config))
    code, _, err = run(capsys, "--config", str(demo), "config", "check")
    assert code == 2 and "unsubscribe_url needs unsubscribe_secret" in err


def test_a_send_that_died_between_sending_and_recording_is_resolved(
        demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime, timedelta

    from digest.config import load_settings
    from digest.models import DeliveryStatus
    from digest.store import Outcome, Store

    assert run(capsys, "--config", str(demo), "send", "--verbose", "--edition",
               DEMO_EDITION)[0] == 0
    outbox = demo.parent / "outbox" / DEMO_EDITION
    ana, ben = outbox / "ana@example.org.eml", outbox / "ben@example.org.eml"
    written = ana.stat().st_mtime_ns
    ben.unlink()  # ben's run died before the file was written; ana's after
    store = Store(load_settings(demo, env={}).database)
    edition_id = store.frozen_edition(DEMO_DAY).id  # type: ignore[union-attr]
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    addresses = ["ana@example.org", "ben@example.org"]
    store.finish_deliveries(edition_id, [Outcome(a, DeliveryStatus.PENDING) for a in addresses],
                            now=long_ago)
    taken = store.take_deliveries(edition_id, addresses, owner="other-host:1:1", now=long_ago,
                                  stale_before=long_ago)
    assert sorted(t.recipient for t in taken) == addresses  # left SENDING
    store.close()

    code, out, _ = run(capsys, "--config", str(demo), "send", "--verbose", "--edition",
                       DEMO_EDITION)
    assert code == 0
    assert re.search(r"ana@example\.org\s+sent\s+sent before the last run stopped", out)
    assert re.search(r"ben@example\.org\s+sent\s+<digest\.", out)
    assert ana.stat().st_mtime_ns == written  # not written twice
    assert ben.is_file()
    history = json.loads(run(capsys, "--config", str(demo), "history", "--format", "json")[1])
    assert {h["status"] for h in history} == {"sent"} and len(history) == 3


def test_import_and_health_check_stay_light(demo: Path) -> None:
    """`digest --help` and Docker's `digest status --check` (every minute) import neither the
    app's heavy dependencies nor, for the check, more than the config and the store."""
    heavy = ("numpy", "jinja2", "mjml", "feedparser", "aiohttp", "apscheduler", "sqlalchemy",
             "pydantic")
    loaded = f"print(sorted(m for m in {heavy!r} if m in sys.modules))"

    def modules(code: str) -> list[str]:  # in a fresh interpreter: nothing imported yet
        from ast import literal_eval

        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                timeout=60, check=True)
        names: list[str] = literal_eval(result.stdout.strip().splitlines()[-1])
        return names

    assert modules(f"import digest.cli, sys; {loaded}") == []
    check = ("import sys; from digest.cli import main; "
             f"code = main(['--config', {str(demo)!r}, 'status', '--check']); ")
    # No daemon beat: the full path (it validates the config, and says what is wrong)
    assert modules(check + f"{loaded}; assert code == 1, code") == ["pydantic", "sqlalchemy"]
    # A daemon beat (the usual answer, every minute): feeds.yaml's `database` and one table
    # read with the database's own driver (digest.beats), none of the other commands' modules
    from digest.config import load_settings
    from digest.store import Store

    store = Store(load_settings(demo).database)
    try:
        now = datetime.now(UTC)
        store.beat("host:1:1", started_at=now, now=now, next_send_at=None, config="")
    finally:
        store.close()
    ours = "print(sorted(m for m in sys.modules if m.startswith('digest')))"
    assert modules(check + f"{loaded}; assert code == 0, code") == []
    assert modules(check + ours) == [
        "digest", "digest.beats", "digest.cli", "digest.cli.logs", "digest.cli.ops",
        "digest.cli.output", "digest.cli.root", "digest.configfile", "digest.errors",
        "digest.models", "digest.owner"]


# --- a config error never creates or changes a database or an outbox (issue 17) ---

BAD_CONFIGS = [  # each passed `config check` before, and broke the commands that ran on it
    ({"schedule": {"digest": "0 0 31 2 *"}},
     "schedule.digest: invalid cron expression '0 0 31 2 *': it never fires"),
    ({"schedule": {"digest": "*/90 * * * *"}},
     "schedule.digest: invalid cron expression '*/90 * * * *': minute field '*/90': the step"),
    ({"edition": {"window": "99999999w"}}, "edition.window: at most 36500d (100 years)"),
    ({"schedule": {"poll_every": 0}}, "schedule.poll_every: at least 1m, not 0d"),
    ({"email": {"subject": "{{"}}, "email.subject: unexpected 'end of template'"),
    ({"email": {"subject": "{{ title | shout }}"}}, "email.subject: No filter named 'shout'"),
    ({"edition": {"half_life": 0}}, "edition.half_life: must be longer than 0"),
    ({"email": {"subject": "{{ nope }}"}},
     "email.subject: fails for an edition with stories: 'nope' is undefined"),
    ({"email": {"subject": "{{ title | longdate }}"}},
     "email.subject: fails for an edition with stories: Invalid format specifier"),
    ({"email": {"subject": "{{ lead.title }}"}},
     "email.subject: fails for an edition without stories: 'None' has no attribute 'title'"),
    ({"database": "sqlite://"}, "database: an in-memory SQLite database keeps nothing"),
    ({"database": "mysql://brief:secret@db.example.org/brief"},
     "database: not a sqlite:/// or postgresql:// URL: 'mysql://brief:***@db.example.org"),
    ({"title": "Brief\nBcc: eve@example.org"},
     "title: must be one line of text without control characters: 'Brief\\nBcc"),
    ({"delivery": {"from": "Brief <b@example.org>\r\nBcc: eve@example.org"}},
     "delivery.from: must be one line of text"),
    ({"delivery": {"transport": "smtp", "smtp": {"timeout": 1e300}}},
     "delivery.smtp.timeout: Input should be less than or equal to 3600"),
    ({"email": {"templates": "broken"}}, "email.templates: "),  # last: it needs the folder
]


@pytest.mark.parametrize(("change", "problem"), BAD_CONFIGS)
def test_a_config_error_never_creates_a_database_or_an_outbox(
        write_config: WriteConfig, tmp_path: Path, suite_db: str | None,
        capsys: pytest.CaptureFixture[str], change: dict[str, object], problem: str) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "edition.txt.j2").write_text("{% for s in sections %}\n{{ s.title",
                                                         encoding="utf-8")
    config = str(write_config(change))
    for command in (["config", "check"], ["build", "--no-fetch"], ["build"], ["send"],
                    ["send", "--verbose", "--dry-run"], ["status"], ["status", "--check"],
                     ["fetch"],
                    ["history"], ["feeds"], ["db", "upgrade"], ["db", "prune"]):
        for verbose in ([], ["-v"]):
            code, out, err = run(capsys, *verbose, "--config", config, *command)
            assert (code, out) == (2, ""), (command, err)
            assert problem in err and "Traceback" not in err, (command, err)
            assert err.startswith(f"error: {config}: 1 problem(s)\n"), err
            created = sorted(p.name for p in tmp_path.iterdir())
            assert created == ["broken", "feeds.yaml"], (command, created)


def test_a_config_error_leaves_an_existing_database_as_it_was(
        write_config: WriteConfig, tmp_path: Path, suite_db: str | None,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config())
    assert run(capsys, "--config", config, "build", "--no-fetch")[0] == 0
    database = tmp_path / "test.db"
    before = database.read_bytes() if suite_db is None else b""
    for change, _ in BAD_CONFIGS[:-1]:
        write_config(change)
        for command in (["build", "--no-fetch"], ["send"], ["status"], ["fetch"]):
            assert run(capsys, "--config", config, *command)[0] == 2
    if suite_db is None:
        assert database.read_bytes() == before
    assert not (tmp_path / "outbox").exists()


def test_the_daemon_refuses_a_cron_that_never_fires_at_start(write_config: WriteConfig,
                                                             tmp_path: Path) -> None:
    config = write_config({"schedule": {"digest": "0 0 31 2 *"}})
    done = subprocess.run([sys.executable, "-m", "digest", "--config", str(config), "run"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "schedule.digest: invalid cron expression" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "test.db").exists()


def test_the_main_help_example_builds_the_whole_demo_edition(
        demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """issue 24: `digest --help`'s example, run as printed (on a copy of the demo), builds the
    demo's edition with all its stories, not the one story of today's window."""
    _, out, _ = run(capsys, "--help")
    example = next(line.strip() for line in out.splitlines()
                   if line.strip().startswith("digest --config examples/demo/"))
    args = example.split()[1:]
    args[args.index("--config") + 1] = str(demo)
    code, out, _ = run(capsys, *args)
    assert code == 0
    json_path = next(Path(p) for p in re.findall(r"(?m)^\s+\w+: (/.+)$", out)
                     if p.endswith(".json"))
    edition = json.loads(json_path.read_text(encoding="utf-8"))
    stories = sum(len(s["stories"]) for s in edition["sections"])
    assert edition["edition"] == DEMO_EDITION and stories >= 10


@pytest.mark.parametrize("to", ["bob", "bob@", "@example.org", "bob@localhost", " "])
def test_send_to_refuses_what_is_not_an_address(
        to: str, demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """issue 24: `send --to bob` wrote bob.eml; now a usage error naming the option."""
    code, _, err = run(capsys, "--config", str(demo), "send", "--verbose", "--to", to,
                       "--edition", DEMO_EDITION)
    assert code == 2 and "--to:" in err
    assert "not an email address" in err or "an email address is required" in err
    assert not (demo.parent / "outbox").exists()
