"""The HTML email in every client that matters, by caniemail's data (issue 21): in each theme, the
demo edition (with thumbnails) uses no feature that Gmail (web, iOS, Android), Outlook
(Windows, macOS, Outlook.com), Apple Mail (macOS, iOS) or Yahoo (web, iOS, Android) does not
support, except those in ALLOWED, each with the reason it degrades gracefully there.

caniemail's data is read through doiuse-email, an npm package `make caniemail` installs into
.venv/node (a dev-only tool, see tests/caniemail.py); without it these tests skip with a reason.
"Partial" support is not judged here: caniemail marks nearly every property partial somewhere.
A full report of each theme's findings is written to tests/artifacts/caniemail-<theme>.txt."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

import caniemail
from caniemail import Finding, Report
from digest.render import breakable
from email_demo import THEMES, demo_email, has_thumbnails

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

# caniemail's family.platform names of the clients every email must work in.
CLIENTS: dict[str, str] = {
    "gmail.desktop-webmail": "Gmail on the web",
    "gmail.ios": "Gmail for iOS",
    "gmail.android": "Gmail for Android",
    "outlook.windows": "Outlook for Windows (2007-2021, Word's renderer)",
    "outlook.macos": "Outlook for Mac",
    "outlook.outlook-com": "Outlook on the web / Outlook.com",
    "apple-mail.macos": "Apple Mail on macOS",
    "apple-mail.ios": "Apple Mail on iOS",
    "yahoo.desktop-webmail": "Yahoo Mail on the web",
    "yahoo.ios": "Yahoo Mail for iOS",
    "yahoo.android": "Yahoo Mail for Android",
}

needs_node = pytest.mark.skipif(caniemail.missing() is not None,
                                reason=caniemail.missing() or "")


@dataclass
class Usage:
    """How the email uses HTML and CSS, for checking what an allowance takes for granted."""

    # each element in document order: (tag, attributes, its inline style as property -> value)
    elements: list[tuple[str, dict[str, str], dict[str, str]]] = field(default_factory=list)
    sheets: list[str] = field(default_factory=list)  # the text of each <style>
    # the visible text between tags, in document order (a <wbr> ends one piece)
    texts: list[str] = field(default_factory=list)


class _Scanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.usage = Usage()
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        style = {}
        for declaration in attributes.get("style", "").split(";"):
            name, colon, value = declaration.partition(":")
            if colon:
                style[name.strip().lower()] = value.strip().lower()
        self.usage.elements.append((tag, attributes, style))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.usage.sheets.append(data)
        elif self.usage.elements and self.usage.elements[-1][0] not in ("title", "script"):
            self.usage.texts.append(data)


def usage(html: str) -> Usage:
    scanner = _Scanner()
    scanner.feed(html)
    scanner.close()
    return scanner.usage


def _in_sheets(prop: str, use: Usage) -> list[str]:
    pattern = re.compile(rf"(?<![\w-]){re.escape(prop)}\s*:")
    return [f"a <style> sheet sets {prop}" for sheet in use.sheets if pattern.search(sheet)]


def only_on_hidden(prop: str) -> Callable[[Usage], list[str]]:
    """`prop` only on elements display:none already hides (the preheader's belt and braces)."""

    def holds(use: Usage) -> list[str]:
        return [f"<{tag}> uses {prop} without display:none"
                for tag, _, style in use.elements
                if prop in style and style.get("display") != "none"] + _in_sheets(prop, use)

    return holds


def style_rules(sheet: str) -> list[tuple[str, str]]:
    """(the @media condition around it or "", selector) for each selector of a style sheet."""
    sheet = re.sub(r"/\*.*?\*/", "", sheet, flags=re.S)
    found: list[tuple[str, str]] = []
    media: list[str] = []  # the open blocks' preludes, outermost first
    start = 0
    for at, char in enumerate(sheet):
        if char == "{":
            prelude = " ".join(sheet[start:at].split())
            if not prelude.startswith("@"):
                condition = next((p for p in reversed(media) if p.startswith("@media")), "")
                found += [(condition, s.strip()) for s in prelude.split(",") if s.strip()]
            media.append(prelude)
            start = at + 1
        elif char == "}":
            if media:
                media.pop()
            start = at + 1
        elif char == ";" and (not media or media[-1].startswith("@")):
            start = at + 1  # an at-rule statement (@import ...;) between rules
    return found


def two_classes_only_as_extras(use: Usage) -> list[str]:
    """A selector naming two classes only in MJML's Thunderbird rule (.moz-text-html ...) or
    in the dark-mode block: the light design never depends on one."""
    return [f"{selector!r} {('in ' + media) if media else 'outside any @media'}"
            for sheet in use.sheets for media, selector in style_rules(sheet)
            if len(re.findall(r"\.-?[_a-zA-Z]", selector)) >= 2
            and not selector.startswith(".moz-text-html ")
            and "prefers-color-scheme: dark" not in media.replace(":dark", ": dark")]


def only_outlook_com_markers(use: Usage) -> list[str]:
    """Attribute selectors only on Outlook.com's dark-mode markers ([data-ogsc], [data-ogsb])."""
    return [f"{selector!r} selects by [{name}]"
            for sheet in use.sheets for _, selector in style_rules(sheet)
            for name in re.findall(r"\[\s*([\w-]+)", selector)
            if name not in ("data-ogsc", "data-ogsb")]


def outline_only_reset(use: Usage) -> list[str]:
    """outline only as MJML's reset, `outline: none`: nothing that draws one."""
    inline = [f"<{tag}> has outline:{style['outline']}"
              for tag, _, style in use.elements if "outline" in style]
    return inline + [f"a <style> sheet sets outline:{value.strip()}" for sheet in use.sheets
                     for value in re.findall(r"(?<![\w-])outline\s*:\s*([^;}]*)", sheet)
                     if value.strip().lower() != "none"]


def body_background_repeated(use: Usage) -> list[str]:
    """The <div> just inside <body> has the body's background colour (MJML's wrapper)."""
    tags = [tag for tag, _, _ in use.elements]
    if "body" not in tags:
        return ["no <body>"]
    at = tags.index("body")
    body = use.elements[at][2].get("background-color")
    wrapper = next((style for tag, _, style in use.elements[at + 1:] if tag == "div"), {})
    if body is not None and wrapper.get("background-color") != body:
        return [f"<body> has background-color {body}, the <div> inside it "
                f"{wrapper.get('background-color')}"]
    return []


def aria_label_only_on_article(use: Usage) -> list[str]:
    """aria-label only on MJML's <div role="article">: no control is named by it alone."""
    return [f"<{tag} aria-label={attrs['aria-label']!r}> (role {attrs.get('role')!r})"
            for tag, attrs, _ in use.elements
            if "aria-label" in attrs and attrs.get("role") != "article"]


def only_nowrap(use: Usage) -> list[str]:
    """white-space only keeps short labels on one line (no `pre`: that would carry meaning)."""
    return [f"<{tag}> has white-space:{style['white-space']}"
            for tag, _, style in use.elements
            if style.get("white-space", "nowrap") != "nowrap"] + _in_sheets("white-space", use)


def long_words_can_break(use: Usage) -> list[str]:
    """No run of 30 or more characters without a break opportunity in the visible text: the
    renderer puts a <wbr> into long tokens (render.breakable), so clients without word-break
    still wrap them."""
    return [f"{run!r} has no break opportunity" for text in use.texts
            for run in re.findall(r"\S{30,}", text)]


@dataclass(frozen=True)
class Allowance:
    """A feature caniemail says some clients lack, accepted because the email still reads and
    looks right without it there; `holds`, where the condition can be checked, checks it."""

    feature: str  # caniemail's title, as doiuse-email reports it
    clients: frozenset[str]
    why: str
    holds: Callable[[Usage], list[str]] | None = None


OUTLOOK_WINDOWS = frozenset({"outlook.windows"})
YAHOO = frozenset({"yahoo.desktop-webmail", "yahoo.ios", "yahoo.android"})
YAHOO_APPS = frozenset({"yahoo.ios", "yahoo.android"})

ALLOWED: tuple[Allowance, ...] = (
    # Outlook for Windows lays the email out from MJML's conditional (<!--[if mso]>) tables at
    # the fixed 600 px width: the base styles are the whole design, and the @media rules only
    # adapt it (narrow screens, dark mode), which a desktop client without them does not need.
    Allowance("@media", OUTLOOK_WINDOWS,
              "ignored: the fixed 600 px layout and the light colours are the base styles"),
    # MJML's reset (img { outline: none }): Outlook draws no outline around images anyway.
    Allowance("outline", OUTLOOK_WINDOWS, "MJML's reset; Outlook draws no image outline",
              outline_only_reset),
    # doiuse-email 0.4.1 counts any selector naming two classes as chaining, also descendant
    # ones (`.moz-text-html .mj-column-per-100`: MJML's rule for Thunderbird; `.card .meta`: in
    # the dark-mode block). Outlook misapplies or never matches such rules; as long as only
    # those use them, the light design is all there.
    Allowance("Chaining selectors", frozenset({"outlook.windows", "outlook.outlook-com"}),
              "only MJML's Thunderbird rule and the dark-mode block name two classes",
              two_classes_only_as_extras),
    # Square corners instead of round ones.
    Allowance("border-radius", OUTLOOK_WINDOWS, "square corners instead of round ones"),
    # Outlook.com marks what its dark mode recolours with data-ogsc / data-ogsb attributes, and
    # rules on [data-ogsc] ... put the email's own dark colours there. Outlook for Windows
    # drops attribute selectors, and nothing there carries those attributes anyway.
    Allowance("Attribute selector", OUTLOOK_WINDOWS,
              "only Outlook.com's dark-mode markers, which Outlook for Windows never sets",
              only_outlook_com_markers),
    # The preheader is hidden by display:none (and mso-hide:all for Outlook); overflow:hidden
    # and opacity:0 only hide it in clients that drop display:none, and they are no such client.
    Allowance("overflow", OUTLOOK_WINDOWS | {"yahoo.android"},
              "only on the preheader, which display:none and mso-hide:all already hide",
              only_on_hidden("overflow")),
    Allowance("opacity", OUTLOOK_WINDOWS | YAHOO,
              "only on the preheader, which display:none and mso-hide:all already hide",
              only_on_hidden("opacity")),
    # white-space:nowrap keeps "Tech (5)" in the contents line together; in Outlook's fixed
    # 600 px layout a label may break across two lines, which is only less tidy.
    Allowance("white-space", OUTLOOK_WINDOWS, "a label may wrap: less tidy, still readable",
              only_nowrap),
    # Yahoo's apps replace <body>: its background is lost, but MJML repeats it on the wrapper
    # <div> just inside, so the email looks the same.
    Allowance("<body> element", YAHOO_APPS, "MJML repeats the body's background on its wrapper",
              body_background_repeated),
    # MRML writes word-break:break-word on every text cell, so long URLs and compounds wrap
    # where they would widen a phone; Yahoo drops it, but every long token in a headline or
    # summary also carries <wbr> break opportunities (render.breakable), which work there.
    Allowance("word-break", YAHOO, "long tokens carry <wbr> break opportunities too",
              long_words_can_break),
    # MJML labels its wrapper <div role="article"> with the title for screen readers; Yahoo
    # strips aria-label, so a screen reader announces the article without its name, and every
    # word of the email is still read.
    Allowance("aria-label attribute", YAHOO,
              "only MJML's label of the whole article; the content itself is all there",
              aria_label_only_on_article),
)


def unexpected(report: Report) -> list[Finding]:
    """The findings no allowance excuses: unsupported, or clients caniemail has no data for."""
    return [f for f in report.findings
            if f.support in ("none", "unknown")
            and not any(a.feature == f.feature and f.client in a.clients for a in ALLOWED)]


def conditions_broken(report: Report, html: str) -> list[str]:
    """Why an allowance the email relies on does not hold for it."""
    use = usage(html)
    relied = {f.feature for f in report.unsupported()}
    return [f"{a.feature} ({a.why}): {problem}"
            for a in ALLOWED if a.feature in relied and a.holds is not None
            for problem in a.holds(use)]


def describe(report: Report, findings: list[Finding]) -> str:
    return (f"{len(findings)} unsupported by caniemail ({report.tool}, data of "
            f"{report.data}):\n  " + "\n  ".join(map(str, findings)))


def write_report(theme: str, report: Report) -> None:
    """tests/artifacts/caniemail-<theme>.txt: every finding, allowed or not, and partials."""
    lines = [f"caniemail findings for the demo edition, theme {theme!r}: {report.tool}, data "
             f"of {report.data}", f"clients: {', '.join(CLIENTS)}", ""]
    for heading, support in (("not supported", "none"), ("no data", "unknown"),
                             ("partly supported", "partial")):
        found = [f for f in report.findings if f.support == support]
        lines.append(f"{heading} ({len(found)}):")
        for f in found:
            excuse = next((a.why for a in ALLOWED
                           if a.feature == f.feature and f.client in a.clients), None)
            mark = f"  [allowed: {excuse}]" if excuse and support != "partial" else ""
            lines.append(f"  {f}{mark}")
        lines.append("")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"caniemail-{theme}.txt").write_text("\n".join(lines), encoding="utf-8")


_reports: dict[str, Report] = {}  # theme -> caniemail's verdict on its demo email, once


def judged(theme: str, demo: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Report, str]:
    html = demo_email(demo, theme, capsys)
    if theme not in _reports:
        _reports[theme] = caniemail.check(html, list(CLIENTS))
        write_report(theme, _reports[theme])
    return _reports[theme], html


def test_each_theme_is_an_email_of_its_own(demo: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """`email.theme` really chooses the look, so each theme below is judged for itself; the
    first (classic) shows pictures, so what caniemail says of images is judged too."""
    emails = {theme: demo_email(demo, theme, capsys) for theme in THEMES}
    same = [(a, b) for n, a in enumerate(THEMES) for b in THEMES[n + 1:] if emails[a] == emails[b]]
    assert not same, f"email.theme makes no difference: these give the same email: {same}"
    # and the thumbnails the demo's copy is given reach the email (where a theme shows them)
    assert has_thumbnails(emails[THEMES[0]]), f"no thumbnail in the {THEMES[0]} theme's email"


@needs_node
@pytest.mark.parametrize("theme", THEMES)
def test_demo_email_uses_only_what_every_client_supports(
        theme: str, demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report, html = judged(theme, demo, capsys)
    assert "<body> element" in report.features and "@media" in report.features  # it looked
    found = unexpected(report)
    broken = conditions_broken(report, html)
    assert not (found or broken), f"theme {theme!r}: " + describe(report, found) + (
        "\nallowances that do not hold:\n  " + "\n  ".join(broken) if broken else "")


@needs_node
def test_every_allowance_is_still_needed(demo: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """An allowance no theme needs any more goes: left in, it would let the feature back in."""
    found: set[tuple[str, str]] = set()
    for theme in THEMES:
        report, _ = judged(theme, demo, capsys)
        found |= {(f.feature, f.client) for f in report.unsupported()}
    stale = [f"{a.feature} in {client}" for a in ALLOWED for client in sorted(a.clients)
             if (a.feature, client) not in found]
    assert not stale, f"no theme needs these allowances any more, remove them: {stale}"


def test_allowances_name_known_clients() -> None:
    assert all(a.clients <= CLIENTS.keys() and a.why for a in ALLOWED)


OUTLOOK_BREAKER = """<!doctype html>
<html lang="en"><head><style>@media (max-width: 480px) { .col { width: 100% !important; } }
[data-ogsc] .col { color: #f3f4f6; } td[align=right] { padding: 0; }</style>
</head><body>
<table role="presentation" width="600"><tr><td class="col">
<img src="https://images.example.net/a.png" alt="A cropped picture" width="96" height="64"
     style="width:96px;height:64px;object-fit:cover;float:left">
<p style="margin:0;">Some text.</p></td></tr></table>
</body></html>"""


@needs_node
def test_the_check_reports_a_feature_a_client_lacks() -> None:
    report = caniemail.check(OUTLOOK_BREAKER, ["outlook.windows", "apple-mail.macos"])
    unsupported = {(f.feature, f.client) for f in report.unsupported()}
    assert ("object-fit", "outlook.windows") in unsupported
    assert not any(client == "apple-mail.macos" for _, client in unsupported), unsupported
    assert ("@media", "outlook.windows") in unsupported
    # @media in Outlook for Windows is excused; object-fit and float are not.
    assert [(f.feature, f.client) for f in unexpected(report)] == [
        ("object-fit", "outlook.windows"), ("float", "outlook.windows")]


@needs_node
def test_the_check_refuses_a_client_caniemail_does_not_know() -> None:
    """A misspelt client would otherwise be judged on no data and pass."""
    with pytest.raises(RuntimeError, match=r"no data for these clients: gmail\.web"):
        caniemail.check(OUTLOOK_BREAKER, ["gmail.desktop-webmail", "gmail.web"])


def test_an_allowance_excuses_only_its_own_clients() -> None:
    report = Report("doiuse-email test", "today", ("@media", "opacity"), (
        Finding("@media", "outlook.windows", "none", ()),
        Finding("@media", "gmail.ios", "none", ()),  # not allowed there
        Finding("opacity", "yahoo.ios", "unknown", ()),  # allowed there, whatever the data
        Finding("opacity", "gmail.ios", "unknown", ()),  # no data is no pass
        Finding("object-fit", "gmail.ios", "partial", ()),  # partial is not judged
    ))
    assert [(f.feature, f.client) for f in unexpected(report)] == [
        ("@media", "gmail.ios"), ("opacity", "gmail.ios")]


def test_the_preheader_allowances_check_the_element_is_hidden() -> None:
    hidden = '<div style="display:none;mso-hide:all;opacity:0;overflow:hidden">Preheader</div>'
    shown = '<p style="opacity:0.6">Muted</p><style>.x { overflow: auto }</style>'
    assert only_on_hidden("opacity")(usage(hidden)) == []
    assert only_on_hidden("opacity")(usage(shown)) == ["<p> uses opacity without display:none"]
    assert only_on_hidden("overflow")(usage(shown)) == ["a <style> sheet sets overflow"]
    assert only_nowrap(usage('<pre style="white-space: pre">x</pre>')) == [
        "<pre> has white-space:pre"]


def test_the_mjml_allowances_check_what_mjml_writes() -> None:
    mjml = ('<style>img { border: 0; outline: none; }</style><body style="background-color:'
            '#eef0f3;"><div aria-label="The Brief" role="article" style="background-color:'
            '#eef0f3;">Text</div></body>')
    own = ('<style>a:focus { outline: 2px solid #0b5cad }</style><body style="background-color:'
           '#eef0f3;"><div style="background-color:#ffffff;"><a aria-label="Menu" href="#">'
           '=</a></div></body>')
    assert [check(usage(mjml)) for check in (outline_only_reset, body_background_repeated,
                                              aria_label_only_on_article)] == [[], [], []]
    assert outline_only_reset(usage(own)) == ["a <style> sheet sets outline:2px solid #0b5cad"]
    assert body_background_repeated(usage(own)) == [
        "<body> has background-color #eef0f3, the <div> inside it #ffffff"]
    assert aria_label_only_on_article(usage(own)) == ["<a aria-label='Menu'> (role None)"]


def test_attribute_selectors_are_allowed_only_for_outlook_com() -> None:
    report = Report("doiuse-email test", "today", ("Attribute selector",), (
        Finding("Attribute selector", "outlook.windows", "none", ()),))
    assert conditions_broken(report, OUTLOOK_BREAKER) == [
        "Attribute selector (only Outlook.com's dark-mode markers, which Outlook for Windows "
        "never sets): 'td[align=right]' selects by [align]"]


def test_two_class_selectors_are_allowed_only_as_extras() -> None:
    sheet = """<style>
      .moz-text-html .mj-column-per-100 { width:100% !important; }  /* MJML, Thunderbird */
      @media (prefers-color-scheme: dark) { .meta, .card .meta { color: #a8b3bf; } }
      @media only screen and (max-width: 480px) { .card .story { padding: 0; } }
      .lead.story h3 { font-size: 22px; }
    </style>"""
    assert style_rules(sheet.split(">", 1)[1]) == [
        ("", ".moz-text-html .mj-column-per-100"),
        ("@media (prefers-color-scheme: dark)", ".meta"),
        ("@media (prefers-color-scheme: dark)", ".card .meta"),
        ("@media only screen and (max-width: 480px)", ".card .story"),
        ("", ".lead.story h3")]
    assert two_classes_only_as_extras(usage(sheet)) == [
        "'.card .story' in @media only screen and (max-width: 480px)",
        "'.lead.story h3' outside any @media"]


def test_the_word_break_allowance_checks_long_tokens_can_break() -> None:
    token = "https://example.org/a-very-long-path/with-many-segments"
    broken = breakable(f"See {token} now")
    assert long_words_can_break(usage(f"<p>{broken}</p>")) == []
    assert long_words_can_break(usage(f"<p>See {token} now</p>")) == [
        f"{token!r} has no break opportunity"]
