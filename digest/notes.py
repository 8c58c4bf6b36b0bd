"""The editor's note of an edition: Markdown as an editor types it, checked for storage and
rendered into a sanitized HTML fragment (the email, the web preview) and plain text (the email's
text part); the only importer of markdown_it.

Stores nothing, reads no file and fetches nothing (a link in the note is never followed). The
editor is not trusted: raw HTML is off in the parser, so it stays text; each link keeps its href
only for http, https and mailto; and nh3 cleans the result again with the same allow-list, so a
mistake in the first wall still cannot let a tag, an attribute or a scheme through.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from html import escape
from urllib.parse import unquote, urlsplit

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

from digest.errors import DigestError

MAX_NOTE = 5000  # characters of Markdown, as stored (after check_note)
MAX_HREF = 2048  # a longer link keeps its words only
ALLOWED_TAGS = frozenset({"p", "br", "strong", "em", "a", "ul", "ol", "li", "blockquote",
                          "code", "del"})
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
SECTION_BREAK = "* * *"  # a thematic break (---) in both parts: <hr> is not on the list

# C0 and C1 controls but newline and tab (CR is gone by then), and lone surrogates, which no
# UTF-8 email or database can hold.
_REFUSED = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


class NoteError(DigestError, ValueError):
    """The note cannot be stored as it is; the message names the problem in one line."""

    exit_code = 2


def check_note(markdown: str) -> str:
    """The note as it will be stored: line endings normalised to \\n, trailing whitespace of the
    whole text stripped. NoteError when it is longer than MAX_NOTE characters, or holds a
    control character other than newline and tab (the first one is named with its line and
    column, 'U+0007 at line 3, column 5')."""
    text = _normalise(markdown)
    if len(text) > MAX_NOTE:
        raise NoteError(f"the note is {len(text)} characters long; at most {MAX_NOTE} are allowed")
    refused = _REFUSED.search(text)
    if refused:
        at = refused.start()
        line = text.count("\n", 0, at) + 1
        column = at - text.rfind("\n", 0, at)  # rfind gives -1 on the first line: 1-based
        kind = "half a surrogate pair" if refused.group() >= "\ud800" else "a control character"
        raise NoteError(f"the note holds U+{ord(refused.group()):04X} at line {line}, "
                        f"column {column} ({kind}; only newline and tab are allowed)")
    return text


def note_html(markdown: str) -> str:
    """A sanitized HTML fragment for an email: only p, br, strong, em, a, ul, ol, li,
    blockquote, code and del. Headings become <p><strong>..</strong></p>, images their alt
    text, code blocks <p><code> with <br> between lines, a thematic break SECTION_BREAK;
    raw HTML and everything else stays text, escaped. A link keeps its href only for http(s)
    with a host and mailto with an address (else it becomes its words), and <a> has no other
    attribute. No inline style is added. Blank input gives ''.

    The note is not checked here (check_note is for storing it); control characters it would
    refuse become U+FFFD."""
    root = _parse(markdown)
    if root is None:
        return ""
    html = "\n".join(filter(None, (_block_html(node) for node in root.children)))
    return _cleaner().clean(html).strip()


def note_text(markdown: str) -> str:
    """The same note as plain text for the text/plain part: blocks separated by one blank line,
    list items as '- item' or '1. item' (numbered from the list's own first number), block
    quotes prefixed '> ', emphasis markers dropped, struck text as ~~text~~, a link as
    'words (url)' (just the URL when the words are the URL, just the words when its scheme is
    refused), an image as its alt text, code as its text. Entities are decoded; the author's
    line breaks are kept and nothing else wraps a line; no line ends in a space (format=flowed
    would join it to the next). Blank gives ''."""
    root = _parse(markdown)
    if root is None:
        return ""
    text = _blocks_text(root.children, "\n\n")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")


# --- parsing -------------------------------------------------------------------------------


class _Parser(MarkdownIt):
    """CommonMark with ~~strikethrough~~ and raw HTML off, which accepts every link target.

    markdown-it's own check leaves a `[words](javascript:...)` link unparsed, so its whole
    source would show; accepted here, _link_target decides and a refused link keeps its words.
    """

    def validateLink(self, url: str) -> bool:
        return True


@cache
def _parser() -> MarkdownIt:
    # maxNesting (20 in this preset) bounds how deep blocks go, so _block_* may recurse;
    # inline tokens can nest far deeper ('*' * 2500), so they are walked flat.
    return _Parser("commonmark", {"html": False}).enable("strikethrough")


@dataclass(slots=True)
class _Block:
    """A block token and the blocks inside it; an `inline` leaf holds the inline tokens."""

    token: Token
    children: list[_Block] = field(default_factory=list)

    @property
    def type(self) -> str:
        return self.token.type.removesuffix("_open")


def _parse(markdown: str) -> _Block | None:
    """The note's blocks as a tree, or None when it is blank."""
    text = _REFUSED.sub("\ufffd", _normalise(markdown))
    return _tree(text) if text.strip() else None


# An edition renders its note twice (HTML and text), maybe once per reader: parsing is most of
# the cost (about 4 ms for 5000 characters of prose with links and emphasis, 45 ms for 5000
# "["), so the last few trees are kept. They are never modified after they are built.
@lru_cache(maxsize=16)
def _tree(text: str) -> _Block:
    root = _Block(Token("root", "", 0))
    stack = [root]
    for token in _parser().parse(text):
        if token.nesting == 1:
            node = _Block(token)
            stack[-1].children.append(node)
            stack.append(node)
        elif token.nesting == -1:
            stack.pop()
        else:
            stack[-1].children.append(_Block(token))
    return root


def _normalise(markdown: str) -> str:
    return markdown.replace("\r\n", "\n").replace("\r", "\n").rstrip()


def _link_target(href: str) -> str | None:
    """`href` (as markdown-it normalised it: entities decoded, percent-encoded) when it is an
    http(s) URL with a host or a mailto: with an address, else None. Anything without a scheme
    (/x, //evil.example, #top) is refused: a note has no base URL to resolve against."""
    if not href or len(href) > MAX_HREF or not (href.isascii() and href.isprintable()) \
            or " " in href:
        return None
    try:
        parts = urlsplit(href)
        if parts.scheme in ("http", "https"):
            _ = parts.port  # ValueError for a port that is not one
            return href if parts.hostname else None
    except ValueError:
        return None
    return href if parts.scheme == "mailto" and parts.path else None


def _href_filter(element: str, attribute: str, value: str) -> str | None:
    """nh3's second look at an attribute: only an <a>'s href, and only when _link_target
    accepts it (nh3 alone lets relative URLs through)."""
    if element == "a" and attribute == "href":
        return _link_target(value)
    return None


@cache
def _cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(tags=set(ALLOWED_TAGS), attributes={"a": {"href"}},
                       url_schemes=set(LINK_SCHEMES), attribute_filter=_href_filter,
                       link_rel=None, strip_comments=True)


def _plain(tokens: Sequence[Token]) -> str:
    """The words of inline tokens, markup dropped: an image's alt text (images nest in alt
    text, walked with a stack rather than recursion)."""
    out: list[str] = []
    stack: list[Iterator[Token]] = [iter(tokens)]
    while stack:
        token = next(stack[-1], None)
        if token is None:
            stack.pop()
        elif token.children:
            stack.append(iter(token.children))
        elif token.type in ("softbreak", "hardbreak"):
            out.append(" ")
        else:
            out.append(token.content)  # text, code_inline; empty for an em_open and the like
    return "".join(out)


def _words_are_url(words: str, href: str, token: Token) -> bool:
    return token.markup == "autolink" or words in (href, unquote(href), href.removeprefix(
        "mailto:"))


# --- HTML ----------------------------------------------------------------------------------

_INLINE_TAGS = {"em_open": "<em>", "em_close": "</em>", "strong_open": "<strong>",
                "strong_close": "</strong>", "s_open": "<del>", "s_close": "</del>"}


def _block_html(node: _Block) -> str:
    kind = node.type
    if kind == "inline":
        return _inline_html(node.token.children or [])
    if kind in ("paragraph", "heading"):
        inner = _children_html(node)
        if not inner.strip():  # a refused link with no words, say
            return ""
        if kind == "heading":
            return f"<p><strong>{inner}</strong></p>"
        return inner if node.token.hidden else f"<p>{inner}</p>"  # hidden: a tight list's
    if kind in ("bullet_list", "ordered_list", "list_item", "blockquote"):
        tag = {"bullet_list": "ul", "ordered_list": "ol", "list_item": "li"}.get(kind, kind)
        inner = _children_html(node, "\n")
        return f"<{tag}>{inner}</{tag}>"
    if kind in ("code_block", "fence"):
        lines = node.token.content.rstrip("\n").split("\n")
        code = "<br>".join(_keep_indent(escape(line, quote=False)) for line in lines)
        return f"<p><code>{code}</code></p>" if code else ""
    if kind == "hr":
        return f"<p>{SECTION_BREAK}</p>"
    if node.children:  # not made by this preset; its content, never its markup
        return _children_html(node)
    content = node.token.content.strip()
    return f"<p>{escape(content, quote=False)}</p>" if content else ""


def _children_html(node: _Block, sep: str = "") -> str:
    return sep.join(filter(None, (_block_html(child) for child in node.children)))


def _keep_indent(line: str) -> str:
    stripped = line.lstrip(" ")
    return "\u00a0" * (len(line) - len(stripped)) + stripped  # spaces would collapse


def _inline_html(tokens: Sequence[Token]) -> str:
    out: list[str] = []
    links: list[tuple[Token, list[str]]] = []  # an open link and the output before it
    for token in tokens:
        kind = token.type
        if kind == "text":
            out.append(escape(token.content, quote=False))
        elif kind == "softbreak":
            out.append("\n")
        elif kind == "hardbreak":
            out.append("<br>\n")
        elif kind == "code_inline":
            out.append(f"<code>{escape(token.content, quote=False)}</code>")
        elif kind == "image":
            out.append(escape(_plain(token.children or []), quote=False))
        elif kind == "link_open":
            links.append((token, out))
            out = []
        elif kind == "link_close" and links:
            opened, before = links.pop()
            before.append(_link_html(opened, "".join(out)))
            out = before
        elif kind in _INLINE_TAGS:
            out.append(_INLINE_TAGS[kind])
        else:  # html_inline (off in the parser) or a token type this code does not know
            out.append(escape(token.content, quote=False))
    return "".join(out)


def _link_html(token: Token, inner: str) -> str:
    href = _link_target(str(token.attrGet("href") or ""))
    if href is None:
        return inner
    if not inner.strip():  # [](https://...) would be a link nobody can see
        inner = escape(href.removeprefix("mailto:"), quote=False)
    return f'<a href="{escape(href)}">{inner}</a>'


# --- plain text ----------------------------------------------------------------------------


def _blocks_text(nodes: Sequence[_Block], sep: str) -> str:
    return sep.join(filter(None, (_block_text(node) for node in nodes)))


def _block_text(node: _Block) -> str:
    kind = node.type
    if kind == "inline":
        return _inline_text(node.token.children or [])
    if kind in ("paragraph", "heading"):
        return _blocks_text(node.children, "")
    if kind in ("bullet_list", "ordered_list"):
        return _list_text(node)
    if kind == "blockquote":
        inner = _blocks_text(node.children, "\n\n")
        return "\n".join(f"> {line}" if line else ">" for line in inner.split("\n"))
    if kind in ("code_block", "fence"):
        return node.token.content.rstrip("\n")
    if kind == "hr":
        return SECTION_BREAK
    if node.children:
        return _blocks_text(node.children, "\n\n")
    return node.token.content.strip()


def _list_text(node: _Block) -> str:
    """'- item' or 'n. item' lines, an item's further lines indented under its first word; a
    loose list (a blank line between items) keeps its blank lines."""
    tight = all(p.token.hidden for item in node.children for p in item.children
                if p.type == "paragraph")
    sep = "\n" if tight else "\n\n"
    number = int(node.token.attrGet("start") or 1)
    items: list[str] = []
    for item in node.children:
        marker = f"{number}. " if node.type == "ordered_list" else "- "
        number += 1
        body = _blocks_text(item.children, sep)
        indent = " " * len(marker)
        lines = body.split("\n")
        items.append("\n".join([f"{marker}{lines[0]}".rstrip(),
                                *(indent + line if line else "" for line in lines[1:])]))
    return sep.join(items)


def _inline_text(tokens: Sequence[Token]) -> str:
    out: list[str] = []
    links: list[tuple[Token, list[str]]] = []
    for token in tokens:
        kind = token.type
        if kind in ("softbreak", "hardbreak"):  # the author's own line breaks are kept
            out.append("\n")
        elif kind == "image":
            out.append(_plain(token.children or []))
        elif kind == "link_open":
            links.append((token, out))
            out = []
        elif kind == "link_close" and links:
            opened, before = links.pop()
            before.append(_link_text(opened, "".join(out)))
            out = before
        elif kind in ("s_open", "s_close"):
            out.append("~~")
        else:  # text, code_inline; em and strong markers have no content
            out.append(token.content)
    return "".join(out)


def _link_text(token: Token, words: str) -> str:
    href = _link_target(str(token.attrGet("href") or ""))
    if href is None:
        return words
    if not words.strip() or _words_are_url(words, href, token):
        return href.removeprefix("mailto:") if href.startswith("mailto:") else href
    return f"{words} ({href})"
