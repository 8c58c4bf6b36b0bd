"""The `digest` group: the global options, logging, the shared output helpers and `main`.

The commands live beside it, one module per domain; this module imports none of them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import click
from rich.text import Text

from digest import DEFAULT_CONFIG, __version__
from digest.cli.logs import LOG_FORMATS, logs_json, setup_logging, teardown_logging
from digest.cli.output import err
from digest.errors import ConfigError, DigestError, UsageError

# Imported where used, not here: `digest --help` and Docker's `digest status --check` (every
# minute) must not pay for the whole app (numpy, SQLAlchemy, Jinja, MJML, feedparser, aiohttp,
# APScheduler, pydantic). `tests/test_cli.py` checks that importing this module stays light.
if TYPE_CHECKING:

    from digest.app import App
    from digest.config import Settings
    from digest.reports import Reports


@dataclass
class State:
    config: str
    verbose: int
    log_format: str = "text"

    def settings(self) -> Settings:
        from digest.config import load_settings

        return load_settings(self.config)

    @contextmanager
    def app(self) -> Iterator[App]:
        from digest.app import make_app

        app = make_app(self.settings())
        try:
            yield app
        finally:
            app.close()

    @contextmanager
    def reports(self) -> Iterator[Reports]:
        """The reports alone, for the commands that only read (status, history): no renderer,
        fetcher or word lists to import."""
        from digest.app import make_reports

        reports = make_reports(self.settings())
        try:
            yield reports
        finally:
            reports.close()


def parse_edition(value: str | None) -> date | None:
    """An edition's name as given on the command line (`--edition 2026-11-30`)."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--edition: not a date like 2026-11-30: {value!r}") from None


def _warn(message: str, label: str = "warning", style: str = "yellow") -> None:
    """A line on stderr; the message is plain text (feed errors may contain [brackets])."""
    err.print(Text.assemble((f"{label}: ", style), message))


def _days(value: timedelta) -> str:
    return f"{value.days} days" if value.days else str(value)


def _short(value: datetime | None) -> str:
    """A UTC time that fits a table column."""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


# Where each command is defined: its module is imported when the command is named (or listed
# by --help), so `digest status --check` loads the operator's commands and nothing else.
COMMANDS = {
    "fetch": "pipeline", "build": "pipeline", "preview": "pipeline", "send": "pipeline",
    "run": "pipeline", "status": "ops", "history": "ops", "db": "ops", "config": "ops",
    "bounces": "ops", "dns": "ops", "feeds": "feeds", "readers": "readers",
    "unsubscribe": "readers", "serve": "service", "web": "service", "archive": "service",
    "edit": "edit",
}


class LazyGroup(click.Group):
    """The `digest` group, importing a command's module when it is asked for (click's
    documented pattern for lazily loaded subcommands)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            import importlib

            importlib.import_module(f"digest.cli.{COMMANDS[cmd_name]}")  # registers it
        return self.commands.get(cmd_name)


@click.group(cls=LazyGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "-c", envvar="DIGEST_CONFIG", default=DEFAULT_CONFIG, show_default=True,
              metavar="PATH", help="The feeds.yaml to use (env DIGEST_CONFIG).")
@click.option("-v", "--verbose", count=True, help="More detail; -vv for debug logs.")
@click.option("--log-format", type=click.Choice(LOG_FORMATS), envvar="DIGEST_LOG_FORMAT",
              default="text", show_default=True,
              help="Log lines on stderr as text or JSON (env DIGEST_LOG_FORMAT).")
@click.version_option(__version__, prog_name="digest")
@click.pass_context
def cli(ctx: click.Context, config: str, verbose: int, log_format: str) -> None:
    """Turn news feeds into a weekly, de-duplicated, sectioned newsletter.

    \b
    Example (the demo's stories are written for its edition of 30 November 2026):
      digest --config examples/demo/feeds.yaml build --preview --edition 2026-11-30
    """
    setup_logging(log_format, verbose)
    ctx.obj = State(config, verbose, log_format)


def main(argv: list[str] | None = None) -> int:
    """Entry point: one clear line per error, the exit code from the contract."""
    try:
        return _main(argv)
    finally:
        teardown_logging()


def _main(argv: list[str] | None) -> int:
    try:
        cli.main(args=argv, prog_name="digest", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.Abort:
        err.print("aborted")
        return 1
    except DigestError as e:
        if logs_json():  # a log shipper reads stderr: the error is a JSON line like the rest
            logging.getLogger("digest.cli").error(str(e), extra={
                "event": "error", "exit_code": e.exit_code})
            return e.exit_code
        _warn(str(e), "error", "red")
        # -v: the traceback too, except for a config error (its problems say it all)
        if logging.getLogger().isEnabledFor(logging.INFO) and not isinstance(e, ConfigError):
            err.print_exception()
        return e.exit_code
    except SystemExit as e:
        return int(e.code or 0)
    except KeyboardInterrupt:
        return 130
    return 0
