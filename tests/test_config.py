"""config: loading, ${VAR} expansion, path resolution, every problem with its key path."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import DEMO, FEEDS, REPO, WriteConfig
from digest.config import json_schema, load_settings, parse_duration
from digest.errors import ConfigError


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
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    problems = "\n".join(caught.value.problems)
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
    assert caught.value.exit_code == 2
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
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    problems = "\n".join(caught.value.problems)
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
