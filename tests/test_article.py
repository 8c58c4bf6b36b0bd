"""Adding a story by URL (`digest edit add URL`): fetch.fetch_page downloads one web page with
the feed poll's safety, article.parse_article reads it like a feed item.

A real HTTP server on 127.0.0.1 (conftest's feed_server) serves invented pages; the tests widen
`FetchLimits.is_public` by exactly that address, and one test without the widening shows it
is blocked. Pure parsing cases call parse_article on bytes directly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from ipaddress import IPv4Address
from typing import Any

import pytest

from conftest import HANG, FeedServer, Route
from digest.article import (
    MAX_ARTICLE_SUMMARY_CHARS,
    Article,
    ArticleError,
    fetch_article,
    parse_article,
)
from digest.errors import DigestError, FetchError
from digest.fetch import Address, FetchLimits, fetch_page, is_public_address
from digest.parse import MAX_TITLE_CHARS

LOOPBACK = IPv4Address("127.0.0.1")


def loopback_is_public(ip: Address) -> bool:
    """The real rule, plus the one address the test server listens on."""
    return ip == LOOPBACK or is_public_address(ip)


LIMITS = FetchLimits(connect_timeout=5.0, total_timeout=20.0, is_public=loopback_is_public)
HTML = "text/html; charset=utf-8"
PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
LONG_TEXT = ("Volunteers counted forty-one otters along the old ferry pier this spring, the "
             "highest number since the survey began, and most of them were young.")


def serve(server: FeedServer, path: str, body: bytes | str, content_type: str = HTML,
          **headers: str) -> str:
    data = body.encode() if isinstance(body, str) else body
    server.routes[path] = Route(body=data, headers={"Content-Type": content_type, **headers})
    return server.url(path)


def page(head: str = "", body: str = "") -> str:
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>"


def article_page(base: str) -> str:
    """An invented news story with the full set of Open Graph tags."""
    return page(
        f"""<meta charset="utf-8">
        <title>Harbour otters learn to open lunch boxes | The Tidewater Gazette</title>
        <meta property="og:title" content="Harbour otters learn to open lunch boxes &amp; flasks">
        <meta property="og:description" content="Volunteers in Port Merrow say the otters have
          learned to open lunch boxes left on the pier.">
        <meta property="og:image" content="https://cdn.tidewater.example/img/otters.jpg">
        <meta property="og:site_name" content="The Tidewater Gazette">
        <meta property="og:type" content="article">
        <meta property="og:url" content="{base}/news/otters-og">
        <meta property="article:published_time" content="2026-03-14T09:30:00+01:00">
        <link rel="canonical" href="{base}/news/otters">""",
        f"<main><article><h1>Otters</h1><p>{LONG_TEXT}</p></article></main>")


# --- the whole path: server, fetch, parse ---------------------------------------------------


def test_an_open_graph_article_is_read_in_full(feed_server: FeedServer) -> None:
    url = serve(feed_server, "/news/otters", article_page(feed_server.base_url))

    article = fetch_article(url + "?utm_source=newsletter", LIMITS)

    assert article == Article(
        url=f"{feed_server.base_url}/news/otters",  # the canonical link: same site
        title="Harbour otters learn to open lunch boxes & flasks",
        summary="Volunteers in Port Merrow say the otters have learned to open lunch boxes "
                "left on the pier.",
        image="https://cdn.tidewater.example/img/otters.jpg",
        published=datetime(2026, 3, 14, 8, 30, tzinfo=UTC),
        site_name="The Tidewater Gazette",
    )
    (path, headers), = feed_server.requests
    assert path == "/news/otters"
    assert headers["Accept"] == PAGE_ACCEPT
    assert headers["User-Agent"].startswith("digest/")


def test_a_bare_page_gives_its_title_and_first_long_paragraph(feed_server: FeedServer) -> None:
    url = serve(feed_server, "/bakery", page(
        "<title>\n  Bakery on Mill Lane reopens\tafter the flood  </title>",
        f"<p>By Ada Quill</p><p>{LONG_TEXT}</p><p>A second paragraph that is long enough to be "
        "a summary too, but it comes after the first one on the page.</p>"))

    article = fetch_article(url, LIMITS)

    assert article == Article(url=url, title="Bakery on Mill Lane reopens after the flood",
                              summary=LONG_TEXT, image=None, published=None, site_name=None)


def test_the_summary_prefers_the_first_long_paragraph_of_the_article() -> None:
    body = page("<title>Ferry timetable changes</title>",
                "<div><p>We use cookies on this site to remember your preferences and to count "
                "visits; you can change your choice at any time.</p></div>"
                f"<nav><p>{LONG_TEXT} (menu)</p></nav>"
                f"<article><p>Short lead.</p><p>{LONG_TEXT}</p></article>").encode()

    assert parse_article("https://post.example/ferry", body, HTML).summary == LONG_TEXT


def test_menus_and_footers_are_no_summary() -> None:
    body = page("<title>Ferry timetable changes</title>",
                f"<nav><p>Home, News, Sport, Weather, Tides, Letters, Puzzles, Archive, "
                f"Subscribe, Contact us, About us</p></nav><aside><p>{LONG_TEXT} (sidebar)</p>"
                f"</aside><div><p>{LONG_TEXT}</p></div><footer><p>{LONG_TEXT} (footer)</p>"
                "</footer>").encode()

    assert parse_article("https://post.example/ferry", body, HTML).summary == LONG_TEXT


def test_a_latin_1_page_declared_in_meta(feed_server: FeedServer) -> None:
    body = page('<meta charset="iso-8859-1"><title>Café owner wins the Größte Torte prize'
                "</title>", f"<p>Señora Núñez baked it. {LONG_TEXT}</p>").encode("latin-1")
    url = serve(feed_server, "/cafe", body, "text/html")  # no charset in the header

    article = fetch_article(url, LIMITS)

    assert article.title == "Café owner wins the Größte Torte prize"
    assert article.summary.startswith("Señora Núñez baked it.")


def test_a_title_in_h1_only(feed_server: FeedServer) -> None:
    url = serve(feed_server, "/lighthouse", page(
        "", f"<h1>Council votes to paint the lighthouse <em>green</em></h1><p>{LONG_TEXT}</p>"))

    assert fetch_article(url, LIMITS).title == "Council votes to paint the lighthouse green"


def test_the_date_from_json_ld_garbage_tolerated(feed_server: FeedServer) -> None:
    url = serve(feed_server, "/storm", page(
        '<title>Storm closes the causeway</title>'
        '<script type="application/ld+json">{"@context": "https://schema.org", oops</script>'
        '<script type="application/ld+json">{"@context": "https://schema.org", "@graph": ['
        '{"@type": "WebSite", "name": "Post"}, {"@type": "NewsArticle", '
        '"headline": "Storm", "datePublished": "2026-02-01T07:15:00-05:00"}]}</script>',
        "<time datetime='2020-01-01'>long ago</time>"))

    assert fetch_article(url, LIMITS).published == datetime(2026, 2, 1, 12, 15, tzinfo=UTC)


def test_script_style_noscript_and_template_never_count_as_text(
        feed_server: FeedServer) -> None:
    url = serve(feed_server, "/market", page(
        '<script>var t = "<title>Script title</title><p>' + "script words " * 10 + '</p>";'
        "</script><style>title::after { content: 'Style title' }</style>"
        "<template><title>Template title</title><meta property='og:title' content='Template'>"
        "</template>"
        "<noscript><meta name='description' content='Noscript description'></noscript>",
        "<noscript><h1>Noscript heading</h1><p>" + "noscript words " * 10 + "</p></noscript>"
        "<h1>Night <script>document.write('Script')</script>market<style>.a{}</style> "
        "returns</h1>"
        "<p><script/>alert('self-closed script words words words words words')</script>"
        f"{LONG_TEXT}<style>p {{ color: red }}</style></p>"))

    article = fetch_article(url, LIMITS)

    assert article.title == "Night market returns"
    assert article.summary == LONG_TEXT
    for leaked in ("script", "Script", "Style", "style", "Template", "oscript", "alert", "{"):
        assert leaked not in article.title + article.summary


def test_hostile_links_are_dropped(feed_server: FeedServer) -> None:
    url = serve(feed_server, "/hostile", page(
        '<title>Pier repairs begin</title>'
        '<meta property="og:image" content="javascript:alert(1)">'
        '<meta name="twitter:image" content="data:image/png;base64,iVBORw0KGgo=">'
        '<link rel="canonical" href="https://elsewhere.example/pier">'
        '<meta property="og:url" content="javascript:alert(2)">'))

    article = fetch_article(url, LIMITS)

    assert (article.url, article.image) == (url, None)


def test_a_redirect_is_followed_and_the_final_url_kept(feed_server: FeedServer) -> None:
    final = serve(feed_server, "/news/2026/ferry", page(f"<title>Ferry</title><p>{LONG_TEXT}"))
    feed_server.routes["/f"] = Route(status=301, headers={"Location": "/news/2026/ferry"})

    fetched = fetch_page(feed_server.url("f"), LIMITS)
    article = fetch_article(feed_server.url("f"), LIMITS)

    assert (fetched.url, fetched.content_type) == (final, HTML)
    assert fetched.body.startswith(b"<!doctype html>")
    assert article.url == final


# --- what fetch_page refuses ----------------------------------------------------------------


def fetch_error(url: str, limits: FetchLimits = LIMITS, **kwargs: Any) -> str:
    with pytest.raises(FetchError) as caught:
        fetch_page(url, limits, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(url + ": ")
    return message.removeprefix(url + ": ")


def test_a_404_names_the_url(feed_server: FeedServer) -> None:
    url = feed_server.url("missing")
    with pytest.raises(FetchError) as caught:
        fetch_article(url, LIMITS)
    assert str(caught.value) == f"{url}: HTTP 404 Not Found"
    assert isinstance(caught.value, DigestError)


def test_a_410_does_not_speak_of_a_feed(feed_server: FeedServer) -> None:
    feed_server.routes["/gone"] = Route(status=410)
    assert fetch_error(feed_server.url("gone")) == "HTTP 410 Gone"


def test_a_huge_body_is_cut_off_while_streaming(feed_server: FeedServer) -> None:
    def five_megabytes(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Transfer-Encoding", "chunked")  # no length to refuse up front
        handler.end_headers()
        chunk = b"<p>" + b"x" * (64 * 1024 - 3)
        try:
            for _ in range(80):
                handler.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            handler.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client hung up: what it should do
            pass

    feed_server.routes["/huge"] = Route(respond=five_megabytes)

    reason = fetch_error(feed_server.url("huge"))

    assert reason == f"too large: more than {2 * 1024 * 1024} bytes, cut off"


def test_the_smaller_of_the_two_size_caps_holds(feed_server: FeedServer) -> None:
    url = serve(feed_server, "/big", page("<title>Big</title>", "x" * 5000))
    size = len(feed_server.routes["/big"].body)

    assert fetch_error(url, max_bytes=1000) == f"too large: {size} bytes declared, limit 1000"
    small = FetchLimits(max_bytes=2000, is_public=loopback_is_public)
    assert fetch_error(url, small) == f"too large: {size} bytes declared, limit 2000"
    assert fetch_page(url, LIMITS, max_bytes=size).body == feed_server.routes["/big"].body


@pytest.mark.parametrize("location", ["file:///etc/passwd", "javascript:alert(1)",
                                      "gopher://127.0.0.1:70/"])
def test_a_redirect_to_another_scheme_is_refused(feed_server: FeedServer, location: str) -> None:
    feed_server.routes["/away"] = Route(status=302, headers={"Location": location})

    assert fetch_error(feed_server.url("away")) == \
        f"redirect to a URL that is not http(s): {location}"


def test_a_redirect_loop_ends(feed_server: FeedServer) -> None:
    feed_server.routes["/a"] = Route(status=302, headers={"Location": "/b"})
    feed_server.routes["/b"] = Route(status=307, headers={"Location": "/a"})

    assert fetch_error(feed_server.url("a")) == "redirect loop or too many redirects (more than 5)"
    assert feed_server.hits("a") + feed_server.hits("b") == 6


def test_a_redirect_to_a_private_address_is_blocked_before_connecting(
        feed_server: FeedServer) -> None:
    feed_server.routes["/in"] = Route(status=302, headers={"Location": "http://10.0.0.1/admin"})

    reason = fetch_error(feed_server.url("in"))

    assert reason.startswith("blocked: redirect to 10.0.0.1 (a private address)")


def test_a_server_that_never_answers_times_out(feed_server: FeedServer) -> None:
    def silent(_: BaseHTTPRequestHandler) -> None:  # until the fixture's teardown
        feed_server.stopping.wait(HANG)

    feed_server.routes["/silent"] = Route(respond=silent)
    limits = FetchLimits(connect_timeout=0.5, total_timeout=0.5, is_public=loopback_is_public)

    assert fetch_error(feed_server.url("silent"), limits) == \
        "timeout: no complete answer within 0.5 s"


def test_loopback_is_blocked_without_the_widening(feed_server: FeedServer) -> None:
    url = serve(feed_server, "/page", page("<title>Internal</title>"))

    with pytest.raises(FetchError) as caught:
        fetch_article(url)  # the default limits: 127.0.0.1 is no public address

    assert str(caught.value).startswith(f"{url}: blocked: 127.0.0.1 (a loopback address)")
    assert feed_server.requests == []


def test_an_internal_name_is_not_trusted_as_a_feed_url_would_be(
        feed_server: FeedServer) -> None:
    port = feed_server.base_url.rsplit(":", 1)[1]
    url = f"http://localhost:{port}/page"

    reason = fetch_error(url, FetchLimits())

    assert reason.startswith("blocked: localhost resolves to ")
    assert "(a loopback address)" in reason
    assert feed_server.requests == []


def test_allow_private_lets_the_operator_reach_internal_pages(feed_server: FeedServer) -> None:
    url = serve(feed_server, "/wiki", page("<title>Staff wiki: the new rota</title>"))

    assert fetch_article(url, FetchLimits(allow_private=True)).title == \
        "Staff wiki: the new rota"


# --- what is not an article -----------------------------------------------------------------

RSS = (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Post</title>'
       b"<link>https://post.example/</link><description>d</description><item><title>One"
       b"</title><link>https://post.example/1</link></item></channel></rss>")
ATOM = (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Post</title>'
        b"</feed>")


@pytest.mark.parametrize(("body", "content_type"), [
    (RSS, "application/rss+xml"), (RSS, "text/html"), (ATOM, "application/xml"),
    (ATOM, None), (b'{"version": "https://jsonfeed.org/version/1.1"}', "application/feed+json")])
def test_a_feed_is_sent_to_feeds_yaml(feed_server: FeedServer, body: bytes,
                                      content_type: str | None) -> None:
    feed_server.routes["/feed"] = Route(
        body=body, headers={"Content-Type": content_type} if content_type else {})
    url = feed_server.url("feed")

    with pytest.raises(ArticleError) as caught:
        fetch_article(url, LIMITS)

    assert str(caught.value) == \
        f"{url}: is an RSS/Atom feed, not an article: add it to feeds.yaml"


@pytest.mark.parametrize(("body", "content_type", "problem"), [
    (b"%PDF-1.7\n%binary", "application/pdf", "is application/pdf, not a web page"),
    (b"%PDF-1.7\n%binary", "application/octet-stream", "is application/pdf, not a web page"),
    (b"%PDF-1.7\n%binary", None, "is application/pdf, not a web page"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "is image/png, not a web page"),
    (b'{"title": "x"}', "application/json", "is application/json, not a web page"),
    (b"<title>x</title>", "text/plain", "is text/plain, not a web page"),
    (b"<title>x</title>", "bogus\x7f/<b>", "is of an unknown type, not a web page"),
    (b"", "text/html", "empty response (no page)"),
    (page("", f"<p>{LONG_TEXT}</p>").encode(), "text/html",
     "no title: the page has no og:title, <title> or <h1>"),
])
def test_what_is_not_an_article(feed_server: FeedServer, body: bytes, content_type: str | None,
                                problem: str) -> None:
    feed_server.routes["/doc"] = Route(
        body=body, headers={"Content-Type": content_type} if content_type else {})
    url = feed_server.url("doc")

    with pytest.raises(ArticleError) as caught:
        fetch_article(url, LIMITS)

    assert str(caught.value) == f"{url}: {problem}"


@pytest.mark.parametrize(("url", "problem"), [
    ("ftp://files.example/story.html", "only http and https pages can be added"),
    ("javascript:alert(1)", "only http and https pages can be added"),
    ("https:///no-host", "no host in the URL"),
    ("https://post.example:99999/x", "not a valid URL"),
    ("https://post.example/a b", "not a URL: spaces or control characters in it"),
    ("https://post.example/\x1b[2J", "not a URL: spaces or control characters in it"),
    ("https://post.example/" + "a" * 1980, "URL too long (2,001 characters, at most 2,000)"),
])
def test_a_bad_url_is_refused_before_any_download(url: str, problem: str) -> None:
    with pytest.raises(ArticleError) as caught:
        fetch_article(url, LIMITS)

    message = str(caught.value)
    assert message.endswith(": " + problem)
    assert message.isprintable()


def test_credentials_in_the_url_are_refused_before_any_download(
        feed_server: FeedServer) -> None:
    url = feed_server.base_url.replace("http://", "http://editor:secret@") + "/page"
    serve(feed_server, "/page", page("<title>Private</title>"))

    with pytest.raises(ArticleError, match="user name or password"):
        fetch_article(url, LIMITS)

    assert feed_server.requests == []
    # and a URL of exactly the limit is fine as far as its length goes
    fetch_article(f" {feed_server.url('page')}?" + "q" * (2000 - len(feed_server.url("page")) - 1)
                  + "\n", LIMITS)


# --- parsing, field by field (no server) ----------------------------------------------------

BASE = "https://www.post.example/news/ferry?ref=home"


def parse(head: str, body: str = "", url: str = BASE,
          content_type: str | None = HTML) -> Article:
    return parse_article(url, page(head, body).encode(), content_type)


@pytest.mark.parametrize(("head", "title"), [
    ("<title>Lighthouse keeper retires | Port Merrow Post</title>", "Lighthouse keeper retires"),
    ("<title>Lighthouse keeper retires - port merrow post</title>", "Lighthouse keeper retires"),
    ("<title>Lighthouse keeper retires — Port Merrow Post</title>", "Lighthouse keeper retires"),
    ("<title>Lighthouse keeper retires | Weekly</title>", "Lighthouse keeper retires | Weekly"),
    ("<title>Port Merrow Post</title>", "Port Merrow Post"),  # nothing before the name
    ("<meta name='twitter:title' content='Keeper retires - Port Merrow Post'><title>t</title>",
     "Keeper retires"),
])
def test_a_trailing_site_name_is_cut_from_the_title(head: str, title: str) -> None:
    article = parse('<meta name="application-name" content="Port Merrow Post">' + head)
    assert (article.title, article.site_name) == (title, "Port Merrow Post")


def test_a_line_break_separates_words() -> None:
    assert parse("", "<h1>Tide<br>tables</h1>").title == "Tide tables"


def test_without_a_site_name_the_title_is_kept_whole() -> None:
    assert parse("<title>Keeper retires | Port Merrow Post</title>").title == \
        "Keeper retires | Port Merrow Post"


def test_text_is_decoded_once_and_cleaned() -> None:
    article = parse("<title>Fish &amp; chips &lt;3 &#x2014; a &lt;blink&gt; love\u202e story\x07"
                    "</title><meta name='description' content='<b>Bold</b> claims &amp;amp; more'>")
    assert article.title == "Fish & chips <3 — a <blink> love story"
    assert article.summary == "Bold claims & more"


def test_svg_titles_are_not_the_page_title() -> None:
    assert parse("", "<svg><title>Menu icon</title></svg><title>Real</title>").title == "Real"


def test_long_fields_are_cut() -> None:
    article = parse(f"<title>{'tide ' * 400}</title>"
                    f"<meta property='og:description' content='{'wave ' * 1000}'>")
    assert len(article.title) <= MAX_TITLE_CHARS
    assert article.title.endswith("…")
    assert len(article.summary) <= MAX_ARTICLE_SUMMARY_CHARS
    assert article.summary.endswith("…")


@pytest.mark.parametrize(("markup", "published"), [
    ('<meta property="article:published_time" content="2026-03-14T09:30:00Z">',
     datetime(2026, 3, 14, 9, 30, tzinfo=UTC)),
    ('<meta itemprop="datePublished" content="2026-03-14">',
     datetime(2026, 3, 14, tzinfo=UTC)),
    ("<time datetime='2026-03-14T23:30:00-02:00'>Saturday</time>",
     datetime(2026, 3, 15, 1, 30, tzinfo=UTC)),
    ("<time datetime='Sat, 14 Mar 2026 10:00:00 +0100'>Saturday</time>",
     datetime(2026, 3, 14, 9, 0, tzinfo=UTC)),
    # an unreadable date gives way to the next source
    ('<meta property="article:published_time" content="last Tuesday">'
     '<meta itemprop="datePublished" content="2026-03-14T12:00:00+00:00">',
     datetime(2026, 3, 14, 12, 0, tzinfo=UTC)),
    ('<meta property="article:published_time" content="0001-01-01T00:00:00+05:00">', None),
    ("<time>Saturday</time>", None),
])
def test_the_publication_date_in_utc(markup: str, published: datetime | None) -> None:
    assert parse("<title>t</title>", markup).published == published


def test_json_ld_is_searched_within_bounds() -> None:
    deep = "[" * 100_000 + "]" * 100_000  # too deep for json: passed over
    graph = '{"@graph": [' + ",".join(['{"x": 1}'] * 20_000) + ',{"datePublished": "2026-01-01"}]}'
    scripts = "".join(f'<script type="application/ld+json">{s}</script>'
                      for s in (deep, graph, '{"datePublished": "2026-02-02T00:00:00Z"}'))
    # the date hidden past 20,000 values is not reached; the next script's is
    assert parse("<title>t</title>" + scripts).published == datetime(2026, 2, 2, tzinfo=UTC)


@pytest.mark.parametrize(("markup", "url"), [
    ('<link rel="canonical" href="/news/ferry">', "https://www.post.example/news/ferry"),
    ('<link rel="canonical" href="https://post.example/ferry">', "https://post.example/ferry"),
    ('<link rel="canonical" href="http://www.post.example/ferry">',
     "http://www.post.example/ferry"),
    ('<meta property="og:url" content="https://www.post.example/ferry-og">',
     "https://www.post.example/ferry-og"),
    ('<link rel="canonical" href="https://post.example.evil.example/ferry">', BASE),
    ('<link rel="canonical" href="https://www.post.example:8443/ferry">', BASE),
    ('<link rel="canonical" href="javascript:alert(1)">', BASE),
    ('<link rel="canonical" href="https://other.example/x">'
     '<meta property="og:url" content="https://post.example/ok">', "https://post.example/ok"),
])
def test_the_canonical_link_only_on_the_same_site(markup: str, url: str) -> None:
    assert parse("<title>t</title>" + markup).url == url


@pytest.mark.parametrize(("markup", "image"), [
    ('<meta property="og:image" content="/img/ferry.jpg">',
     "https://www.post.example/img/ferry.jpg"),
    ('<meta property="og:image" content="http://post.example/ferry.jpg">', None),
    ('<meta property="og:image" content="javascript:alert(1)">'
     '<meta name="twitter:image" content="https://img.example/ferry.png">',
     "https://img.example/ferry.png"),
    ('<meta property="og:image" content="data:image/gif;base64,R0lGODlhAQABAAAAACw=">', None),
    ('<meta property="og:image" content="https://img.example/a b\nc.jpg">', None),
])
def test_the_image_is_https_only(markup: str, image: str | None) -> None:
    assert parse("<title>t</title>" + markup).image == image


def test_the_charset_of_the_content_type_wins_over_meta() -> None:
    body = '<meta charset="utf-8"><title>Smørrebrød for the crew</title>'.encode("latin-1")
    assert parse_article(BASE, body, "text/html; charset=ISO-8859-1").title == \
        "Smørrebrød for the crew"


def test_undecodable_bytes_are_replaced() -> None:
    body = b"<title>Caf\xe9 \xff opens</title>"  # declared nowhere: UTF-8, and not valid UTF-8
    assert parse_article(BASE, body, "text/html").title == "Caf\ufffd \ufffd opens"


def test_an_unknown_charset_falls_back_to_utf_8() -> None:
    body = '<meta http-equiv="Content-Type" content="text/html; charset=base64">' \
           "<title>Tide tables</title>"
    assert parse_article(BASE, body.encode(), "text/html; charset=no-such-thing").title == \
        "Tide tables"


def test_only_the_first_megabyte_is_read() -> None:
    padding = "<!-- " + "x" * (1024 * 1024) + " -->"
    with pytest.raises(ArticleError, match="no title"):
        parse_article(BASE, (padding + "<title>Too late</title>").encode(), HTML)
    assert parse_article(BASE, ("<title>In time</title>" + padding).encode(), HTML).title == \
        "In time"


def test_an_unclosed_comment_costs_one_pass() -> None:
    # html.parser's close() would rescan the rest once per "<!--" (quadratic): never called
    body = b"<title>Open comments</title>" + b"<!--" * 250_000
    assert parse_article(BASE, body, HTML).title == "Open comments"
