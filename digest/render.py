"""Edition -> subject, HTML (Jinja2 -> MJML -> HTML with mjml-python) and plain text; no I/O
beyond reading templates, and no decisions about which stories appear.

The only importer of mjml, and of jinja2 for the email (digest/web/pages.py renders the web
pages). Templates come from `templates/` (installed inside the package as digest/templates);
feed text is untrusted and is escaped by autoescape, and only http(s) URLs ever reach a
template (fetch drops the rest).

Two looks (issue 21): `classic` (templates/edition.*.j2: masthead, section bands, the first
stories of each section in full, the rest "In brief") and `briefing` (templates/themes/briefing/:
dense text, no images). A theme's folder is searched before the built-in one, and the override
folder (`email.templates`) before both, so a file named like a theme's template replaces it;
the parts both themes share (head.mjml.j2, footer.mjml.j2, footer.txt.j2) are found the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup, escape
from mjml import mjml2html

from digest.colours import WHITE, contrast, mix, readable_accent
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
THEMES = ("classic", "briefing")  # classic: the top-level templates; others: themes/<name>/
BRIEF_CHARS = 80  # an "In brief" summary: about one line of the 544 px column at 14 px
TEXT_BRIEF_CHARS = 68  # ... and one line of the text part (72 columns, indented by 4)


def template_dir() -> Path:
    """The built-in templates: inside the installed package, else the repository's folder."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / HTML_TEMPLATE).is_file():
            return candidate
    raise RenderError(f"built-in templates not found next to {here}")


def summarize(text: str, limit: int = SUMMARY_CHARS) -> str:
    """Cut plain text to at most `limit` characters: at a sentence end if one is in the last
    half, else at a word boundary with an ellipsis (which may be the limit's one more)."""
    return _shorten(text, limit, limit // 2, clip_to=limit + 1)


def _shorten(text: str, limit: int, sentence_from: int, *, clip_to: int | None = None) -> str:
    """`text` on one line within `limit` characters: whole; else cut after the last sentence
    that ends at or past `sentence_from`; else clipped at a word to `clip_to` (default
    `limit`) characters, the ellipsis included."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit + 1]  # one more, to see the space after a sentence ending at the limit
    sentence_end = max(cut.rfind(". "), cut.rfind("? "), cut.rfind("! "))
    if sentence_end >= sentence_from:
        return cut[: sentence_end + 1]
    return clip(text, clip_to or limit)


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


def first_line(text: str, limit: int = BRIEF_CHARS) -> str:
    """An "In brief" summary: the first sentence when it fits in `limit` characters and says
    something (a third of them or more), else the text clipped at a word."""
    return _shorten(text, limit, limit // 3)


# textwrap's whitespace (ASCII only: a no-break space stays inside its word)
_SPACES = re.compile(r"[ \t\n\r\x0b\x0c]+")


def _wrap(text: str, width: int = 72, indent: str = "", first: str | None = None) -> str:
    """Greedy word wrap, as textwrap.fill with break_long_words=False and
    break_on_hyphens=False (a word longer than the line stands alone on it, never cut), runs
    of spaces made one. Written out because textwrap was three quarters of a 40-story render
    (bench/render.py)."""
    # as textwrap, the spaces before the first word stay (" 1. A story" keeps its alignment)
    lead = " " * (len(text) - len(text.lstrip(" \t\n\r\x0b\x0c")))
    words = [word for word in _SPACES.split(text) if word]
    if not words:
        return ""
    lines = []
    line = (indent if first is None else first) + lead + words[0]
    for word in words[1:]:
        if len(line) + 1 + len(word) <= width:
            line += " " + word
        else:
            lines.append(line)
            line = indent + word
    lines.append(line)
    return "\n".join(lines)


def _link_line(url: str, label: str, width: int = 72, indent: str = "") -> str:
    """`label: <url>` on one line when it fits `width`, else the link on a line of its own
    (a long link is never broken: mail programs find it whole)."""
    line = f"{indent}{label}: <{url}>"
    if len(line) <= width:
        return line
    return f"{_wrap(label + ':', width, indent)}\n{indent}<{url}>"


def _nobreak(text: str, limit: int = 24) -> Markup:
    """For HTML: a short name kept on one line; a long one may wrap, or it would widen a
    phone's screen."""
    if len(text) > limit:
        return escape(text)
    return Markup('<span style="white-space:nowrap;">%s</span>') % text


LONG_TOKEN = 30  # characters without a space: a URL or compound that could widen a phone
_LONG_RUN = re.compile(rf"\S{{{LONG_TOKEN},}}")


def breakable(text: str, every: int = 20) -> Markup:
    """For HTML: the text escaped, with a <wbr> (a break opportunity) every `every` characters
    inside any run of LONG_TOKEN or more without a space. MRML's `word-break:break-word` does
    that for most clients; Yahoo's ignore it (caniemail), and this holds in every client."""
    out = []
    last = 0
    for run in _LONG_RUN.finditer(text):
        out.append(escape(text[last:run.start()]))
        token = run.group()
        out.append(Markup("<wbr>").join(escape(token[i:i + every])
                                        for i in range(0, len(token), every)))
        last = run.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def _paragraphs(text: str) -> list[str]:
    """A plain-text note's paragraphs (split at blank lines), each on one line."""
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


_NOTE_BLOCK = re.compile(r"<(p|ul|ol|blockquote|li)>")


def _note_blocks(html: str, gap: str = "8px", style: str = "") -> Markup:
    """The note's sanitized HTML (tags without attributes: digest.notes) with the inline
    spacing email clients need: `gap` under each block, `style` added to each."""
    def styled(match: re.Match[str]) -> str:
        tag = match.group(1)
        margin = "0 0 4px" if tag == "li" else f"0 0 {gap}"
        pad = "padding:0 0 0 22px;" if tag in ("ul", "ol") else (
            "padding:0 0 0 12px;border-left:3px solid #c9ced6;" if tag == "blockquote" else "")
        return f'<{tag} style="margin:{margin};{pad}{style}">'
    return Markup(_NOTE_BLOCK.sub(styled, html))


_LIST_MARK = re.compile(r"(?:[-*>] |\d{1,9}[.)] )+")


def _note_lines(text: str, width: int = 72, indent: str = "") -> str:
    """The note's plain text wrapped at `width`, each line on its own (a list item's or a quote's
    continuation lines aligned after its mark), blank lines kept."""
    out = []
    for line in text.split("\n"):
        if not line.strip():
            out.append("")
            continue
        mark = _LIST_MARK.match(line)
        hang = " " * (mark.end() if mark else 0)
        if mark and line.startswith(">"):
            hang = mark.group()
        out.append(_wrap(line, width, indent + hang, first=indent))
    return "\n".join(out)


# --- colours: the accent and what is derived from it (WCAG 2 contrast) ------------------------

DARK_CARD = "#15191e"  # the cards in dark mode (head.mjml.j2)


def palette(accent: str) -> dict[str, str]:
    """The accent and its derived colours: `tint` (section bands and the note on white, dark
    text on it), `dark_accent` (links in dark mode: the accent lightened until it reads on the
    dark cards) and `dark_tint` (bands in dark mode). RenderError for an accent too light for
    links and headings on white."""
    try:
        accent = readable_accent(accent)
    except ValueError as e:
        raise RenderError(f"email.accent: {e}") from None
    dark_accent = next(shade for step in range(21)
                       if contrast(shade := mix(accent, WHITE, step / 20), DARK_CARD) >= 8)
    return {"accent": accent, "tint": mix(accent, WHITE, 0.9),
            "dark_accent": dark_accent, "dark_tint": mix(DARK_CARD, accent, 0.2)}


def archive_of(view_url: str) -> str | None:
    """Where all editions are, from where one is: the folder of `view_url`'s {edition} page
    (the site itself for digest's own archive, whose editions are at /editions/<date>/)."""
    head = view_url.split("{edition}", 1)[0]
    head = head[: head.rfind("/") + 1]
    if head.endswith("/editions/"):
        head = head.removesuffix("editions/")
    parts = urlsplit(head)
    return head if parts.scheme in ("http", "https") and parts.netloc else None


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
                 preferences: bool = False, postal_address: str | None = None,
                 theme: str = "classic", accent: str = "#0b5cad", logo: str | None = None,
                 logo_width: int | None = None, logo_height: int | None = None,
                 full_stories: int = 1, note: str | None = None,
                 archive_url: str | None = None) -> None:
        """`overrides`: a folder whose templates replace the built-in ones of the same name;
        `subject`: a Jinja2 template for the subject line, replacing subject.txt.j2;
        `preferences`: each reader has a preferences page (the web service); `theme`: one of
        THEMES; `accent`: the links', rules' and bands' colour (#rrggbb, 4.5:1 on white);
        `logo`: an https image shown `logo_width` x `logo_height` px in the masthead;
        `full_stories`: the stories of each section shown in full, the rest "In brief";
        `note`: the editor's note (plain text) at the top of every edition; `archive_url`:
        where past editions are (default: the folder of `view_url`'s pages)."""
        if theme not in THEMES:
            raise RenderError(f"email.theme: no theme {theme!r} (one of {', '.join(THEMES)})")
        if logo is not None and not (logo_width and logo_height):
            raise RenderError("email.logo: needs logo_width and logo_height (its size in px)")
        if full_stories < 0:
            raise RenderError(f"email.full_stories: cannot be negative: {full_stories}")
        self.preferences = preferences
        self.postal_address = postal_address
        self.tz = tz
        self.lang = lang
        self.direction = direction
        self.thumbnails = thumbnails
        self.view_url = view_url  # "{edition}" is replaced by the edition's date
        self.archive_url = archive_url or (archive_of(view_url) if view_url else None)
        self.theme = theme
        self.colours = palette(accent)
        self.logo = ({"src": logo, "width": logo_width, "height": logo_height}
                     if logo is not None else None)
        self.full_stories = full_stories
        self.note = note
        self.overrides = Path(overrides) if overrides else None
        builtin = template_dir()
        self.theme_dir = builtin / "themes" / theme if theme != THEMES[0] else None
        folders = [self.overrides, self.theme_dir, builtin]
        loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(str(folder))
                                            for folder in folders if folder is not None]
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
            clip=clip, first_line=first_line, link_line=_link_line, paragraphs=_paragraphs,
            note_blocks=_note_blocks, note_lines=_note_lines,
            nobreak=_nobreak, breakable=breakable,
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
        if self.theme_dir is not None and (self.theme_dir / name).is_file():
            return f"themes/{self.theme}/{name}"
        return name

    def _render(self, name: str, context: dict[str, Any]) -> str:
        try:
            return self.env.get_template(name).render(context)
        except jinja2.TemplateSyntaxError as e:
            where = self._where(e.name or name)
            raise RenderError(f"template {where}, line {e.lineno}: {e.message}") from e
        except Exception as e:  # a template error, or a filter given what it cannot take
            raise RenderError(f"template {self._where(name)}: {e}") from e

    def context(self, edition: Edition, sections: Sequence[str] | None = None, *,
                note: str | None = None) -> dict[str, Any]:
        """What the templates see: the edition's (chosen) sections, its lead story, the
        preheader and table of contents, the email's language settings and its look (theme,
        colours, logo, how many stories in full, the editor's note: `note`, else the
        configured one)."""
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
            "archive_url": self.archive_url,
            "theme": self.theme,
            "colours": self.colours,
            "logo": self.logo,
            "full_stories": self.full_stories,
            **self._note(note if note is not None else edition.note),
        }

    def _note(self, markdown: str | None) -> dict[str, Any]:
        """The editor's note in both forms: this edition's (Markdown, digest.notes), else the
        configured one (plain paragraphs); `note` is its source, for templates of old."""
        if markdown:
            from digest import notes

            return {"note": markdown, "note_html": Markup(notes.note_html(markdown)),
                    "note_text": notes.note_text(markdown)}
        if self.note:
            paragraphs = _paragraphs(self.note)
            return {"note": self.note,
                    "note_html": Markup("").join(Markup("<p>{}</p>").format(p)
                                                 for p in paragraphs),
                    "note_text": "\n\n".join(paragraphs)}
        return {"note": None, "note_html": None, "note_text": None}

    def render(self, edition: Edition, *, sections: Sequence[str] | None = None,
               note: str | None = None) -> Rendered:
        """Subject, HTML and text of an edition, optionally only some sections (by id);
        `note`: an editor's note (Markdown) instead of the edition's own or the configured
        one."""
        context = self.context(edition, sections, note=note)
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
