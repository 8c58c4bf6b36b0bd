"""OPML import and export end to end: real files, the CLI as users run it, feeds.yaml kept."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from email.utils import parsedate_to_datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import yaml

from conftest import REPO
from digest import opml
from digest.cli import main
from digest.config import load_settings
from digest.errors import ConfigError

CONFIG = """\
# The test brief: comments, quoting and order must survive an import.
title: "Test Brief"   # quoted on purpose
database: test.db

sections:
  - id: tech
    title: Tech
    keywords: [AI,   # inline comment inside a flow list
               chip]
  - {id: africa, title: 'Africa'}
  - id: europe
    title: Europe

feeds:
  # --- pinned ---
  - url: https://example.org/tech.xml
    name: Example Tech      # trailing comment
    section: tech
  - url: 'https://example.org/world.xml'
    weight: 1.5
    # poll_every: 30m   (a commented-out key of the last entry)

# delivery comes after the feeds
delivery:
  from: "Test Brief <brief@example.org>"
  transport: file
  outbox: outbox
"""

# As Feedly writes it: OPML 1.0, text and title, type="rss", htmlUrl, folders one level deep.
FEEDLY = """\
<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>Ana subscriptions in feedly Cloud</title></head>
  <body>
    <outline text="TECH" title="TECH">
      <outline type="rss" text="Example Tech" title="Example Tech"
               xmlUrl="https://example.org/tech.xml" htmlUrl="https://example.org/"/>
      <outline type="rss" text="Chip Letter" title="Chip Letter"
               xmlUrl="https://example.com/chips/feed" htmlUrl="https://example.com/chips"/>
    </outline>
    <outline text="World News" title="World News">
      <outline text="Africa">
        <outline type="atom" text="Lagos Daily" xmlUrl="https://example.com/lagos.atom"/>
      </outline>
      <outline type="rss" text="No" title="No" xmlUrl="https://example.com/no.xml"/>
    </outline>
  </body>
</opml>
"""

# As NetNewsWire and Inoreader write it: OPML 2.0, no type, odd attribute case, categories.
NETNEWSWIRE = """\
<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Subscriptions</title><dateCreated>Mon, 23 Nov 2026 08:00:00 GMT</dateCreated></head>
  <body>
    <outline TEXT="Brussels  Watch&#10;(EU)" XMLURL="https://example.org/brussels.rss"
             category="/Politics/Europe"/>
    <outline text="Untitled" title="" xmlurl="https://example.org/untitled.rss"/>
    <outline text="https://example.org/bare.rss" xmlUrl="https://example.org/bare.rss"/>
    <outline text="Gopher" xmlUrl="gopher://example.org/feed"/>
    <outline text="Local" xmlUrl="file:///etc/hostname"/>
    <outline text="Old style" xmlUrl="feed://example.org/old.xml"/>
  </body>
</opml>
"""


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def feeds_of(config: Path) -> list[tuple[str, str | None, str]]:
    return [(f.url, f.name, f.section) for f in load_settings(config, env={}).feeds]


def test_feedly_export_lands_at_the_end_of_the_feeds_list(
        config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--config", str(config), "feeds", "import",
                         str(write(tmp_path, "feedly.opml", FEEDLY)))
    assert code == 0, err
    assert out.splitlines() == [
        f"skipped: https://example.org/tech.xml (already in {config})",
        "added: Chip Letter <https://example.com/chips/feed> (section: tech)",
        "added: Lagos Daily <https://example.com/lagos.atom> (section: africa)",
        "added: No <https://example.com/no.xml> (section: auto)",
        f"{config}: added 3, skipped 1",
    ]
    # Every byte of the old file stays; the new entries follow the last entry (and the comment
    # indented under it), in the file's own indentation, quoted where YAML 1.1 needs it.
    anchor = "    # poll_every: 30m   (a commented-out key of the last entry)\n"
    head, tail = CONFIG.split(anchor)
    assert config.read_text(encoding="utf-8") == head + anchor + (
        "  - url: https://example.com/chips/feed\n"
        "    name: Chip Letter\n"
        "    section: tech\n"
        "  - url: https://example.com/lagos.atom\n"
        "    name: Lagos Daily\n"
        "    section: africa\n"
        "  - url: https://example.com/no.xml\n"
        "    name: 'No'\n"
    ) + tail
    assert feeds_of(config)[2:] == [
        ("https://example.com/chips/feed", "Chip Letter", "tech"),
        ("https://example.com/lagos.atom", "Lagos Daily", "africa"),
        ("https://example.com/no.xml", "No", "auto"),  # a string, not YAML 1.1's false
    ]


def test_netnewswire_style_attributes_categories_and_rejections(
        config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--config", str(config), "feeds", "import",
                         str(write(tmp_path, "nnw.opml", NETNEWSWIRE)))
    assert code == 0
    assert feeds_of(config)[2:] == [
        ("https://example.org/brussels.rss", "Brussels Watch (EU)", "europe"),  # category
        ("https://example.org/untitled.rss", "Untitled", "auto"),  # text when title is empty
        ("https://example.org/bare.rss", None, "auto"),  # a title that is the URL is no name
        ("http://example.org/old.xml", "Old style", "auto"),  # feed:// is http://
    ]
    assert err.splitlines() == [
        "warning: rejected gopher://example.org/feed: not an http(s) URL",
        "warning: rejected file:///etc/hostname: a local file; file:// URLs are imported only "
        "with --allow-files",
    ]
    assert out.splitlines()[-1] == f"{config}: added 4, skipped 0, rejected 2"


def test_the_reference_feeds_yaml_keeps_every_byte(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # Our own feeds.yaml has comments inside multi-line flow lists, which a ruamel.yaml round
    # trip would join into one line and drop.
    config = tmp_path / "feeds.yaml"
    shutil.copy(REPO / "feeds.yaml", config)
    original = config.read_text(encoding="utf-8")
    code, _, err = run(capsys, "--config", str(config), "feeds", "import",
                       str(write(tmp_path, "feedly.opml", FEEDLY)))
    assert code == 0, err
    added = ("  - url: https://example.org/tech.xml\n"
             "    name: Example Tech\n"
             "    section: tech\n"
             "  - url: https://example.com/chips/feed\n")
    text = config.read_text(encoding="utf-8")
    start = text.index(added)
    end = text.index("\n\ndelivery:")
    assert text[:start] + text[end + 1:] == original
    assert text[:start].endswith("    name: NPR World\n    section: auto\n")
    assert len(load_settings(config, env={}).feeds) == 16 + 4


def test_section_option_wins_and_is_checked(config: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    source = str(write(tmp_path, "feedly.opml", FEEDLY))
    code, _, err = run(capsys, "--config", str(config), "feeds", "import", source,
                       "--section", "nowhere")
    assert code == 2
    assert err.strip() == "error: unknown section 'nowhere' (use auto or one of: tech, africa, " \
        "europe)"
    assert config.read_text(encoding="utf-8") == CONFIG
    code, _, _ = run(capsys, "--config", str(config), "feeds", "import", source,
                     "--section", "Europe")  # a title works too, in any case
    assert code == 0
    assert {section for _, _, section in feeds_of(config)[2:]} == {"europe"}


def test_section_auto_ignores_folders(config: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(capsys, "--config", str(config), "feeds", "import",
                     str(write(tmp_path, "feedly.opml", FEEDLY)), "--section", "auto")
    assert code == 0
    assert {section for _, _, section in feeds_of(config)[2:]} == {"auto"}
    assert "section:" not in config.read_text(encoding="utf-8").split("world.xml")[1]


def test_dry_run_writes_nothing(config: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    before = config.stat()
    code, out, _ = run(capsys, "--config", str(config), "feeds", "import",
                       str(write(tmp_path, "feedly.opml", FEEDLY)), "--dry-run")
    assert code == 0
    assert "would add: Chip Letter <https://example.com/chips/feed> (section: tech)" in out
    assert out.splitlines()[-1] == \
        f"{config}: would add 3, skipped 1 (dry run: nothing written)"
    assert config.read_text(encoding="utf-8") == CONFIG
    assert config.stat().st_mtime_ns == before.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feedly.opml", "feeds.yaml"]


def test_importing_twice_adds_nothing_the_second_time(
        config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = str(write(tmp_path, "feedly.opml", FEEDLY))
    assert run(capsys, "--config", str(config), "feeds", "import", source)[0] == 0
    once = config.read_bytes()
    code, out, _ = run(capsys, "--config", str(config), "feeds", "import", source)
    assert code == 0
    assert out.splitlines()[-1] == f"{config}: added 0, skipped 4"
    assert config.read_bytes() == once


def test_same_feed_in_two_folders_is_added_once(config: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    source = write(tmp_path, "twice.opml", """<opml version="2.0"><body>
        <outline text="Tech"><outline text="A" xmlUrl="https://example.com/a.xml"/></outline>
        <outline text="Europe"><outline text="A" xmlUrl="HTTPS://EXAMPLE.com/a.xml"/></outline>
        </body></opml>""")
    code, out, _ = run(capsys, "--config", str(config), "feeds", "import", str(source))
    assert code == 0 and out.splitlines()[-1].endswith("added 1, skipped 1")
    assert feeds_of(config)[2:] == [("https://example.com/a.xml", "A", "tech")]


def test_export_is_opml_2_with_a_folder_per_section(config: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--config", str(config), "feeds", "export")
    assert code == 0
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">')
    root = ET.fromstring(out.encode("utf-8"))
    assert root.findtext("head/title") == "Test Brief"
    assert parsedate_to_datetime(root.findtext("head/dateCreated") or "").tzinfo is not None
    body = root.find("body")
    assert body is not None
    assert [(o.get("text"), o.get("xmlUrl")) for o in body] == [
        ("Tech", None), ("https://example.org/world.xml", "https://example.org/world.xml")]
    assert [o.attrib for o in body[0]] == [
        {"type": "rss", "text": "Example Tech", "title": "Example Tech",
         "xmlUrl": "https://example.org/tech.xml"}]


def test_export_then_import_round_trips(demo: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    # The demo has relative paths (exported as file:// URLs), a feed with no name, pinned and
    # auto sections: import needs --allow-files for its local feeds.
    target = tmp_path / "demo" / "export" / "feeds.opml"
    code, out, err = run(capsys, "--config", str(demo), "feeds", "export", "--out", str(target))
    assert code == 0 and out == "" and err.strip() == f"wrote {target}"
    empty = yaml.safe_load(demo.read_text(encoding="utf-8"))
    empty["feeds"] = []
    fresh = tmp_path / "demo" / "fresh.yaml"
    fresh.write_text(yaml.safe_dump(empty, sort_keys=False), encoding="utf-8")
    code, out, _ = run(capsys, "--config", str(fresh), "feeds", "import", str(target),
                       "--allow-files")
    assert code == 0, out
    assert feeds_of(fresh) == feeds_of(demo)
    assert feeds_of(demo)[1] == ((demo.parent / "feeds" / "africa.atom").as_uri(), None, "africa")
    code, out, _ = run(capsys, "--config", str(fresh), "feeds", "import", str(target),
                       "--allow-files")
    assert out.splitlines()[-1].endswith("added 0, skipped 4")


def test_round_trip_of_http_feeds_into_a_config_without_feeds_key(
        config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, exported, _ = run(capsys, "--config", str(config), "feeds", "export")
    assert code == 0
    bare = write(tmp_path, "bare.yaml", "# no feeds yet\nsections:\n  - {id: tech, title: Tech}\n"
                 "  - {id: africa, title: Africa}\n  - {id: europe, title: Europe}")
    code, _, err = run(capsys, "--config", str(bare), "feeds", "import",
                       str(write(tmp_path, "export.opml", exported)))
    assert code == 0, err
    assert feeds_of(bare) == feeds_of(config)
    assert "  - {id: europe, title: Europe}\nfeeds:\n  - url: https://example.org/tech.xml\n" \
        in bare.read_text(encoding="utf-8")


BAD_INPUTS = [
    ("missing.opml", None, r"missing\.opml: cannot read: No such file or directory"),
    ("empty.opml", "", r"empty\.opml: line 1, column 1: invalid XML: no element found"),
    ("broken.opml", "<opml version='2.0'>\n  <body>\n    <outline text='x'>\n  </body>\n</opml>",
     r"broken\.opml: line 4, column 5: invalid XML: mismatched tag"),
    ("json.opml", '{"feeds": []}',
     r"json\.opml: line 1, column 1: invalid XML: not well-formed \(invalid token\)"),
    ("feed.opml", "<rss version='2.0'><channel/></rss>",
     r"feed\.opml: not an OPML file: the root element is <rss>, not <opml>"),
    ("nofeeds.opml", "<opml version='2.0'><head/><body><outline text='Folder'>"
     "<outline text='link' type='link' url='https://example.org/'/></outline></body></opml>",
     r"nofeeds\.opml: no feeds in this OPML file \(no <outline> with an xmlUrl\)"),
    ("nobody.opml", "<opml version='1.0'><head><title>x</title></head></opml>",
     r"nobody\.opml: no feeds in this OPML file"),
    ("laughs.opml", """<?xml version="1.0"?>
<!DOCTYPE opml [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<opml version="2.0"><body><outline text="&lol9;" xmlUrl="https://example.org/a"/></body></opml>
""", r"laughs\.opml: refused: the XML declares an entity \('lol'\); OPML needs none"),
    ("xxe.opml", """<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<opml version="2.0"><body><outline text="&secret;" xmlUrl="https://example.org/a"/></body></opml>
""", r"xxe\.opml: refused: the XML declares an entity \('secret'\)"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_INPUTS,
                         ids=[name for name, _, _ in BAD_INPUTS])
def test_bad_input_is_one_line_and_exit_2(config: Path, tmp_path: Path, name: str,
                                          content: str | None, message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / name
    if content is not None:
        source.write_text(content, encoding="utf-8")
    code, out, err = run(capsys, "--config", str(config), "feeds", "import", str(source))
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert re.match(rf"error: {re.escape(str(tmp_path))}/{message}", err), err
    assert config.read_text(encoding="utf-8") == CONFIG


def test_an_invalid_result_leaves_feeds_yaml_untouched(
        config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Fault injection at the one seam: the splice produces a config that does not validate.
    monkeypatch.setattr(opml, "append_feeds", lambda text, entries: text + "timezone: Mars/Base\n")
    config.chmod(0o640)
    code, _, err = run(capsys, "--config", str(config), "feeds", "import",
                       str(write(tmp_path, "feedly.opml", FEEDLY)))
    assert code == 2
    assert f"error: {config} (after import; left unchanged): 1 problem(s)" in err
    assert "timezone: unknown IANA time zone: 'Mars/Base'" in err
    assert config.read_text(encoding="utf-8") == CONFIG
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feedly.opml", "feeds.yaml"]


def test_add_feeds_validates_before_replacing(config: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        opml.add_feeds(config, [opml.NewFeed("https://example.com/x.xml", "X", "sports")],
                       env={})
    assert caught.value.exit_code == 2
    assert caught.value.problems == [
        "feeds[2].section: unknown section 'sports' (use auto or one of tech, africa, europe)"]
    assert config.read_text(encoding="utf-8") == CONFIG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feeds.yaml"]


def test_a_symlinked_config_stays_a_symlink_and_keeps_its_mode(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real = tmp_path / "real" / "feeds.yaml"
    real.parent.mkdir()
    real.write_text(CONFIG, encoding="utf-8")
    real.chmod(0o600)
    link = tmp_path / "feeds.yaml"
    link.symlink_to(real)
    code, _, _ = run(capsys, "--config", str(link), "feeds", "import",
                     str(write(tmp_path, "feedly.opml", FEEDLY)))
    assert code == 0
    assert link.is_symlink() and "chips/feed" in real.read_text(encoding="utf-8")
    assert stat.S_IMODE(real.stat().st_mode) == 0o600


def test_file_urls_need_allow_files_and_an_existing_file(
        config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    local = write(tmp_path, "local.xml", "<rss/>")
    source = write(tmp_path, "local.opml", f"""<opml version="2.0"><body>
        <outline text="Here" xmlUrl="{local.as_uri()}"/>
        <outline text="Gone" xmlUrl="{(tmp_path / 'gone.xml').as_uri()}"/>
        </body></opml>""")
    code, _, err = run(capsys, "--config", str(config), "feeds", "import", str(source),
                       "--allow-files")
    assert code == 0
    assert f"rejected {(tmp_path / 'gone.xml').as_uri()}: file:// URL names no existing" in err
    assert feeds_of(config)[2:] == [(local.as_uri(), "Here", "auto")]


# --- the feeds.yaml splice on its own ------------------------------------------------------------

ENTRY = {"url": "https://example.com/n.xml", "name": "New"}


@pytest.mark.parametrize(("before", "after"), [
    ("title: T\n", "title: T\nfeeds:\n  - url: https://example.com/n.xml\n    name: New\n"),
    ("title: T", "title: T\nfeeds:\n  - url: https://example.com/n.xml\n    name: New\n"),
    ("", "feeds:\n  - url: https://example.com/n.xml\n    name: New\n"),
    ("feeds:\ntitle: T\n",
     "feeds:\n  - url: https://example.com/n.xml\n    name: New\ntitle: T\n"),
    ("feeds: ~   # none yet\n",
     "feeds:    # none yet\n  - url: https://example.com/n.xml\n    name: New\n"),
    ("feeds: []\ntitle: T\n",
     "feeds:\n  - url: https://example.com/n.xml\n    name: New\ntitle: T\n"),
    ("feeds:\n- url: https://example.org/a.xml\ntitle: T\n",
     "feeds:\n- url: https://example.org/a.xml\n- url: https://example.com/n.xml\n  name: New\n"
     "title: T\n"),
    ("feeds:\n    -   url: https://example.org/a.xml\n",
     "feeds:\n    -   url: https://example.org/a.xml\n    -   url: https://example.com/n.xml\n"
     "        name: New\n"),
    ("feeds: [{url: https://example.org/a.xml}]  # flow\n",
     'feeds: [{url: https://example.org/a.xml}, {"url": "https://example.com/n.xml", '
     '"name": "New"}]  # flow\n'),
    ("feeds:\r\n  - url: https://example.org/a.xml\r\n\r\nx: 1\r\n",
     "feeds:\r\n  - url: https://example.org/a.xml\r\n  - url: https://example.com/n.xml\r\n"
     "    name: New\r\n\r\nx: 1\r\n"),
    ("feeds:\n  - url: https://example.org/a.xml\n    name: |\n      Block\n\nx: 1\n",
     "feeds:\n  - url: https://example.org/a.xml\n    name: |\n      Block\n\n"
     "  - url: https://example.com/n.xml\n    name: New\nx: 1\n"),
], ids=["no-feeds-key", "no-final-newline", "empty-file", "null", "tilde-comment", "empty-flow",
        "indentless", "wide-indent", "flow", "crlf", "block-scalar"])
def test_append_feeds_splices_text(before: str, after: str) -> None:
    assert opml.append_feeds(before, [ENTRY]) == after
    assert yaml.safe_load(after)["feeds"][-1] == ENTRY


@pytest.mark.parametrize("name", ["Yes", "no", "on", "2026", "1.5", "2026-11-30", "null", "~",
                                  "a: b", "x #y", "- dash", "'quoted'", '"dq"', "ünï", "@home",
                                  "[brackets]", "100%", "*star", "&amp", "!bang", "key:"])
def test_new_names_read_back_as_the_same_string(name: str) -> None:
    text = opml.append_feeds("feeds:\n", [{"url": "https://example.com/a?b=1&c=2#d",
                                           "name": name}])
    assert yaml.safe_load(text)["feeds"] == [{"url": "https://example.com/a?b=1&c=2#d",
                                             "name": name}]


def test_titles_are_cleaned_to_one_printable_line(tmp_path: Path) -> None:
    source = write(tmp_path, "x.opml", '<opml version="2.0"><body><outline '
                   'title="  Tab&#9;and&#10;newline\u0085 " xmlUrl="https://example.org/x"/>'
                   '</body></opml>')
    assert opml.read_opml(source) == [opml.OpmlFeed("https://example.org/x", "Tab and newline")]


def test_nested_folders_use_the_innermost_that_names_a_section(tmp_path: Path,
                                                               config: Path) -> None:
    source = write(tmp_path, "deep.opml", """<opml version="2.0"><body>
        <outline text="Tech"><outline text="Hardware"><outline text="Chips">
          <outline text="Deep" xmlUrl="https://example.org/deep"/>
        </outline></outline></outline>
        <outline text="Europe"><outline text="AFRICA">
          <outline text="Inner" xmlUrl="https://example.org/inner"/>
        </outline></outline></body></opml>""")
    feeds = opml.read_opml(source)
    assert feeds[0].folders == ("Tech", "Hardware", "Chips")
    plan = opml.plan_import(feeds, load_settings(config, env={}))
    assert [(f.url, f.section) for f in plan.added] == [
        ("https://example.org/deep", "tech"), ("https://example.org/inner", "africa")]


def test_feeds_without_subcommand_still_shows_health(config: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--config", str(config), "feeds", "--format", "json")
    assert code == 0
    assert [h["url"] for h in json.loads(out)] == [
        "https://example.org/tech.xml", "https://example.org/world.xml"]
    assert os.path.exists(config.parent / "test.db")


def test_export_escapes_names_and_reads_them_back(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    name = 'R&D "Lab" <weekly> — ünï'
    config = write(tmp_path, "feeds.yaml", "title: A & B <Brief>\nfeeds:\n"
                   f"  - url: https://example.org/rd?x=1&y=2\n    name: '{name}'\n")
    code, out, _ = run(capsys, "--config", str(config), "feeds", "export")
    assert code == 0
    assert '<title>A &amp; B &lt;Brief&gt;</title>' in out
    assert opml.read_opml(write(tmp_path, "out.opml", out)) == [
        opml.OpmlFeed("https://example.org/rd?x=1&y=2", name)]
