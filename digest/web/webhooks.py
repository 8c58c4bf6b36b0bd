"""The providers' webhooks on the web service (issue 20): Amazon SES notifications through
SNS at POST /webhooks/ses (every message's signature verified against Amazon's certificate,
its topic one of `bounces.ses.topics`, a subscription confirmed by fetching its SubscribeURL),
and Postmark's bounce and spam-complaint webhooks at POST /webhooks/postmark (HTTP basic auth,
compared in constant time). Each posted event is recorded once (its provider's id) by
`app.bounces`; reading and verifying a payload is digest.webhooks' job.

Hostile-input territory: bodies are capped (WEBHOOK_MAX_BODY, before and while reading), every
route is rate-limited per provider, errors are one line with the right status and never echo
a secret; a provider retries what we did not accept with a 2xx.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from digest.app import App
from digest.config import PostmarkSettings
from digest.web import forms
from digest.web.limits import Throttled, client_group
from digest.webhooks import (
    MAX_BODY,
    ProviderEvent,
    SnsSubscription,
    SnsVerifier,
    WebhookError,
    confirm_subscription,
    postmark_events,
)

log = logging.getLogger(__name__)

WEBHOOK_MAX_BODY = MAX_BODY  # what the payloads' reader takes: SNS messages are at most 256 KB
WEBHOOK_POSTS_PER_MINUTE = 1200  # per provider: a burst of bounces after a big send fits
WEBHOOK_AUTH_FAILURES_PER_MINUTE = 10  # per client address


class Webhooks:
    """The webhook routes of one App."""

    def __init__(self, app: App, *, fetch_certificate: Callable[[str], bytes] | None = None,
                 confirm: Callable[[SnsSubscription], None] = confirm_subscription) -> None:
        """`fetch_certificate` and `confirm`: how SNS's certificate is fetched and a
        subscription confirmed (tests point them at a local server)."""
        self.app = app
        b = app.settings.bounces
        self.ses = None if b.ses is None else SnsVerifier(
            topics=b.ses.topics, fetch_certificate=fetch_certificate, clock=app.clock)
        self.postmark = b.postmark
        self.confirm = confirm

    def routes(self) -> list[Route]:
        routes = []
        if self.ses is not None:
            routes.append(Route("/webhooks/ses", self.ses_post, methods=["POST"]))
        if self.postmark is not None:
            routes.append(Route("/webhooks/postmark", self.postmark_post, methods=["POST"]))
        return routes

    async def ses_post(self, request: Request) -> Response:
        assert self.ses is not None
        await self._throttle("ses")
        body = await forms.read_body(request, WEBHOOK_MAX_BODY)
        try:
            read = await run_in_threadpool(self.ses.read, body)
            if isinstance(read, SnsSubscription):
                await run_in_threadpool(self.confirm, read)
                log.info("SNS subscription to %s confirmed", read.topic_arn)
                return JSONResponse({"confirmed": read.topic_arn})
        except WebhookError as e:
            return _refused("ses", e)
        return await self._handle(read or [])

    async def postmark_post(self, request: Request) -> Response:
        assert self.postmark is not None
        if not _authorized(request, self.postmark):
            # failures count per client address (guessing the password is throttled; a
            # stranger's failures cannot use up Postmark's own allowance)
            wait = await run_in_threadpool(
                self.app.readers.hit, f"webhook auth ip {client_group(request)}",
                limit=WEBHOOK_AUTH_FAILURES_PER_MINUTE, seconds=60)
            if wait is not None:
                raise Throttled(wait)
            return JSONResponse({"error": "authentication required"}, status_code=401,
                                headers={"WWW-Authenticate": 'Basic realm="digest webhooks"'})
        await self._throttle("postmark")
        body = await forms.read_body(request, WEBHOOK_MAX_BODY)
        try:
            events = postmark_events(body)
        except WebhookError as e:
            return _refused("postmark", e)
        return await self._handle(events)

    async def _handle(self, events: list[ProviderEvent]) -> Response:
        handled = await run_in_threadpool(self.app.bounces.provider_events, events)
        return JSONResponse({"events": [{"kind": h.what, "outcome": h.outcome}
                                        for h in handled]})

    async def _throttle(self, provider: str) -> None:
        wait = await run_in_threadpool(self.app.readers.hit, f"webhook {provider}",
                                       limit=WEBHOOK_POSTS_PER_MINUTE, seconds=60)
        if wait is not None:
            raise Throttled(wait)


def _authorized(request: Request, postmark: PostmarkSettings) -> bool:
    """HTTP basic auth with the configured user and password, compared in constant time."""
    found = forms.basic_credentials(request.headers.get("authorization", ""))
    if found is None:
        return False
    user, password = found
    expected = postmark.password.get_secret_value()
    return (hmac.compare_digest(user.encode(), postmark.username.encode())
            & hmac.compare_digest(password.encode(), expected.encode()))


def _refused(provider: str, error: WebhookError) -> Response:
    log.info("webhook %s refused (%s): %s", provider, error.status, error)
    return JSONResponse({"error": str(error)}, status_code=error.status)
