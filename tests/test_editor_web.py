"""The editing page (issue 22) as HTTP: `digest preview --serve`'s Starlette app over a copy of
the demo (real SQLite file, real App per request, the feed server for an added article),
driven in process with Starlette's TestClient and once under a real uvicorn. Each edit made on
the page is what a fresh App sees, and an edit made with `digest edit` is on the page. The
hostile side: CSRF, Origin, Host, body size, the password and its throttle, a refused start on
a public address, the note preview's sanitizing, GETs that change nothing, the headers."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.testclient import TestClient

from conftest import (
    DEMO_DAY,
    DEMO_EDITION,
    FeedServer,
    Route,
    open_app,
    store_demo_items,
)
from digest.app import App
from digest.cli import main
from digest.config import load_settings
from digest.editing import overview_to_dict
from digest.errors import UsageError
from digest.serve import (
    Access,
    Logins,
    Page,
    Preview,
    allowed_hosts,
    check_exposure,
    listen,
    preview_app,
    run_in_thread,
    same_origin,
)
from digest.web.editor import EMAIL_CSP, Editor, web_link

BASE = "http://127.0.0.1:8025"
HOST = "127.0.0.1:8025"
PASSWORD = "correct horse battery staple"
ARTICLE = (b"<!doctype html><html><head><title>Ignored</title>"
           b'<meta property="og:title" content="Harbour pilots win a new contract">'
           b'<meta property="og:description" content="The pilots of the port agreed terms.">'
           b'<meta property="og:site_name" content="Port Gazette"></head>'
           b"<body><h1>Harbour pilots</h1><p>The pilots of the port agreed terms.</p>"
           b"</body></html>")


def factory(config: Path) -> Callable[[], Any]:
    @contextmanager
    def open_one() -> Iterator[App]:
        app = open_app(load_settings(config, env={}))
        try:
            yield app
        finally:
            app.close()
    return open_one


def view(config: Path) -> dict[str, Any]:
    """The edition as a fresh App sees it: what `digest edit show` prints."""
    with factory(config)() as app:
        return overview_to_dict(app.editing.overview(DEMO_DAY))


def section(data: dict[str, Any], sid: str) -> list[dict[str, Any]]:
    return next(s["stories"] for s in data["sections"] if s["id"] == sid)


def make(config: Path, *, password: str | None = None, logins: Logins | None = None) -> Any:
    preview = Preview(lambda: Page("<html><body>email</body></html>", "email"), lambda: [])
    editor = Editor(factory(config), edition=DEMO_DAY)
    return preview_app(preview, Access(allowed_hosts("127.0.0.1", 8025), password),
                       editor=editor.routes(), logins=logins)


class Browser:
    """A TestClient that keeps the page's cookie and reads the CSRF token off the page."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.seen = ""  # the token: one per process (a frozen edition's page has no form)

    def page(self, query: str = f"?edition={DEMO_EDITION}") -> httpx.Response:
        answer: httpx.Response = self.client.get(f"/edit{query}")
        return answer

    def token(self) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', self.page().text)
        assert found or self.seen
        self.seen = found.group(1) if found else self.seen
        return self.seen

    def post(self, action: str, **fields: str) -> httpx.Response:
        data = {"csrf": self.token(), "edition": DEMO_EDITION, **fields}
        answer: httpx.Response = self.client.post(f"/edit/{action}", data=data)
        return answer


@pytest.fixture
def config(demo: Path, feed_server: FeedServer) -> Path:
    data = yaml.safe_load(demo.read_text(encoding="utf-8"))
    data["fetch"] = {"allow_private": True}  # the added article is on 127.0.0.1
    demo.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    store_demo_items(demo)
    feed_server.routes["/article.html"] = Route(
        body=ARTICLE, headers={"Content-Type": "text/html; charset=utf-8"})
    return demo


@pytest.fixture
def browser(config: Path) -> Iterator[Browser]:
    with TestClient(make(config), base_url=BASE, follow_redirects=False) as client:
        yield Browser(client)


def test_the_page_shows_every_story_with_its_id_and_the_email_in_a_sandbox(
        config: Path, browser: Browser) -> None:
    page = browser.page()
    assert page.status_code == 200
    data = view(config)
    for sec in data["sections"]:
        assert f"<h2 id=\"section-{sec['id']}\">{sec['title']}</h2>" in page.text
        for story in sec["stories"]:
            assert f'data-story="{story["id"]}"' in page.text
    assert data["not_selected"] and all(f'data-story="{s["id"]}"' in page.text
                                        for s in data["not_selected"])
    assert "Open: edits are applied" in page.text and 'id="approve"' in page.text
    assert f'<iframe sandbox src="./edit/email?edition={DEMO_EDITION}"' in page.text
    headers = page.headers
    assert headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'")
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    # same-origin: the page's own POSTs carry its Origin (no-referrer would make it "null")
    assert (headers["x-content-type-options"], headers["referrer-policy"],
            headers["cache-control"], headers["x-frame-options"]) == (
        "nosniff", "same-origin", "no-store", "DENY")
    cookie = headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie

    email = browser.client.get(f"/edit/email?edition={DEMO_EDITION}")
    assert email.status_code == 200 and "The Weekly Brief (demo)" in email.text
    assert email.headers["content-security-policy"] == EMAIL_CSP
    assert "script-src" not in EMAIL_CSP and "sandbox" in EMAIL_CSP
    assert email.headers["referrer-policy"] == "no-referrer"
    assert "<script" not in email.text.lower()
    assert section(data, "tech")[0]["title"].replace("'", "&#39;") in page.text


def test_each_edit_on_the_page_is_what_a_fresh_app_sees_and_the_cli_agrees(
        config: Path, browser: Browser, feed_server: FeedServer) -> None:
    before = view(config)
    tech, europe = section(before, "tech"), section(before, "europe")
    pinned, dropped, moved, retitled = tech[3], tech[1], europe[2], europe[0]
    outside = before["not_selected"][0]

    answer = browser.post("pin", story=pinned["id"])
    assert answer.status_code == 303
    assert answer.headers["location"] == f"../edit?edition={DEMO_EDITION}"
    assert section(view(config), "tech")[0]["id"] == pinned["id"]

    assert browser.post("drop", story=dropped["id"]).status_code == 303
    assert dropped["id"] not in {s["id"] for s in section(view(config), "tech")}

    assert browser.post("move", story=moved["id"], section="africa").status_code == 303
    assert moved["id"] in {s["id"] for s in section(view(config), "africa")}

    # Only what changed is an edit: the summary comes back prefilled and unchanged.
    assert browser.post("retitle", story=retitled["id"], title="A headline of our own",
                        summary=retitled["summary"]).status_code == 303
    after = view(config)
    [story] = [s for s in section(after, "europe") if s["id"] == retitled["id"]]
    assert (story["title"], story["summary"], story["edited"]) == (
        "A headline of our own", retitled["summary"], ["retitled"])

    assert browser.post("pin", story=outside["id"]).status_code == 303  # brought in
    assert outside["id"] in {s["id"] for s in section(view(config), outside["section"])}

    assert browser.post("note", text="**Hello** readers").status_code == 303
    assert view(config)["note"] == "**Hello** readers"

    url = feed_server.url("/article.html")
    assert browser.post("add", url=url, section="europe").status_code == 303
    added = [s for s in section(view(config), "europe") if s["title"].startswith("Harbour")]
    assert [s["source"] for s in added] == ["Port Gazette"]

    # The command line's edit is on the page, and the page's edits are `edit show`'s.
    assert main(["--config", str(config), "edit", "pin", "--edition", DEMO_EDITION,
                 "--by", "ana (cli)", tech[5]["id"]]) == 0
    page = browser.page().text
    first = re.search(r'<ol class="stories" data-section="tech">\s*<li class="edit-story" '
                      r'id="story-([0-9a-f]{8})"', page)
    assert first and first.group(1) == tech[5]["id"]
    data = view(config)
    assert [e["by"] for e in data["edits"]] == ["preview page"] * 7 + ["ana (cli)"]
    for e in data["edits"]:
        assert f'data-edit="{e["id"]}"' in page
    assert "A headline of our own" in page and "<strong>Hello</strong> readers" in page
    assert "now leads Tech" in page  # the changes against the automatic edition

    # Undo one, then all.
    drop_id = next(e["id"] for e in data["edits"] if e["kind"] == "drop")
    assert browser.post("reset", id=str(drop_id)).status_code == 303
    assert dropped["id"] in {s["id"] for s in section(view(config), "tech")}
    assert browser.post("reset", all="1").status_code == 303
    assert view(config)["edits"] == []

    # Approve: frozen, and the page says so with no edit buttons left.
    assert browser.post("pin", story=pinned["id"]).status_code == 303
    assert browser.post("approve").status_code == 303
    data = view(config)
    assert (data["state"], data["approved_by"]) == ("approved", "preview page")
    page = browser.page().text
    assert "Approved by preview page at" in page and "can no longer be edited" in page
    assert 'action="./edit/pin"' not in page and 'id="approve"' not in page


def test_refused_edits_come_back_as_the_page_with_the_reason(
        config: Path, browser: Browser, feed_server: FeedServer) -> None:
    tech = section(view(config), "tech")
    answer = browser.post("pin", story="0000ffff")
    assert answer.status_code == 400
    assert "no story of edition 2026-11-30 is &#39;0000ffff&#39;" in answer.text
    assert 'role="alert" id="error"' in answer.text and "data-story=" in answer.text

    answer = browser.post("move", story=tech[0]["id"], section="sport")
    assert answer.status_code == 400 and "no section &#39;sport&#39;" in answer.text

    feed_server.routes["/gone.html"] = Route(status=404, body=b"gone")
    answer = browser.post("add", url=feed_server.url("/gone.html"))
    assert answer.status_code == 400 and "404" in answer.text

    for hostile in ("javascript:alert(1)", "file:///etc/passwd", "http://[::1"):
        answer = browser.post("add", url=hostile)
        assert answer.status_code == 400 and 'id="error"' in answer.text, hostile

    answer = browser.post("note", text="x" * 6000)  # kept in the editor to be shortened
    assert answer.status_code == 400 and "at most 5000" in answer.text
    assert "x" * 6000 + "</textarea>" in answer.text

    answer = browser.post("retitle", story=tech[0]["id"], title="\u0007bell")
    assert answer.status_code == 400 and "control characters" in answer.text

    assert browser.post("reset", id="999").status_code == 400
    assert browser.post("reset").status_code == 400  # neither one nor all
    assert browser.post("reset", id="1; drop").status_code == 400
    assert browser.post("pin").status_code == 400  # no story
    assert browser.client.post("/edit/frobnicate", data={"csrf": browser.token()}
                               ).status_code == 404
    assert view(config)["edits"] == []

    assert browser.post("approve").status_code == 303
    answer = browser.post("drop", story=tech[0]["id"])
    assert answer.status_code == 400
    assert "approved by preview page: it can no longer be edited" in answer.text
    assert browser.post("note", text="late").status_code == 400
    assert view(config)["edits"] == []


def test_a_post_without_our_csrf_token_or_from_another_origin_is_refused(
        config: Path, browser: Browser) -> None:
    story = section(view(config), "tech")[2]["id"]
    token = browser.token()
    client = browser.client
    base = {"edition": DEMO_EDITION, "story": story}
    assert client.post("/edit/pin", data=base).status_code == 403
    assert client.post("/edit/pin", data={**base, "csrf": "x" * 43}).status_code == 403
    assert client.post("/edit/pin", data={**base, "csrf": token + "x"}).status_code == 403
    # the right field but no cookie, or another cookie: what another site's form could send
    client.cookies.clear()
    assert client.post("/edit/pin", data={**base, "csrf": token}).status_code == 403
    assert client.post("/edit/note-preview", data={"csrf": token, "text": "x"}
                       ).status_code == 403
    cookie = "digest_edit_csrf_8025"
    client.cookies.set(cookie, "y" * 43, domain="127.0.0.1")
    assert client.post("/edit/pin", data={**base, "csrf": token}).status_code == 403
    assert client.post("/edit/pin", data={**base, "csrf": "y" * 43}).status_code == 403
    assert browser.token() == token and client.cookies.get(cookie) == token  # the page sets it
    for origin in ("https://evil.example", "null", "http://127.0.0.1:8026",
                   "http://127.0.0.1:8025.evil.example"):
        refused = client.post("/edit/pin", data={**base, "csrf": token},
                              headers={"origin": origin})
        assert refused.status_code == 403, origin
    assert view(config)["edits"] == []
    ok = client.post("/edit/pin", data={**base, "csrf": token}, headers={"origin": BASE})
    assert ok.status_code == 303
    assert [e["story_id"] for e in view(config)["edits"]] == [story]
    assert client.post("/edit/pin", data={**base, "csrf": token},
                       headers={"content-type": "application/json"}).status_code == 415


def test_host_size_and_edition_are_checked_before_anything_else(
        config: Path, browser: Browser) -> None:
    client = browser.client
    for host in ("evil.example", "evil.example:8025", "127.0.0.1:9999", "127.0.0.1", ""):
        assert client.get("/edit", headers={"host": host}).status_code == 400, host
    assert client.get("/edit", headers={"host": "localhost:8025"}).status_code == 200
    token = browser.token()
    big = {"csrf": token, "edition": DEMO_EDITION, "text": "y" * 70_000}
    assert client.post("/edit/note", data=big).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield f"csrf={token}&edition={DEMO_EDITION}&text=".encode()
        for _ in range(20):
            yield b"z" * 4096

    chunked = client.post("/edit/note", content=chunks(),
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert chunked.status_code == 413
    for bad in ("2026-13-45", "20261130", "2026-11-30T00:00", "tomorrow", "２０２６-11-30"):
        assert client.get("/edit", params={"edition": bad}).status_code == 400, bad
        assert client.get("/edit/email", params={"edition": bad}).status_code == 400, bad
        assert client.post("/edit/approve", data={"csrf": token, "edition": bad}
                           ).status_code == 400, bad
    assert client.get(f"/edit?edition={DEMO_EDITION}&edition=2026-12-07").status_code == 400
    assert view(config)["state"] == "open" and view(config)["edits"] == []


def test_the_note_preview_is_sanitized_and_stores_nothing(
        config: Path, browser: Browser) -> None:
    token = browser.token()
    text = ("**bold** <script>alert(1)</script> [click](javascript:alert(2)) "
            "<img src=x onerror=alert(3)> [ok](https://example.org/a)")
    answer = browser.client.post("/edit/note-preview", data={"csrf": token, "text": text})
    assert answer.status_code == 200
    html = answer.text
    assert "<strong>bold</strong>" in html and '<a href="https://example.org/a">ok</a>' in html
    assert "<script" not in html and "<img" not in html and "javascript:" not in html
    assert "&lt;script&gt;" in html  # shown as the text it is
    answer = browser.client.post("/edit/note-preview", data={"csrf": token, "text": "a\x00b"})
    assert answer.status_code == 400
    data = view(config)
    assert (data["note"], data["edits"]) == (None, [])


def test_no_get_changes_anything(config: Path, browser: Browser) -> None:
    story = section(view(config), "tech")[1]["id"]
    assert browser.post("pin", story=story).status_code == 303
    before = view(config)
    client = browser.client
    for path in ("/", "/text", "/version", "/edit", f"/edit?edition={DEMO_EDITION}",
                 f"/edit/email?edition={DEMO_EDITION}", "/static/edit.js", "/static/edit.css",
                 f"/edit/pin?story={story}&edition={DEMO_EDITION}",
                 f"/edit/approve?edition={DEMO_EDITION}", "/edit/reset?all=1&id=1",
                 "/edit/note-preview?text=x"):
        answer = client.get(path)
        assert answer.status_code in (200, 405), path
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["cache-control"] == "no-store"
        assert "content-security-policy" in answer.headers
    assert client.get("/edit/pin").status_code == 405
    assert view(config) == before


def test_hostile_text_is_escaped_on_the_page(config: Path, browser: Browser) -> None:
    story = section(view(config), "tech")[0]["id"]
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    assert browser.post("retitle", story=story, title=hostile, summary="").status_code == 303
    page = browser.page().text
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;&lt;img src=x" in page
    assert web_link("javascript:alert(1)") is None and web_link("//evil.example/") is None
    assert web_link("https://example.org/a") == "https://example.org/a"


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


def test_with_a_password_every_page_asks_for_it_and_failures_are_throttled(
        config: Path) -> None:
    now = [1000.0]
    logins = Logins(limit=10, window=60.0, clock=lambda: now[0])
    with TestClient(make(config, password=PASSWORD, logins=logins), base_url=BASE,
                    follow_redirects=False) as client:
        for path in ("/", "/text", "/version", "/edit", "/edit/email", "/static/edit.js"):
            answer = client.get(path)
            assert answer.status_code == 401, path
            assert answer.headers["www-authenticate"].startswith("Basic realm=")
            assert answer.headers["cache-control"] == "no-store"
        assert client.post("/edit/approve", data={}).status_code == 401
        assert client.get("/edit", headers=basic("ana", "wrong")).status_code == 401
        assert client.get("/edit", headers={"authorization": "Basic !!!"}).status_code == 401
        assert client.get("/edit", headers={"authorization": "Bearer x"}).status_code == 401
        ana = basic("Ana Editor", PASSWORD)
        page = client.get(f"/edit?edition={DEMO_EDITION}", headers=ana)
        assert page.status_code == 200
        for _ in range(9):  # with the one above: ten failures in the minute
            assert client.get("/edit", headers=basic("ana", "guess")).status_code == 401
        throttled = client.get("/edit", headers=basic("ana", "guess"))
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) == 60
        assert client.get("/edit", headers=ana).status_code == 429  # even the right one
        now[0] += 61
        token = re.search(r'name="csrf" value="([^"]+)"', client.get(
            f"/edit?edition={DEMO_EDITION}", headers=ana).text)
        assert token
        story = section(view(config), "tech")[2]["id"]
        done = client.post("/edit/pin", headers=ana, data={
            "csrf": token.group(1), "edition": DEMO_EDITION, "story": story})
        assert done.status_code == 303
        assert [e["by"] for e in view(config)["edits"]] == ["Ana Editor"]  # the login's name
        bad_name = client.get("/edit", headers=basic("ana\x1b[31m", PASSWORD))
        assert bad_name.status_code == 400
        assert client.get("/edit", headers=basic("a" * 101, PASSWORD)).status_code == 400


def test_logins_are_counted_per_client_within_the_window() -> None:
    now = [0.0]
    logins = Logins(limit=3, window=10.0, clock=lambda: now[0])
    for _ in range(3):
        assert logins.wait("a") == 0.0
        logins.failed("a")
        now[0] += 1
    assert logins.wait("a") == pytest.approx(7.0) and logins.wait("b") == 0.0
    now[0] = 10.5  # the first failure has left the window
    assert logins.wait("a") == 0.0


def test_beyond_loopback_the_server_will_not_start_without_a_password(
        config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DIGEST_EDIT_PASSWORD", raising=False)
    assert main(["--config", str(config), "preview", "--serve", "--host", "0.0.0.0",
                 "--port", "0"]) == 2
    assert "DIGEST_EDIT_PASSWORD" in capsys.readouterr().err
    for host in ("0.0.0.0", "::", "192.0.2.10", "edit.example.org", ""):
        with pytest.raises(UsageError, match="DIGEST_EDIT_PASSWORD"):
            check_exposure(host, None)
        check_exposure(host, "secret")
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        check_exposure(host, None)
    hosts = allowed_hosts("0.0.0.0", 8025, "https://edit.example.org/edit")
    assert hosts == {"localhost:8025", "127.0.0.1:8025", "[::1]:8025",
                     "edit.example.org:443", "edit.example.org"}
    assert same_origin("https://edit.example.org", "edit.example.org")
    assert not same_origin("https://edit.example.org", "edit.example.org:8025")


def test_under_uvicorn_the_page_answers_and_refuses_another_host(config: Path) -> None:
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    preview = Preview(lambda: Page("<html><body>email</body></html>", "email"), lambda: [])
    editor = Editor(factory(config), edition=DEMO_DAY)
    app = preview_app(preview, Access(allowed_hosts("127.0.0.1", port)),
                      editor=editor.routes())
    running = run_in_thread(app, sock)
    try:
        with httpx.Client(base_url=running.url, timeout=120) as client:
            page = client.get("/edit")
            assert page.status_code == 200 and 'data-story="' in page.text
            assert client.cookies.get(f"digest_edit_csrf_{port}")
            home = client.get("/")
            assert "<script>" in home.text
            assert "script-src 'sha256-" in home.headers["content-security-policy"]
            assert client.get("/edit", headers={"host": f"rebound.example:{port}"}
                              ).status_code == 400
            token = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert token
            story = section(view(config), "europe")[1]["id"]
            done = client.post("/edit/drop", data={"csrf": token.group(1),
                                                   "edition": DEMO_EDITION, "story": story})
            assert done.status_code == 303
        assert story not in {s["id"] for s in section(view(config), "europe")}
    finally:
        running.stop()


def test_a_changed_or_broken_config_is_read_again_on_the_next_request(
        config: Path, browser: Browser) -> None:
    good = config.read_text(encoding="utf-8")
    data = yaml.safe_load(good)
    data["title"] = "Renamed <Brief>"
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    assert "Renamed &lt;Brief&gt; · editing" in browser.page().text
    config.write_text("sections: [oops\n", encoding="utf-8")
    broken = browser.page()
    assert broken.status_code == 500 and "The edition cannot be shown" in broken.text
    assert "invalid YAML" in broken.text and "data-story" not in broken.text
    assert browser.client.get(f"/edit/email?edition={DEMO_EDITION}").status_code == 500
    config.write_text(good, encoding="utf-8")
    assert browser.page().status_code == 200
