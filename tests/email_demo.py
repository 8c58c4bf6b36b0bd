"""The demo edition's HTML email as `digest build --format html` makes it, in each email theme,
for the tests that judge the email from outside (caniemail's data, a real browser). A test
helper: it only prepares the private copy of the demo the `demo` fixture makes.

The demo's feeds carry no pictures, so an email built from them has no <img> at all and
nothing image-related could be checked: `add_thumbnails` gives every other item of the copy a
media:thumbnail (an invented https URL on IMAGE_HOST, which never resolves: the browser test
answers those requests itself), so the built email has stories with and without a picture,
in a theme that shows pictures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conftest import DEMO_EDITION
from digest import render
from digest.cli import main

# The themes `email.theme` offers (digest.render.THEMES); before it existed, the one built-in
# look, which no configuration key chose.
THEMES: tuple[str, ...] = tuple(getattr(render, "THEMES", ("classic",)))
CONFIGURABLE = hasattr(render, "THEMES")

IMAGE_HOST = "images.example.net"
MRSS = "http://search.yahoo.com/mrss/"  # Media RSS, whose <media:thumbnail> feeds carry
_ROOTS = {  # a feed's root element, and where the Media RSS namespace is declared on it
    '<rss version="2.0"': f'<rss version="2.0" xmlns:media="{MRSS}"',
    '<feed xmlns="http://www.w3.org/2005/Atom"':
        f'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="{MRSS}"',
}


def add_thumbnails(config: Path) -> int:
    """Give every other item of the demo copy's feeds a 640x360 thumbnail on IMAGE_HOST;
    returns how many there are. Done once: a copy that has them is left as it is."""
    added = 0
    for feed in sorted((config.parent / "feeds").iterdir()):
        text = feed.read_text(encoding="utf-8")
        if MRSS in text:
            added += text.count("<media:thumbnail ")
            continue
        root = next(r for r in _ROOTS if r in text)
        text = text.replace(root, _ROOTS[root], 1)
        count = 0

        def thumbnail(match: re.Match[str], stem: str = feed.stem) -> str:
            nonlocal count, added
            count += 1
            if count % 2:
                return match.group(0)
            added += 1
            url = f"https://{IMAGE_HOST}/demo/{stem}-{count}.png"
            return (f'{match.group(0)}<media:thumbnail url="{url}" width="640" height="360"/>')

        feed.write_text(re.sub(r"<item>|<entry>", thumbnail, text), encoding="utf-8")
    assert added > 10, f"only {added} thumbnails added to {config.parent / 'feeds'}"
    return added


def use_theme(config: Path, theme: str) -> None:
    """Choose `theme` in the config (`email.theme`), where themes can be chosen."""
    if not CONFIGURABLE:
        assert theme == "classic", theme
        return
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data.setdefault("email", {})["theme"] = theme
    config.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
                      encoding="utf-8")


def build_html(config: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """The demo edition's HTML email, as `digest build --format html` prints it."""
    code = main(["--config", str(config), "build", "--format", "html",
                 "--edition", DEMO_EDITION])
    captured = capsys.readouterr()
    assert code == 0 and "</html>" in captured.out, (code, captured.err[-2000:])
    return captured.out


_built: dict[str, str] = {}  # theme -> HTML: the demo is built once per theme and session


def has_thumbnails(html: str) -> bool:
    """Whether an email shows any of the thumbnails add_thumbnails gave its stories."""
    return f'src="https://{IMAGE_HOST}/' in html


def demo_email(config: Path, theme: str, capsys: pytest.CaptureFixture[str]) -> str:
    """The demo edition, with thumbnails, in `theme`: built from the copy at `config` the first
    time a test asks for that theme (a copy may be built in each theme in turn), the same HTML
    after that (the build is deterministic: same feeds, same edition date)."""
    if theme not in _built:
        add_thumbnails(config)
        use_theme(config, theme)
        _built[theme] = build_html(config, capsys)
    return _built[theme]
