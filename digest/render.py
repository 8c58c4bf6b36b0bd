"""Edition -> subject, HTML (Jinja2 -> MJML -> HTML with mjml-python) and plain text; no I/O
beyond reading templates, and no decisions about which stories appear.

The only importer of mjml, and of jinja2 for the email (digest/web/pages.py renders the web
pages). Templates come from `templates/` (installed inside the package as digest/templates);
feed text is untrusted and is escaped by autoescape, and only http(s) URLs ever reach a
template (fetch drops the rest).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from mjml import mjml2html

from digest.errors import RenderError
from digest.models import (
    PREFERENCES_PLACEHOLDER,
    UNSUBSCRIBE_PLACEHOLDER,
    Edition,
    Rendered,
    Section,
    Story,
)

SUMMARY_CHARS = 320
HTML_TEMPLATE = "edition.mjml.j2"
TEXT_TEMPLATE = "edition.txt.j2"
SUBJECT_TEMPLATE = "subject.txt.j2"


def template_dir() -> Path:
    """The built-in templates: inside the installed package, else the repository's folder."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / HTML_TEMPLATE).is_file():
            return candidate
    raise RenderError(f"built-in templates not found next to {here}")


def summarize(text: str, limit: int = SUMMARY_CHARS) -> str:
    """Cut plain text to at most `limit` characters: at a sentence end if one is in the last
    half, else at a word boundary with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit + 1]  # one more, to see the space after a sentence ending at the limit
    sentence_end = max(cut.rfind(". "), cut.rfind("? "), cut.rfind("! "))
    if sentence_end >= limit // 2:
        return cut[: sentence_end + 1]
    cut = cut[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > 0 else cut).rstrip(",;:-–— ") + "…"


PREHEADER_CHARS = 140  # what inbox lists show of it, at most
SUBJECT_CHARS = 70  # inboxes show about this much of a subject (issue 21)


def clip(text: str, limit: int = SUBJECT_CHARS) -> str:
    """`text` on one line, at most `limit` characters: cut at the last word boundary that
    fits, with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:·|-–—") + "…"


def _wrap(text: str, width: int = 72, indent: str = "", first: str | None = None) -> str:
    return textwrap.fill(
        text, width=width, initial_indent=indent if first is None else first,
        subsequent_indent=indent, break_long_words=False, break_on_hyphens=False,
    )


def check_templates(overrides: str | None, subject: str | None) -> list[str]:
    """The problems of the templates a configuration names, found before any edition is
    built (`digest config check`): the subject template and every template in the override
    folder must compile, each problem as `email.<key>: ...`."""
    try:
        renderer = Renderer(ZoneInfo("UTC"), overrides=overrides, subject=subject)
    except RenderError as e:  # email.subject: ...
        return [str(e)]
    problems: list[str] = []
    if renderer.subject is not None:  # rendered too: an unknown name, a filter that fails
        sent = datetime(2026, 11, 30, 7, tzinfo=ZoneInfo("UTC"))
        story = Story(title="A story", url="https://example.org/story", source="Example",
                      published=sent, summary="What happened.", weight=1.0, items=())
        for which, sections in (("with stories", (Section("news", "News", (story,)),)),
                                ("without stories", ())):
            edition = Edition(date=sent.date(), title="The Weekly Brief", generated_at=sent,
                              sections=sections)
            try:
                renderer.subject.render(renderer.context(edition))
            except Exception as e:
                problems.append(f"email.subject: fails for an edition {which}: {e}")
                break
    if renderer.overrides is None:
        return problems
    try:  # the folder's own templates, as `digest preview` watches them (not its subfolders)
        paths = sorted(path for path in renderer.overrides.glob("*.j2") if path.is_file())
    except OSError as e:
        return [*problems, f"email.templates: {renderer.overrides}: cannot read: {e}"]
    for path in paths:
        try:
            renderer.env.get_template(path.name)
        except jinja2.TemplateSyntaxError as e:
            problems.append(f"email.templates: {path}, line {e.lineno}: {e.message}")
        except (OSError, UnicodeDecodeError) as e:
            problems.append(f"email.templates: {path}: cannot read: {e}")
    return problems


class Renderer:
    """Renders editions; built once per process (templates are compiled once)."""

    def __init__(self, tz: ZoneInfo, *, lang: str = "en", direction: str = "ltr",
                 overrides: str | Path | None = None, subject: str | None = None,
                 thumbnails: bool = True, view_url: str | None = None,
                 preferences: bool = False, postal_address: str | None = None) -> None:
        """`overrides`: a folder whose templates replace the built-in ones of the same name;
        `subject`: a Jinja2 template for the subject line, replacing subject.txt.j2;
        `preferences`: each reader has a preferences page (the web service)."""
        self.preferences = preferences
        self.postal_address = postal_address
        self.tz = tz
        self.lang = lang
        self.direction = direction
        self.thumbnails = thumbnails
        self.view_url = view_url  # "{edition}" is replaced by the edition's date
        self.overrides = Path(overrides) if overrides else None
        loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(str(template_dir()))]
        if self.overrides is not None:
            loaders.insert(0, jinja2.FileSystemLoader(str(self.overrides)))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("mjml.j2", "html.j2", "html"), default=False),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters.update(
            summarize=summarize, wrap=_wrap, longdate=self._longdate, shortdate=self._shortdate,
            clip=clip,
        )
        self.subject: jinja2.Template | None = None
        if subject is not None:
            try:
                self.subject = self.env.from_string(subject)
            except jinja2.TemplateSyntaxError as e:
                raise RenderError(f"email.subject: {e.message}") from e

    def _local(self, value: datetime) -> datetime:
        return value.astimezone(self.tz)

    def _longdate(self, value: date | datetime) -> str:
        day = self._local(value) if isinstance(value, datetime) else value
        return f"{day:%A} {day.day} {day:%B %Y}"

    def _shortdate(self, value: datetime) -> str:
        local = self._local(value)
        return f"{local:%a} {local.day} {local:%b}"

    def _where(self, name: str) -> str:
        """A template's name, with the override folder when it comes from there."""
        if self.overrides is not None and (self.overrides / name).is_file():
            return str(self.overrides / name)
        return name

    def _render(self, name: str, context: dict[str, Any]) -> str:
        try:
            return self.env.get_template(name).render(context)
        except jinja2.TemplateSyntaxError as e:
            where = self._where(e.name or name)
            raise RenderError(f"template {where}, line {e.lineno}: {e.message}") from e
        except Exception as e:  # a template error, or a filter given what it cannot take
            raise RenderError(f"template {self._where(name)}: {e}") from e

    def context(self, edition: Edition, sections: Sequence[str] | None = None
                ) -> dict[str, Any]:
        """What the templates see: the edition's (chosen) sections, its lead story, the
        preheader and table of contents, and the email's language settings."""
        chosen: tuple[Section, ...] = edition.sections
        if sections is not None:
            wanted = set(sections)
            chosen = tuple(s for s in edition.sections if s.id in wanted)
        leads = [s.stories[0] for s in chosen if s.stories]
        return {
            "title": edition.title,
            "edition_date": edition.date,
            "sections": chosen,
            "lead": leads[0] if leads else None,
            # what inboxes show after the subject: the stories after the lead (which the
            # subject names), not the masthead
            "preheader": clip(" · ".join(story.title for story in _next_stories(chosen)),
                              PREHEADER_CHARS),
            "toc": ", ".join(f"{s.title} ({len(s.stories)})" for s in chosen),
            "lang": self.lang,
            "dir": self.direction,
            "thumbnails": self.thumbnails,
            "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,  # send.Letter fills in each link
            "preferences_url": PREFERENCES_PLACEHOLDER if self.preferences else None,
            "postal_address": self.postal_address,
            "view_url": (self.view_url.replace("{edition}", edition.date.isoformat())
                         if self.view_url else None),
        }

    def render(self, edition: Edition, *, sections: Sequence[str] | None = None) -> Rendered:
        """Subject, HTML and text of an edition, optionally only some sections (by id)."""
        context = self.context(edition, sections)
        if self.subject is not None:
            try:
                subject = self.subject.render(context)
            except Exception as e:  # a template error, or a filter given what it cannot take
                raise RenderError(f"email.subject: {e}") from e
        else:
            subject = self._render(SUBJECT_TEMPLATE, context)
        subject = clip(subject)  # any template: inboxes cut what is longer
        mjml_source = self._render(HTML_TEMPLATE, context)
        try:
            # fonts={}: no web-font stylesheet (MRML links Google Fonts for Roboto and others
            # by default): no remote request when the email is opened; the template's font
            # stack falls back to the reader's system fonts.
            html = mjml2html(mjml_source, fonts={})
        except Exception as e:  # MRML raises its own error type for invalid MJML
            raise RenderError(f"template {self._where(HTML_TEMPLATE)}: invalid MJML: {e}") from e
        text = self._render(TEXT_TEMPLATE, context)
        return Rendered(subject=subject, html=html, text=text)


def _next_stories(sections: Sequence[Section]) -> list[Story]:
    """The stories a preheader lists: each section's lead after the first section's, then
    the first section's next stories."""
    leads = [s.stories[0] for s in sections if s.stories]
    rest = [story for s in sections[:1] for story in s.stories[1:]]
    return (leads[1:] + rest)[:4]
