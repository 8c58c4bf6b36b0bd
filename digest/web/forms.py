"""What a request sends, read defensively (issue 18): the body within `web.max_body`, its media
type (a form, a multipart form or JSON; anything else 415), its fields as text (strict UTF-8,
bounded lengths, one value where one is expected: 400 otherwise) and the CSRF double-submit
cookie. The only importer of python-multipart. Decides nothing about readers and renders
nothing: it raises InputError, which the routes answer.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from digest.tokens import MAX_TOKEN

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
JSON = "application/json"
MAX_FIELDS = 64  # a page of ours sends at most a dozen; the sections checkboxes among them
CSRF_COOKIE = "digest_csrf"
CSRF_FIELD = "csrf"
_CSRF_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")  # what secrets.token_urlsafe(32) makes


class InputError(Exception):
    """A request refused before anything is done: `status` 400 (malformed), 403 (CSRF),
    413 (too large) or 415 (a media type we do not read)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class MediaType:
    """A Content-Type, parsed: the type in lower case and its parameters."""

    kind: str
    params: Mapping[str, str]


def media_type(request: Request) -> MediaType | None:
    value = request.headers.get("content-type")
    if value is None or not value.strip():
        return None
    kind, params = parse_options_header(value)
    return MediaType(kind.decode("latin-1").strip().lower(),
                     {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in params.items()})


def wants_json(request: Request) -> bool:
    """Whether errors are answered in JSON: the request itself was JSON."""
    found = media_type(request)
    return found is not None and found.kind == JSON


def form_type(request: Request, *, empty_ok: bool = False) -> MediaType | None:
    """The request's form media type; 415 for any other (JSON included: a page's form never
    sends it). `empty_ok`: no Content-Type at all is accepted (None)."""
    found = media_type(request)
    if found is None and empty_ok:
        return None
    if found is None or found.kind not in (FORM, MULTIPART):
        raise InputError(415, f"send {FORM} or {MULTIPART}")
    return found


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it passes `limit` bytes (a chunked body
    has no Content-Length to check beforehand: it is counted while it arrives)."""
    size = 0
    chunks: list[bytes] = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InputError(413, f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class Fields:
    """The fields of a form, each name with its values in order."""

    values: Mapping[str, tuple[str, ...]]

    def one(self, name: str, limit: int) -> str | None:
        """The field's one value (None when absent); 400 for two or a value over `limit`."""
        found = self.values.get(name, ())
        if len(found) > 1:
            raise InputError(400, f"{name}: one value expected, {len(found)} sent")
        if not found:
            return None
        if len(found[0]) > limit:
            raise InputError(400, f"{name}: at most {limit} characters")
        return found[0]

    def many(self, name: str, limit: int) -> tuple[str, ...]:
        found = self.values.get(name, ())
        for value in found:
            if len(value) > limit:
                raise InputError(400, f"{name}: at most {limit} characters each")
        return found


def parse_form(body: bytes, media: MediaType | None) -> Fields:
    """A form body's fields: urlencoded (WHATWG) or multipart/form-data (RFC 7578), text only,
    UTF-8 only (a `_charset_` trick or another charset parameter is refused: 415)."""
    if media is None:
        if body.strip():
            raise InputError(415, f"send {FORM} or {MULTIPART}")
        return Fields({})
    charset = media.params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise InputError(415, "forms are read as UTF-8 only")
    pairs = _urlencoded(body) if media.kind == FORM else _multipart(body, media)
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:  # nothing of ours holds a NUL; a probe does
            raise InputError(400, "a field holds a NUL character")
        values.setdefault(name, []).append(value)
    return Fields({name: tuple(found) for name, found in values.items()})


def _urlencoded(body: bytes) -> list[tuple[str, str]]:
    try:
        # strict UTF-8 in the raw bytes and in every %-escape: replacing bad bytes with U+FFFD
        # (Starlette's own parser does, via latin-1) would store a mangled name silently
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, encoding="utf-8",
                         errors="strict", max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise InputError(400, "the form is not UTF-8 text") from None
    except ValueError:  # more than MAX_FIELDS fields
        raise InputError(400, f"at most {MAX_FIELDS} fields") from None


def _multipart(body: bytes, media: MediaType) -> list[tuple[str, str]]:
    boundary = media.params.get("boundary", "")
    if not boundary or len(boundary) > 70:  # RFC 2046 5.1.1: 1 to 70 characters
        raise InputError(400, "multipart/form-data without a valid boundary")
    parts = _Parts()
    parser = MultipartParser(boundary.encode("latin-1"), parts.callbacks())
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError:
        raise InputError(400, "the multipart body is malformed") from None
    if not parts.ended:
        raise InputError(400, "the multipart body ends early")
    return parts.fields


class _Parts:
    """Collects the text fields of a multipart body from python-multipart's callbacks."""

    def __init__(self) -> None:
        self.fields: list[tuple[str, str]] = []
        self.headers: dict[bytes, bytes] = {}
        self.name = bytearray()
        self.value = bytearray()
        self.data = bytearray()
        self.ended = False

    def callbacks(self) -> MultipartCallbacks:
        return {"on_part_begin": self._begin, "on_part_data": self._data,
                "on_part_end": self._end, "on_header_field": self._header_name,
                "on_header_value": self._header_value, "on_header_end": self._header_end,
                "on_end": self._finish}

    def _begin(self) -> None:
        self.headers = {}
        self.data = bytearray()

    def _header_name(self, data: bytes, start: int, end: int) -> None:
        self.name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def _header_end(self) -> None:
        self.headers[bytes(self.name).lower()] = bytes(self.value)
        self.name = bytearray()
        self.value = bytearray()

    def _data(self, data: bytes, start: int, end: int) -> None:
        self.data += data[start:end]

    def _end(self) -> None:
        kind, options = parse_options_header(self.headers.get(b"content-disposition"))
        if kind.lower() != b"form-data" or b"name" not in options:
            raise InputError(400, "a multipart part without Content-Disposition: form-data")
        if b"filename" in options:
            raise InputError(400, "files are not accepted")
        part_type = parse_options_header(self.headers.get(b"content-type"))[0]
        if part_type.lower() not in (b"", b"text/plain"):
            raise InputError(400, "only text fields are accepted")
        if len(self.fields) >= MAX_FIELDS:
            raise InputError(400, f"at most {MAX_FIELDS} fields")
        try:
            self.fields.append((options[b"name"].decode("utf-8"), self.data.decode("utf-8")))
        except UnicodeDecodeError:
            raise InputError(400, "a field is not UTF-8 text") from None

    def _finish(self) -> None:
        self.ended = True


def parse_json(body: bytes) -> dict[str, Any]:
    """A JSON object (RFC 8259: UTF-8, and we refuse a name given twice, which parsers
    disagree on); 400 for anything else, however deeply nested."""
    try:
        value = json.loads(body.decode("utf-8"), object_pairs_hook=_unique_names)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are
        raise InputError(400, "the body is not JSON (UTF-8)") from None  # ValueErrors
    if not isinstance(value, dict):
        raise InputError(400, "a JSON object is expected")
    return value


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, value in pairs:
        if name in found:
            raise ValueError(f"{name!r} given twice")
        found[name] = value
    return found


def bounded_token(token: str) -> str:
    """A reader link's token, refused (400) when longer than any we make."""
    if len(token) > MAX_TOKEN:
        raise InputError(400, f"token: at most {MAX_TOKEN} characters")
    return token


def query_token(request: Request) -> str:
    """The one `token` of a link's query string."""
    found = request.query_params.getlist("token")
    if len(found) != 1:
        raise InputError(400, "this address needs one token")
    return bounded_token(found[0])


def form_token(fields: Fields) -> str:
    """The one `token` a page's form sends back."""
    token = fields.one("token", MAX_TOKEN)
    if not token:
        raise InputError(400, "this form needs its token")
    return token


def csrf_token(request: Request) -> str:
    """The token a page's forms carry: the one the browser's cookie holds, or a new random one
    (set as the cookie with the page)."""
    current = request.cookies.get(CSRF_COOKIE, "")
    return current if _CSRF_SHAPE.fullmatch(current) else secrets.token_urlsafe(32)


def check_csrf(request: Request, fields: Fields) -> None:
    """Double submit (OWASP): the form's hidden field must equal the cookie, which another
    site can neither read nor, SameSite=Strict, have sent; 403 otherwise."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = fields.one(CSRF_FIELD, 100) or ""
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise InputError(403, "this form has expired or was not sent from this site")


def basic_credentials(header: str) -> tuple[str, str] | None:
    """The user name and password of an `Authorization: Basic` header (UTF-8, RFC 7617), or
    None when it is not one."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or len(value) > 4096:
        return None
    try:
        user, colon, password = base64.b64decode(value.strip(), validate=True).decode(
            "utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if colon else None
