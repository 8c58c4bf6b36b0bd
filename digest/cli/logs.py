"""The one logging setup of every command and the daemon: text lines, or JSON lines for tools.

Only the CLI configures logging (the modules log through `logging.getLogger(__name__)`). A record
may carry an event name and fields as `extra={"event": "feed_error", "url": ...}`; one without
takes its logger's last name (`digest.refresh` -> `refresh`). The daemon's events arrive here
through the `digest.events` logger with the same names, so `digest run`, `digest fetch -v` and
`digest send -v` print one format, and a log shipper reads one schema:

    text: 2026-11-30T07:00:02Z send: edition 2026-11-30: 3 sent
    json: {"time": "2026-11-30T07:00:02Z", "level": "info", "event": "send",
           "message": "edition 2026-11-30: 3 sent", "logger": "digest.events", "sent": 3}

The standard library's logging rather than structlog: every module already logs through it,
third-party libraries (uvicorn, APScheduler, alembic) log through it too and come out in the same
format here, and a JSON formatter is a few lines. Prints to stderr only; decides nothing else.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

LOG_FORMATS = ("text", "json")
EVENTS = "digest.events"  # the logger of the daemon's events (always shown)

# Attributes every LogRecord has; anything else on a record came in through `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "event", "taskName"}


def _event(record: logging.LogRecord) -> str:
    return str(getattr(record, "event", None) or record.name.rpartition(".")[2])


def _time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    """`TIME event: message`, with the level named when it is not plain information."""

    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno == logging.INFO else f" {record.levelname.lower()}"
        line = f"{_time(record)}{level} {_event(record)}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, event, message, logger, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {"time": _time(record), "level": record.levelname.lower(),
                                "event": _event(record), "message": record.getMessage(),
                                "logger": record.name}
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                # a field named like one of the line's own keys (time, level, logger) is kept
                # beside it, renamed, rather than lost or overwriting it
                data[f"{key}_" if key in data else key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def setup_logging(fmt: str, verbose: int, stream: TextIO | None = None) -> None:
    """Route every logger to `stream` (stderr) in `fmt`. Warnings and the daemon's events always
    show; -v adds information, -vv debug. Safe to call again (the last call wins)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_digest", False)]:
        root.removeHandler(old)
    handler._digest = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    logging.getLogger(EVENTS).setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


def log_event(event: str, message: str, /, **fields: Any) -> None:
    """One of the daemon's events (`Daemon(on_event=...)`), through the same handler."""
    level = logging.ERROR if event in ("error", "delivery_failed") else \
        logging.WARNING if event.endswith("_failed") or event == "feed_error" else logging.INFO
    extra = {(f"{k}_" if k in _STANDARD else k): v for k, v in fields.items()}
    logging.getLogger(EVENTS).log(level, message, extra={**extra, "event": event})


def logs_json() -> bool:
    """Whether `setup_logging` made JSON lines (so a command's last error is one too)."""
    return any(getattr(h, "_digest", False) and isinstance(h.formatter, JsonFormatter)
               for h in logging.getLogger().handlers)


def teardown_logging() -> None:
    """Remove what `setup_logging` added (so `main()` called in-process leaves no handler on
    a stream that is closed later)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_digest", False)]:
        root.removeHandler(old)
