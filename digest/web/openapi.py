"""The OpenAPI 3.0 document of the web service's machine-facing endpoints (issue 18): the JSON
subscribe, the one-click unsubscribe of RFC 8058 and the health check, written out as data
(the pages for people are not an API). Built from the settings, so the section ids it lists are
the configured ones. Serves nothing itself: digest.web.app answers /openapi.json with it.
"""

from __future__ import annotations

from typing import Any

from digest.addresses import MAX_ADDRESS
from digest.config import Settings
from digest.readers import MAX_NAME
from digest.tokens import MAX_TOKEN

MAX_SECTIONS = 100


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _page(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"text/html": {"schema": {"type": "string"}}}}


def _either(description: str) -> dict[str, Any]:
    """An error answered in JSON to a JSON request, as a page to any other."""
    return {"description": description, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}},
        "text/html": {"schema": {"type": "string"}}}}


def openapi_document(settings: Settings) -> dict[str, Any]:
    ids = [s.id for s in settings.sections]
    section: dict[str, Any] = {"type": "string", "enum": ids} if ids else {"type": "string"}
    retry_after = {"Retry-After": {
        "description": "seconds to wait before trying again (RFC 9110 10.2.3)",
        "schema": {"type": "integer", "minimum": 1}}}
    too_many = {**_either("too many requests from this client address"),
                "headers": retry_after}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": f"{settings.title}: readers",
            "version": "1",
            "description": "Join the newsletter (double opt-in: a confirmation link is emailed, "
                           "and the answer is the same whatever the address's state), leave "
                           "it with one click (RFC 8058), and check the service's health.",
        },
        "paths": {
            "/subscribe": {"post": {
                "operationId": "subscribe",
                "summary": "Ask to join: a confirmation link is emailed to the address",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Subscribe"}}}},
                "responses": {
                    "202": {"description": "accepted; the same answer for any valid address",
                            "content": {"application/json": {"schema": {
                                "$ref": "#/components/schemas/Accepted"}}}},
                    "400": _error("not an email address, an unknown section or a malformed "
                                  "body"),
                    "413": _either("the body is larger than web.max_body"),
                    "415": _page("the body is not application/json (or a form)"),
                    "429": too_many,
                },
            }},
            "/unsubscribe": {"post": {
                "operationId": "unsubscribe",
                "summary": "One-click unsubscribe (RFC 8058), as mail providers send it",
                "parameters": [{
                    "name": "token", "in": "query", "required": True,
                    "description": "the signed token of the List-Unsubscribe link",
                    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_TOKEN}}],
                "requestBody": {"required": True, "content": {
                    "application/x-www-form-urlencoded": {"schema": {
                        "type": "object", "required": ["List-Unsubscribe"],
                        "properties": {"List-Unsubscribe": {
                            "type": "string", "enum": ["One-Click"]}}}}}},
                "responses": {
                    "200": _page("unsubscribed (or already gone: nothing to do)"),
                    "400": _page("the token is not valid, or the body is malformed"),
                    "413": _page("the body is larger than web.max_body"),
                    "415": _page("the body is not a form"),
                },
            }},
            "/healthz": {"get": {
                "operationId": "health",
                "summary": "Whether the service and its database answer",
                "responses": {
                    "200": {"description": "healthy", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Health"}}}},
                    "503": {"description": "the database does not answer",
                            "content": {"application/json": {"schema": {
                                "$ref": "#/components/schemas/Health"}}}},
                },
            }},
        },
        "components": {"schemas": {
            "Subscribe": {
                "type": "object", "required": ["email"], "additionalProperties": False,
                "properties": {
                    "email": {"type": "string", "format": "email", "maxLength": MAX_ADDRESS},
                    "name": {"type": "string", "nullable": True, "maxLength": MAX_NAME},
                    "sections": {
                        "type": "array", "nullable": True, "items": section,
                        "maxItems": MAX_SECTIONS,
                        "description": "section ids to get; absent, null or empty: all of them"
                                       + ("" if settings.web.choose_sections else
                                          " (readers cannot choose here: ignored)")},
                },
            },
            "Accepted": {"type": "object", "required": ["status"],
                         "additionalProperties": False,
                         "properties": {"status": {"type": "string",
                                                   "enum": ["check your inbox"]}}},
            "Error": {"type": "object", "required": ["error"], "additionalProperties": False,
                      "properties": {"error": {"type": "string"}}},
            "Health": {"type": "object", "required": ["status"], "additionalProperties": False,
                       "properties": {"status": {"type": "string", "enum": ["ok", "error"]}}},
        }},
    }
