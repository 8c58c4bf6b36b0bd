"""Tests for digest.render: subject, HTML (Jinja2 -> MJML -> HTML) and plain text of an edition,
built from hand-made Edition values; the packaged wheel; broken templates."""

from __future__ import annotations

import dataclasses
import json
import random
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import digest.render
from digest.errors import RenderError
from digest.models import AlsoLink, Edition, Section, Story
from digest.render import Renderer, clip, summarize

LONDON = ZoneInfo("Europe/London")
EDITION_DATE = date(2026, 11, 30)
GENERATED = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
GMAIL_CLIP_BYTES = 102_000

# A story's URL alone on a (possibly indented) line, as the text part shows links.
URL_LINE = re.compile(r"^<https?://\S+>$")
# Anything that looks like an HTML tag; `<https://...>` link references are not tags.
HTML_TAG = re.compile(r"</?(?!https?://)[a-zA-Z!][^>]*>")


def make_story(
    title: str,
    url: str,
    *,
    source: str = "Example News",
    summary: str = "",
    published: datetime | None = datetime(2026, 11, 28, 9, 15, tzinfo=UTC),
    also: tuple[AlsoLink, ...] = (),
    section: str = "",
    image: str | None = None,
) -> Story:
    return Story(
        title=title, url=url, source=source, published=published, summary=summary,
        weight=1.0, items=(), also=also, section=section, image=image,
    )


def make_edition(*sections: Section, title: str = "The Weekly Brief") -> Edition:
    return Edition(date=EDITION_DATE, title=title, generated_at=GENERATED, sections=sections)


LEAD_TITLE = "Chipmakers race to build the first 2nm fabs outside Taiwan"
SUMMARY = (
    "Three of the world's largest chipmakers announced new fabrication plants this week, "
    "betting that demand for AI accelerators will outlast the current boom. Analysts "
    "cautioned that the plants will take years to reach full output."
)


@pytest.fixture
def edition() -> Edition:
    tech = Section("tech", "Tech", (
        make_story(LEAD_TITLE, "https://news.example.org/tech/2nm-fabs", summary=SUMMARY,
                   source="Chip Weekly", section="tech"),
        make_story("Regulators open an inquiry into cloud AI partnerships",
                   "https://news.example.org/tech/cloud-inquiry",
                   summary="The competition authority wants to know who controls what.",
                   section="tech"),
    ))
    africa = Section("africa", "Africa", (
        make_story("Côte d’Ivoire votes in a tense presidential election",
                   "https://africa.example.net/cote-divoire-election",
                   source="Africa Desk",
                   summary="Turnout was high in Abidjan; results are expected on Tuesday.",
                   also=(AlsoLink("Other Outlet", "https://other.example.com/ci-vote"),),
                   section="africa"),
    ))
    europe = Section("europe", "Europe", (
        make_story("EU ministers agree on a common asylum procedure",
                   "https://eu.example.eu/asylum-deal", source="Brussels Wire",
                   section="europe"),
    ))
    return make_edition(tech, africa, europe)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(LONDON)


# --- subject --------------------------------------------------------------------------------


def test_subject_leads_with_the_lead_story_then_the_title(renderer: Renderer,
                                                           edition: Edition) -> None:
    subject = renderer.render(edition).subject
    both = f"{LEAD_TITLE} | The Weekly Brief"
    assert subject == (both if len(both) <= 70 else LEAD_TITLE)  # the title when both fit
    assert "\n" not in subject
    short = dataclasses.replace(edition, title="Brief")
    assert renderer.render(short).subject == f"{LEAD_TITLE} | Brief"


def test_a_long_lead_is_cut_at_a_word_within_70_characters(renderer: Renderer,
                                                            edition: Edition) -> None:
    """Issue 21: inboxes show about 70 characters; the lead story comes first."""
    long_title = ("Kenya's central bank cuts its key rate for the third time this year as "
                  "inflation eases across East Africa")
    first = edition.sections[0]
    lead = dataclasses.replace(first.stories[0], title=long_title)
    longer = dataclasses.replace(edition, sections=(
        dataclasses.replace(first, stories=(lead, *first.stories[1:])), *edition.sections[1:]))
    subject = renderer.render(longer).subject
    assert len(subject) <= 70
    assert subject == clip(long_title)
    assert subject.startswith("Kenya's central bank cuts its key rate") and subject.endswith("…")
    assert not subject[:-1].endswith(" ")


def test_an_edition_without_stories_is_named_by_title_and_date(renderer: Renderer,
                                                              edition: Edition) -> None:
    empty = dataclasses.replace(edition, sections=())
    assert renderer.render(empty).subject == "The Weekly Brief, Monday 30 November 2026"


def test_a_configured_subject_template_is_cut_to_70_too() -> None:
    renderer = Renderer(ZoneInfo("UTC"), subject="{{ 'word ' * 30 }}")
    edition = Edition(date=date(2026, 11, 30), title="T",
                      generated_at=datetime(2026, 11, 30, tzinfo=UTC), sections=())
    subject = renderer.render(edition).subject
    assert len(subject) <= 70 and subject.endswith("word…")


def test_the_preheader_lists_the_stories_after_the_lead(renderer: Renderer,
                                                         edition: Edition) -> None:
    context = renderer.context(edition)
    assert LEAD_TITLE not in context["preheader"]  # the subject names it already
    others = [s.stories[0].title for s in edition.sections[1:] if s.stories]
    assert others and all(t in context["preheader"] or context["preheader"].endswith("…")
                          for t in others[:1])
    assert len(context["preheader"]) <= 140


def test_subject_is_plain_text_not_html_escaped(renderer: Renderer) -> None:
    story = make_story("AT&T buys a <beta> start-up", "https://example.org/att")
    rendered = renderer.render(make_edition(Section("tech", "Tech", (story,)),
                                            title="Tech & Trade"))
    assert "Tech & Trade" in rendered.subject
    assert "AT&T buys a <beta> start-up" in rendered.subject
    assert "&amp;" not in rendered.subject


def test_subject_lead_comes_from_the_chosen_sections(renderer: Renderer,
                                                     edition: Edition) -> None:
    subject = renderer.render(edition, sections=["africa"]).subject
    assert "Côte d’Ivoire votes" in subject
    assert LEAD_TITLE not in subject


# --- HTML -----------------------------------------------------------------------------------


def test_html_is_a_full_document_in_the_chosen_language(renderer: Renderer,
                                                        edition: Edition) -> None:
    html = renderer.render(edition).html
    assert html.lstrip().lower().startswith("<!doctype html")
    assert re.search(r"<html[^>]*\slang=\"en\"", html)
    assert "<body" in html
    assert html.rstrip().endswith("</html>")

    french = Renderer(LONDON, lang="fr").render(edition).html
    assert re.search(r"<html[^>]*\slang=\"fr\"", french)


def test_html_contains_every_story_title_and_link(renderer: Renderer,
                                                  edition: Edition) -> None:
    html = renderer.render(edition).html
    for story in edition.stories:
        assert story.title in html
        assert f'href="{story.url}"' in html
        assert story.source in html


def test_html_sections_have_ids_and_a_plain_text_table_of_contents_with_counts(
        renderer: Renderer, edition: Edition) -> None:
    html = renderer.render(edition).html
    for section in edition.sections:
        assert section.title in html
        assert f'id="section-{section.id}"' in html
        assert f'href="#section-{section.id}"' not in html  # broken in Gmail iOS and Yahoo
    assert "Tech (2)" in html
    assert "Africa (1)" in html
    assert "Europe (1)" in html
    # the table of contents comes before the first section
    assert html.index("Tech (2)") < html.index('id="section-tech"')


def test_html_names_other_outlets_that_covered_a_story(renderer: Renderer,
                                                       edition: Edition) -> None:
    html = renderer.render(edition).html
    assert "Also covered by" in html
    assert '<a href="https://other.example.com/ci-vote">Other Outlet</a>' in html


def test_html_without_merged_duplicates_has_no_also_line(renderer: Renderer) -> None:
    story = make_story("A lone story", "https://example.org/lone")
    html = renderer.render(make_edition(Section("tech", "Tech", (story,)))).html
    assert "A lone story" in html
    assert "Also covered by" not in html


def test_html_shows_dates_in_the_edition_timezone(renderer: Renderer) -> None:
    # 23:30 UTC on Saturday 13 June is 00:30 BST on Sunday 14 June in London
    story = make_story("Late-night story", "https://example.org/late",
                       published=datetime(2026, 6, 13, 23, 30, tzinfo=UTC))
    rendered = renderer.render(make_edition(Section("tech", "Tech", (story,))))
    assert "Sun 14 Jun" in rendered.html
    assert "Sat 13 Jun" not in rendered.html
    assert "Sun 14 Jun" in rendered.text


def test_untrusted_feed_text_is_escaped_in_html(renderer: Renderer) -> None:
    hostile = make_story(
        "<script>alert(1)</script> Breaking",
        'https://evil.example.org/a?x=1&y=2"onmouseover="alert(1)',
        source="<img src=x onerror=alert(1)> Wire",
        summary="<img src=x onerror=alert(1)> and <script>alert(1)</script> inside.",
        also=(AlsoLink("<script>alert(1)</script>Copycat", "https://copy.example.org/x"),),
    )
    html = renderer.render(make_edition(Section("tech", "Tech", (hostile,)))).html
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Breaking" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    # a quote in a URL cannot break out of the href attribute
    assert '"onmouseover' not in html
    assert "x=1&amp;y=2" in html


def test_sections_argument_restricts_the_output(renderer: Renderer, edition: Edition) -> None:
    rendered = renderer.render(edition, sections=["africa", "europe"])
    assert 'id="section-africa"' in rendered.html
    assert 'id="section-europe"' in rendered.html
    assert 'id="section-tech"' not in rendered.html
    assert "section-tech" not in rendered.html
    assert LEAD_TITLE not in rendered.html
    assert "https://news.example.org/tech/2nm-fabs" not in rendered.html
    assert "Côte d’Ivoire votes" in rendered.html
    assert "EU ministers agree" in rendered.html
    assert "TECH" not in rendered.text
    assert LEAD_TITLE not in rendered.text
    assert "AFRICA" in rendered.text
    assert "In this edition: Africa (1), Europe (1)" in rendered.text


# --- plain text -----------------------------------------------------------------------------


def _long_lines(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if len(line) > 72 and not URL_LINE.match(line.strip())]


def test_text_lines_fit_72_columns(renderer: Renderer) -> None:
    long_title = ("An unusually long headline about semiconductor export controls, "
                  "supply chains and what they mean for the next generation of phones")
    stories = (
        make_story(long_title, "https://news.example.org/tech/" + "very-long-slug-" * 8,
                   summary=SUMMARY * 2),
        make_story("Short one", "https://example.org/short", summary=SUMMARY),
    )
    text = renderer.render(make_edition(Section("tech", "Tech", stories))).text
    assert long_title.split()[0] in text
    assert _long_lines(text) == []


def test_text_also_covered_lines_fit_72_columns(renderer: Renderer) -> None:
    """A merged duplicate from a real outlet has a long URL; the line naming it must still fit
    72 columns (only a line holding nothing but a <URL> may be longer)."""
    story = make_story(
        "Côte d’Ivoire votes", "https://africa.example.net/cote-divoire-election",
        also=(AlsoLink("Reuters", "https://www.reuters.com/world/africa/"
                                  "ivory-coast-votes-presidential-election-2026-11-28/"),),
    )
    text = renderer.render(make_edition(Section("africa", "Africa", (story,)))).text
    assert "Reuters" in text
    assert _long_lines(text) == []


def test_text_numbers_stories_and_shows_each_url_in_angle_brackets(
        renderer: Renderer, edition: Edition) -> None:
    text = renderer.render(edition).text
    lines = [line.strip() for line in text.splitlines()]
    assert re.search(r"^ 1\. Chipmakers race", text, re.MULTILINE)
    assert re.search(r"^ 2\. Regulators open", text, re.MULTILINE)
    assert re.search(r"^ 1\. Côte d’Ivoire votes", text, re.MULTILINE)
    for story in edition.stories:
        assert f"<{story.url}>" in lines, story.url
    assert "<https://other.example.com/ci-vote>" in text
    assert "The Weekly Brief" in text
    assert "In this edition: Tech (2), Africa (1), Europe (1)" in text


def test_text_has_no_html(renderer: Renderer, edition: Edition) -> None:
    text = renderer.render(make_edition(
        *edition.sections,
        Section("markets", "Markets & Money", (
            make_story("Stocks & bonds rally", "https://example.org/m?a=1&b=2",
                       source="Money & Co", summary="Bulls & bears."),)),
    )).text
    assert HTML_TAG.findall(text) == []
    assert "&amp;" not in text
    assert "Stocks & bonds rally" in text
    assert "<https://example.org/m?a=1&b=2>" in text


# --- summarize ------------------------------------------------------------------------------


def test_summarize_leaves_short_text_unchanged() -> None:
    assert summarize("A short summary.") == "A short summary."
    exact = "x" * 50
    assert summarize(exact, limit=50) == exact
    assert summarize("  spread \n over\tlines  ") == "spread over lines"


def test_summarize_cuts_at_a_sentence_end_in_the_second_half() -> None:
    text = "First sentence is here. " + "Second sentence runs on and on. " + "word " * 40
    result = summarize(text, limit=80)
    assert result == "First sentence is here. Second sentence runs on and on."
    assert len(result) <= 80


def test_summarize_cuts_at_a_word_boundary_with_an_ellipsis() -> None:
    text = " ".join(f"word{i}" for i in range(100))
    result = summarize(text, limit=60)
    assert result.endswith("…")
    kept = result[:-1]
    assert text.startswith(kept)
    assert text[len(kept)] == " "  # cut between words, not inside one
    assert len(result) <= 61
    assert len(kept) > 30


def test_summarize_keeps_a_sentence_that_ends_exactly_at_the_limit() -> None:
    sentence = "Alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu."
    text = sentence + " And then the text goes on for quite a while longer."
    assert summarize(text, limit=len(sentence)) == sentence


def test_summarize_one_long_word_is_cut_with_an_ellipsis() -> None:
    result = summarize("x" * 500, limit=100)
    assert result == "x" * 100 + "…"


def test_summarize_is_never_longer_than_limit_plus_one() -> None:
    rng = random.Random(20261130)
    words = ["a", "an", "the", "chip", "semiconductor", "Abidjan.", "votes!", "why?",
             "supercalifragilistic", "—", "x" * 30, "end."]
    for _ in range(500):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 120)))
        limit = rng.randint(10, 400)
        result = summarize(text, limit=limit)
        normal = " ".join(text.split())
        assert len(result) <= limit + 1, (text, limit, result)
        assert normal.startswith(result.removesuffix("…").rstrip()), (text, limit, result)


# --- size -----------------------------------------------------------------------------------


def test_full_edition_html_stays_under_gmail_clipping(renderer: Renderer) -> None:
    summary = ("Officials said the agreement would reshape trade across the region, although "
               "critics warned that the details remained vague and that parliament had yet to "
               "vote. Markets reacted calmly, with the currency little changed by the evening, "
               "and analysts expect further talks before the end of the year.")
    assert 280 <= len(summary) <= 320
    sections = []
    for s, (sid, stitle) in enumerate([("tech", "Tech"), ("africa", "Africa"),
                                       ("europe", "Europe"), ("world", "World")]):
        stories = tuple(
            make_story(
                f"{stitle} story {i}: a realistic headline of about seventy characters long",
                f"https://news{s}.example.org/{sid}/2026/11/28/story-number-{i}-with-a-slug",
                source=f"{stitle} Wire",
                summary=summary,
                published=GENERATED - timedelta(hours=i),
                also=(AlsoLink("Another Outlet",
                               f"https://another.example.com/{sid}/2026/11/28/coverage-{i}"),),
                image=f"https://images.news{s}.example.org/2026/11/28/{sid}-{i}-thumbnail.jpg",
            )
            for i in range(10)
        )
        sections.append(Section(sid, stitle, stories))
    edition = make_edition(*sections)
    assert len(edition.stories) == 40
    leads = renderer.render(edition).html
    assert all(story.title in leads for story in edition.stories)
    assert leads.count("-thumbnail.jpg") == 4  # each section's lead shows its picture
    # every story in full, each with its picture: the most the classic theme can show
    every = Renderer(LONDON, full_stories=10).render(edition).html
    assert every.count("-thumbnail.jpg") == 40
    for html in (leads, every):
        size = len(html.encode("utf-8"))
        assert size < 90_000, f"HTML of a 40-story edition with thumbnails is {size} bytes"


def test_thumbnails_have_a_short_alt_text_a_size_and_can_be_turned_off() -> None:
    """Issue 21: width and height attributes (Outlook reads nothing else), no object-fit
    (Outlook, Yahoo and Gmail's mobile web ignore it), the outlet's name as alt text (what the
    box says with images off), never the headline, which is next to it anyway."""
    lead = make_story("Lead story", "https://x.example/1", image="https://img.example/1.jpg",
                      source="Chip Weekly")
    other = make_story("Second story", "https://x.example/2", image="https://img.example/2.jpg")
    bare = make_story("Third story", "https://x.example/3")
    edition = make_edition(Section("tech", "Tech", (lead, other, bare)))
    html = Renderer(LONDON, full_stories=2).render(edition).html
    images = re.findall(r"<img [^>]*>", html)
    assert len(images) == 2
    assert 'alt="Chip Weekly"' in images[0]
    assert 'width="544"' in images[0] and 'height="306"' in images[0]
    assert "max-width:544px" in images[0]  # never wider than the column
    assert 'alt="Example News"' in images[1]
    assert 'width="120"' in images[1] and 'height="80"' in images[1]
    assert "object-fit" not in html and "Lead story\"" not in "".join(images)
    # in brief (the default: one story in full), the second story has no picture
    assert Renderer(LONDON).render(edition).html.count("<img ") == 1
    assert Renderer(LONDON, thumbnails=False, full_stories=2).render(edition).html.count(
        "<img ") == 0


# --- packaging ------------------------------------------------------------------------------

_RENDER_FROM_WHEEL = textwrap.dedent("""
    import json
    from datetime import UTC, date, datetime
    from zoneinfo import ZoneInfo
    import digest
    from digest.models import Edition, Section, Story
    from digest.render import Renderer, template_dir
    story = Story(title="Packaged story", url="https://example.org/p", source="Wire",
                  published=None, summary="Works without the repository.", weight=1.0,
                  items=())
    edition = Edition(date=date(2026, 11, 30), title="The Weekly Brief",
                      generated_at=datetime(2026, 11, 30, tzinfo=UTC),
                      sections=(Section("tech", "Tech", (story,)),))
    r = Renderer(ZoneInfo("Europe/London")).render(edition)
    print(json.dumps({"package": digest.__file__, "templates": str(template_dir()),
                      "subject": r.subject, "html": "Packaged story" in r.html,
                      "text": "Packaged story" in r.text}))
""")


def test_wheel_ships_the_templates_and_renders_without_the_repo(
        built_wheel: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(built_wheel) as zf:
        names = set(zf.namelist())
        for template in ("edition.mjml.j2", "edition.txt.j2", "subject.txt.j2",
                         "head.mjml.j2", "footer.mjml.j2", "footer.txt.j2",
                         "themes/briefing/edition.mjml.j2", "themes/briefing/edition.txt.j2"):
            assert f"digest/templates/{template}" in names, sorted(names)
        site = tmp_path / "site"
        zf.extractall(site)

    # Render from the unpacked wheel, from a directory outside the repository.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run(
        [sys.executable, "-c", _RENDER_FROM_WHEEL], capture_output=True, text=True,
        timeout=120, cwd=elsewhere, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert Path(result["package"]).is_relative_to(site), result
    assert Path(result["templates"]) == site / "digest" / "templates", result
    assert "Packaged story" in result["subject"]
    assert result["html"] is True
    assert result["text"] is True


# --- broken templates -----------------------------------------------------------------------


def _template_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(digest.render.template_dir(), folder)
    monkeypatch.setattr(digest.render, "template_dir", lambda: folder)
    return folder


def _insert_line(path: Path, lineno: int, line: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(lineno - 1, line + "\n")
    path.write_text("".join(lines), encoding="utf-8")


@pytest.mark.parametrize("name, lineno", [("edition.txt.j2", 4), ("edition.mjml.j2", 30),
                                          ("subject.txt.j2", 1)])
def test_template_syntax_error_names_the_template_and_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edition: Edition,
        name: str, lineno: int) -> None:
    folder = _template_copy(tmp_path, monkeypatch)
    _insert_line(folder / name, lineno, "{{ title | }}")
    with pytest.raises(RenderError) as caught:
        Renderer(LONDON).render(edition)
    message = str(caught.value)
    assert name in message
    assert f"line {lineno}" in message


def test_the_copied_templates_render_when_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 edition: Edition) -> None:
    """Control for the test above: the copies themselves are fine."""
    _template_copy(tmp_path, monkeypatch)
    assert LEAD_TITLE in Renderer(LONDON).render(edition).subject


def test_undefined_variable_in_a_template_is_a_render_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edition: Edition) -> None:
    folder = _template_copy(tmp_path, monkeypatch)
    _insert_line(folder / "edition.txt.j2", 3, "{{ no_such_variable }}")
    with pytest.raises(RenderError, match=r"edition\.txt\.j2"):
        Renderer(LONDON).render(edition)


def test_invalid_mjml_is_a_render_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        edition: Edition) -> None:
    folder = _template_copy(tmp_path, monkeypatch)
    (folder / "edition.mjml.j2").write_text("<mjml><mj-body><mj-section>{{ title }}\n",
                                            encoding="utf-8")
    with pytest.raises(RenderError, match=r"edition\.mjml\.j2.*invalid MJML"):
        Renderer(LONDON).render(edition)


def test_missing_template_is_a_render_error(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _template_copy(tmp_path, monkeypatch)
    (folder / "subject.txt.j2").unlink()
    with pytest.raises(RenderError, match=r"subject\.txt\.j2"):
        Renderer(LONDON).render(make_edition(Section("tech", "Tech", ())))


def test_view_in_browser_link_when_configured(edition: Edition) -> None:
    plain = Renderer(LONDON).render(edition)
    assert "in your browser" not in plain.html and "on the web" not in plain.text
    web = Renderer(LONDON, view_url="https://brief.example.org/{edition}.html").render(edition)
    url = f"https://brief.example.org/{edition.date.isoformat()}.html"
    assert f'href="{url}"' in web.html and "View in your browser" in web.html
    assert f"<{url}>" in web.text
