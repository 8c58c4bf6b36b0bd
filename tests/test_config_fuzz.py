"""`digest config check` on malformed files, generated: it exits 0 or 2, never anything else,
and never shows a traceback (issue 17: 61 of 420 malformed feeds.yaml files crashed it).

The cases start from a valid config and break it along the key paths the JSON Schema lists
(`digest config schema`): values of the wrong type, past their bounds, huge, nested, null;
then some break the file itself (bytes that are not UTF-8, a cut, an alias bomb, a NUL).
Hypothesis runs derandomized: the same cases on every run, whatever the clock or
PYTHONHASHSEED.
"""

from __future__ import annotations

import copy
import io
import json
import re
import tempfile
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.cli import main
from digest.config import json_schema

BASE: dict[str, Any] = {
    "title": "Fuzzed Brief",
    "timezone": "Europe/London",
    "database": "fuzz.db",
    "schedule": {"digest": "0 7 * * mon", "poll_every": "1h", "grace": "12h"},
    "edition": {"window": "7d", "max_stories": 30, "half_life": "2d", "min_score": 5,
                "max_per_source": 3},
    "retention": "180d",
    "fetch": {"concurrency": 8, "timeout": "30s", "max_bytes": "10MiB"},
    "sections": [{"id": "tech", "title": "Tech", "max_stories": 10,
                  "keywords": ["chip", {"term": "AI", "weight": 4}], "exclude": ["Apple"],
                  "knowledge": ["tech"], "boost": {"Nvidia": 1.5}}],
    "feeds": [{"url": "https://example.org/feed.xml", "name": "Example", "section": "tech",
               "weight": 1.0, "poll_every": "30m"}],
    "delivery": {"from": "Fuzzed Brief <brief@example.org>", "transport": "file",
                 "outbox": "outbox", "smtp": {"host": "localhost", "port": 587}},
    "email": {"subject": "{{ title }}", "lang": "en", "max_html_bytes": "90KB"},
    "recipients": [{"email": "ana@example.org", "sections": ["tech"]}, "ben@example.org"],
}


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    """A schema node as the plain schemas it stands for ($ref followed, anyOf spread)."""
    if "$ref" in node:
        return _resolve(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in node:
        return [plain for option in node["anyOf"] for plain in _resolve(option, defs)]
    return [node]


def _paths(node: dict[str, Any], defs: dict[str, Any], prefix: tuple[str | int, ...] = ()
           ) -> Iterator[tuple[tuple[str | int, ...], dict[str, Any]]]:
    """Every key path of the schema, with the schema of the value there."""
    for plain in _resolve(node, defs):
        if prefix and plain.get("type") != "null":
            yield prefix, plain
        for key, child in plain.get("properties", {}).items():
            yield from _paths(child, defs, (*prefix, key))
        if isinstance(plain.get("items"), dict):
            yield from _paths(plain["items"], defs, (*prefix, 0))
        if isinstance(plain.get("additionalProperties"), dict):
            yield from _paths(plain["additionalProperties"], defs, (*prefix, "Nvidia"))


SCHEMA = json.loads(json_schema())
PATHS = sorted({path: plain for path, plain in _paths(SCHEMA, SCHEMA["$defs"])}.items(),
               key=lambda item: [str(part) for part in item[0]])


def _bad_for(plain: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values a field of this schema must refuse or survive: past its bounds, of the wrong
    type, huge, nested, null, unexpanded ${VARS}."""
    numbers = [plain[k] + d for k, d in (("minimum", -1), ("maximum", 1),
                                          ("exclusiveMinimum", 0), ("exclusiveMaximum", 0))
               if k in plain]
    return st.one_of(
        st.sampled_from([None, True, 0, -1, 10**30, -(10**4000), 1e308, float("inf"),
                         float("nan"), 0.5, "", " ", "${DIGEST_FUZZ_UNSET}", "99999999999w",
                         "1e999GB", "-1s", "0 0 31 2 *", "*/99 * * * *", "{{", "{% for %}",
                         "x" * 100_000, "\u202e\u0000", "~nosuchuser/x", [], {}, [[[[[]]]]],
                         {"a": {"b": None}},
                         *numbers]),
        st.integers(), st.floats(), st.text(max_size=40),
        st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=5)), max_size=4),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
        st.recursive(st.integers(), lambda inner: st.lists(inner, max_size=2), max_leaves=60),
        *([st.sampled_from(plain["enum"]).map(str.upper)] if "enum" in plain else []),
    )


@st.composite
def _broken_mapping(draw: st.DrawFn) -> dict[str, Any]:
    config = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        path, plain = draw(st.sampled_from(PATHS))
        node: Any = config
        for part, following in pairwise(path):
            fresh: Any = [] if isinstance(following, int) else {}
            if isinstance(part, int):
                node = node if isinstance(node, list) else fresh
                while len(node) <= part:
                    node.append(fresh)
                if not isinstance(node[part], type(fresh)):
                    node[part] = fresh
                node = node[part]
            else:
                if not isinstance(node.get(part), type(fresh)):
                    node[part] = fresh
                node = node[part]
        last = path[-1]
        value = draw(_bad_for(plain))
        if isinstance(last, int):
            if isinstance(node, list):
                (node.__setitem__(0, value) if node else node.append(value))
        elif isinstance(node, dict):
            node[last] = value
    return config


TAILS = [  # appended to the YAML text: each must be refused with a line, not crash the check
    "x-bomb: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"x-{i}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)),
    "x-loop: &loop {again: *loop}\n",
    "x-deep: " + "[" * 200 + "]" * 200 + "\n",
    f"x-int: {'7' * 5000}\n",
    "x-date: 2026-02-30\n",
    "x-alias: *nowhere\n",
    "x-tag: !!python/object:os.system echo\n",
    "? [unhashable]\n: key\n",
    "--- {second: document}\n",
]


@st.composite
def _broken_file(draw: st.DrawFn) -> bytes:
    text = yaml.safe_dump(draw(_broken_mapping()), sort_keys=False, allow_unicode=True)
    data = text.encode("utf-8")
    damage = draw(st.sampled_from(["none", "none", "tail", "bytes", "cut", "root"]))
    if damage == "tail":
        data += draw(st.sampled_from(TAILS)).encode("utf-8")
    elif damage == "bytes":
        at = draw(st.integers(0, len(data)))
        junk = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\x1b",
                                     b"\t\t", b": [", b"&x *x", b"\xef\xbb\xbf"]))
        data = data[:at] + junk + data[at:]
    elif damage == "cut":
        data = data[:draw(st.integers(0, len(data)))]
    elif damage == "root":
        data = draw(st.sampled_from([b"", b"~\n", b"- a\n- b\n", b"just text\n", b"42\n",
                                     b"[" * 900 + b"]" * 900]))
    return data


def _with(config: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A copy of the config with `value` at `path`, the containers on the way made."""
    config = copy.deepcopy(config)
    node: Any = config
    for part, following in pairwise(path):
        fresh: Any = [] if isinstance(following, int) else {}
        if isinstance(part, int):
            while len(node) <= part:
                node.append(fresh)
        if not isinstance(node[part] if isinstance(part, int) else node.get(part),
                          type(fresh)):
            node[part] = fresh
        node = node[part]
    if isinstance(path[-1], int):
        node[:1] = [value]
    else:
        node[path[-1]] = value
    return config


NASTY = [None, True, -1, 0, 10**30, -(10**4000), 1e308, float("inf"), float("nan"), "",
         "x" * 5000, "~nosuchuser/x", "a\x00b", "a\nb", "${DIGEST_FUZZ_UNSET}", "99999999999w",
         "9" * 400 + "GB", "{{", "{{ nope }}", "../" * 100, "sqlite://", [], {}, [[["x"]]],
         {"a": [None, {}]}]


def test_every_key_path_with_every_nasty_value_is_a_problem_or_fine(tmp_path: Path) -> None:
    """Each key path of the schema, each value of NASTY: settings or a ConfigError (the
    exhaustive counterpart of the generated cases above; no file, no YAML: the values as
    they would come out of one)."""
    from digest.config import Settings, settings_from_mapping
    from digest.errors import ConfigError

    crashed = []
    for path, _ in PATHS:
        for value in NASTY:
            try:
                result = settings_from_mapping(_with(BASE, path, value), base_dir=tmp_path,
                                               env={}, source="feeds.yaml")
                assert isinstance(result, Settings)
            except ConfigError as e:
                assert e.problems and all("\n" not in p for p in e.problems)
            except Exception as e:  # pragma: no cover - what this test is for
                crashed.append(f"{path} = {value!r:.40}: {type(e).__name__}: {e}"[:300])
    assert not crashed, "\n".join(crashed)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written


PROBLEMS = re.compile(r"error: (?P<source>.+): (?P<count>\d+) problem\(s\)\n")


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_broken_file())
def test_config_check_exits_0_or_2_and_never_shows_a_traceback(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "feeds.yaml"
        config.write_bytes(data)
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(["--config", str(config), "config", "check"])
        written = sorted(p.name for p in Path(folder).iterdir())
    output = out.getvalue() + err.getvalue()
    assert "Traceback" not in output, output[-3000:]
    assert code in (0, 2), output[-3000:]
    assert written == ["feeds.yaml"]  # a check writes nothing
    if code == 0:
        assert out.getvalue().startswith(f"{config}: ok (")
        return
    heading = PROBLEMS.match(err.getvalue())
    assert heading is not None and heading["source"] == str(config), err.getvalue()[:500]
    lines = err.getvalue()[heading.end():].splitlines()
    assert len(lines) == int(heading["count"]) > 0, err.getvalue()[-3000:]
    # one line per problem, each naming where: a key path, a line of the file or <file>
    assert all(re.match(r"  \S.*?: ", line) for line in lines), lines
