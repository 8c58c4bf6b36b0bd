"""The readers' web service as the operator runs it (issue 18): `digest serve`, `digest run` with
`web.enabled`, and `digest web snippet`, as real processes on 127.0.0.1, stopped by SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.error import HTTPError, URLError

import pytest
import yaml

from conftest import HANG, WriteConfig, free_port, wait_until
from digest.cli import main
from digest.config import load_settings

SECRET = "a-web-secret-for-the-tests-only-0123456789"


def web_config(write_config: WriteConfig, port: int, **web: object) -> Path:
    return write_config({"web": {"base_url": "https://news.example.org", "secret": SECRET,
                                 "port": port, **web},
                         "email": {"postal_address": "1 Example Street, Lagos"}})


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return int(answer.status), answer.read().decode()
    except HTTPError as e:
        return e.code, e.read().decode()


def answers(url: str) -> bool:
    try:
        return get(url)[0] == 200
    except (URLError, OSError):
        return False


def stop(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=HANG)
    return process.returncode, err.decode()


@pytest.mark.slow
def test_digest_serve_answers_and_stops_cleanly(write_config: WriteConfig) -> None:
    port = free_port()
    config = web_config(write_config, port)
    process = subprocess.Popen([sys.executable, "-m", "digest", "--config", str(config),
                                "serve"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/healthz"), "digest serve")
        status, page = get(f"http://127.0.0.1:{port}/subscribe?email=ana%40example.org")
        assert status == 200 and 'value="ana@example.org"' in page
        # the recipients of feeds.yaml were synced when it started: a reader, active
        settings = load_settings(config, env={})
        from digest.app import make_app

        app = make_app(settings)
        try:
            [ana] = app.readers.select()
            leave = app.readers.links(ana)
            assert leave is not None
        finally:
            app.close()
        request = urllib.request.Request(
            leave.unsubscribe.replace("https://news.example.org", f"http://127.0.0.1:{port}"),
            data=b"List-Unsubscribe=One-Click", method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
    finally:
        code, err = stop(process)
    assert code == 0, err
    assert f"on 127.0.0.1:{port}" in err
    assert "token=" not in err  # the access log never writes a reader's token
    assert not answers(f"http://127.0.0.1:{port}/healthz")


@pytest.mark.slow
@pytest.mark.real_clock(reason="digest run's heartbeat and scheduler run on the wall clock")
def test_digest_run_serves_the_pages_when_web_is_enabled(write_config: WriteConfig) -> None:
    port = free_port()
    config = web_config(write_config, port, enabled=True)
    process = subprocess.Popen([sys.executable, "-m", "digest", "--config", str(config), "run"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/healthz"), "digest run's pages")
        assert get(f"http://127.0.0.1:{port}/subscribe")[0] == 200
    finally:
        code, err = stop(process)
    assert code == 0, err
    assert re.search(rf"web: serving the readers' pages for https://news\.example\.org on "
                     rf"127\.0\.0\.1:{port}", err)
    assert not answers(f"http://127.0.0.1:{port}/healthz")


def test_serve_without_the_web_block_is_a_config_error(
        write_config: WriteConfig, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config()
    assert main(["--config", str(config), "serve"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "web.base_url and web.secret are needed" in err


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str | None]] = []
        self.inputs: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "form":
            self.forms.append(dict(attrs))
        elif tag == "input":
            self.inputs.append(dict(attrs))


def test_the_snippet_is_a_form_that_only_opens_the_subscribe_page(
        write_config: WriteConfig, capsys: pytest.CaptureFixture[str]) -> None:
    config = web_config(write_config, 8080)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["title"] = 'The "Brief" <b>'
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["--config", str(config), "web", "snippet"]) == 0
    html = capsys.readouterr().out
    parser = _Form()
    parser.feed(html)
    # GET: it changes nothing; the reader reads the consent and confirms on our page
    assert parser.forms == [{"class": "digest-subscribe",
                             "action": "https://news.example.org/subscribe", "method": "get"}]
    assert [i["name"] for i in parser.inputs] == ["email"]
    assert "<b>" not in html and "The &quot;Brief&quot; &lt;b&gt;" in html
    assert main(["--config", str(write_config()), "web", "snippet"]) == 2
