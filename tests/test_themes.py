"""The email's looks (issue 21): the classic and briefing themes render the demo edition, the
look's settings (accent, logo, stories in full, the editor's note) reach both parts and are
validated in feeds.yaml, pictures carry their size and a short alt text, the footer carries
every link and the postal address, and an override folder still replaces a theme's templates.
How it looks in a browser is tests/test_email_browser.py's job."""

from __future__ import annotations

import json
import random
import re
import shutil
import textwrap
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, date, datetime
from html import unescape
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import digest.render
from conftest import DEMO, DEMO_EDITION, WriteConfig
from digest.cli import main
from digest.colours import WHITE, contrast
from digest.config import load_settings
from digest.errors import ConfigError, RenderError
from digest.models import (
    PREFERENCES_PLACEHOLDER,
    UNSUBSCRIBE_PLACEHOLDER,
    AlsoLink,
    Edition,
    Section,
    Story,
    edition_from_dict,
)
from digest.render import DARK_CARD, THEMES, Renderer, palette

LONDON = ZoneInfo("Europe/London")
ADDRESS = "The Weekly Brief, 1 Example Street, Springfield"
VIEW = "https://brief.example.org/editions/{edition}/"
LOGO = "https://brand.example.org/logo.png"
DEMO_BYTES = 60_000  # issue 21: a 30-story edition's HTML at most


@pytest.fixture(scope="module")
def demo_edition(tmp_path_factory: pytest.TempPathFactory) -> Edition:
    """The demo edition (29 stories) as `digest build --format json` makes it, with a picture
    for every other story (the demo's feeds carry none)."""
    folder = tmp_path_factory.mktemp("demo") / "demo"
    shutil.copytree(DEMO, folder, ignore=shutil.ignore_patterns("preview", "outbox", "*.db*"))
    out, err = StringIO(), StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["--config", str(folder / "feeds.yaml"), "build", "--format", "json",
                     "--edition", DEMO_EDITION])
    assert code == 0, err.getvalue()
    edition = edition_from_dict(json.loads(out.getvalue()))
    n = 0
    sections = []
    for section in edition.sections:
        stories = []
        for story in section.stories:
            n += 1
            image = f"https://images.example.net/demo/{n}.jpg" if n % 2 else None
            stories.append(Story(**{**{f: getattr(story, f) for f in story.__slots__},
                                    "image": image}))
        sections.append(Section(section.id, section.title, tuple(stories)))
    return Edition(date=edition.date, title=edition.title, generated_at=edition.generated_at,
                   sections=tuple(sections))


def story(n: int, *, image: bool = True, also: tuple[AlsoLink, ...] = ()) -> Story:
    return Story(
        title=f"Headline number {n} about a harbour, a ferry and the winter timetable",
        url=f"https://news.example.org/2026/11/28/story-{n}", source="Harbourside Courier",
        published=datetime(2026, 11, 28, 9, n, tzinfo=UTC),
        summary=f"The first sentence of story {n} says what happened. A second sentence adds "
                "the context that readers of the full story would want to know about.",
        weight=1.0, items=(), also=also,
        image=f"https://img.example.org/{n}.jpg" if image else None)


def edition(*counts: int) -> Edition:
    """Sections named s0, s1... holding `counts` stories each."""
    n = iter(range(1, 1000))
    return Edition(date=date(2026, 11, 30), title="The Weekly Brief",
                   generated_at=datetime(2026, 11, 30, 7, tzinfo=UTC),
                   sections=tuple(Section(f"s{i}", f"Section {i}",
                                          tuple(story(next(n)) for _ in range(c)))
                                  for i, c in enumerate(counts)))


def section_html(html: str, section_id: str) -> str:
    """The HTML from a section's heading to the next one's (or the end)."""
    start = html.index(f'id="section-{section_id}"')
    end = html.find('id="section-', start + 1)
    return html[start:end if end > 0 else len(html)]


def text_of(page: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", page)).split())


# --- both themes render the demo ---------------------------------------------------------------


@pytest.mark.parametrize("theme", THEMES)
def test_each_theme_renders_the_demo_within_the_size_budget(demo_edition: Edition,
                                                            theme: str) -> None:
    rendered = Renderer(LONDON, theme=theme, view_url=VIEW, postal_address=ADDRESS,
                        preferences=True, logo=LOGO, logo_width=120, logo_height=36,
                        note="Welcome.").render(demo_edition)
    assert len(demo_edition.stories) == 29
    for s in demo_edition.stories:
        assert s.title in unescape(rendered.html), s.title
        assert f'href="{s.url.replace("&", "&amp;")}"' in rendered.html
        assert f"<{s.url}>" in rendered.text
    size = len(rendered.html.encode())
    assert size <= DEMO_BYTES, f"{theme}: the demo's HTML is {size:,} bytes"


def test_the_themes_differ_and_classic_is_the_default(demo_edition: Edition) -> None:
    default = Renderer(LONDON).render(demo_edition)
    assert default == Renderer(LONDON, theme="classic").render(demo_edition)
    briefing = Renderer(LONDON, theme="briefing").render(demo_edition)
    assert briefing.html != default.html and briefing.text != default.text
    assert briefing.subject == default.subject
    with pytest.raises(RenderError, match=r"email\.theme: no theme 'fancy'"):
        Renderer(LONDON, theme="fancy")


def test_briefing_has_no_images_at_all(demo_edition: Edition) -> None:
    html = Renderer(LONDON, theme="briefing", logo=LOGO, logo_width=120,
                    logo_height=36).render(demo_edition).html
    assert any(s.image for s in demo_edition.stories)
    assert "<img" not in html and "images.example.net" not in html and LOGO not in html
    classic = Renderer(LONDON, logo=LOGO, logo_width=120, logo_height=36).render(demo_edition)
    assert "<img" in classic.html  # the control: the same edition has pictures in classic


# --- stories in full and in brief --------------------------------------------------------------


@pytest.mark.parametrize("full", [0, 1, 2, 5])
def test_full_stories_per_section_the_rest_in_brief(full: int) -> None:
    counts = (4, 1, 3)
    rendered = Renderer(LONDON, full_stories=full).render(edition(*counts))
    for i, count in enumerate(counts):
        part = section_html(rendered.html, f"s{i}")
        assert part.count('<h3 class="story-title"') == min(full, count), (i, full)
        assert part.count('<p class="brief') == max(count - full, 0), (i, full)
        assert ("In brief" in part) == (0 < full < count)
    assert rendered.text.count("    In brief") == sum(0 < full < c for c in counts)
    # full stories show their summary whole, in brief its first sentence only
    whole = "A second sentence adds the context"
    assert rendered.html.count(whole) == sum(min(full, c) for c in counts)
    assert " ".join(rendered.text.split()).count(whole) == sum(min(full, c) for c in counts)


def test_briefing_lists_every_story_in_brief() -> None:
    rendered = Renderer(LONDON, theme="briefing", full_stories=3).render(edition(4, 2))
    assert rendered.html.count('<p class="brief') == 6
    assert "<h3" not in rendered.html
    assert "A second sentence adds the context" not in rendered.html + rendered.text
    assert "The first sentence of story 1 says what happened." in rendered.text


def test_in_brief_names_the_other_outlets_with_links() -> None:
    also = (AlsoLink("Quayside Times", "https://quayside.example.com/ferry"),)
    lead, brief = story(1), story(2, also=also)
    for theme in THEMES:
        rendered = Renderer(LONDON, theme=theme).render(Edition(
            date=date(2026, 11, 30), title="T", generated_at=datetime(2026, 11, 30, tzinfo=UTC),
            sections=(Section("s0", "Harbour", (lead, brief)),)))
        assert '<a href="https://quayside.example.com/ferry">Quayside Times</a>' in rendered.html
        assert "Also covered by Quayside Times: <https://quayside.example.com/ferry>" \
            in rendered.text


# --- pictures ----------------------------------------------------------------------------------


def test_pictures_have_a_size_and_a_short_alt_text(demo_edition: Edition) -> None:
    html = Renderer(LONDON, full_stories=3, logo=LOGO, logo_width=120,
                    logo_height=36).render(demo_edition).html
    images = re.findall(r"<img [^>]*>", html)
    assert len(images) >= 6
    titles = {s.title for s in demo_edition.stories}
    alts = []
    for image in images:
        alt = re.search(r'\salt="([^"]*)"', image)
        assert alt is not None and len(alt.group(1)) <= 40, image
        assert alt.group(1) not in titles, image
        assert re.search(r'\swidth="\d+"', image) and re.search(r'\sheight="\d+"', image), image
        alts.append(alt.group(1))
    assert "object-fit" not in html
    assert alts[0] == ""  # the logo: the title is written next to it
    assert set(alts[1:]) <= {s.source for s in demo_edition.stories}  # the stories' outlets


def test_the_logo_sits_on_a_white_box_with_its_size(demo_edition: Edition) -> None:
    html = Renderer(LONDON, logo=LOGO, logo_width=150, logo_height=40).render(demo_edition).html
    logo = re.search(rf'<td class="logo-box"[^>]*><img src="{re.escape(LOGO)}"[^>]*>', html)
    assert logo is not None
    assert 'bgcolor="#ffffff"' in logo.group(0) and "background-color:#ffffff" in logo.group(0)
    assert 'width="150"' in logo.group(0) and 'height="40"' in logo.group(0)
    assert 'alt=""' in logo.group(0)  # the title is written next to it
    assert html.index(LOGO) < html.index("The Weekly Brief (demo)</h1>")
    with pytest.raises(RenderError, match=r"email\.logo: needs logo_width and logo_height"):
        Renderer(LONDON, logo=LOGO, logo_width=150)


# --- accent and dark mode ----------------------------------------------------------------------


def test_the_accent_colours_links_rules_and_bands() -> None:
    html = Renderer(LONDON, accent="#7A1F5C").render(edition(2)).html
    colours = palette("#7a1f5c")
    assert "a { color: #7a1f5c; }" in html
    assert f'bgcolor="{colours["tint"]}"' in html  # the section band
    assert "#0b5cad" not in html
    assert contrast(colours["accent"], WHITE) >= 4.5
    assert contrast(colours["dark_accent"], DARK_CARD) >= 7  # links on the dark cards
    assert colours["dark_accent"] in html and colours["dark_tint"] in html


@pytest.mark.parametrize("accent", ["#ffcc00", "#8ab4f8", "#999"])
def test_an_accent_too_light_for_white_is_refused(accent: str) -> None:
    with pytest.raises(RenderError, match=r"email\.accent: #\w{6} on white has a contrast of"):
        Renderer(LONDON, accent=accent)


@pytest.mark.parametrize("theme", THEMES)
def test_dark_mode_for_every_kind_of_client(theme: str) -> None:
    html = Renderer(LONDON, theme=theme).render(edition(3)).html
    assert '<meta name="color-scheme" content="light dark"' in html
    assert "@media (prefers-color-scheme: dark)" in html  # Apple Mail, Outlook for macOS
    assert "[data-ogsc]" in html and "[data-ogsb]" in html  # Outlook.com
    # clients that invert colours themselves: no light text on a coloured background
    assert not re.search(r"(?<![\w-])color:\s*#fff(fff)?\b", html, re.IGNORECASE)


# --- masthead, contents, note, footer ----------------------------------------------------------


@pytest.mark.parametrize("theme", THEMES)
def test_contents_read_as_text_where_anchors_do_not_work(theme: str) -> None:
    rendered = Renderer(LONDON, theme=theme).render(edition(2, 1))
    text = text_of(rendered.html)
    assert "In this edition: Section 0 (2) · Section 1 (1)" in text
    # no in-message anchor links at all: Gmail iOS and the Yahoo apps break them (caniemail)
    assert 'href="#' not in rendered.html and 'id="section-s0"' in rendered.html
    assert "In this edition: Section 0 (2), Section 1 (1)" in rendered.text


@pytest.mark.parametrize("theme", THEMES)
def test_the_footer_says_why_and_has_every_link_and_the_address(theme: str) -> None:
    rendered = Renderer(LONDON, theme=theme, view_url=VIEW, preferences=True,
                        postal_address=ADDRESS).render(edition(2))
    html, text = rendered.html, rendered.text
    footer = html[html.rindex("You get this email because"):]
    assert "because you are subscribed to The Weekly Brief" in text_of(footer)
    for link in (PREFERENCES_PLACEHOLDER, "https://brief.example.org/", UNSUBSCRIBE_PLACEHOLDER):
        assert f'href="{link}"' in footer, link
    assert ADDRESS in footer
    assert 'href="https://brief.example.org/editions/2026-11-30/"' in html  # view in browser
    tail = text[text.rindex("\n-- \n"):]
    assert f"Choose what you get: <{PREFERENCES_PLACEHOLDER}>" in tail
    assert "Past editions: <https://brief.example.org/>" in tail
    assert f"Unsubscribe: <{UNSUBSCRIBE_PLACEHOLDER}>" in tail
    assert ADDRESS in tail
    assert "<https://brief.example.org/editions/2026-11-30/>" in text


def test_without_the_web_service_the_footer_keeps_unsubscribe_only() -> None:
    rendered = Renderer(LONDON).render(edition(1))
    assert f'href="{UNSUBSCRIBE_PLACEHOLDER}"' in rendered.html
    assert PREFERENCES_PLACEHOLDER not in rendered.html + rendered.text
    assert "Past editions" not in rendered.html + rendered.text


@pytest.mark.parametrize(("view_url", "archive"), [
    ("https://brief.example.org/editions/{edition}/", "https://brief.example.org/"),
    ("https://example.org/brief/{edition}.html", "https://example.org/brief/"),
    ("https://example.org/brief/{edition}", "https://example.org/brief/"),
])
def test_the_archive_is_where_the_editions_pages_are(view_url: str, archive: str) -> None:
    assert Renderer(LONDON, view_url=view_url).context(edition(1))["archive_url"] == archive
    explicit = Renderer(LONDON, view_url=view_url, archive_url="https://archive.example.org/")
    assert explicit.context(edition(1))["archive_url"] == "https://archive.example.org/"


@pytest.mark.parametrize("theme", THEMES)
def test_the_editors_note_when_there_is_one(theme: str) -> None:
    note = "Welcome to the new look <b>&</b> layout.\n\nReply and tell us what you think."
    plain = Renderer(LONDON, theme=theme).render(edition(2))
    assert "Welcome to the new look" not in plain.html + plain.text
    noted = Renderer(LONDON, theme=theme, note=note).render(edition(2))
    assert "Welcome to the new look &lt;b&gt;&amp;&lt;/b&gt; layout." in noted.html
    assert "<b>&</b>" not in noted.html  # plain text, escaped
    assert noted.html.count("Reply and tell us what you think.") == 1
    assert "Welcome to the new look <b>&</b> layout." in noted.text
    assert noted.html.index("Welcome to the new look") < noted.html.index('id="section-s0"')
    # this edition's own note (issue 22) wins over the configured one
    own = Renderer(LONDON, theme=theme, note=note).render(edition(2), note="Back next week.")
    assert "Back next week." in own.html and "Welcome to the new look" not in own.html


# --- the text part -----------------------------------------------------------------------------


@pytest.mark.parametrize("theme", THEMES)
def test_the_text_part_fits_72_columns(theme: str, demo_edition: Edition) -> None:
    long_note = "A note about the redesign that goes on " * 8
    text = Renderer(LONDON, theme=theme, note=long_note, view_url=VIEW, preferences=True,
                    postal_address=ADDRESS).render(demo_edition).text
    long_lines = [line for line in text.splitlines()
                  if len(line) > 72 and not re.fullmatch(r"\s*<https?://\S+>", line)]
    assert long_lines == []
    assert re.search(r"^ 1\. \S", text, re.MULTILINE)  # numbers aligned under each other
    assert re.search(r"^10\. \S", text, re.MULTILINE)


def test_wrap_is_textwrap_without_its_cost() -> None:
    """digest.render._wrap replaced textwrap.fill (three quarters of a render): the same lines
    for single-spaced text, which is what feeds' text is once summarize has seen it."""
    rng = random.Random(20261130)
    words = ["a", "an", "ferry", "timetable", "Côte d’Ivoire", "x" * 30, "y" * 90, "—", "2nm"]
    for _ in range(3000):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(0, 40)))
        width, indent = rng.randint(20, 90), rng.choice(["", "    "])
        first = rng.choice([None, "", " 1. "])
        expected = textwrap.fill(text, width=width, subsequent_indent=indent,
                                 initial_indent=indent if first is None else first,
                                 break_long_words=False, break_on_hyphens=False)
        assert digest.render._wrap(text, width, indent, first) == expected, (text, width)


# --- overrides ---------------------------------------------------------------------------------


MINIMAL_MJML = ("<mjml><mj-body><mj-section><mj-column><mj-text>{{ title }}: my own look"
                "</mj-text></mj-column></mj-section></mj-body></mjml>\n")


@pytest.mark.parametrize("theme", THEMES)
def test_an_override_replaces_a_themes_template_by_name(tmp_path: Path, theme: str) -> None:
    (tmp_path / "edition.mjml.j2").write_text(MINIMAL_MJML, encoding="utf-8")
    (tmp_path / "footer.txt.j2").write_text("-- \nOur own footer: <{{ unsubscribe_url }}>\n",
                                            encoding="utf-8")
    rendered = Renderer(LONDON, theme=theme, overrides=tmp_path).render(edition(2))
    assert "The Weekly Brief: my own look" in rendered.html
    assert "section-s0" not in rendered.html
    assert rendered.text.endswith(f"-- \nOur own footer: <{UNSUBSCRIBE_PLACEHOLDER}>\n")
    assert "Headline number 1" in rendered.text  # the theme's own text part, with our footer


def test_an_overridden_shared_part_serves_both_themes(tmp_path: Path) -> None:
    footer = ('<mj-section><mj-column><mj-text>Sent with care. <a href="{{ unsubscribe_url }}">'
              "Leave</a></mj-text></mj-column></mj-section>\n")
    (tmp_path / "footer.mjml.j2").write_text(footer, encoding="utf-8")
    for theme in THEMES:
        html = Renderer(LONDON, theme=theme, overrides=tmp_path).render(edition(2)).html
        assert "Sent with care." in html and "because you are subscribed" not in html
        assert "Headline number 1" in html


def test_an_error_in_a_themes_template_names_it(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "templates"
    shutil.copytree(digest.render.template_dir(), folder)
    monkeypatch.setattr(digest.render, "template_dir", lambda: folder)
    path = folder / "themes" / "briefing" / "edition.mjml.j2"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(12, "{{ title | }}\n")
    path.write_text("".join(lines), encoding="utf-8")
    Renderer(LONDON).render(edition(1))  # the classic theme does not read it
    with pytest.raises(RenderError, match=r"themes/briefing/edition\.mjml\.j2, line 13"):
        Renderer(LONDON, theme="briefing").render(edition(1))


# --- feeds.yaml --------------------------------------------------------------------------------


def test_the_look_is_configured_in_feeds_yaml(write_config: WriteConfig) -> None:
    email = {"theme": "briefing", "accent": "#7A1F5C", "logo": LOGO, "logo_width": 120,
             "logo_height": 36, "full_stories": 3, "note": "  Hello.\n\nMore soon.  "}
    e = load_settings(write_config({"email": email}), env={}).email
    assert (e.theme, e.accent, e.logo, e.logo_width, e.logo_height, e.full_stories) == (
        "briefing", "#7a1f5c", LOGO, 120, 36, 3)
    assert e.note == "Hello.\n\nMore soon."
    defaults = load_settings(write_config(), env={}).email
    assert (defaults.theme, defaults.accent, defaults.logo, defaults.full_stories,
            defaults.note) == ("classic", "#0b5cad", None, 1, None)


@pytest.mark.parametrize(("email", "problem"), [
    ({"theme": "fancy"}, "email.theme: Input should be 'classic' or 'briefing'"),
    ({"accent": "#ffcc00"}, "email.accent: #ffcc00 on white has a contrast of 1.5:1; links "
                            "and headings need 4.5:1: choose a darker colour"),
    ({"accent": "blue"}, "email.accent: not a colour like #0b5cad: 'blue'"),
    ({"logo": LOGO}, "email: logo needs logo_width and logo_height"),
    ({"logo": LOGO, "logo_width": 120}, "email: logo needs logo_width and logo_height"),
    ({"logo": "http://brand.example.org/logo.png", "logo_width": 1, "logo_height": 1},
     "email.logo: not an https URL"),
    ({"logo": LOGO, "logo_width": 900, "logo_height": 36},
     "email.logo_width: Input should be less than or equal to 544"),
    ({"full_stories": -1}, "email.full_stories: Input should be greater than or equal to 0"),
    ({"note": "ding\x07"}, "email.note: must be plain text"),
])
def test_a_look_that_cannot_work_is_refused(write_config: WriteConfig, email: dict[str, object],
                                            problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config({"email": email}), env={})
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_right_to_left_mirrors_the_sides() -> None:
    """A thumbnail sits at the end of the line and the note's rule at its start, whichever
    way the language runs."""
    ltr = Renderer(LONDON, full_stories=2, note="N.").render(edition(2)).html
    rtl = Renderer(LONDON, full_stories=2, note="N.", lang="ar",
                   direction="rtl").render(edition(2)).html
    assert 'align="right" style="float:right;' in ltr and "border-left:4px" in ltr
    assert 'align="left" style="float:left;' in rtl and "border-right:4px" in rtl


@pytest.mark.parametrize("theme", THEMES)
def test_an_editions_markdown_note_is_rendered_safely_in_both_parts(theme: str) -> None:
    from dataclasses import replace

    note = ("A **busy** week: read [the budget story](https://example.org/budget).\n\n"
            "- first\n- second\n\n<script>alert(1)</script> [x](javascript:alert(2))\n\n"
            "> quoted")
    plain = edition(2)
    noted = Renderer(LONDON, theme=theme, note="The configured note.").render(
        replace(plain, note=note))
    html = noted.html
    assert "<strong " in html or "<strong>" in html
    assert 'href="https://example.org/budget"' in html
    assert "<script>alert(1)" not in html and "javascript:" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as the words typed
    assert re.search(r'<li style="margin:0 0 4px;[^"]*">first</li>', html)
    assert "The configured note." not in html  # this edition's note replaces it
    assert "the budget story (https://example.org/budget)" in noted.text
    assert "- first" in noted.text and "> quoted" in noted.text
    assert "**" not in noted.text
