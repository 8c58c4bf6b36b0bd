"""Read feeds.yaml and DIGEST_* environment once, validate, return frozen settings; no I/O later.

Every problem is reported with its key path (`feeds[3].url: ...`), all at once, and nothing is
written when the configuration is invalid. `${VAR}` (or `${VAR:-default}`) in any string value is
replaced from the environment; the values of secrets are never echoed in errors.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from digest import DEFAULT_CONFIG
from digest.colours import readable_accent
from digest.configfile import (  # the reading of feeds.yaml's text
    DEFAULT_DATABASE,
    Refused,
    brief,
    expand_env,
    path_is,
    read_yaml,
    resolve_database_url,
    user_path,
)
from digest.errors import ConfigError
from digest.lexicon import lexicon_names
from digest.schedule import check_cron

# libyaml's safe loader when PyYAML was built with it: 8x faster on a 1000-feed file.
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_EMAIL = re.compile(r"^[^@\s<>,;]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_NAMED_ADDRESS = re.compile(r"^\s*(?:[^<>]*<\s*(?P<inner>[^<>]+?)\s*>|(?P<bare>[^<>\s]+))\s*$")


# The longest duration accepted anywhere (window, poll_every, retention, timeouts...): a
# century keeps every `now ± duration` far inside what a datetime can hold (years 1-9999),
# and still lets a window reach back over an archive of decades.
MAX_DURATION = timedelta(days=36500)


def parse_duration(value: object) -> object:
    """`90s`, `30m`, `1h`, `7d`, `2w` (or a number of seconds) -> timedelta, from 0 up to
    MAX_DURATION."""
    seconds: float
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ValueError(f"not a duration like 30m, 1h or 7d: {brief(value)}")
    if seconds != seconds:  # NaN
        raise ValueError(f"not a duration like 30m, 1h or 7d: {brief(value)}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {brief(value)}")
    if seconds > MAX_DURATION.total_seconds():  # compared before timedelta() can overflow
        raise ValueError(f"at most {MAX_DURATION.days}d (100 years), not {brief(value)}")
    return value if isinstance(value, timedelta) else timedelta(seconds=seconds)


def _at_least_a_minute(value: timedelta) -> timedelta:
    """A poll interval: `0` would have `digest fetch` poll the same feeds again and again."""
    if value < timedelta(minutes=1):
        raise ValueError(f"at least 1m, not {_days(value)}")
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {"type": "string", "pattern": r"^\d+(\.\d+)?[smhdw]$", "examples": ["30m", "1h", "7d"]}
    ),
]


def one_line(value: str) -> str:
    """The value, if it is one line of text: a line break or another control character in a
    header (From, List-Id, Subject) would fail when an edition is sent, or inject another."""
    if not value.isprintable():
        raise ValueError(f"must be one line of text without control characters: "
                         f"{brief(value)}")
    return value


def check_email(value: str) -> str:
    """The address, trimmed; ValueError when it is not one (recipients, `digest unsubscribe`)."""
    if not _EMAIL.match(value.strip()):
        raise ValueError(f"not an email address: {value!r}")
    return value.strip()


_TIMEOUT = re.compile(r"timeout\(\s*([^()\s]+)\s*\)")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True,
                              allow_inf_nan=False)


class ScheduleSettings(_Frozen):
    digest: str = Field("0 7 * * mon", description="cron expression for the edition send "
                                                    "(5 fields, or 6 with seconds first)")
    poll_every: Duration = Field(timedelta(hours=1), description="default feed poll interval")
    grace: Duration = Field(
        timedelta(hours=12), description="`digest run` down at send time: it sends that "
                                         "edition when it is back within this long, else "
                                         "records it as skipped")

    approval: str = Field(
        "auto", description="auto: editions go out on schedule; required: only once an editor "
                            "approves (`digest edit approve` or the editing page); timeout(6h): "
                            "as required, but this long after the scheduled send the edition "
                            "goes out as it stands", examples=["auto", "required", "timeout(6h)"])
    draft_before: Duration = Field(
        timedelta(hours=24), description="how long before each send `digest run` builds the "
                                         "draft and emails it to `editors`")

    @field_validator("digest")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        return check_cron(value)

    @field_validator("approval")
    @classmethod
    def _valid_approval(cls, value: str) -> str:
        value = value.strip().lower()
        if value in ("auto", "required"):
            return value
        match = _TIMEOUT.fullmatch(value)
        if match is None:
            raise ValueError(f"approval: auto, required or timeout(DURATION) like timeout(6h), "
                             f"not {brief(value)}")
        parse_duration(match.group(1))  # says what is wrong with the duration
        return value

    @property
    def approval_required(self) -> bool:
        """Whether an edition waits for an editor's approval before it is sent."""
        return self.approval != "auto"

    @property
    def approval_timeout(self) -> timedelta | None:
        """How long past its scheduled send an unapproved edition waits (None: for ever)."""
        match = _TIMEOUT.fullmatch(self.approval)
        if match is None:
            return None
        value = parse_duration(match.group(1))
        assert isinstance(value, timedelta)
        return value

    @field_validator("poll_every")
    @classmethod
    def _poll_every(cls, value: timedelta) -> timedelta:
        return _at_least_a_minute(value)


class EditionSettings(_Frozen):
    window: Duration = Field(timedelta(days=7), description="how far back a story may be")
    max_stories: int = Field(30, ge=1, description="stories in a whole edition")
    unmatched: Literal["elsewhere", "drop"] = Field(
        "elsewhere", description="where `auto` stories that match no section go"
    )
    half_life: Duration = Field(
        timedelta(days=2), description="a story's recency score halves over this time"
    )
    classify: Literal["auto", "always"] = Field(
        "auto", description="auto: sort only `section: auto` feeds by content; always: every "
                            "feed (a feed's section then breaks ties and catches the rest)")
    min_score: float = Field(
        5.0, ge=0, description="the word score a story needs to enter a section")
    max_per_source: int | None = Field(
        None, ge=1, description="stories one source may have in a section (diversity)")

    @field_validator("half_life")
    @classmethod
    def _some_half_life(cls, value: timedelta) -> timedelta:
        if not value:  # the recency score divides by it
            raise ValueError("must be longer than 0")
        return value


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2, "gb": 1000**3,
               "gib": 1024**3}


MAX_SIZE = 1024**4  # 1 TiB: far past any sensible limit, and inside every C integer


def parse_size(value: object) -> object:
    """`10MiB`, `500KB`, `2048` (bytes) -> int bytes, at most MAX_SIZE."""
    size: float
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str) and (match := _SIZE.match(value)):
        size = float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()]
    else:
        raise ValueError(f"not a size like 10MiB, 500KB or 2048: {brief(value)}")
    if size > MAX_SIZE:  # compared before int() of an infinite float can fail
        raise ValueError(f"at most 1024GiB, not {brief(value)}")
    return int(size)


Size = Annotated[
    int,
    BeforeValidator(parse_size),
    WithJsonSchema({"type": ["string", "integer"], "examples": ["10MiB", "500KB"]}),
]


class FetchSettings(_Frozen):
    concurrency: int = Field(64, ge=1, le=1024, description="feeds downloaded at once")
    per_host: int = Field(4, ge=1, le=64, description="connections to one host at once")
    connect_timeout: Duration = Field(timedelta(seconds=10), description="to open a connection")
    timeout: Duration = Field(timedelta(seconds=30), description="for one feed, start to end")
    max_bytes: Size = Field(10 * 1024 * 1024, ge=1024, description="largest feed body accepted")
    max_redirects: int = Field(5, ge=0, le=20, description="redirects followed per request")
    max_items: int = Field(
        500, ge=1, le=100_000,
        description="entries read from one feed per poll: the newest (by date, else the "
                    "first); a feed with more says so in its status")
    max_backoff: Duration = Field(
        timedelta(hours=24), description="longest wait after repeated failures")
    allow_private: bool = Field(
        False, description="let a feed whose URL is public be sent (by a redirect or by DNS) to "
                           "loopback, private, link-local and other internal addresses; feeds "
                           "configured with such an address, localhost or a one-label name "
                           "reach them anyway")


class Keyword(_Frozen):
    term: str = Field(min_length=1, description="a word or name; ALL CAPS matches only in caps")
    weight: float = Field(3.0, gt=0, le=10, description="1 weak .. 4 decisive")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: object) -> object:
        return {"term": value} if isinstance(value, str) else value


class SectionSettings(_Frozen):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title: str = Field(min_length=1)
    max_stories: int = Field(10, ge=1)
    min_stories: int = Field(1, ge=1, description="fewer stories than this: section left out")
    weight: float = Field(
        1.0, gt=0, le=10, description="multiplies the score of this section's words")
    max_per_source: int | None = Field(
        None, ge=1, description="stories one source may have here; default edition.max_per_source")
    keywords: tuple[Keyword, ...] = Field(
        (), description="words that point to this section: `Nvidia` or {term: Nvidia, weight: 4}")
    exclude: tuple[str, ...] = Field((), description="words (built-in or own) not to count here")
    knowledge: tuple[str, ...] | None = Field(
        None, description="built-in word lists to use (africa, europe, tech); default: the one "
                          "named like the section id, if there is one; [] for none")
    boost: dict[str, float] = Field(
        {}, description="rank multiplier for stories naming a word, e.g. {Nvidia: 1.5}")

    @field_validator("knowledge")
    @classmethod
    def _known_lists(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for name in value or ():
            if name not in lexicon_names():
                raise ValueError(f"no built-in word list {name!r} "
                                 f"(there are: {', '.join(lexicon_names())})")
        return value

    @field_validator("boost")
    @classmethod
    def _positive_boosts(cls, value: dict[str, float]) -> dict[str, float]:
        for term, factor in value.items():
            if factor <= 0:
                raise ValueError(f"boost for {term!r} must be above 0, not {factor}")
        return value

    def lexicons(self) -> tuple[str, ...]:
        """The built-in word lists this section uses."""
        if self.knowledge is not None:
            return self.knowledge
        return (self.id,) if self.id in lexicon_names() else ()


class FeedSettings(_Frozen):
    url: str = Field(description="http(s) URL, file:// URL or a path relative to feeds.yaml")
    name: str | None = Field(None, description="display name; default: the feed's own title")
    section: str = Field("auto", description="a section id, or auto (classify each item)")
    # Kept from an OPML import (issue 24) and written back on export: the reader's folder, what
    # the feed says it is about, and its site's home page.
    category: str | None = Field(None, min_length=1, max_length=200,
                                 description="the feed's folder in a feed reader (OPML)")
    description: str | None = Field(None, max_length=1000,
                                    description="what the feed is about (OPML description)")
    site: str | None = Field(None, max_length=2000,
                             description="the site's home page, an http(s) URL (OPML htmlUrl)")
    weight: float = Field(1.0, gt=0)
    poll_every: Duration | None = None

    @field_validator("url")
    @classmethod
    def _resolve_url(cls, value: str, info: ValidationInfo) -> str:
        return resolve_feed_url(value, _base_dir(info))

    @field_validator("category", "description")
    @classmethod
    def _one_line_text(cls, value: str | None) -> str | None:
        return None if value is None else one_line(value)

    @field_validator("site")
    @classmethod
    def _site_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(one_line(value))
        if parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
            raise ValueError(f"not an http(s) URL: {brief(value)}")
        return value

    @field_validator("poll_every")
    @classmethod
    def _poll_every(cls, value: timedelta | None) -> timedelta | None:
        return None if value is None else _at_least_a_minute(value)


class EmailSettings(_Frozen):
    templates: str | None = Field(
        None, description="a folder of templates that replace the built-in ones by name, "
                          "whichever the theme (edition.mjml.j2, edition.txt.j2, "
                          "subject.txt.j2, head.mjml.j2, footer.mjml.j2, footer.txt.j2)")
    subject: str | None = Field(
        None, description="Jinja2 template of the subject line, e.g. "
                          "'{{ title }}: {{ lead.title if lead else edition_date | longdate }}'")
    lang: str = Field("en", pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
                      description="the language of the email (BCP 47)")
    dir: Literal["ltr", "rtl"] = Field("ltr", description="text direction")
    thumbnails: bool = Field(True, description="show the feeds' https thumbnails")
    view_url: str | None = Field(
        None, description="where each edition is on the web, for a 'view in your browser' "
                          "link: {edition} becomes its date, e.g. https://example.org/{edition}")

    @field_validator("view_url")
    @classmethod
    def _valid_view_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        sample = urlsplit(value.replace("{edition}", "2026-11-30"))
        if sample.scheme not in ("http", "https") or not sample.hostname:
            raise ValueError(f"not an http(s) URL: {value!r}")
        if "{" in value.replace("{edition}", ""):
            raise ValueError(f"only {{edition}} may be filled in: {value!r}")
        return value
    max_html_bytes: Size = Field(
        90 * 1000, ge=10 * 1000, description="the HTML part's budget; Gmail clips at ~102 KB")
    postal_address: str | None = Field(
        None, max_length=300, description="the sender's postal address, shown in every message's "
                                          "footer and on the web pages (CAN-SPAM requires one)")

    reply_to: str | None = Field(
        None, description="where readers' replies go (the Reply-To header), e.g. "
                          "'Editors <editors@example.org>'; default: the From address")

    @field_validator("postal_address")
    @classmethod
    def _one_line_address(cls, value: str | None) -> str | None:
        return None if value is None else one_line(value)

    @field_validator("reply_to")
    @classmethod
    def _valid_reply_to(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return named_address(value)

    @field_validator("templates")
    @classmethod
    def _resolve_templates(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        folder = (_base_dir(info) / user_path(value)).resolve()
        if not path_is(folder, Path.is_dir):
            raise ValueError(f"no such folder: {folder}")
        return str(folder)

    # The look of the email (issue 21).
    theme: Literal["classic", "briefing"] = Field(
        "classic", description="the email's look: classic (masthead, a band per section, its "
                               "first stories in full with their pictures, the rest in brief) "
                               "or briefing (dense text, no pictures)")
    accent: str = Field(
        "#0b5cad", description="colour of links, rules and section bands, #rrggbb; links and "
                               "headings use it on white, so it needs a contrast of 4.5:1 there")
    logo: str | None = Field(
        None, description="https URL of an image for the masthead (shown on a white box, so a "
                          "transparent logo stays visible in dark mode); needs logo_width and "
                          "logo_height")
    logo_width: int | None = Field(
        None, ge=1, le=544, description="the logo's width as shown, in px (at most 544, the "
                                        "column's width)")
    logo_height: int | None = Field(
        None, ge=1, le=300, description="the logo's height as shown, in px")
    full_stories: int = Field(
        1, ge=0, le=100, description="stories of each section shown in full (summary, picture); "
                                     "the rest are listed 'In brief' (classic theme)")
    note: str | None = Field(
        None, max_length=2000, description="an editor's note at the top of every edition: plain "
                                           "text, a blank line between paragraphs")

    @field_validator("accent")
    @classmethod
    def _readable_accent(cls, value: str) -> str:
        """A #rrggbb (or #rgb) colour that reads on white as link and heading colour (WCAG AA:
        4.5:1; digest/render.py derives the dark-mode shades from it)."""
        try:
            return readable_accent(value)
        except ValueError as e:
            raise ValueError(str(e).replace(repr(value), brief(value))) from None

    @field_validator("logo")
    @classmethod
    def _https_logo(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(one_line(value))
        if parts.scheme != "https" or not parts.hostname or " " in value:
            raise ValueError(f"not an https URL: {brief(value)}")
        return value

    @field_validator("note")
    @classmethod
    def _plain_note(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.replace("\n", "").replace("\t", "").isprintable():
            raise ValueError(f"must be plain text (lines, no control characters): "
                             f"{brief(value)}")
        return value.strip()

    @model_validator(mode="after")
    def _sized_logo(self) -> EmailSettings:
        if self.logo is not None and (self.logo_width is None or self.logo_height is None):
            raise ValueError("logo needs logo_width and logo_height: its size in px as shown "
                             "(written into the email, which Outlook needs)")
        return self


class SmtpSettings(_Frozen):
    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    timeout: float = Field(30.0, gt=0, le=3600, description="seconds, for each SMTP step")
    max_per_second: float | None = Field(
        None, ge=0.001, description="at most this many messages a second (a provider's limit)")
    connections: int = Field(
        1, ge=1, le=32, description="SMTP connections sending at once (a provider's limit)")
    ca_file: str | None = Field(
        None, description="PEM file of the CA to trust for a private relay's certificate "
                          "(default: the system's CAs)")

    @field_validator("ca_file")
    @classmethod
    def _ca_file_exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _existing_file(value, info)

    @field_validator("username", "password", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value


_DNS_NAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
                       r"(\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


class DkimSettings(_Frozen):
    """DKIM signing of every message (issue 20): RSA (2048 bits or more) or Ed25519."""

    selector: str = Field(description="the key's selector: its public key is published at "
                                      "<selector>._domainkey.<domain> (`digest dns` prints it)")
    domain: str | None = Field(None, description="the signing domain (d=); default: the From "
                                                 "address's domain")
    key_file: str | None = Field(None, description="PEM file of the private key")
    key: SecretStr | None = Field(None, description="the private key itself (PEM), from the "
                                                    "environment: ${DIGEST_DKIM_KEY}")

    @field_validator("selector", "domain")
    @classmethod
    def _dns_name(cls, value: str | None) -> str | None:
        if value is not None and not _DNS_NAME.match(value):
            raise ValueError(f"not a DNS name: {value!r}")
        return value

    @field_validator("key_file")
    @classmethod
    def _key_file_exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _existing_file(value, info)

    @model_validator(mode="after")
    def _one_key(self) -> DkimSettings:
        if (self.key_file is None) == (self.key is None):
            raise ValueError("give the private key as key_file or as key (from the "
                             "environment), one of them")
        return self


class DeliverySettings(_Frozen):
    from_: str = Field(
        "The Weekly Brief <brief@localhost>", alias="from", description="the From header"
    )
    transport: Literal["smtp", "file"] = "file"
    outbox: str = Field("outbox/", description="where the file transport writes .eml files")
    smtp: SmtpSettings = SmtpSettings()
    claim_timeout: Duration = Field(
        timedelta(minutes=15), description="a delivery claimed this long ago and never "
                                           "recorded (the sending process died) is tried again")
    unsubscribe_url: str | None = Field(
        None, description="https address of the unsubscribe page: each recipient's link gets "
                          "their address and a signed token (needs unsubscribe_secret)")
    unsubscribe_secret: SecretStr | None = Field(
        None, description="key that signs unsubscribe links: ${DIGEST_UNSUBSCRIBE_SECRET}")
    dkim: DkimSettings | None = Field(None, description="sign every message with DKIM")

    @field_validator("unsubscribe_url")
    @classmethod
    def _https_unsubscribe(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(one_line(value))  # a header (List-Unsubscribe) carries it
            if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
                raise ValueError(f"not an https address without ?query or #fragment: {value!r}")
        return value

    @model_validator(mode="after")
    def _secret_for_links(self) -> DeliverySettings:
        if self.unsubscribe_url and not (
                self.unsubscribe_secret and len(self.unsubscribe_secret.get_secret_value()) >= 16):
            raise ValueError("unsubscribe_url needs unsubscribe_secret, at least 16 characters "
                             "(set it from the environment: ${DIGEST_UNSUBSCRIBE_SECRET})")
        return self

    @field_validator("from_")
    @classmethod
    def _valid_from(cls, value: str) -> str:
        return named_address(value)

    @field_validator("outbox")
    @classmethod
    def _resolve_outbox(cls, value: str, info: ValidationInfo) -> str:
        return str((_base_dir(info) / user_path(value)).resolve())


DEFAULT_CONSENT = ("Send me {title} by email. I can change what I get or leave at any time with "
                   "the links in every message.")


class EditingSettings(_Frozen):
    """The editing page (issue 22): `digest preview --serve`, where editors review, change and
    approve each edition."""

    url: str | None = Field(
        None, description="where editors reach the editing page (the link in the draft "
                          "they are emailed), e.g. https://edit.example.org/edit")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = one_line(value.strip())
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {brief(value)}")
        return value


class WebSettings(_Frozen):
    """The reader-facing web service (issue 18): `digest serve`, or `digest run` with
    `enabled`."""

    enabled: bool = Field(False, description="`digest run` serves the web service too")
    base_url: str | None = Field(
        None, description="the service's public address, used in every link of every message "
                          "(https; http only for localhost), e.g. https://news.example.org")
    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8080, ge=1, le=65535)
    secret: SecretStr | None = Field(
        None, description="key that signs reader links and forms, at least 32 characters: "
                          "${DIGEST_WEB_SECRET}")
    previous_secrets: tuple[SecretStr, ...] = Field(
        (), description="keys signed with before the current one, still accepted (rotation: "
                        "keep the old key here while links signed with it are in inboxes)")
    choose_sections: bool = Field(True, description="readers may choose their sections")
    consent_text: str = Field(
        DEFAULT_CONSENT, description="what a reader agrees to on the subscribe form, kept with "
                                     "their consent; {title} becomes the newsletter's title")
    confirm_within: Duration = Field(
        timedelta(days=3), description="how long a confirmation link works")
    confirmations_per_day: int = Field(
        3, ge=1, le=100, description="confirmation emails to one address a day, at most")
    subscribes_per_hour: int = Field(
        20, ge=1, le=100000, description="subscribe requests from one client address an hour")
    posts_per_minute: int = Field(
        120, ge=1, le=1000000, description="form and JSON posts from one client address a "
                                           "minute (one-click unsubscribes are never limited)")
    trusted_proxies: tuple[str, ...] = Field(
        (), description="addresses of reverse proxies whose X-Forwarded-For is believed")
    max_body: Size = Field(16 * 1024, ge=1024, le=1024 * 1024,
                           description="largest request body accepted")

    @field_validator("base_url")
    @classmethod
    def _valid_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(one_line(value))
        local = parts.hostname in ("localhost", "127.0.0.1", "::1")
        if parts.scheme not in ("https", "http") or not parts.hostname or \
                (parts.scheme == "http" and not local) or parts.query or parts.fragment or \
                parts.username or parts.password:
            raise ValueError(f"not an https address without user, ?query or #fragment "
                             f"(http only for localhost): {value!r}")
        return value.rstrip("/")

    @field_validator("secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        return _long_secret(value, 32, " (set it from the environment: ${DIGEST_WEB_SECRET})")

    @model_validator(mode="after")
    def _secret_for_links(self) -> WebSettings:
        if (self.base_url or self.enabled) and self.secret is None:
            raise ValueError("the web service needs secret: ${DIGEST_WEB_SECRET}")
        if self.enabled and not self.base_url:
            raise ValueError("enabled needs base_url, the address readers reach it at")
        return self

    @property
    def links(self) -> bool:
        """Whether messages carry the service's links (unsubscribe, preferences)."""
        return self.base_url is not None and self.secret is not None


class ArchiveSettings(_Frozen):
    """The archive of sent editions on the web (issue 19)."""

    public: bool = Field(True, description="publish sent editions, their feeds and the search "
                                           "on the web service; false: every archive page is "
                                           "404 (a private newsletter)")
    from_: date | None = Field(None, alias="from", description="hide editions before this date")
    per_page: int = Field(20, ge=1, le=200, description="editions on one page of the index")


class ImapSettings(_Frozen):
    """The bounce mailbox, read over IMAP with TLS (certificates verified)."""

    host: str
    port: int = Field(993, ge=1, le=65535)
    security: Literal["tls", "starttls"] = Field(
        "tls", description="tls (port 993) or starttls (port 143); never plain text")
    username: str
    password: SecretStr = Field(description="${DIGEST_IMAP_PASSWORD}")
    folder: str = "INBOX"
    done_folder: str | None = Field(
        "Processed", description="where read messages are moved (created if missing); null: "
                                 "they stay, flagged $DigestDone")
    ca_file: str | None = Field(None, description="PEM file of the CA to trust for a private "
                                                  "server (default: the system's CAs)")
    timeout: float = Field(30.0, gt=0, le=600, description="seconds, for each IMAP step")
    every: Duration = Field(timedelta(minutes=15), description="how often `digest run` reads it")

    @field_validator("ca_file")
    @classmethod
    def _imap_ca_exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _existing_file(value, info)

    @field_validator("every")
    @classmethod
    def _imap_every(cls, value: timedelta) -> timedelta:
        return _at_least_a_minute(value)


class SesSettings(_Frozen):
    """Amazon SES notifications through SNS, POSTed to <web.base_url>/webhooks/ses."""

    topics: tuple[str, ...] = Field(
        description="the SNS topic ARNs to accept (others are refused)", min_length=1)

    @field_validator("topics")
    @classmethod
    def _arns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for arn in value:
            if not re.fullmatch(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}",
                                arn):
                raise ValueError(f"not an SNS topic ARN: {arn!r}")
        return value


class PostmarkSettings(_Frozen):
    """Postmark's bounce and spam-complaint webhooks, POSTed to <web.base_url>/webhooks/postmark
    with HTTP basic auth (set the same user and password in Postmark's webhook URL)."""

    username: str = Field(min_length=1, max_length=100)
    password: SecretStr = Field(description="at least 16 characters: "
                                            "${DIGEST_POSTMARK_PASSWORD}")

    @field_validator("password")
    @classmethod
    def _long_password(cls, value: SecretStr) -> SecretStr:
        return _long_secret(value, 16)


class BouncesSettings(_Frozen):
    """What comes back about readers' mail (issue 20): bounces at send time, the bounce
    mailbox, provider webhooks, and when they end a subscription."""

    address: str | None = Field(
        None, description="the bounce mailbox, e.g. bounces@example.org: each message's "
                          "envelope sender becomes bounces+<signed token>@example.org (VERP), "
                          "and the List-Unsubscribe mailto address too")
    secret: SecretStr | None = Field(
        None, description="key that signs the bounce addresses, at least 32 characters "
                          "(default: web.secret): ${DIGEST_BOUNCE_SECRET}")
    hard_limit: int = Field(1, ge=1, le=100,
                            description="permanent failures (5xx) that end a subscription")
    soft_limit: int = Field(5, ge=1, le=1000, description="transient failures (4xx) within "
                                                          "soft_within that end one")
    soft_within: Duration = Field(timedelta(days=30), description="the period soft bounces "
                                                                  "are counted over")
    imap: ImapSettings | None = Field(None, description="read the bounce mailbox over IMAP "
                                                        "(`digest bounces fetch`, and `digest "
                                                        "run` every imap.every)")
    ses: SesSettings | None = None
    postmark: PostmarkSettings | None = None

    @field_validator("address")
    @classmethod
    def _plain_address(cls, value: str | None) -> str | None:
        if value is not None:
            check_email(value)
            if "+" in value.partition("@")[0]:
                raise ValueError(f"the local part may not contain '+' (the token goes after "
                                 f"it): {value!r}")
        return value

    @field_validator("secret")
    @classmethod
    def _long_bounce_secret(cls, value: SecretStr | None) -> SecretStr | None:
        return _long_secret(value, 32, " (${DIGEST_BOUNCE_SECRET})")


class MetricsSettings(_Frozen):
    """Prometheus metrics (issue 24): `digest run` answers /metrics and /healthz on host:port,
    and the web service answers /metrics, once `port` is set."""

    host: str = Field("127.0.0.1", min_length=1, max_length=253,
                      description="address `digest run`'s metrics server listens on")
    port: int | None = Field(None, ge=1, le=65535,
                             description="port of `digest run`'s /metrics and /healthz; unset: "
                                         "no metrics anywhere (the web service's /metrics too)")
    token: SecretStr | None = Field(
        None, description="bearer token every scrape must send (Authorization: Bearer ...), "
                          "at least 16 characters: ${DIGEST_METRICS_TOKEN}; without it, the "
                          "web service answers /metrics to loopback clients only")

    @field_validator("host")
    @classmethod
    def _plain_host(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9.:-]+", value):
            raise ValueError(f"not a host name or IP address: {brief(value)}")
        return value

    @field_validator("token")
    @classmethod
    def _long_token(cls, value: SecretStr | None) -> SecretStr | None:
        # RFC 6750 2.1: what an Authorization header can carry as it is (never echoed)
        if value is not None and not re.fullmatch(r"[A-Za-z0-9._~+/-]+=*",
                                                  value.get_secret_value()):
            raise ValueError("may hold only letters, digits and -._~+/ (a bearer token, RFC "
                             "6750)")
        return _long_secret(value, 16, " (${DIGEST_METRICS_TOKEN})")


class Recipient(_Frozen):
    email: str
    sections: tuple[str, ...] | None = Field(None, description="only these section ids")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: object) -> object:
        return {"email": value} if isinstance(value, str) else value

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str) -> str:
        return check_email(value)


class Settings(_Frozen):
    """The whole configuration, validated; paths and URLs already resolved."""

    title: str = "The Weekly Brief"
    timezone: str = Field("UTC", description="IANA time zone name")
    database: str = Field(
        DEFAULT_DATABASE, description="SQLAlchemy URL or SQLite file path"
    )
    schedule: ScheduleSettings = ScheduleSettings()
    edition: EditionSettings = EditionSettings()
    retention: Duration = Field(
        timedelta(days=180), description="stored items first seen longer ago than this are "
                                         "deleted (`digest db prune`, and daily by `digest "
                                         "run`); sent editions are kept forever")
    fetch: FetchSettings = FetchSettings()
    sections: tuple[SectionSettings, ...] = ()
    feeds: tuple[FeedSettings, ...] = ()
    delivery: DeliverySettings = DeliverySettings()
    email: EmailSettings = EmailSettings()
    recipients: tuple[Recipient, ...] = ()
    editors: tuple[str, ...] = Field(
        (), description="who reviews each edition: they are emailed its draft "
                        "`schedule.draft_before` its send, with a link to the editing page")
    editing: EditingSettings = EditingSettings()
    web: WebSettings = WebSettings()
    archive: ArchiveSettings = ArchiveSettings()
    bounces: BouncesSettings = BouncesSettings()
    metrics: MetricsSettings = MetricsSettings()
    source: SkipJsonSchema[str] = Field("", exclude=True)

    @field_validator("title")
    @classmethod
    def _one_line_title(cls, value: str) -> str:
        return one_line(value)  # it goes into headers (List-Id, the default subject)

    @field_validator("editors")
    @classmethod
    def _editor_addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(check_email(address) for address in value))

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone: {value!r}") from None
        return value

    @field_validator("retention")
    @classmethod
    def _retention_past_window(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        # Validated after `edition` (field order): pruning inside the window would drop
        # candidates of the next edition.
        edition = info.data.get("edition")
        window = edition.window if isinstance(edition, EditionSettings) else None
        if window is not None and value <= window:
            raise ValueError(f"must be longer than edition.window ({_days(window)}), "
                             f"not {_days(value)}")
        return value

    @field_validator("database")
    @classmethod
    def _resolve_database(cls, value: str, info: ValidationInfo) -> str:
        return resolve_database_url(value, _base_dir(info))

    @model_validator(mode="after")
    def _one_unsubscribe_page(self) -> Settings:
        if self.web.links and self.delivery.unsubscribe_url:
            raise ValueError("delivery.unsubscribe_url: not used with web.base_url (the web "
                             "service is the unsubscribe page): remove it")
        return self

    @model_validator(mode="after")
    def _bounce_key(self) -> Settings:
        b = self.bounces
        if b.address and b.secret is None and self.web.secret is None:
            raise ValueError("bounces.address needs a key to sign with: bounces.secret "
                             "(${DIGEST_BOUNCE_SECRET}) or web.secret")
        if b.imap and not b.address:
            raise ValueError("bounces.imap needs bounces.address, the mailbox's address: only "
                             "messages to its signed addresses name a reader")
        if (b.ses or b.postmark) and not self.web.base_url:
            raise ValueError("bounces.ses and bounces.postmark need the web service "
                             "(web.base_url): the providers post to it")
        return self

    def bounce_secrets(self) -> tuple[bytes, ...]:
        """The keys of the signed bounce addresses, newest first (empty: none configured)."""
        b, w = self.bounces, self.web
        if b.secret is not None:
            return (b.secret.get_secret_value().encode(),)
        if w.secret is None:
            return ()
        return tuple(s.get_secret_value().encode() for s in (w.secret, *w.previous_secrets))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def section(self, section_id: str) -> SectionSettings | None:
        return next((s for s in self.sections if s.id == section_id), None)


_Secret = TypeVar("_Secret", SecretStr, SecretStr | None)


def _long_secret(value: _Secret, length: int, hint: str = "") -> _Secret:
    """A secret of at least `length` characters (its value never shown); `hint` says where
    it comes from. `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'` makes
    one."""
    if value is not None and len(value.get_secret_value()) < length:
        raise ValueError(f"must be at least {length} characters{hint}; `python3 -c 'import "
                         f"secrets; print(secrets.token_urlsafe(32))'` makes one")
    return value


def _existing_file(value: str | None, info: ValidationInfo) -> str | None:
    """A file path relative to the config file, resolved; it must exist."""
    if value is None:
        return None
    path = (_base_dir(info) / user_path(value)).resolve()
    if not path_is(path, Path.is_file):
        raise ValueError(f"no such file: {path}")
    return str(path)


def named_address(value: str) -> str:
    """An address like `Name <name@example.org>` or a bare one, checked."""
    match = _NAMED_ADDRESS.match(one_line(value))
    if not match:
        raise ValueError(f"not an address like 'Name <name@example.org>': {value!r}")
    check_email(match.group("inner") or match.group("bare"))
    return value


def _days(value: timedelta) -> str:
    """A duration as written in feeds.yaml: 7d, 36h, 90m, 45s."""
    seconds = value.total_seconds()
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds / _UNITS[unit]:g}{unit}"
    return f"{seconds:g}s"


def _base_dir(info: ValidationInfo) -> Path:
    context = info.context or {}
    return Path(context.get("base_dir", "."))


def resolve_feed_url(value: str, base_dir: Path) -> str:
    """http(s) and file:// URLs stay; a path (relative to the config) becomes a file:// URL."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise ValueError(f"not an http(s) URL, file:// URL or existing path: {value!r}")
        return value
    if parts.scheme == "file":
        if not path_is(Path(parts.path), Path.is_file):
            raise ValueError(f"file:// URL names no existing file: {value!r}")
        return value
    if parts.scheme and len(parts.scheme) > 1:  # one letter is a Windows drive, not a scheme
        raise ValueError(f"not an http(s) URL, file:// URL or existing path: {value!r}")
    path = (base_dir / user_path(value)).resolve()
    if not path_is(path, Path.is_file):
        raise ValueError(f"not an http(s) URL, file:// URL or existing path: {value!r}")
    return path.as_uri()


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out or "<root>"


def _listed(value: object) -> list[Any] | tuple[Any, ...]:
    """A list as written, or nothing: a value of the wrong type is pydantic's to report."""
    return value if isinstance(value, list | tuple) else []


def _reference_problems(raw: Mapping[str, Any]) -> list[str]:
    """Cross-references pydantic cannot see field by field: section ids, duplicates. Values of
    the wrong type (a list where a URL belongs, `recipients: 5`) are left to pydantic."""
    problems: list[str] = []
    ids: list[str] = []
    for i, section in enumerate(_listed(raw.get("sections"))):
        section_id = section.get("id") if isinstance(section, dict) else None
        if not isinstance(section_id, str):
            continue
        if section_id in ids:
            problems.append(f"sections[{i}].id: duplicate section id {section_id!r}")
        ids.append(section_id)
    known = set(ids)
    urls: set[str] = set()
    for i, feed in enumerate(_listed(raw.get("feeds"))):
        if not isinstance(feed, dict):
            continue
        section = feed.get("section", "auto")
        if isinstance(section, str) and section != "auto" and section not in known:
            problems.append(
                f"feeds[{i}].section: unknown section {brief(section)} (use auto or one of "
                f"{', '.join(ids) or 'no sections defined'})"
            )
        url = feed.get("url")
        if isinstance(url, str):
            if url in urls:
                problems.append(f"feeds[{i}].url: listed twice: {brief(url)}")
            urls.add(url)
    addresses: set[str] = set()
    for i, recipient in enumerate(_listed(raw.get("recipients"))):
        address = recipient.get("email") if isinstance(recipient, dict) else recipient
        if isinstance(address, str):
            if address.strip().lower() in addresses:
                problems.append(f"recipients[{i}]: {brief(address)} is listed twice")
            addresses.add(address.strip().lower())
        if isinstance(recipient, dict):
            for j, section in enumerate(_listed(recipient.get("sections"))):
                if isinstance(section, str) and section not in known:
                    problems.append(
                        f"recipients[{i}].sections[{j}]: unknown section {brief(section)}"
                    )
    return problems


def load_settings(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Read, expand and validate a config file; raise ConfigError listing every problem."""
    env = os.environ if env is None else env
    config_path = Path(path or env.get("DIGEST_CONFIG") or DEFAULT_CONFIG)
    try:
        data = config_path.read_bytes()
    except OSError as e:
        raise ConfigError(str(config_path), [f"<file>: cannot read: {e.strerror}"]) from e
    try:
        raw = read_yaml(data)
    except Refused as e:
        raise ConfigError(str(config_path), [str(e)]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(str(config_path), ["<root>: expected a mapping of settings"])
    return settings_from_mapping(raw, base_dir=config_path.resolve().parent, env=env,
                                 source=str(config_path))


def settings_from_mapping(
    raw: Mapping[str, Any], *, base_dir: Path, env: Mapping[str, str], source: str = "<config>"
) -> Settings:
    problems: list[str] = []
    data = expand_env(dict(raw), env, "", problems)
    if env.get("DIGEST_DATABASE_URL"):
        data["database"] = env["DIGEST_DATABASE_URL"]
    data["source"] = source
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(data, context={"base_dir": str(base_dir)})
    except ValidationError as e:
        for err in e.errors(include_url=False, include_input=False):
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "tuple_type":  # a list in feeds.yaml (a tuple once validated)
                message = "Input should be a list"
            problems.append(f"{_loc(err['loc'])}: {message}")
    problems.extend(_reference_problems(data))
    if settings is not None and (settings.email.subject or settings.email.templates):
        from digest.render import check_templates  # Jinja only for a config that needs it

        problems.extend(check_templates(settings.email.templates, settings.email.subject))
    if problems or settings is None:
        raise ConfigError(source, problems)
    return settings


def json_schema() -> str:
    """The JSON Schema of feeds.yaml, for editors (yaml-language-server) and validators."""
    schema = Settings.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "digest feeds.yaml"
    return json.dumps(schema, indent=2, sort_keys=False)
