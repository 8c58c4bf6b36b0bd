"""Who a request comes from and how often they may post (issue 18): the client's address as
uvicorn resolved it, grouped for counting (an IPv4 address, an IPv6 /64), and the per-client
limits of `web:` counted through `Readers.hit` in the database, so every instance of the
service shares them. Answers nothing itself: it raises Throttled, which the routes answer 429.
"""

from __future__ import annotations

import ipaddress

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from digest.config import WebSettings
from digest.readers import Readers


class Throttled(Exception):
    """A client over one of its rate limits; `wait` seconds until it may try again."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"try again in {wait:.0f} s")
        self.wait = wait


def client_address(request: Request) -> str | None:
    """The client's address. uvicorn has put the one from X-Forwarded-For there when the
    request came through a trusted proxy (web.trusted_proxies), and only then: a client cannot
    choose the address its limits and its consent record are kept under."""
    return request.client.host if request.client else None


def client_group(request: Request) -> str:
    """Whom a rate limit counts: the client's IPv4 address, or its IPv6 /64 (one subscriber
    line is usually given a whole /64, RFC 6177, and can pick any address in it)."""
    host = client_address(request) or "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


async def throttle(readers: Readers, web: WebSettings, request: Request, *,
                   subscribe: bool) -> None:
    """Count a POST against its client's limits: `posts_per_minute` for every form and JSON
    post (the one-click unsubscribe never comes here), and `subscribes_per_hour` too for a
    subscribe. Throttled when over one."""
    client = client_group(request)
    limits = [(f"posts ip {client}", web.posts_per_minute, 60)]
    if subscribe:
        limits.append((f"subscribe ip {client}", web.subscribes_per_hour, 3600))
    for key, limit, seconds in limits:
        wait = await run_in_threadpool(readers.hit, key, limit=limit, seconds=seconds)
        if wait is not None:
            raise Throttled(wait)
