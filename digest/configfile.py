"""Reading feeds.yaml's text: safe YAML, `${VAR}` from the environment, paths made absolute.

No validation of the settings (digest.config does that with pydantic) and nothing heavy: this is
all `digest status --check` (Docker's health check, every minute) needs to find the database,
so it answers without importing pydantic or SQLAlchemy.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from digest import DEFAULT_CONFIG

DEFAULT_DATABASE = "sqlite:///digest.db"

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def brief(value: object, limit: int = 60) -> str:
    """A value for an error message: its repr, cut short (a config may hold megabytes)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def user_path(value: str) -> Path:
    """A path as written, `~` and `~user` expanded (ValueError for a user with no home)."""
    try:
        return Path(value).expanduser()
    except RuntimeError:  # ~nosuchuser
        raise ValueError(f"no home folder for {value.split('/')[0]!r}: {brief(value)}") from None


def path_is(path: Path, kind: Callable[[Path], bool]) -> bool:
    """`path.is_file()` or `is_dir()`, False for a name the system refuses (too long)."""
    try:
        return kind(path)
    except OSError:
        return False


_DATABASE_URL = re.compile(r"^(?P<backend>[A-Za-z][A-Za-z0-9]*)(?:\+[A-Za-z0-9_]+)?://")


def resolve_database_url(value: str, base_dir: Path) -> str:
    """A bare path or a relative sqlite:/// URL is made absolute against the config's folder.
    ValueError for what no command could open: an empty path, a folder, an in-memory SQLite
    database (gone between commands), a database other than SQLite or PostgreSQL."""
    if not value.strip():
        raise ValueError("empty: give a file path or a sqlite:/// or postgresql:// URL")
    if "://" not in value:
        return _sqlite_file("sqlite", value, base_dir)
    match = _DATABASE_URL.match(value)
    backend = match.group("backend").lower() if match else ""
    if backend not in ("sqlite", "postgresql"):
        shown = brief(_without_password(value))
        raise ValueError(f"not a sqlite:/// or postgresql:// URL: {shown}")
    prefix, _, rest = value.partition(":///")
    if backend == "sqlite" and (not rest or rest.split("?")[0] in ("", ":memory:")):
        raise ValueError(f"an in-memory SQLite database keeps nothing from one command to the "
                         f"next: give a file, e.g. sqlite:///digest.db, not {value!r}")
    return _sqlite_file(prefix, rest, base_dir) if backend == "sqlite" else value


def _sqlite_file(prefix: str, path: str, base_dir: Path) -> str:
    """`prefix:///` and the absolute path (relative to the config's folder), not a folder."""
    resolved = (base_dir / user_path(path)).resolve()
    if path_is(resolved, Path.is_dir):
        raise ValueError(f"a folder, not a database file: {resolved}")
    return f"{prefix}:///{resolved}"


def _without_password(url: str) -> str:
    """A URL as it may be shown: `scheme://user:***@host`."""
    return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", url)


def expand_env(node: Any, env: Mapping[str, str], path: str, problems: list[str]) -> Any:
    """Replace ${VAR} / ${VAR:-default} in every string; collect a problem per missing VAR."""
    if isinstance(node, dict):
        return {k: expand_env(v, env, _join(path, str(k)), problems) for k, v in node.items()}
    if isinstance(node, list):
        return [expand_env(v, env, f"{path}[{i}]", problems) for i, v in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        problems.append(f"{path or '<root>'}: environment variable {name} is not set")
        return ""

    return _ENV_REF.sub(substitute, node)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class Refused(Exception):
    """A config file that is not read at all: the message is its one problem."""


class _Loader(_SafeLoader):  # type: ignore[valid-type,misc]
    """The safe loader, whose scalars name their line when they cannot be made into values."""


def _guarded(tag: str) -> Any:
    construct = _SafeLoader.yaml_constructors[tag]

    def guarded(loader: Any, node: yaml.Node) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, OverflowError) as e:  # a 5000-digit integer, February 30th
            reason = (f"an integer of more than {sys.get_int_max_str_digits()} digits"
                      if "digits" in str(e) else f"{brief(node.value)}: {e}")
            raise yaml.constructor.ConstructorError(None, None, reason, node.start_mark) from e

    return guarded


for _tag in ("int", "float", "timestamp"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _guarded(f"tag:yaml.org,2002:{_tag}"))


# A document's aliases may add at most this many nodes to it once expanded (a "billion laughs"
# of nine levels of nine aliases would add 387 million); nodes nest at most this deep.
MAX_ALIAS_NODES = 100_000
MAX_DEPTH = 64


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _graph_problem(root: yaml.Node) -> str | None:
    """What makes a composed document unsafe to build, before anything is built: an alias
    inside its own anchor (a structure without end), nesting past MAX_DEPTH, or aliases that
    would add more than MAX_ALIAS_NODES nodes. The composed graph shares an anchor's node
    among its aliases, so this visits each collection once and adds up expanded sizes from
    the leaves up (a scalar counts 1)."""
    size: dict[int, int] = {}  # expanded size of each collection node seen through
    done: list[yaml.Node] = []  # each collection once, children before their parent
    written = 0  # the nodes as written: collections, and the scalars in them
    open_: set[int] = {id(root)}
    stack = [(root, (kids := _children(root)), iter(kids))]
    while stack:
        node, kids, unseen = stack[-1]
        for child in unseen:
            if isinstance(child, yaml.ScalarNode) or id(child) in size:
                continue
            if id(child) in open_:
                return (f"line {child.start_mark.line + 1}: an alias refers to the node it is "
                        "in (a structure without end)")
            if len(stack) >= MAX_DEPTH:
                return f"line {child.start_mark.line + 1}: nested more than {MAX_DEPTH} deep"
            open_.add(id(child))
            stack.append((child, (grandkids := _children(child)), iter(grandkids)))
            break
        else:
            stack.pop()
            open_.discard(id(node))
            total = 1
            for child in kids:
                total += size.get(id(child), 1)
                written += isinstance(child, yaml.ScalarNode)
            size[id(node)] = total
            written += 1
            done.append(node)
    limit = written + MAX_ALIAS_NODES
    culprit = next((node for node in done if size[id(node)] > limit), None)
    if culprit is None:
        return None
    return (f"line {culprit.start_mark.line + 1}: aliases would expand this to "
            f"{size[id(culprit)]:,} nodes, over {MAX_ALIAS_NODES:,} more than written")


def read_yaml(data: bytes) -> Any:
    """A config file's bytes as the value its YAML document holds (None when empty). Refused,
    with the one problem naming a line or byte offset: not UTF-8, not YAML, or unsafe to build
    (see _graph_problem): checked on the composed nodes, and only then built from them."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise Refused(f"<file>: not UTF-8: byte 0x{data[e.start]:02x} at offset {e.start} "
                       f"(line {line})") from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        problem = _graph_problem(node) if node is not None else None
        if problem is not None:
            raise Refused(problem)
        return loader.construct_document(node) if node is not None else None
    except yaml.reader.ReaderError as e:  # a character YAML does not allow (a NUL, say)
        # the reader stops at the first one (e.position counts bytes in libyaml, not characters)
        line = text.count("\n", 0, max(text.find(chr(e.character)), 0)) + 1
        raise Refused(f"line {line}: invalid YAML: character #x{e.character:04x} is not "
                       "allowed") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "<file>"
        reason = getattr(e, "problem", None) or (str(e).splitlines() or [repr(e)])[0]
        raise Refused(f"{where}: invalid YAML: {reason}") from None
    finally:
        loader.dispose()


def database_url(path: str | os.PathLike[str] | None = None,
                 env: Mapping[str, str] | None = None) -> str:
    """The database a config file names, as `load_settings(...).database` resolves it
    (DIGEST_DATABASE_URL first, `${VAR}` expanded, a relative path against the file's folder),
    without validating the rest. ValueError when that much cannot be read."""
    env = os.environ if env is None else env
    config_path = Path(path or env.get("DIGEST_CONFIG") or DEFAULT_CONFIG)
    value = env.get("DIGEST_DATABASE_URL")
    if not value:
        try:
            raw = read_yaml(config_path.read_bytes())
        except (OSError, Refused) as e:
            raise ValueError(f"{config_path}: {e}") from None
        if not isinstance(raw, dict) or "database" not in raw:
            # as the settings have it: the default is not resolved against the file's folder
            # (pydantic does not validate defaults), so it is digest.db in the working folder
            return DEFAULT_DATABASE
        value = raw["database"]
        if not isinstance(value, str):
            raise ValueError(f"{config_path}: database: not a string")
        problems: list[str] = []
        value = expand_env(value, env, "database", problems)
        if problems:
            raise ValueError(f"{config_path}: {problems[0]}")
    return resolve_database_url(value, config_path.resolve().parent)
