"""caniemail's support data for an HTML email, asked through doiuse-email (npm) in Node: which
features of the email which clients do not fully support. A test helper only; it never decides
what is acceptable (tests/test_email_clients.py does) and digest never imports it.

doiuse-email is a dev-only tool that `make caniemail` (part of `make test`) installs into
.venv/node, at the version the Makefile pins; nothing of it is in the repository. Where Node or
the package is missing, `missing()` says why, for the tests to skip with that reason."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NODE_TOOLS = REPO / ".venv" / "node"  # the npm prefix `make caniemail` installs into
PACKAGE = NODE_TOOLS / "node_modules" / "doiuse-email" / "package.json"
SCRIPT = REPO / "tests" / "caniemail_check.mjs"
TIMEOUT = 120.0  # seconds: a bound on a hang, never a speed requirement


@dataclass(frozen=True)
class Finding:
    """One feature the email uses, as caniemail judges it in one client."""

    feature: str  # caniemail's title, e.g. "@media", "object-fit", "<body> element"
    client: str  # caniemail's family.platform, e.g. "outlook.windows"
    support: str  # "none", "partial" or "unknown" (caniemail has no data for that client)
    notes: tuple[str, ...]  # caniemail's notes on that client's support, if any

    def __str__(self) -> str:
        said = f" ({'; '.join(self.notes)})" if self.notes else ""
        return f"{self.feature} in {self.client}: {self.support}{said}"


@dataclass(frozen=True)
class Report:
    """What one check found: every feature detected, and each one not fully supported."""

    tool: str  # "doiuse-email 0.4.1"
    data: str  # when caniemail's data it ships was last updated
    features: tuple[str, ...]
    findings: tuple[Finding, ...]

    def unsupported(self) -> list[Finding]:
        return [f for f in self.findings if f.support == "none"]


def missing() -> str | None:
    """Why the check cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed (the caniemail check runs doiuse-email in Node)"
    if not PACKAGE.is_file():
        return (f"doiuse-email is not installed in {NODE_TOOLS.relative_to(REPO)}: run "
                "`make caniemail` (needs npm and the npm registry)")
    return None


def check(html: str, clients: Sequence[str]) -> Report:
    """caniemail's verdict on `html` for `clients` (family.platform names)."""
    node = shutil.which("node")
    assert node is not None, missing()
    run = subprocess.run([node, str(SCRIPT), str(NODE_TOOLS), ",".join(clients)],
                         input=html, capture_output=True, text=True, timeout=TIMEOUT)
    if run.returncode != 0:
        raise RuntimeError(f"{SCRIPT.name} failed (exit {run.returncode}): {run.stderr.strip()}")
    answer = json.loads(run.stdout)
    return Report(
        tool=answer["tool"], data=answer["data"], features=tuple(answer["features"]),
        findings=tuple(Finding(f["feature"], f["client"], f["support"], tuple(f["notes"]))
                       for f in answer["findings"]))
