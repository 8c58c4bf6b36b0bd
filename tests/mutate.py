"""Mutation testing of the pure modules, each against its own tests (`make mutate`).

For each module, mutmut (pinned in pyproject's `dev` extras) runs in a copy of digest/ and
tests/ under build/mutate/<module>/, mutating only that module and running only that
module's test files; then one table: mutants, excluded, killed, survived, % killed.

Excluded mutants count neither as killed nor as survived:
- message text: a mutant that changes only the message of a `raise` or a log call (what an
  error says is for people; what is raised, and when, is still mutated and tested);
- EQUIVALENT below: mutants that cannot change behaviour, each with its reason. An entry
  names the function, the original line and the mutated line (stripped), so it survives
  edits elsewhere in the file; one that no longer matches a mutant is reported as stale.

Timeouts count as killed (the mutant made a loop run away; the tests noticed).
Exit status 1 when a module kills less than --fail-under percent (90).

    .venv/bin/python tests/mutate.py                 # all six modules
    .venv/bin/python tests/mutate.py polling rank    # some
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "build" / "mutate"

# module -> the pytest arguments that select its own tests (fast ones: the daemon test of
# test_schedule starts a process that would not import the mutant anyway).
MODULES: dict[str, list[str]] = {
    "rank": ["tests/test_rank.py"],
    "dedupe": ["tests/test_dedupe.py", "tests/test_links.py"],
    "outlets": ["tests/test_links.py"],
    "polling": ["tests/test_polling.py"],
    "schedule": ["tests/test_schedule.py", "-k", "not daemon"],
    "classify": ["tests/test_classify.py"],
    "neardup": ["tests/test_neardup.py"],
}

# (module, function, original line, mutated line, why the mutant cannot change behaviour)
EQUIVALENT: list[tuple[str, str, str, str, str]] = [
]

# A mutant of message text: it changes only lines inside a `raise X(...)` or a log call.
_LOG_NAMES = {"log", "logger", "logging", "warnings"}


@dataclass
class Mutant:
    name: str
    function: str  # as written in the module: "plan_next_poll", "Comparison.join_ok"
    status: str
    before: str  # the changed original line(s), stripped
    after: str  # the same place in the mutant
    message_text: bool = False
    equivalent: str | None = None  # the reason, if listed in EQUIVALENT


@dataclass
class Result:
    module: str
    mutants: list[Mutant] = field(default_factory=list)
    seconds: float = 0.0
    stale: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def excluded(self) -> list[Mutant]:
        return [m for m in self.mutants if m.message_text or m.equivalent]

    @property
    def counted(self) -> list[Mutant]:
        return [m for m in self.mutants if not (m.message_text or m.equivalent)]

    @property
    def killed(self) -> int:
        return sum(m.status in KILLED for m in self.counted)

    @property
    def survived(self) -> int:
        return len(self.counted) - self.killed

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / len(self.counted) if self.counted else 100.0


KILLED = {"killed", "timeout", "caught by type check", "segfault"}


def prepare(module: str, tests: list[str]) -> Path:
    """A fresh copy of the project for one module's run, with its mutmut configuration."""
    where = WORK / module
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "artifacts", "*.pyc")
    shutil.copytree(REPO / "digest", where / "digest", ignore=ignore)
    shutil.copytree(REPO / "tests", where / "tests", ignore=ignore)
    config = (REPO / "pyproject.toml").read_text("utf-8")
    config += "\n[tool.mutmut]\n" + "\n".join((
        'source_paths = ["digest"]',
        f'only_mutate = ["digest/{module}.py"]',
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}",
        "use_git_change_detection = false",
        # each mutant runs in a process forked before any test ran: a cache the tests filled
        # (canonical_url's lru_cache, neardup's stems, a Lexicon's words) would hide mutants
        'process_isolation = "forkserver"',
        'forkserver_warmup = "collect"',
    )) + "\n"
    (where / "pyproject.toml").write_text(config, "utf-8")
    return where


def run_mutmut(where: Path, children: int) -> None:
    with (where / "mutmut.log").open("w") as log:
        done = subprocess.run(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(children)],
            cwd=where, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"},
        )
    if done.returncode != 0:
        tail = (where / "mutmut.log").read_text("utf-8", "replace")[-3000:]
        raise SystemExit(f"mutmut failed in {where} (exit {done.returncode}):\n{tail}")


def _function_sources(path: Path) -> dict[str, list[str]]:
    """Every function of mutmut's mutated module by name (methods too), as source lines."""
    source = path.read_text("utf-8")
    lines = source.splitlines()
    out = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and "__mutmut_" in node.name:
            out[node.name] = lines[node.lineno - 1:node.end_lineno]
    return out


def _message_lines(func: list[str]) -> set[int]:
    """Lines (0-based, within the function) inside a raised exception's arguments or a log
    call."""
    tree = ast.parse(textwrap.dedent("\n".join(func)))
    spans: set[int] = set()
    for node in ast.walk(tree):
        call = None
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            call = node.exc
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and isinstance(node.func.value, ast.Name) and node.func.value.id in _LOG_NAMES):
            call = node
        if call is not None:
            for arg in (*call.args, *(k.value for k in call.keywords)):
                spans.update(range(arg.lineno - 1, (arg.end_lineno or arg.lineno)))
    return spans


def _readable(mangled: str) -> str:
    # x_plan_next_poll -> plan_next_poll; xǁComparisonǁjoin_ok -> Comparison.join_ok
    return mangled.removeprefix("x_").removeprefix("xǁ").replace("ǁ", ".")


def collect(module: str, where: Path) -> Result:
    from mutmut.stats import status_by_exit_code

    mutated = where / "mutants" / "digest" / f"{module}.py"
    meta = json.loads(mutated.with_name(f"{module}.py.meta").read_text("utf-8"))
    functions = _function_sources(mutated)
    result = Result(module)
    for key, code in sorted(meta["exit_code_by_key"].items(), key=lambda kv: _order(kv[0])):
        name = key.rpartition(".")[2]  # x_plan_next_poll__mutmut_4
        mangled = name.rpartition("__mutmut_")[0]
        orig = functions[f"{mangled}__mutmut_orig"]
        mutant = [line.replace(name, f"{mangled}__mutmut_orig") for line in functions[name]]
        before: list[str] = []
        after: list[str] = []
        changed: set[int] = set()
        matcher = difflib.SequenceMatcher(a=orig, b=mutant, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag != "equal":
                before += [line.strip() for line in orig[i1:i2]]
                after += [line.strip() for line in mutant[j1:j2]]
                changed.update(range(i1, max(i2, i1 + 1)))
        result.mutants.append(Mutant(
            name=key, function=_readable(mangled), status=status_by_exit_code[code],
            before=" / ".join(before), after=" / ".join(after),
            message_text=bool(changed) and changed <= _message_lines(orig)))
    listed = [e for e in EQUIVALENT if e[0] == module]
    for _, function, before, after, why in listed:
        hits = [m for m in result.mutants
                if m.function == function and m.before == before and m.after == after]
        for m in hits:
            m.equivalent = why
        if not hits:
            result.stale.append((function, before, after))
    return result


def _order(key: str) -> tuple[str, int]:
    head, _, number = key.rpartition("__mutmut_")
    return head, int(number) if number.isdigit() else 0


def table(results: list[Result]) -> str:
    rows = [("module", "mutants", "excluded", "killed", "survived", "% killed")]
    for r in results:
        rows.append((f"{r.module}.py", str(len(r.mutants)), str(len(r.excluded)),
                     str(r.killed), str(r.survived), f"{r.percent:.1f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
             + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":"
                                   for i, w in enumerate(widths)) + "|")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", metavar="module",
                        help=f"some of {', '.join(MODULES)} (default: all)")
    parser.add_argument("--children", type=int, default=os.cpu_count() or 1,
                        help="mutants run at once (default: one a CPU)")
    parser.add_argument("--fail-under", type=float, default=90.0,
                        help="exit 1 when a module kills less than this percent (default 90)")
    parser.add_argument("--show-killed", action="store_true", help="list killed mutants too")
    parser.add_argument("--report-only", action="store_true",
                        help="report the last run's results again (after editing EQUIVALENT)")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"not a module mutate.py knows: {', '.join(unknown)}")
    results = []
    for module in args.modules or list(MODULES):
        start = time.monotonic()
        if args.report_only:
            where = WORK / module
        else:
            where = prepare(module, MODULES[module])
            print(f"mutating digest/{module}.py against {' '.join(MODULES[module])} ...",
                  flush=True)
            run_mutmut(where, args.children)
        result = collect(module, where)
        result.seconds = time.monotonic() - start
        results.append(result)
        print(f"  {len(result.mutants)} mutants, {result.percent:.1f}% killed "
              f"({result.seconds:.0f} s)", flush=True)
        for m in result.mutants:
            if m.message_text or m.equivalent:
                continue
            if m.status not in KILLED or args.show_killed:
                print(f"  {m.status:>9}  {m.name}: {m.before}  ->  {m.after}")
        for function, before, after in result.stale:
            print(f"  stale EQUIVALENT entry for {function}: {before!r} -> {after!r}")
    print()
    print(table(results))
    failing = [r.module for r in results if r.percent < args.fail_under]
    if failing:
        print(f"\nbelow {args.fail_under:g}% killed: {', '.join(failing)}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
