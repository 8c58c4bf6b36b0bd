"""The web service's /metrics (issue 24), there only when `metrics.port` is set: Prometheus's
text format of `app.metrics`. The service faces the internet, so with `metrics.token` a scrape
must carry it as a bearer token (401 otherwise); without one, only a client on this machine
(a loopback address, and no proxy's forwarding header) is answered, and everyone else gets
the same 404 as an address that does not exist. Counts nothing itself (the use cases do).
"""

from __future__ import annotations

import ipaddress

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from digest.config import MetricsSettings
from digest.metrics import Metrics, bearer_ok

# A request that came through a reverse proxy: on the same machine, the proxy's connection is
# a loopback one whoever the client is behind it.
FORWARDED = ("forwarded", "x-forwarded-for", "x-real-ip")


class Scrape:
    """The /metrics handler over one App's metrics."""

    def __init__(self, metrics: Metrics, settings: MetricsSettings) -> None:
        self.metrics = metrics
        self.token = settings.token.get_secret_value().encode() if settings.token else None

    async def answer(self, request: Request) -> Response:
        if self.token is not None:
            if not bearer_ok(request.headers.get("authorization"), self.token):
                return PlainTextResponse("a bearer token is required\n", status_code=401,
                                         headers={"WWW-Authenticate":
                                                  'Bearer realm="digest metrics"'})
        elif not local(request):
            raise HTTPException(404)
        body, kind = await run_in_threadpool(self.metrics.exposition)  # reads the store
        return Response(body, media_type=kind)


def local(request: Request) -> bool:
    """Whether the client connected from a loopback address, and not through a proxy."""
    if request.client is None or any(h in request.headers for h in FORWARDED):
        return False
    try:
        ip = ipaddress.ip_address(request.client.host)
    except ValueError:  # not an address (a test client's name): not known to be local
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback
