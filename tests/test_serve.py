"""`digest preview`: a real process serving the preview on 127.0.0.1, rendering again
when a template or feeds.yaml changes, and showing a broken config as an error page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from conftest import DEMO_EDITION, store_demo_items

pytestmark = pytest.mark.slow  # a real `digest preview` process


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=120) as response:
        return str(response.read().decode("utf-8"))


@pytest.fixture
def server(demo: Path) -> Iterator[tuple[str, Path]]:
    folder = demo.parent / "my-templates"
    folder.mkdir()
    (folder / "subject.txt.j2").write_text("{{ title }}\n", encoding="utf-8")
    config = yaml.safe_load(demo.read_text())
    config["email"] = {"templates": "my-templates"}
    demo.write_text(yaml.safe_dump(config))
    # The items must be stored first: the preview polls nothing.
    store_demo_items(demo)
    process = subprocess.Popen(
        [sys.executable, "-m", "digest", "--config", str(demo), "preview",
         "--port", "0", "--edition", DEMO_EDITION],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert match, f"no URL in {line!r}: {process.stderr.read() if process.stderr else ''}"
        yield match.group(0), folder
    finally:
        process.terminate()
        process.wait(timeout=120)


def test_preview_serves_the_edition_and_renders_again_on_change(
        server: tuple[str, Path], demo: Path) -> None:
    url, folder = server
    first = get(url)
    assert "The Weekly Brief (demo)" in first and "<script>" in first  # the reload script
    version = int(get(url + "version"))
    assert "Circuit Weekly" in get(url + "text")

    (folder / "edition.txt.j2").write_text("EDITED {{ title }}\n", encoding="utf-8")
    time.sleep(0.05)
    assert get(url + "text") == "EDITED The Weekly Brief (demo)\n"
    assert int(get(url + "version")) > version

    config = yaml.safe_load(demo.read_text())
    config["title"] = "Renamed Brief"
    demo.write_text(yaml.safe_dump(config))
    assert get(url + "text") == "EDITED Renamed Brief\n"

    demo.write_text("sections: [oops\n")  # invalid YAML: shown as the page, not a crash
    page = get(url)
    assert "invalid YAML" in page and "line" in page

    config["title"] = "Fixed Brief"
    demo.write_text(yaml.safe_dump(config))
    assert "Fixed Brief" in get(url)
