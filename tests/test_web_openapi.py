"""The web service's OpenAPI document (issue 18), fuzzed by schemathesis against the ASGI app
over a real SQLite file: no request it makes from the document gets a server error, and every
answer has a documented status, media type and body."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from conftest import WriteConfig
from digest.app import make_app
from digest.config import load_settings
from digest.web import make_web_app

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


@pytest.fixture
def web_schema(write_config: WriteConfig) -> Iterator[Any]:
    config = write_config({
        "sections": [{"id": "tech", "title": "Tech"}, {"id": "africa", "title": "Africa"}],
        "recipients": [],
        # generous limits: the fuzzer's hundreds of requests come from one address, and a
        # 429 would hide what the other answers do
        "web": {"base_url": "https://news.example.org",
                "secret": "a-test-secret-that-is-long-enough-0001",
                "subscribes_per_hour": 100000, "posts_per_minute": 1000000}})
    app = make_app(load_settings(config, env={}))
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", make_web_app(app))
    finally:
        app.close()


# One hypothesis run per operation and mode (schemathesis's own pytest plugin builds its tests
# lazily in a way pytest 9 no longer allows): schema-valid requests, and requests that break it.
OPERATIONS = ["POST /subscribe", "POST /unsubscribe", "GET /healthz"]


@pytest.mark.parametrize(("label", "mode"), [
    (label, mode) for label in OPERATIONS for mode in GenerationMode
    if label != "GET /healthz" or mode is GenerationMode.POSITIVE])  # it takes no input
def test_the_service_answers_as_its_document_says(web_schema: Any, label: str,
                                                  mode: GenerationMode) -> None:
    operations = {op.ok().label: op.ok() for op in web_schema.get_all_operations()}
    assert sorted(operations) == sorted(OPERATIONS)  # the document lists exactly these

    @given(case=operations[label].as_strategy(generation_mode=mode))
    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def answers(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)

    answers()
