"""The application's shape, as issue 16 set it: imports run one way (no module imports one that
imports it back, TYPE_CHECKING and function-level imports included), `App` is a plain holder of
use cases with no base class doing its work, the drivers (cli, daemon) reach the database only
through use cases, and constructing the app writes nothing."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from conftest import REPO, WriteConfig
from digest.app import App, make_app
from digest.config import load_settings
from digest.schema import metadata
from digest.store import Store

PACKAGE = REPO / "digest"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}


def imports_of(path: Path, known: dict[str, Path]) -> set[str]:
    """Every digest module this file imports, wherever the import stands."""
    found: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else \
        module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the file's package
                base = ".".join([*package.split(".")[:len(package.split(".")) - node.level + 1],
                                 *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in known:
                    found.add(sub)
                elif base in known:
                    found.add(base)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), and self-loops."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph = {name: imports_of(path, known) - {name} for name, path in known.items()}
    # A package's __init__ that gathers its own submodules (digest.store) is not a cycle with
    # them: importing digest.store.base runs digest/store/__init__.py first by Python's rules.
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    return graph


def test_no_import_cycle_in_the_package() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    # The check itself must be able to fail: a two-module loop and a longer one are found.
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": set()}
    assert cycles(graph) == [["a", "b"], ["c", "d", "e"]]
    # and the graph really is read from the code: the CLI imports the app (inside functions)
    assert "digest.app" in import_graph()["digest.cli.pipeline"]


def test_app_has_no_base_class_doing_its_work() -> None:
    assert App.__bases__ == (object,)
    assert [m for m in vars(App) if not m.startswith("__") and callable(vars(App)[m])] == \
        ["close"]


def test_drivers_reach_the_database_only_through_use_cases() -> None:
    drivers = [*sorted((PACKAGE / "cli").glob("*.py")), PACKAGE / "daemon.py",
               *sorted((PACKAGE / "web").glob("*.py"))]
    assert len(drivers) > 10  # the command line's and the web service's modules are among them
    for path in drivers:
        driver = str(path.relative_to(PACKAGE))
        tree = ast.parse(path.read_text(encoding="utf-8"))
        touches = [node.lineno for node in ast.walk(tree)
                   if isinstance(node, ast.Attribute) and node.attr in ("store", "engine")]
        imported = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    and (node.module or "").split(".")[:2] in (
                        ["digest", "store"], ["digest", "schema"], ["digest", "migrate"])]
        assert (driver, touches, imported) == (driver, [], [])


def rows(url: str) -> dict[str, list[tuple[object, ...]]]:
    store = Store(url)
    try:
        with store.engine.connect() as conn:
            return {t.name: [tuple(r) for r in conn.execute(select(t))]
                    for t in metadata.sorted_tables}
    finally:
        store.close()


def test_constructing_the_app_writes_nothing(write_config: WriteConfig) -> None:
    config = write_config({"feeds": [{"url": "https://news.example.org/feed.xml"}]})
    settings = load_settings(config, env={})
    before = rows(settings.database)  # the schema exists; every table is empty
    app = make_app(settings)
    app.close()
    assert rows(settings.database) == before
    assert not before["feeds"]
    # The explicit step writes: the feed is there once synced.
    app = make_app(settings)
    try:
        app.poller.sync_feeds()
    finally:
        app.close()
    assert [r[1] for r in rows(settings.database)["feeds"]] == [
        "https://news.example.org/feed.xml"]


def test_config_does_not_import_apscheduler() -> None:
    code = ("import sys; from digest.config import settings_from_mapping; "
            "from pathlib import Path; "
            "settings_from_mapping({'schedule': {'digest': '0 7 * * mon'}}, "
            "base_dir=Path('.'), env={}); "
            "print('apscheduler' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.strip() == "False"
