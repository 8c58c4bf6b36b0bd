"""Private addresses (issue 17, item 3): a feed whose configured URL is public is never sent,
by a redirect or by DNS, to loopback, private, link-local, multicast or reserved addresses,
IPv4 or IPv6; a feed the operator pointed at an internal server keeps working; and
`fetch.allow_private: true` lifts the rule.

Real servers on one port of two loopback addresses: 127.0.0.2 plays a public web server (the
tests widen `FetchLimits.is_public` by exactly that address) and 127.0.0.1 the internal
server nothing public may reach (it counts every request it gets). Names are answered by a
fake `socket.getaddrinfo`, below aiohttp's real resolver, so what is checked is what aiohttp
resolves and connects to.
"""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, ip_address
from random import Random
from typing import Any

import pytest

import conftest
from conftest import FeedServer, Route, WriteConfig, count_items, fixed_clock
from digest.app import App
from digest.config import load_settings
from digest.fetch import (
    Address,
    FeedRequest,
    FetchLimits,
    address_kind,
    fetch_feeds,
    is_internal_url,
    is_public_address,
)
from digest.models import FeedOutcome, FeedStatus
from digest.refresh import fetch_limits

PUBLIC_TEST_ADDRESS = IPv4Address("127.0.0.2")


def treat_as_public(ip: Address) -> bool:
    """The real rule, plus the one loopback address the test's "public" server listens on."""
    return ip == PUBLIC_TEST_ADDRESS or is_public_address(ip)


LIMITS = FetchLimits(connect_timeout=1.0, total_timeout=5.0, max_bytes=1024 * 1024,
                     is_public=treat_as_public)
HINT = "set fetch.allow_private: true to allow"


def rss(name: str, items: int = 2) -> bytes:
    entries = "".join(
        f"<item><title>{name} story {i}</title><link>https://{name}.example/{i}</link>"
        f'<guid isPermaLink="false">{name}-{i}</guid><description>d</description></item>'
        for i in range(1, items + 1))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>'
            f"<link>https://{name}.example/</link><description>d</description>{entries}"
            "</channel></rss>").encode()


def feed(name: str) -> Route:
    return Route(body=rss(name), headers={"Content-Type": "application/rss+xml"})


def redirect(to: str, status: int = 302) -> Route:
    return Route(status=status, headers={"Location": to})


# --- two servers on one port: 127.0.0.2 (public) and 127.0.0.1 (internal) ---


@dataclass
class Twins:
    public: FeedServer  # http://127.0.0.2:port
    internal: FeedServer  # http://127.0.0.1:port, the same port
    port: int


def _serve(address: str, port: int) -> tuple[FeedServer, conftest._Server]:
    state = FeedServer("", {}, [])
    httpd = conftest._Server((address, port), conftest._handler(state))
    state.base_url = f"http://{address}:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    return state, httpd


@pytest.fixture
def twins() -> Iterator[Twins]:
    servers: list[tuple[FeedServer, conftest._Server]] = []
    for _ in range(50):  # the port 127.0.0.2 got may be taken on 127.0.0.1: try another
        public = _serve("127.0.0.2", 0)
        servers.append(public)
        try:
            internal = _serve("127.0.0.1", public[1].server_address[1])
        except OSError:
            continue
        servers.append(internal)
        break
    else:
        pytest.fail("no port free on both 127.0.0.1 and 127.0.0.2")
    public[0].routes["/feed.xml"] = feed("public")
    internal[0].routes["/feed.xml"] = feed("internal")
    internal[0].routes["/secret.xml"] = feed("secret")
    yield Twins(public[0], internal[0], public[1].server_address[1])
    for state, httpd in servers:
        state.stopping.set()
        httpd.shutdown()
        httpd.server_close()


# --- names: a fake getaddrinfo under aiohttp's resolver ---


@dataclass
class FakeDns:
    """What each test name resolves to: a list of addresses, or a function of how many times
    the name was looked up before. Other names go to the real resolver."""

    names: dict[str, list[str] | Callable[[int], list[str]]]
    lookups: dict[str, int]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    fake = FakeDns({
        "news.example": ["127.0.0.2"],  # a public web site (the test's public address)
        "intranet.example": ["127.0.0.1"],  # a public-looking name pointed at loopback
        "metadata.example": ["169.254.169.254"],
        "mapped.example": ["::ffff:127.0.0.1"],
        "mixed.example": ["127.0.0.1", "127.0.0.2"],
        "intranet": ["127.0.0.1"],  # a one-label name, as in a Docker network
        "feeds.internal": ["127.0.0.1"],
    }, {})
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0,
                    flags: int = 0) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in fake.names:
            return real(host, port, family, type, proto, flags)
        seen = fake.lookups.get(name, 0)
        fake.lookups[name] = seen + 1
        answer = fake.names[name]
        addresses = answer(seen) if callable(answer) else answer
        infos = []
        for address in addresses:
            kind = socket.AF_INET6 if ":" in address else socket.AF_INET
            if family in (socket.AF_UNSPEC, kind):
                where = (address, int(port or 0)) if kind == socket.AF_INET else (
                    address, int(port or 0), 0, 0)
                infos.append((kind, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", where))
        if not infos:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return infos

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return fake


def fetch(url: str, limits: FetchLimits = LIMITS) -> FeedOutcome:
    outcome, = fetch_feeds([FeedRequest(url)], limits)
    return outcome


def titles(outcome: FeedOutcome) -> set[str]:
    return {item.title for item in outcome.items}


def assert_blocked(outcome: FeedOutcome, *words: str) -> str:
    assert outcome.status is FeedStatus.ERROR, (outcome.status, titles(outcome))
    reason = outcome.error or ""
    assert reason.startswith("blocked: "), reason
    assert reason.endswith(HINT), reason
    assert "\n" not in reason and len(reason) < 200, reason
    for word in words:
        assert word in reason, (word, reason)
    assert outcome.items == () and outcome.moved_to is None
    return reason


# --- the rule, address by address ---


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "a loopback address"),
    ("127.255.255.254", "a loopback address"),
    ("0.0.0.0", "an unspecified address"),
    ("0.1.2.3", "a private address"),
    ("10.1.2.3", "a private address"),
    ("172.16.0.1", "a private address"),
    ("172.31.255.255", "a private address"),
    ("192.168.1.1", "a private address"),
    ("169.254.169.254", "a link-local address"),
    ("100.64.0.1", "a shared (carrier-grade NAT) address"),
    ("100.127.255.254", "a shared (carrier-grade NAT) address"),
    ("192.0.0.1", "a private address"),
    ("192.0.2.1", "a private address"),
    ("198.18.0.1", "a private address"),
    ("224.0.0.1", "a multicast address"),
    ("239.255.255.250", "a multicast address"),
    ("240.0.0.1", "a reserved address"),
    ("255.255.255.255", "a reserved address"),
    ("::1", "a loopback address"),
    ("::", "an unspecified address"),
    ("fe80::1", "a link-local address"),
    ("fe80::1%1", "a link-local address"),
    ("fc00::1", "a private address"),
    ("fd12:3456::1", "a private address"),
    ("fec0::1", "a site-local address"),
    ("ff02::1", "a multicast address"),
    ("ff0e::1", "a multicast address"),
    ("2001:db8::1", "a private address"),
    ("2001::1", "a private address"),  # Teredo
    ("::ffff:127.0.0.1", "a loopback address"),  # IPv4-mapped
    ("::ffff:10.0.0.1", "a private address"),
    ("::ffff:169.254.169.254", "a link-local address"),
    ("::127.0.0.1", "a reserved address"),  # IPv4-compatible (deprecated)
    ("2002:7f00:1::1", "a loopback address"),  # 6to4 around 127.0.0.1
    ("2002:a9fe:a9fe::", "a link-local address"),  # 6to4 around 169.254.169.254
    ("64:ff9b::7f00:1", "a loopback address"),  # NAT64 around 127.0.0.1
    ("64:ff9b::a00:1", "a private address"),  # NAT64 around 10.0.0.1
    ("64:ff9b:1::1", "a reserved address"),  # local-use NAT64: no IPv4 to judge
])
def test_addresses_that_are_not_public(address: str, kind: str) -> None:
    ip = ip_address(address)
    assert address_kind(ip) == kind
    assert not is_public_address(ip)


@pytest.mark.parametrize("address", [
    "8.8.8.8", "1.1.1.1", "93.184.215.14", "100.63.255.255", "100.128.0.1", "172.32.0.1",
    "2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8",
    "64:ff9b::808:808", "2002:808:808::1",
])
def test_global_addresses_are_public(address: str) -> None:
    assert address_kind(ip_address(address)) is None
    assert is_public_address(ip_address(address))


@pytest.mark.parametrize(("url", "internal"), [
    ("http://127.0.0.1:8080/feed.xml", True),
    ("http://10.0.0.5/rss", True),
    ("http://[::1]/rss", True),
    ("http://[fd00::5]:8080/rss", True),
    ("http://169.254.169.254/latest", True),
    ("http://localhost/rss", True),
    ("http://LOCALHOST.:8080/rss", True),
    ("http://feeds.localhost/rss", True),
    ("http://rss-bridge:3000/?action=display", True),  # one label: a Docker service
    ("http://nas.local/rss", True),
    ("http://wiki.corp.internal/rss", True),
    ("http://router.home.arpa/rss", True),
    ("https://news.example.org/rss.xml", False),
    ("https://8.8.8.8/rss", False),
    ("https://localhost.example.com/rss", False),
    ("https://internal.example.com/rss", False),
    ("http://2130706433/rss", False),  # not an IP address as written: no trust from it
    ("file:///srv/feeds/a.xml", False),
])
def test_which_configured_urls_are_internal_on_purpose(url: str, internal: bool) -> None:
    assert is_internal_url(url) is internal


# --- a public feed redirected to an internal address ---

TARGETS: dict[str, tuple[Callable[[Twins], str], tuple[str, ...]]] = {
    "loopback": (lambda t: t.internal.url("secret.xml"), ("127.0.0.1", "a loopback address")),
    "cloud-metadata": (lambda t: "http://169.254.169.254/latest/meta-data/",
                       ("169.254.169.254", "a link-local address")),
    "unspecified": (lambda t: f"http://0.0.0.0:{t.port}/secret.xml",
                    ("0.0.0.0", "an unspecified address")),
    "ipv6-loopback": (lambda t: f"http://[::1]:{t.port}/secret.xml",
                      ("::1", "a loopback address")),
    "ipv4-mapped-ipv6": (lambda t: f"http://[::ffff:127.0.0.1]:{t.port}/secret.xml",
                         ("redirect to ::ffff:", "(a loopback address)")),  # 7f00:1
    "name-resolving-to-loopback": (lambda t: f"http://intranet.example:{t.port}/secret.xml",
                                   ("redirect to intranet.example, which resolves to "
                                    "127.0.0.1 (a loopback address)",)),
    "localhost": (lambda t: f"http://localhost:{t.port}/secret.xml",
                  ("redirect to localhost, which resolves to", "a loopback address")),
    "name-resolving-to-metadata": (lambda t: "http://metadata.example/latest/meta-data/",
                                   ("metadata.example", "169.254.169.254", "link-local")),
}


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("target", list(TARGETS))
def test_a_redirect_from_a_public_feed_to_an_internal_address_is_blocked(
    target: str, status: int, twins: Twins, dns: FakeDns
) -> None:
    where, words = TARGETS[target]
    twins.public.routes["/feed.xml"] = redirect(where(twins), status)

    outcome = fetch(f"http://news.example:{twins.port}/feed.xml")

    assert_blocked(outcome, "redirect to", *words)
    assert twins.public.hits("feed.xml") == 1
    assert twins.internal.requests == []  # nothing reached the internal server


def test_every_hop_of_a_chain_is_checked_relative_and_scheme_relative_ones_too(
    twins: Twins, dns: FakeDns
) -> None:
    twins.public.routes["/a.xml"] = redirect("/b.xml", 302)  # relative: still public
    twins.public.routes["/b.xml"] = redirect(f"//news.example:{twins.port}/c.xml", 301)
    twins.public.routes["/c.xml"] = redirect(
        f"HTTP://INTRANET.EXAMPLE:{twins.port}/secret.xml", 307)

    outcome = fetch(f"http://news.example:{twins.port}/a.xml")

    assert_blocked(outcome, "redirect to intranet.example, which resolves to 127.0.0.1")
    assert [twins.public.hits(p) for p in ("a.xml", "b.xml", "c.xml")] == [1, 1, 1]
    assert twins.internal.requests == []


def test_a_relative_redirect_that_goes_back_to_a_literal_internal_address_is_blocked(
    twins: Twins, dns: FakeDns
) -> None:
    twins.public.routes["/a.xml"] = redirect(f"//127.0.0.1:{twins.port}/secret.xml", 308)

    assert_blocked(fetch(f"http://news.example:{twins.port}/a.xml"),
                   "redirect to 127.0.0.1 (a loopback address)")
    assert twins.internal.requests == []


@pytest.mark.parametrize(("target", "words"), [
    ("https://127.0.0.1:{port}/secret.xml", "redirect to 127.0.0.1 (a loopback address)"),
    # an internal address written as one number
    ("http://2130706433:{port}/secret.xml", "2130706433 (not a canonical IP address)"),
])
def test_a_redirect_to_a_disguised_internal_address_is_checked_before_connecting(
    twins: Twins, dns: FakeDns, target: str, words: str
) -> None:
    twins.public.routes["/feed.xml"] = redirect(target.format(port=twins.port))

    assert_blocked(fetch(f"http://news.example:{twins.port}/feed.xml"), words)
    assert twins.internal.requests == []


def test_a_redirect_to_a_file_url_is_refused(twins: Twins, dns: FakeDns) -> None:
    twins.public.routes["/feed.xml"] = redirect("file:///etc/passwd")

    outcome = fetch(f"http://news.example:{twins.port}/feed.xml")

    assert outcome.status is FeedStatus.ERROR
    assert outcome.error == "redirect to a URL that is not http(s): file:///etc/passwd"


def test_a_public_redirect_is_still_followed(twins: Twins, dns: FakeDns) -> None:
    twins.public.routes["/old.xml"] = redirect("/feed.xml", 301)

    outcome = fetch(f"http://news.example:{twins.port}/old.xml")

    assert outcome.status is FeedStatus.OK, outcome.error
    assert titles(outcome) == {"public story 1", "public story 2"}
    assert outcome.moved_to == f"http://news.example:{twins.port}/feed.xml"


# --- a public name that DNS points at an internal address ---


@pytest.mark.parametrize(("name", "words"), [
    ("intranet.example", ("blocked: intranet.example resolves to 127.0.0.1 "
                          "(a loopback address); " + HINT,)),
    ("mapped.example", ("mapped.example resolves to ::ffff:127.0.0.1 (a loopback address)",)),
    ("metadata.example", ("metadata.example resolves to 169.254.169.254 "
                          "(a link-local address)",)),
])
def test_a_public_name_resolving_to_an_internal_address_is_blocked(
    name: str, words: tuple[str, ...], twins: Twins, dns: FakeDns
) -> None:
    outcome = fetch(f"http://{name}:{twins.port}/secret.xml")

    assert_blocked(outcome, *words)
    assert twins.internal.requests == []


def test_a_name_with_public_and_internal_addresses_connects_to_the_public_ones_only(
    twins: Twins, dns: FakeDns
) -> None:
    # 127.0.0.1 first: without the rule, aiohttp connects there (and reads "internal").
    outcome = fetch(f"http://mixed.example:{twins.port}/feed.xml")

    assert outcome.status is FeedStatus.OK, outcome.error
    assert titles(outcome) == {"public story 1", "public story 2"}
    assert twins.internal.requests == []


def test_what_is_checked_is_what_is_connected_to(twins: Twins, dns: FakeDns) -> None:
    """DNS rebinding: the name answers a public address once, then an internal one. A check
    that looked the name up apart from the connection would let the second answer through."""
    dns.names["rebind.example"] = lambda seen: ["127.0.0.2"] if seen == 0 else ["127.0.0.1"]
    twins.public.routes["/a.xml"] = redirect(f"http://rebind.example:{twins.port}/feed.xml")

    outcome = fetch(f"http://rebind.example:{twins.port}/a.xml")

    assert outcome.status is FeedStatus.OK, outcome.error
    assert titles(outcome) == {"public story 1", "public story 2"}
    assert twins.internal.requests == []


# --- feeds the operator pointed inside, and allow_private ---


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "intranet", "feeds.internal"])
def test_a_feed_configured_on_an_internal_address_keeps_working(
    host: str, twins: Twins, dns: FakeDns
) -> None:
    outcome = fetch(f"http://{host}:{twins.port}/secret.xml")

    assert outcome.status is FeedStatus.OK, outcome.error
    assert titles(outcome) == {"secret story 1", "secret story 2"}


def test_an_internal_feed_may_redirect_to_another_internal_address(
    twins: Twins, dns: FakeDns
) -> None:
    twins.internal.routes["/moved.xml"] = redirect(
        f"http://intranet.example:{twins.port}/secret.xml", 301)

    outcome = fetch(twins.internal.url("moved.xml"))

    assert outcome.status is FeedStatus.OK, outcome.error
    assert outcome.moved_to == f"http://intranet.example:{twins.port}/secret.xml"


def test_internal_and_public_feeds_polled_together_keep_their_own_rules(
    twins: Twins, dns: FakeDns
) -> None:
    twins.public.routes["/to-inside.xml"] = redirect(twins.internal.url("secret.xml"))
    requests = [FeedRequest(twins.internal.url("secret.xml")),
                FeedRequest(f"http://news.example:{twins.port}/to-inside.xml"),
                FeedRequest(f"http://news.example:{twins.port}/feed.xml"),
                FeedRequest(f"http://intranet:{twins.port}/secret.xml")]

    inside, redirected, public, named = fetch_feeds(requests, LIMITS)

    assert inside.status is FeedStatus.OK and named.status is FeedStatus.OK
    assert public.status is FeedStatus.OK, public.error
    assert_blocked(redirected, "redirect to 127.0.0.1")
    assert twins.internal.hits("secret.xml") == 2  # the two internal feeds' own requests


def test_allow_private_lets_a_public_feed_reach_internal_addresses(
    twins: Twins, dns: FakeDns
) -> None:
    twins.public.routes["/a.xml"] = redirect(f"http://intranet.example:{twins.port}/b.xml")
    twins.internal.routes["/b.xml"] = redirect("/secret.xml")
    opened = replace(LIMITS, allow_private=True)

    redirected = fetch(f"http://news.example:{twins.port}/a.xml", opened)
    resolved = fetch(f"http://intranet.example:{twins.port}/secret.xml", opened)

    for outcome in (redirected, resolved):
        assert outcome.status is FeedStatus.OK, outcome.error
        assert titles(outcome) == {"secret story 1", "secret story 2"}


def test_the_timeout_covers_every_hop_of_a_redirect_chain(twins: Twins) -> None:
    for here, there in itertools.pairwise(["a", "b", "c", "d"]):
        twins.internal.routes[f"/{here}.xml"] = Route(status=302, delay=0.4,
                                                     headers={"Location": f"/{there}.xml"})
    twins.internal.routes["/d.xml"] = feed("late")

    outcome = fetch(twins.internal.url("a.xml"), replace(LIMITS, total_timeout=1.0))

    assert outcome.status is FeedStatus.ERROR
    assert outcome.error == "timeout: no complete answer within 1 s"


# --- through the app: nothing stored, the feed's address unchanged ---


@pytest.fixture
def open_app(write_config: WriteConfig, dns: FakeDns) -> Iterator[Callable[..., App]]:
    apps: list[App] = []

    def make(urls: list[str], **fetch_settings: Any) -> App:
        path = write_config({"feeds": [{"url": u} for u in urls],
                             "fetch": {"timeout": "5s", "connect_timeout": "1s",
                                       **fetch_settings}})
        settings = load_settings(path, env={})
        limits = replace(fetch_limits(settings), is_public=treat_as_public)
        app: App = conftest.open_app(settings, clock=fixed_clock("2026-11-27T12:00:00+00:00"),
                                     random=Random(7), limits=limits)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


def test_a_permanent_redirect_to_an_internal_address_never_becomes_the_feeds_address(
    twins: Twins, open_app: Callable[..., App]
) -> None:
    url = f"http://news.example:{twins.port}/old.xml"
    twins.public.routes["/old.xml"] = redirect(twins.internal.url("secret.xml"), 301)
    app = open_app([url])

    first, = app.poller.refresh(force=True)
    second, = app.poller.refresh(force=True)

    for outcome in (first, second):
        assert_blocked(outcome, "redirect to 127.0.0.1 (a loopback address)")
    state, = app.store.feed_states([url])
    assert state.fetch_url is None  # still polled where feeds.yaml says
    assert state.status is FeedStatus.ERROR
    assert count_items(app.store) == 0
    health, = app.reports.feeds()
    assert health.moved_to is None
    assert (health.last_error or "").startswith("blocked: redirect to 127.0.0.1")
    assert twins.public.hits("old.xml") == 2
    assert twins.internal.requests == []


def test_allow_private_in_feeds_yaml_lets_the_redirect_through(
    twins: Twins, open_app: Callable[..., App]
) -> None:
    url = f"http://news.example:{twins.port}/old.xml"
    twins.public.routes["/old.xml"] = redirect(twins.internal.url("secret.xml"), 301)
    app = open_app([url], allow_private=True)

    outcome, = app.poller.refresh(force=True)

    assert outcome.status is FeedStatus.OK, outcome.error
    assert outcome.moved_to == twins.internal.url("secret.xml")
    assert count_items(app.store) == 2


def test_allow_private_is_off_by_default_and_reaches_the_fetcher(
    write_config: WriteConfig
) -> None:
    default = load_settings(write_config(), env={})
    opened = load_settings(write_config({"fetch": {"allow_private": True}}), env={})

    assert default.fetch.allow_private is False
    assert fetch_limits(default).allow_private is False
    assert fetch_limits(opened).allow_private is True


def test_a_feed_moved_inside_before_the_rule_goes_back_to_its_configured_url(
    twins: Twins, open_app: Callable[..., App]
) -> None:
    """A database from before the rule may hold an internal address as a public feed's
    permanent one: that address is never polled again, the configured URL is."""
    url = f"http://news.example:{twins.port}/old.xml"
    twins.public.routes["/old.xml"] = redirect(twins.internal.url("secret.xml"), 301)
    moved, = open_app([url], allow_private=True).poller.refresh(force=True)
    assert moved.moved_to == twins.internal.url("secret.xml")  # as an older digest did
    twins.public.routes["/old.xml"] = feed("public")
    asked = len(twins.internal.requests)
    app = open_app([url])

    outcome, = app.poller.refresh(force=True)

    assert outcome.status is FeedStatus.OK, outcome.error
    assert outcome.new_items == 2  # the public feed's own stories
    assert any("back at its configured URL" in note for note in outcome.notes)
    assert len(twins.internal.requests) == asked  # the internal address was not asked again
    state, = app.store.feed_states([url])
    assert state.fetch_url in (None, url)
    health, = app.reports.feeds()
    assert health.moved_to is None
    again, = app.poller.refresh(force=True)
    assert again.status is FeedStatus.OK and not again.notes
    assert len(twins.internal.requests) == asked
