"""How listings reach the operator: a table for people, JSON, CSV or TSV for tools; nothing cut.

Every listing command builds records (dicts with stable keys, the same in JSON, CSV and TSV) and
hands them here with the columns a person reads. On a terminal a table is drawn by rich, folding
long cells instead of cutting them; anywhere else (a pipe, a file) the table becomes plain
columns padded with spaces, at their full width, so `digest history | grep kofi@` sees whole
addresses. Its title then goes to stderr, keeping stdout a header and one line per row. Prints
only; reads nothing but the records it is given.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import click
from rich.console import Console
from rich.text import Text

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

LISTING_FORMATS = ("table", "json", "csv", "tsv")

Record = Mapping[str, Any]
T = TypeVar("T")


def format_option(*choices: str, default: str = "table") -> Callable[[Any], Any]:
    """`--format`: the listing formats unless other choices are given."""
    names = choices or LISTING_FORMATS
    return click.option(
        "--format", "fmt", type=click.Choice(names), default=default, show_default=True,
        help="Output as " + ", ".join(names[:-1]) + f" or {names[-1]}"
             + (" (a table for people, the others for tools)." if not choices else "."))


LISTING_FORMAT = format_option()
FORMAT_TABLE_JSON = format_option("table", "json")


@dataclass(frozen=True)
class Column(Generic[T]):
    """One column of a table: its header, the record key it shows (or how to show an item),
    and its alignment."""

    header: str
    key: str
    show: Callable[[T], str | Text] | None = None
    right: bool = False

    def cell(self, item: T, record: Record) -> str | Text:
        if self.show is not None:
            return self.show(item)
        value = record.get(self.key)
        return "" if value is None else str(value)


def short_time(value: str | None) -> str:
    """An ISO 8601 UTC time from a record, as a table column shows it."""
    return f"{value[:10]} {value[11:16]} UTC" if value else ""


def dump(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def flat(value: Any) -> str:
    """One CSV/TSV cell: empty for null, lists of plain values joined by spaces, the rest JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list | tuple) and all(isinstance(v, str | int | float) for v in value):
        return " ".join(str(v) for v in value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _tsv_cell(value: Any) -> str:
    # Linear TSV (the IANA text/tab-separated-values registration, as `mysql` and PostgreSQL's
    # COPY write it): a tab, newline or backslash inside a value is escaped, one record a line.
    text = flat(value)
    return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def emit(fmt: str, items: Sequence[T], record: Callable[[T], Record],
         columns: Sequence[Column[T]], *, fields: Sequence[str], title: str = "") -> None:
    """Print `items` as `fmt`. JSON, CSV and TSV carry each item's `record`, whose keys are
    `fields` in that order (named here, not read off the first record, so that an empty
    listing has the same CSV header as a full one); the table shows `columns`."""
    records = [record(i) for i in items]
    if records and fmt in ("json", "csv", "tsv") and list(records[0]) != list(fields):
        raise ValueError(f"records have keys {list(records[0])}, not the fields {list(fields)}")
    if fmt == "json":
        dump([dict(r) for r in records])
        return
    keys = list(fields)
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(keys)
        writer.writerows([flat(r.get(k)) for k in keys] for r in records)
        return
    if fmt == "tsv":
        lines: list[list[Any]] = [keys, *([r.get(k) for k in keys] for r in records)]
        for row in lines:
            click.echo("\t".join(_tsv_cell(v) for v in row))
        return
    table(title, columns, [[c.cell(i, r) for c in columns] for i, r in zip(items, records,
                                                                         strict=True)])


def table(title: str, columns: Sequence[Column[Any]], rows: Sequence[Sequence[str | Text]]) -> None:
    """A table drawn on a terminal, plain full-width columns anywhere else."""
    if out.is_terminal:
        from rich.table import Table

        drawn = Table(title=title or None, title_justify="left")
        for c in columns:
            drawn.add_column(c.header, justify="right" if c.right else "left", overflow="fold")
        for row in rows:
            drawn.add_row(*row)
        out.print(drawn)
        return
    if title:
        err.print(Text(title))
    plain = [[c.header for c in columns],
             *([(cell.plain if isinstance(cell, Text) else cell).replace("\n", " ")
                for cell in row] for row in rows)]
    widths = [max(len(line[i]) for line in plain) for i in range(len(columns))]
    for line in plain:
        cells = [cell.rjust(w) if c.right else cell.ljust(w)
                 for cell, w, c in zip(line, widths, columns, strict=True)]
        click.echo("  ".join(cells).rstrip())
