"""config: loading, ${VAR} expansion, path resolution, every problem with its key path."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import DEMO, FEEDS, REPO, WriteConfig
from digest.config import json_schema, load_settings, parse_duration
from digest.errors import ConfigError


def refused(path: Path) -> ConfigError:
    """The error loading this config raises (it must fail)."""
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    return caught.value

def test_root_feeds_yaml_is_a_useful_default() -> None:
    settings = load_settings(REPO / "feeds.yaml", env={})
    assert [s.id for s in settings.sections] == ["tech", "africa", "europe"]
    assert all(len(s.keywords) >= 20 for s in settings.sections)
    assert len(settings.feeds) >= 8
    assert all(f.url.startswith("https://") for f in settings.feeds)
    fixed = {f.section for f in settings.feeds}
    assert {"tech", "africa", "europe", "auto"} <= fixed  # plus world feeds sectioned by content
    assert settings.delivery.transport == "smtp"
    assert settings.delivery.smtp.password is None  # no secret in the file itself


def test_root_feeds_yaml_takes_secrets_from_the_environment() -> None:
    env = {"SMTP_PASSWORD": "s3cret", "SMTP_HOST": "mail.example.org",
           "DIGEST_RECIPIENT": "reader@example.org"}
    settings = load_settings(REPO / "feeds.yaml", env=env)
    assert settings.delivery.smtp.host == "mail.example.org"
    assert settings.delivery.smtp.password is not None
    assert settings.delivery.smtp.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)  # SecretStr never shows its value
    assert [r.email for r in settings.recipients] == ["reader@example.org"]


def test_demo_config_resolves_paths_against_its_folder() -> None:
    settings = load_settings(DEMO / "feeds.yaml", env={})
    assert settings.database == f"sqlite:///{(DEMO / 'demo.db').resolve()}"
    assert settings.feeds[0].url == (DEMO / "feeds" / "tech.xml").resolve().as_uri()
    assert settings.delivery.outbox == str((DEMO / "outbox").resolve())
    assert settings.recipients[1].sections == ("tech", "europe")
    assert settings.tz.key == "Europe/London"


def test_every_problem_is_reported_with_its_key_path(write_config: WriteConfig) -> None:
    path = write_config({
        "timezone": "Mars/Olympus",
        "schedule": {"digest": "0 7 * *"},
        "edition": {"window": "a week", "max_stories": 0},
        "feeds": [
            {"url": "https://example.org/a.xml"},
            {"url": "ftp://example.org/feed.xml"},
            {"url": "missing/feed.xml", "section": "sport"},
            {"url": "https://example.org/a.xml", "weight": -1},
        ],
        "recipients": ["not-an-address", {"email": "ben@example.org", "sections": ["nope"]},
                       "Ben@example.org"],
        "delivery": {"from": "nobody", "transport": "pigeon"},
    })
    error = refused(path)
    problems = "\n".join(error.problems)
    for expected in [
        "timezone: unknown IANA time zone",
        "schedule.digest: cron needs 5 fields",
        "edition.window: not a duration",
        "edition.max_stories:",
        "feeds[1].url: not an http(s) URL, file:// URL or existing path",
        "feeds[2].url: not an http(s) URL, file:// URL or existing path",
        "feeds[2].section: unknown section 'sport'",
        "feeds[3].weight:",
        "feeds[3].url: listed twice",
        "recipients[0].email: not an email address",
        "recipients[1].sections[0]: unknown section 'nope'",
        "recipients[2]: 'Ben@example.org' is listed twice",
        "delivery.from: not an email address",
        "delivery.transport:",
    ]:
        assert expected in problems, f"missing {expected!r} in:\n{problems}"
    assert error.exit_code == 2
    assert not (path.parent / "test.db").exists()  # nothing written


def test_section_words_and_limits(write_config: WriteConfig) -> None:
    path = write_config({
        "edition": {"classify": "always", "min_score": 4, "max_per_source": 2},
        "sections": [
            {"id": "tech", "title": "Tech", "keywords": ["Graphcore", {"term": "RISC-V",
                                                                       "weight": 4}],
             "exclude": ["Apple"], "boost": {"Nvidia": 1.5}, "min_stories": 2},
            {"id": "asia", "title": "Asia", "knowledge": [], "max_per_source": 1},
        ],
    })
    settings = load_settings(path, env={})
    tech, asia = settings.sections
    assert [(k.term, k.weight) for k in tech.keywords] == [("Graphcore", 3.0), ("RISC-V", 4.0)]
    assert tech.lexicons() == ("tech",)  # named like a built-in list
    assert asia.lexicons() == ()
    assert tech.boost == {"Nvidia": 1.5} and tech.min_stories == 2
    assert settings.edition.classify == "always" and settings.edition.max_per_source == 2


def test_bad_section_words_are_named(write_config: WriteConfig) -> None:
    path = write_config({"sections": [
        {"id": "asia", "title": "Asia", "knowledge": ["asia"], "boost": {"Sony": 0},
         "keywords": [{"term": "", "weight": 99}]},
    ], "edition": {"classify": "sometimes"}})
    problems = "\n".join(refused(path).problems)
    assert "sections[0].knowledge: no built-in word list 'asia' (there are: africa" in problems
    assert "sections[0].boost: boost for 'Sony' must be above 0" in problems
    assert "sections[0].keywords[0].term:" in problems
    assert "sections[0].keywords[0].weight:" in problems
    assert "edition.classify:" in problems


def test_unknown_keys_are_named(write_config: WriteConfig) -> None:
    path = write_config({"feeds": [{"url": "https://example.org/f.xml", "sectoin": "tech"}]})
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert any(p.startswith("feeds[0].sectoin:") for p in caught.value.problems)


def test_env_expansion_with_defaults_and_missing_names(write_config: WriteConfig) -> None:
    path = write_config({
        "title": "${TITLE:-Default Title}",
        "delivery": {"from": "Brief <${SENDER}>", "transport": "smtp",
                     "smtp": {"host": "${SMTP_HOST}", "password": "${SMTP_PASSWORD}"}},
    })
    settings = load_settings(path, env={"SENDER": "b@example.org", "SMTP_HOST": "mx",
                                        "SMTP_PASSWORD": "pw"})
    assert settings.title == "Default Title"
    assert settings.delivery.from_ == "Brief <b@example.org>"
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={"SENDER": "b@example.org"})
    assert "delivery.smtp.host: environment variable SMTP_HOST is not set" in caught.value.problems
    assert ("delivery.smtp.password: environment variable SMTP_PASSWORD is not set"
            in caught.value.problems)


def test_database_url_from_environment_wins(write_config: WriteConfig, tmp_path: Path) -> None:
    path = write_config()
    assert load_settings(path, env={}).database == f"sqlite:///{tmp_path / 'test.db'}"
    url = "postgresql+psycopg://u@db.example.org/digest"
    assert load_settings(path, env={"DIGEST_DATABASE_URL": url}).database == url


def test_feed_urls_paths_and_file_urls(write_config: WriteConfig, tmp_path: Path) -> None:
    local = tmp_path / "local.xml"
    local.write_bytes((FEEDS / "rss2.xml").read_bytes())
    path = write_config({"feeds": [{"url": "local.xml"}, {"url": local.as_uri()},
                                   {"url": "http://127.0.0.1:8080/feed"}]})
    urls = [f.url for f in load_settings(path, env={}).feeds]
    assert urls == [local.resolve().as_uri(), local.as_uri(), "http://127.0.0.1:8080/feed"]


def test_bad_yaml_names_the_line(write_config: WriteConfig, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("title: x\nfeeds: [\n  - url: a\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert caught.value.problems[0].startswith("line ")
    assert "invalid YAML" in caught.value.problems[0]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "nope.yaml", env={})
    assert "cannot read" in str(caught.value)


def test_settings_are_frozen(write_config: WriteConfig) -> None:
    settings = load_settings(write_config(), env={})
    with pytest.raises(ValueError):
        settings.title = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("1h", 3600),
                                               ("7d", 604800), ("2w", 1209600), (45, 45)])
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_json_schema_describes_the_file() -> None:
    schema = json.loads(json_schema())
    assert schema["$schema"].startswith("https://json-schema.org/")
    props = schema["properties"]
    assert {"title", "timezone", "database", "schedule", "edition", "sections", "feeds",
            "delivery", "recipients"} <= set(props)
    assert "source" not in props  # internal, not part of the file
    delivery = schema["$defs"]["DeliverySettings"]["properties"]
    assert "from" in delivery and "from_" not in delivery


def test_smtp_connections_and_ca_file(write_config: WriteConfig, tmp_path: Path) -> None:
    (tmp_path / "relay-ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    path = write_config({"delivery": {"transport": "smtp", "smtp": {
        "connections": 4, "ca_file": "relay-ca.pem"}}})
    smtp = load_settings(path, env={}).delivery.smtp
    assert smtp.connections == 4
    assert smtp.ca_file == str(tmp_path / "relay-ca.pem")  # relative to the config
    assert load_settings(write_config({}), env={}).delivery.smtp.connections == 1

    bad = write_config({"delivery": {"smtp": {"connections": 0, "ca_file": "missing.pem"}}})
    with pytest.raises(ConfigError) as caught:
        load_settings(bad, env={})
    message = str(caught.value)
    assert "delivery.smtp.connections" in message
    assert "delivery.smtp.ca_file" in message and "missing.pem" in message


# --- files that must be refused with one line each, never a crash (issue 17) ---

def _bomb(levels: int = 9, width: int = 9) -> str:
    """A "billion laughs": each level an anchored list of `width` aliases of the one above."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    """Nine levels of nine aliases (387 million nodes expanded) took `config check` past 3 GB;
    now it is refused from the composed nodes, in a process allowed 400 MB of address space."""
    config = tmp_path / "feeds.yaml"
    config.write_text(_bomb(), encoding="utf-8")
    limit = 400 * 1024 * 1024
    code = ("import resource, sys; "
            f"resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit})); "
            "from digest.cli import main; "
            f"sys.exit(main(['--config', {str(config)!r}, 'config', 'check']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    # l5 is the first to pass the bound: 9**5 lists of nine... 597,871 nodes
    assert "line 6: aliases would expand this to 597,871 nodes, over 100,000 more" in done.stderr
    assert "Traceback" not in done.stderr


def test_aliases_within_the_bound_still_work(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("sections:\n"
                    "  - {id: tech, title: Tech, keywords: &words [AI, chip]}\n"
                    "  - {id: more, title: More, keywords: *words}\n"
                    "recipients: [&ana ana@example.org]\n"
                    "database: test.db\n" + _bomb(levels=5).replace("l", "x-l", 1),
                    encoding="utf-8")  # 66,430 nodes once expanded: within the bound
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert [p.split(":")[0] for p in caught.value.problems] == [  # unknown keys, only
        "x-l0", "l1", "l2", "l3", "l4"]
    path.write_text(path.read_text(encoding="utf-8").split("database")[0], encoding="utf-8")
    settings = load_settings(path, env={})
    assert [k.term for k in settings.sections[1].keywords] == ["AI", "chip"]


@pytest.mark.parametrize(("text", "problem"), [
    ("feeds: &a [*a]\n", "line 1: an alias refers to the node it is in"),
    ("title: x\nedition: &e {window: *e}\n", "line 2: an alias refers to the node it is in"),
    ("title: x\nfeeds: &f\n  - url: *f\n", "line 2: an alias refers to the node it is in"),
    ("title: x\nfeeds: " + "[" * 70 + "]" * 70 + "\n", "line 2: nested more than 64 deep"),
    (f"title: x\nedition:\n  max_stories: {'9' * 5000}\n",
     "line 3, column 16: invalid YAML: an integer of more than 4300 digits"),
    ("title: 2026-02-30\n", "line 1, column 8: invalid YAML: '2026-02-30': day is out of range"),
    ("title: a\x00b\n", "line 1: invalid YAML: character #x0000 is not allowed"),
    ("title: x\nfeeds: [\n", "line 3, column 1: invalid YAML:"),
])
def test_unreadable_yaml_is_one_line_naming_the_line(tmp_path: Path, text: str,
                                                     problem: str) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(problem), caught.value.problems


def test_a_file_that_is_not_utf8_names_the_byte_and_its_offset(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_bytes(b"title: The Weekly Brief\nfeeds: []\nname: caf\xe9\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert caught.value.problems == ["<file>: not UTF-8: byte 0xe9 at offset 43 (line 3)"]
    assert str(caught.value).startswith(f"{path}: 1 problem(s)")


def test_values_of_the_wrong_shape_are_named_not_crashed_on(write_config: WriteConfig) -> None:
    """A list or mapping where a single value belongs crashed the cross-reference checks
    (unhashable, not iterable): pydantic names each, and the checks skip them."""
    path = write_config({
        "sections": [{"id": ["tech"], "title": "Tech"}, {"id": "tech", "title": "T"},
                     {"id": "tech", "title": "T2"}],
        "feeds": [{"url": ["https://example.org/a.xml"]}, {"url": {"u": 1}, "section": ["x"]},
                  {"url": "https://example.org/b.xml", "section": {"id": "tech"}},
                  "https://example.org/c.xml", {"url": "https://example.org/d.xml",
                                                "section": "nope"}],
        "recipients": [{"email": ["ana@example.org"], "sections": 5},
                       {"email": "ben@example.org", "sections": [["tech"], "nope"]}],
    })
    problems = "\n".join(refused(path).problems)
    for expected in [
        "sections[0].id: Input should be a valid string",
        "sections[2].id: duplicate section id 'tech'",
        "feeds[0].url: Input should be a valid string",
        "feeds[1].url: Input should be a valid string",
        "feeds[1].section: Input should be a valid string",
        "feeds[2].section: Input should be a valid string",
        "feeds[3]: Input should be a valid dictionary",
        "feeds[4].section: unknown section 'nope'",
        "recipients[0].email: Input should be a valid string",
        "recipients[0].sections: Input should be a list",
        "recipients[1].sections[0]: Input should be a valid string",
        "recipients[1].sections[1]: unknown section 'nope'",
    ]:
        assert expected in problems, f"missing {expected!r} in:\n{problems}"
    for scalar in ("recipients", "feeds", "sections"):
        with pytest.raises(ConfigError) as caught:
            load_settings(write_config({scalar: 5}), env={})
        assert caught.value.problems == [f"{scalar}: Input should be a list"]


@pytest.mark.parametrize("key", [
    "schedule.poll_every", "schedule.grace", "edition.window", "edition.half_life", "retention",
    "fetch.connect_timeout", "fetch.timeout", "fetch.max_backoff", "delivery.claim_timeout",
    "feeds[0].poll_every",
])
def test_every_duration_is_bounded(write_config: WriteConfig, key: str) -> None:
    """`poll_every: 99999999999w` crashed the check (OverflowError); `edition.window:
    99999999w` passed it and crashed `build`. A century at most, and never negative."""
    for value, problem in [("99999999999w", "at most 36500d (100 years), not '99999999999w'"),
                           ("9" * 400 + "s", "at most 36500d (100 years), not '999"),
                           (10**100, "at most 36500d (100 years), not 1000"),
                           (-5, "a duration cannot be negative: -5"),
                           ("36501d", "at most 36500d (100 years), not '36501d'")]:
        data: dict[str, object] = {"feeds": [{"url": "https://example.org/a.xml"}]}
        *parents, last = key.replace("[0]", "").split(".")
        node: Any = data
        for part in parents:
            node = node.setdefault(part, {}) if part != "feeds" else node["feeds"][0]
        node[last] = value
        with pytest.raises(ConfigError) as caught:
            load_settings(write_config(data), env={})
        assert f"{key}: {problem}" in "\n".join(caught.value.problems)
    assert parse_duration("36500d") == timedelta(days=36500)


def test_sizes_and_numbers_are_bounded(write_config: WriteConfig) -> None:
    path = write_config({"fetch": {"max_bytes": "9" * 400 + "GB"},
                         "email": {"max_html_bytes": 2**64},
                         "feeds": [{"url": "https://example.org/a.xml", "weight": float("inf")}],
                         "edition": {"min_score": float("nan")}})
    problems = "\n".join(refused(path).problems)
    assert "fetch.max_bytes: at most 1024GiB, not '999" in problems
    assert "email.max_html_bytes: at most 1024GiB, not 18446744073709551616" in problems
    assert "feeds[0].weight: Input should be a finite number" in problems
    assert "edition.min_score: Input should be a finite number" in problems


def test_paths_the_system_refuses_are_problems(write_config: WriteConfig) -> None:
    """`~nosuchuser/...` (RuntimeError) and a name too long for the system (OSError) crashed
    the check."""
    long = "a" * 5000
    path = write_config({"feeds": [{"url": "~nosuchuser/feed.xml"}, {"url": long}],
                         "email": {"templates": long},
                         "delivery": {"outbox": "~nosuchuser/outbox", "smtp": {"ca_file": long}},
                         "database": "~nosuchuser/digest.db"})
    problems = "\n".join(refused(path).problems)
    for expected in ["feeds[0].url: no home folder for '~nosuchuser'",
                     "feeds[1].url: not an http(s) URL, file:// URL or existing path: 'aaa",
                     "email.templates: no such folder: ", "delivery.smtp.ca_file: no such file: ",
                     "delivery.outbox: no home folder for '~nosuchuser'",
                     "database: no home folder for '~nosuchuser'"]:
        assert expected in problems, f"missing {expected!r} in:\n{problems}"
