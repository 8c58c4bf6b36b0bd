"""The web service's HTML pages: Jinja2 templates from templates/web (shipped in the wheel as
digest/templates/web; autoescape on, StrictUndefined), filled with the newsletter's title,
language, direction and postal address, and the CSRF cookie set with any page that has a form.
Decides nothing about what a page says: digest.web.app chooses the page and its words.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from digest.config import Settings
from digest.render import template_dir
from digest.web.forms import CSRF_COOKIE


@dataclass(frozen=True, slots=True)
class Button:
    """A form of one button: the path it posts to (relative), its label and hidden fields."""

    action: str
    label: str
    fields: tuple[tuple[str, str], ...] = ()
    quiet: bool = False  # drawn as a secondary button


def web_templates() -> Path:
    return template_dir() / "web"


class Pages:
    """Renders the pages of one newsletter."""

    def __init__(self, settings: Settings) -> None:
        self.static = web_templates() / "static"
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(web_templates()), autoescape=True,
            undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        e = settings.email
        self.common = {"title": settings.title, "lang": e.lang, "dir": e.dir,
                       "postal_address": e.postal_address}
        self.secure = (settings.web.base_url or "").startswith("https://")

    def render(self, request: Request, template: str, *, heading: str, status: int = 200,
               csrf: str | None = None, **values: Any) -> HTMLResponse:
        """The page; with `csrf`, the cookie its forms must match is set with it (HttpOnly:
        no script needs it; SameSite=Strict: no other site's form sends it)."""
        html = self.env.get_template(template).render(
            **self.common, heading=heading, root=_root(request.url.path), csrf=csrf or "",
            **values)
        response = HTMLResponse(html, status_code=status)
        if csrf is not None:
            response.set_cookie(CSRF_COOKIE, csrf, path="/", httponly=True, samesite="strict",
                                secure=self.secure)
        return response

    def message(self, request: Request, heading: str, paragraphs: list[str], *,
                status: int = 200, buttons: tuple[Button, ...] = (),
                links: tuple[tuple[str, str], ...] = (), csrf: str | None = None
                ) -> HTMLResponse:
        """A page that says something, with buttons (forms) and links under it."""
        return self.render(request, "message.html", heading=heading, status=status, csrf=csrf,
                           paragraphs=paragraphs, buttons=buttons, links=links)


def _root(path: str) -> str:
    """The way back to the service's root from a page, as a relative URL: every link and form
    is relative, so the service works the same behind a proxy that serves it under a path."""
    depth = max(path.count("/") - 1, 0)
    return "../" * depth if depth else "./"
