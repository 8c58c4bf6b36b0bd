"""Prometheus metrics (issue 24): what digest counts after real polls of a local feed server, a
real send to aiosmtpd, real bounces and unsubscribes; `digest run`'s /metrics and /healthz
(bearer token, methods, paths); the web service's /metrics (loopback only without a token);
the Grafana dashboard's expressions against what a live registry exports; and a real
`digest run` process answering both."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families

with warnings.catch_warnings():  # Starlette 1.x would rather have httpx2; httpx still works
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

from conftest import (
    DATA,
    HANG,
    REPO,
    FeedServer,
    Route,
    SmtpServer,
    WriteConfig,
    free_port,
    rss_feed,
    wait_until,
)
from digest.app import App, make_app
from digest.config import json_schema, load_settings
from digest.daemon import Daemon
from digest.errors import ConfigError, DigestError
from digest.metrics import Metrics, MetricsServer
from digest.models import BounceKind, ReaderStatus
from digest.web import make_web_app
from digest.webhooks import ProviderEvent

DIGEST = Path(sys.executable).parent / "digest"
DASHBOARD = REPO / "examples" / "grafana" / "digest-dashboard.json"
SECRET = "a-test-secret-that-is-long-enough-0001"
TOKEN = "metrics-token-for-the-tests-0123456789"
BASE = "https://news.example.org"
ONE_CLICK = {"List-Unsubscribe": "One-Click"}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def get(url: str, token: str | None = None, method: str = "GET") -> tuple[int, dict[str, str],
                                                                         bytes]:
    request = urllib.request.Request(url, method=method, headers={"Authorization": (
        f"Bearer {token}")} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status), dict(answer.headers), answer.read()
    except HTTPError as e:
        return e.code, dict(e.headers), e.read()


def answers(url: str, token: str | None = None) -> bool:
    try:
        return get(url, token)[0] == 200
    except (URLError, OSError):
        return False


def soon_daily(now: datetime) -> str:
    """A daily cron firing within the hour: the edition it names carries stories of now."""
    fire = now + timedelta(hours=1)
    return f"{fire.minute} {fire.hour} * * *"


@dataclass
class Busy:
    """An app after real activity, with a daemon-style metrics server over it."""

    app: App
    server: MetricsServer
    web: TestClient  # the web service, seen from 127.0.0.1
    outcomes: list[Any]

    def scrape(self) -> Samples:
        status, headers, body = get(f"{self.server.url}/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        return parse(body.decode())


@pytest.fixture
def busy(write_config: WriteConfig, feed_server: FeedServer,
         smtp_server: SmtpServer) -> Iterator[Busy]:
    now = datetime.now(UTC)
    feed_server.routes["/chips.xml"] = Route(body=rss_feed(now, "chips", count=4),
                                             headers={"Content-Type": "application/rss+xml"})
    config = write_config({
        "schedule": {"digest": soon_daily(now)},
        "feeds": [{"url": feed_server.url("chips.xml"), "name": "Chips", "section": "tech"},
                  {"url": feed_server.url("rss2.xml"), "name": "Sample"},
                  {"url": feed_server.url("missing.xml"), "name": "Broken"}],
        "delivery": {"from": "Test Brief <brief@example.org>", "transport": "smtp",
                     "smtp": {"host": "127.0.0.1", "port": smtp_server.port,
                              "security": "none"}},
        "recipients": ["ana@example.org", "ben@example.org", "kofi@example.org"],
        "web": {"base_url": BASE, "secret": SECRET},
        "metrics": {"port": free_port()},
    })
    app = make_app(load_settings(config, env={}))
    app.poller.sync_feeds()
    app.metrics.enable()  # as `digest run` does when it serves them
    server = MetricsServer("127.0.0.1", 0, metrics=lambda: app.metrics,
                           health=lambda: (True, {"status": "ok"}))
    server.start()
    try:
        outcomes = app.poller.refresh() + app.poller.refresh(force=True)
        smtp_server.handler.rcpt_replies["ben@example.org"] = "550 5.1.1 no such user"
        smtp_server.handler.rcpt_replies["kofi@example.org"] = "451 4.3.0 try again later"
        report = app.publisher.deliver()
        assert sorted(r.kind for r in report.results) == ["deferred", "failed", "sent"]
        web = TestClient(make_web_app(app), base_url=BASE, client=("127.0.0.1", 40000))
        links = {a: app.readers.links(app.readers.find(a)) for a in ("ana@example.org",
                                                                      "kofi@example.org")}
        # ana: her mail program's one click (the List-Unsubscribe URL, token in its query)
        one_click = links["ana@example.org"]
        assert one_click is not None and one_click.unsubscribe is not None
        assert web.post(one_click.unsubscribe, data=ONE_CLICK).status_code == 200
        # kofi: the link, then the page's button (the token in the form)
        link = links["kofi@example.org"]
        assert link is not None and link.unsubscribe is not None
        token = urlsplit(link.unsubscribe).query.removeprefix("token=")
        assert web.post("/unsubscribe", data={"token": token, **ONE_CLICK}).status_code == 200
        page = web.get("/subscribe").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        assert web.post("/subscribe", data={"email": "zoe@example.org",
                                            "csrf": csrf.group(1)}).status_code == 200
        yield Busy(app, server, web, outcomes)
    finally:
        server.stop()
        app.close()


def test_what_digest_counts_after_polls_a_send_bounces_and_unsubscribes(busy: Busy) -> None:
    s = busy.scrape()
    # polls: the first round (2 feeds ok, the missing one an error), then every feed again:
    # the file with an ETag answers 304, the canned feed the same body, the missing one 404
    polls = {o: value(s, "digest_polls_total", outcome=o)
             for o in ("ok", "not_modified", "unchanged", "error", "gone")}
    assert polls == {"ok": 2, "not_modified": 1, "unchanged": 1, "error": 2, "gone": 0}
    stored = sum(o.new_items for o in busy.outcomes)
    assert stored >= 4 and value(s, "digest_items_stored_total") == stored
    assert value(s, "digest_feed_errors_total", feed="Broken") == 2
    assert not [k for k in s if k[0] == "digest_feed_errors_total" and k[1] != (("feed",
                                                                                 "Broken"),)]
    assert value(s, "digest_last_poll_timestamp_seconds") > 0
    # the build: timed once, its sections as frozen
    assert value(s, "digest_build_duration_seconds_count") == 1
    day = busy.app.deliverer.last_edition()
    assert day is not None
    frozen = busy.app.editions.frozen(day)
    assert frozen is not None
    sections = {sec["id"]: len(sec["stories"]) for sec in frozen.payload["sections"]}
    assert sections["tech"] >= 1
    assert value(s, "digest_edition_stories", section="tech") == sections["tech"]
    # deliveries, the bounces the SMTP server's refusals were, the claim queue
    assert {o: value(s, "digest_deliveries_total", outcome=o) for o in (
        "sent", "failed", "deferred", "suppressed", "unconfirmed")} == {
        "sent": 1, "failed": 1, "deferred": 1, "suppressed": 0, "unconfirmed": 0}
    assert value(s, "digest_bounces_total", kind="hard", source="smtp") == 1
    assert value(s, "digest_bounces_total", kind="soft", source="smtp") == 1
    assert value(s, "digest_bounces_total", kind="complaint", source="smtp") == 0
    assert {st: value(s, "digest_claim_queue_deliveries", status=st)
            for st in ("pending", "deferred", "sending")} == {
        "pending": 0, "deferred": 1, "sending": 0}
    # who left and how, who asked to join, and the readers as the store has them
    assert value(s, "digest_unsubscribes_total", how="one_click") == 1
    assert value(s, "digest_unsubscribes_total", how="link") == 1
    assert value(s, "digest_unsubscribes_total", how="preferences") == 0
    assert value(s, "digest_subscriptions_total", step="requested") == 1
    assert value(s, "digest_subscriptions_total", step="confirmed") == 0
    assert {st.value: value(s, "digest_readers", status=st.value) for st in ReaderStatus} == {
        "active": 0, "pending": 1, "unsubscribed": 2, "bounced": 1, "complained": 0}
    assert value(s, "digest_store_up") == 1
    assert value(s, "digest_info", version="0.1.0") == 1


def test_the_web_service_serves_the_same_registry_to_loopback_only(busy: Busy) -> None:
    page = busy.web.get("/metrics")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    web = parse(page.text)
    daemon = busy.scrape()
    for name in ("digest_polls_total", "digest_unsubscribes_total", "digest_readers"):
        assert {k: v for k, v in web.items() if k[0] == name} == \
            {k: v for k, v in daemon.items() if k[0] == name}
    app = busy.web.app
    outside = TestClient(app, base_url=BASE, client=("203.0.113.9", 40000))
    missing = outside.get("/no-such-page")
    refused = outside.get("/metrics")
    # the same answer as an address that does not exist: nothing says /metrics is there
    assert (refused.status_code, refused.text) == (404, missing.text)
    proxied = busy.web.get("/metrics", headers={"X-Forwarded-For": "198.51.100.7"})
    assert proxied.status_code == 404  # a local proxy in front: the client is not local
    assert busy.web.post("/metrics").status_code == 405
    document = busy.web.get("/openapi.json").json()
    assert "/metrics" not in document["paths"]  # the operator's, not the readers' API


def test_a_provider_s_complaint_is_counted_once(busy: Busy) -> None:
    complaint = ProviderEvent("postmark", "pm-1", BounceKind.COMPLAINT, "zoe@example.org",
                              "marked as spam", None, None, None)
    assert [h.outcome for h in busy.app.bounces.provider_events([complaint])] == ["ended"]
    assert [h.outcome for h in busy.app.bounces.provider_events([complaint])] == ["duplicate"]
    s = busy.scrape()
    assert value(s, "digest_bounces_total", kind="complaint", source="postmark") == 1
    assert value(s, "digest_readers", status="complained") == 1


def test_the_claim_queue_is_read_from_the_store_so_instances_agree(busy: Busy) -> None:
    other = make_app(busy.app.settings)  # a second instance on the same database
    try:
        other.metrics.enable()
        theirs = parse(other.metrics.exposition()[0].decode())
    finally:
        other.close()
    ours = busy.scrape()
    for name in ("digest_claim_queue_deliveries", "digest_readers"):
        assert {k: v for k, v in theirs.items() if k[0] == name} == \
            {k: v for k, v in ours.items() if k[0] == name}
    assert value(theirs, "digest_polls_total", outcome="ok") == 0  # its own counters


def test_the_daemon_server_methods_paths_and_token() -> None:
    app_metrics = Metrics()
    app_metrics.enable()
    running = {"ok": True}
    server = MetricsServer("127.0.0.1", 0, metrics=lambda: app_metrics, token=TOKEN,
                           health=lambda: (running["ok"], {"status": "x"}))
    server.start()
    try:
        for path in ("/metrics", "/healthz"):
            status, headers, _ = get(server.url + path)
            assert (status, headers["WWW-Authenticate"]) == (401, 'Bearer realm="digest metrics"')
            assert get(server.url + path, "not-the-token-0123456789")[0] == 401
            assert get(server.url + path, TOKEN)[0] == 200
        status, _, body = get(server.url + "/metrics", TOKEN, method="HEAD")
        assert (status, body) == (200, b"")
        assert get(server.url + "/", TOKEN)[0] == 404
        assert get(server.url + "/metrics/x", TOKEN)[0] == 404
        for method in ("POST", "PUT", "DELETE", "OPTIONS", "BREW"):
            status, headers, _ = get(server.url + "/metrics", TOKEN, method=method)
            assert (status, headers.get("Allow")) == (405, "GET, HEAD"), method
        running["ok"] = False  # the scheduler stopped
        status, _, body = get(server.url + "/healthz", TOKEN)
        assert status == 503 and json.loads(body) == {"status": "x"}
    finally:
        server.stop()
    with pytest.raises(URLError):
        urllib.request.urlopen(server.url + "/healthz", timeout=10)
    taken = MetricsServer("127.0.0.1", 0, metrics=lambda: app_metrics,
                          health=lambda: (True, {}))
    taken.start()
    try:
        again = MetricsServer("127.0.0.1", taken.port, metrics=lambda: app_metrics,
                              health=lambda: (True, {}))
        with pytest.raises(DigestError, match=r"metrics: cannot listen on 127\.0\.0\.1:"):
            again.start()
    finally:
        taken.stop()


def test_the_web_service_s_metrics_token_and_switch(write_config: WriteConfig) -> None:
    def web(metrics: dict[str, Any] | None, name: str) -> tuple[App, TestClient]:
        config = write_config({"web": {"base_url": BASE, "secret": SECRET},
                               **({"metrics": metrics} if metrics else {})}, name=name)
        app = make_app(load_settings(config, env={"DIGEST_METRICS_TOKEN": TOKEN}))
        return app, TestClient(make_web_app(app), base_url=BASE,
                               client=("203.0.113.9", 40000))

    off, off_client = web(None, "off.yaml")
    on, on_client = web({"port": 9123, "token": "${DIGEST_METRICS_TOKEN}"}, "on.yaml")
    try:
        assert not off.metrics.enabled
        local = TestClient(off_client.app, base_url=BASE, client=("127.0.0.1", 40000))
        assert local.get("/metrics").status_code == 404  # metrics.port unset: no /metrics
        assert on.metrics.enabled
        refused = on_client.get("/metrics")
        assert refused.status_code == 401 and "WWW-Authenticate" in refused.headers
        wrong = on_client.get("/metrics", headers={"Authorization": "Bearer wrong-token-xyz"})
        assert wrong.status_code == 401
        good = on_client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert good.status_code == 200 and "digest_polls_total" in good.text
    finally:
        off.close()
        on.close()


def test_metrics_settings_are_checked_and_the_token_never_shown(write_config: WriteConfig
                                                                ) -> None:
    config = write_config({"metrics": {"port": 9100, "token": "${DIGEST_METRICS_TOKEN}"}})
    settings = load_settings(config, env={"DIGEST_METRICS_TOKEN": TOKEN})
    assert (settings.metrics.host, settings.metrics.port) == ("127.0.0.1", 9100)
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())
    assert load_settings(write_config({}), env={}).metrics.port is None  # off by default
    bad = [({"port": 0}, "metrics.port: Input should be greater than or equal to 1"),
           ({"port": 70000}, "metrics.port: Input should be less than or equal to 65535"),
           ({"host": "127.0.0.1/8"}, "metrics.host: not a host name or IP address"),
           ({"token": "short-secret"}, "metrics.token: must be at least 16 characters"),
           ({"token": "a token with spaces in it"}, "metrics.token: may hold only letters"),
           ({"tokn": "x"}, "metrics.tokn: Extra inputs are not permitted")]
    for block, problem in bad:
        with pytest.raises(ConfigError) as error:
            load_settings(write_config({"metrics": block}), env={})
        assert problem in str(error.value)
        assert "short-secret" not in str(error.value) and "spaces in" not in str(error.value)
    schema = json.loads(json_schema())
    assert set(schema["$defs"]["MetricsSettings"]["properties"]) == {"host", "port", "token"}


def test_commands_that_serve_no_metrics_never_import_prometheus_client(
        write_config: WriteConfig) -> None:
    config = write_config({"feeds": [{"url": str(DATA / "feeds" / "rss2.xml")}],
                          "metrics": {"port": 9100}})

    def loaded(code: str) -> str:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120, check=True).stdout.strip().splitlines()[-1]

    check = ("import sys; from digest.cli import main; "
             f"main(['--config', {str(config)!r}, 'status', '--check']); "
             "print('prometheus_client' in sys.modules)")
    assert loaded(check) == "False"
    # a whole poll, counted into a handle that does nothing
    poll = ("import sys; from digest.app import make_app; "
            "from digest.config import load_settings; "
            f"app = make_app(load_settings({str(config)!r}, env={{}})); "
            "app.poller.sync_feeds(); n = len(app.poller.refresh()); "
            "before = 'prometheus_client' in sys.modules; app.metrics.enable(); "
            "print(n, before, 'prometheus_client' in sys.modules)")
    assert loaded(poll) == "1 False True"


# --- the Grafana dashboard --------------------------------------------------------------------

FAMILIES = ("digest_polls_total", "digest_items_stored_total", "digest_feed_errors_total",
            "digest_build_duration_seconds", "digest_edition_stories", "digest_deliveries_total",
            "digest_bounces_total", "digest_unsubscribes_total", "digest_claim_queue_deliveries")


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row's own


def test_the_dashboard_uses_only_metrics_digest_exports(busy: Busy) -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert 36 <= dashboard["schemaVersion"] <= 41
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    exported = {name for name, _ in busy.scrape()}
    exprs: list[tuple[str, str]] = []
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, \
            panel["title"]
        assert panel["targets"], panel["title"]
        exprs += [(panel["title"], t["expr"]) for t in panel["targets"]]
    exprs += [(f"variable {v['name']}", v["query"]["query"]) for v in variables.values()
              if v["type"] == "query"]
    used: set[str] = set()
    for title, expr in exprs:
        # every identifier that names one of ours, outside label matchers' quoted values
        names = set(re.findall(r"\b((?:digest|process)_[a-z0-9_]+)\b",
                               re.sub(r'"[^"]*"', '""', expr)))
        assert names, f"{title}: {expr} uses none of digest's metrics"
        assert names <= exported, f"{title}: {sorted(names - exported)} not exported"
        used |= names
    for family in FAMILIES:  # a panel for each family of issue 24
        assert any(n == family or n.startswith(family + "_") for n in used), family


def test_the_dashboard_check_can_fail() -> None:
    # the name check above would catch a typo or a renamed metric
    exported = {"digest_polls_total"}
    names = set(re.findall(r"\b((?:digest|process)_[a-z0-9_]+)\b",
                           'sum(rate(digest_poll_total{outcome="ok"}[5m]))'))
    assert names == {"digest_poll_total"} and not names <= exported


# --- `digest run` -----------------------------------------------------------------------------


def test_a_reload_moves_the_server_and_the_counts_go_on(
        write_config: WriteConfig, feed_server: FeedServer) -> None:
    first, second = free_port(), free_port()
    feeds = [{"url": feed_server.url("rss2.xml"), "name": "Sample"}]
    config = write_config({"feeds": feeds, "metrics": {"port": first}})
    events: list[tuple[str, dict[str, Any]]] = []
    daemon = Daemon(lambda: load_settings(config, env={}), make_app, config=config,
                    on_event=lambda event, message, **fields: events.append((event, fields)))
    try:
        daemon.app.poller.sync_feeds()
        daemon._start_metrics(daemon.app.settings)
        assert ("metrics", {"host": "127.0.0.1", "port": first}) in events
        status, _, body = get(f"http://127.0.0.1:{first}/healthz")
        health = json.loads(body)
        assert status == 503 and health["status"] == "stopped"  # the scheduler is not running
        assert health["last_poll_at"] is None and health["next_send_at"]
        daemon._poll()
        health = json.loads(get(f"http://127.0.0.1:{first}/healthz")[2])
        assert health["last_poll_at"] is not None
        before = parse(get(f"http://127.0.0.1:{first}/metrics")[2].decode())
        assert value(before, "digest_polls_total", outcome="ok") == 1
        write_config({"feeds": feeds, "metrics": {"port": second}})
        daemon._try_reload()
        assert ("metrics", {"host": "127.0.0.1", "port": second}) in events
        assert not answers(f"http://127.0.0.1:{first}/metrics")  # the old port is closed
        after = parse(get(f"http://127.0.0.1:{second}/metrics")[2].decode())
        assert value(after, "digest_polls_total", outcome="ok") == 1  # not reset
        with socket.create_server(("127.0.0.1", 0)) as taken:  # a port someone else has
            write_config({"feeds": feeds, "metrics": {"port": taken.getsockname()[1]}})
            daemon._try_reload()
        assert events[-2][0] == "metrics_failed" and events[-1][0] == "reloaded"
        assert "metrics: cannot listen on 127.0.0.1:" in events[-2][1]["error"]
        assert not answers(f"http://127.0.0.1:{second}/metrics")
        write_config({"feeds": feeds, "metrics": {"port": second}})
        daemon._try_reload()  # fixed: it serves again
        assert answers(f"http://127.0.0.1:{second}/metrics")
        write_config({"feeds": feeds})  # metrics off
        daemon._try_reload()
        assert not answers(f"http://127.0.0.1:{second}/metrics")
    finally:
        daemon._stop_metrics()
        daemon.scheduler.remove_all_jobs()
        daemon.app.close()


@pytest.mark.slow
def test_digest_run_answers_metrics_and_healthz(
        write_config: WriteConfig, feed_server: FeedServer, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    feed_server.routes["/chips.xml"] = Route(body=rss_feed(now, "chips", count=3),
                                             headers={"Content-Type": "application/rss+xml"})
    port, web_port = free_port(), free_port()
    config = write_config({
        "feeds": [{"url": feed_server.url("chips.xml"), "name": "Chips"}],
        "metrics": {"port": port, "token": "${DIGEST_METRICS_TOKEN}"},
        "web": {"enabled": True, "base_url": BASE, "secret": SECRET, "port": web_port},
    })
    log = tmp_path / "run.log"
    with log.open("w") as stderr:
        run = subprocess.Popen([str(DIGEST), "--config", str(config), "run"],
                               stdout=subprocess.DEVNULL, stderr=stderr,
                               env={**os.environ, "DIGEST_METRICS_TOKEN": TOKEN,
                                    "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"

    def polled() -> bool:
        if run.poll() is not None:
            raise AssertionError(f"digest run exited: {log.read_text()}")
        if not answers(url + "/healthz", TOKEN):
            return False
        return json.loads(get(url + "/healthz", TOKEN)[2])["last_poll_at"] is not None

    try:
        wait_until(polled, "digest run's first poll, seen on /healthz")
        health = json.loads(get(url + "/healthz", TOKEN)[2])
        assert health["status"] == "ok" and health["next_send_at"]
        assert get(url + "/metrics")[0] == 401
        ours = parse(get(url + "/metrics", TOKEN)[2].decode())
        assert value(ours, "digest_polls_total", outcome="ok") == 1
        assert value(ours, "digest_items_stored_total") == 3
        # the web service in the same process: the same registry, behind the same token
        web = f"http://127.0.0.1:{web_port}/metrics"
        assert get(web)[0] == 401
        theirs = parse(get(web, TOKEN)[2].decode())
        assert value(theirs, "digest_polls_total", outcome="ok") == 1
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=HANG) == 0, log.read_text()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert not answers(url + "/healthz", TOKEN)
    assert TOKEN not in log.read_text()


def test_the_dashboard_file_is_valid_json_with_unique_panel_ids() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)) and dashboard["uid"] and dashboard["title"]
