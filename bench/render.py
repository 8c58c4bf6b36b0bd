"""Rendering an edition: time per edition and HTML bytes at 10, 40 and 100 stories, with Node's
`mjml` (the reference MJML implementation) on the same MJML source as the peer.

1. Editions: synthetic `digest.models.Edition` values of 10 (3 sections), 40 and 100 stories
   (4 sections), fixed seed: titles of 60-110 characters, summaries of 200-320 (so `summarize`
   never cuts them), 40 outlets, published times over the last 3 days, 0-3 "also covered by"
   links per story, https URLs of 60-120 characters; a few curly quotes, accents, dashes and
   ampersands, as feeds have. When `Story` has an `image` field, 75% of the stories get an
   https thumbnail URL; the report counts how many reach the HTML (none while the template does
   not render thumbnails, so the sizes are then without images, and it says so).
2. Cost: `Renderer(ZoneInfo("UTC")).render(edition)` (subject, HTML and text), best and median
   of 20 runs after a warm-up, and separately its stages on the same context: Jinja2 -> MJML
   (`renderer._render("edition.mjml.j2", context)`), MJML -> HTML (`mjml.mjml2html(source,
   fonts={})`, MRML) and the text part. Target: render under 5 ms at 40 stories.
3. Size: HTML bytes (UTF-8, as `email.max_html_bytes` counts them), bytes per story, the
   marginal bytes of one more story (10 -> 100) and the text part's bytes. Target: under 90 KB
   (90,000 bytes, the `email.max_html_bytes` default) at 40 stories with thumbnails.
4. The peer: Node's `mjml@4` on the same MJML string, `mjml2html(source, {fonts: {}})` (no
   Google Fonts link, as digest asks of MRML; validation left at its default, "soft"), timed
   in-process by a small script written to the temp folder at run time: 5 warm-up runs, then
   best and median of 20. mjml is installed with npm into `/tmp/digest-bench-mjml` (once,
   reused), never into the repo. Skipped with a message when node or npm is missing.

Every loop is bounded; nothing here asserts a timing. Run alone: `python bench/render.py`
(`--sizes 10,40,100`, `--runs 20`, `--skip-node`); about half a minute.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, os.fspath(REPO))

from mjml import mjml2html  # noqa: E402

from digest.models import AlsoLink, Edition, Section, Story  # noqa: E402
from digest.render import HTML_TEMPLATE, TEXT_TEMPLATE, Renderer  # noqa: E402

SIZES = (10, 40, 100)
RUNS = 20
NODE_RUNS = 20
NODE_WARMUP = 5
SEED = 20261130
TARGET_SIZE = 40
TARGET_MS = 5.0
TARGET_BYTES = 90 * 1000  # email.max_html_bytes' default
NODE_PREFIX = Path("/tmp/digest-bench-mjml")
NODE_SCRIPT = Path(tempfile.gettempdir()) / "digest-bench-render-mjml.js"
NPM_TIMEOUT_S = 300
NODE_TIMEOUT_S = 120
THUMBNAIL_SHARE = 0.75  # of stories given a Story.image, when the model has the field
HAS_IMAGE = "image" in {f.name for f in dataclasses.fields(Story)}
EDITION_DATE = date(2026, 11, 30)
GENERATED = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)

SECTIONS = (("tech", "Technology"), ("world", "World"), ("business", "Business & Markets"),
            ("science", "Science"))
OUTLETS = tuple(
    (name, domain) for name, domain in (
        ("The Daily Ledger", "www.dailyledger.example.com"),
        ("Chip Weekly", "chipweekly.example.net"),
        ("Africa Desk", "africadesk.example.org"),
        ("Northern Courier", "www.northerncourier.example.co.uk"),
        ("Global Wire", "wire.globalnews.example.com"),
        ("Le Quotidien Économique", "www.quotidien-eco.example.fr"),
        ("Market Watchers", "marketwatchers.example.com"),
        ("Science & Society", "science-society.example.org"),
        ("The Policy Review", "policyreview.example.com"),
        ("Harbour Times", "www.harbourtimes.example.com.au"),
        ("Open Source Journal", "osjournal.example.dev"),
        ("Pacific Dispatch", "pacificdispatch.example.com"),
        ("Energy Monitor", "www.energy-monitor.example.com"),
        ("The Metro Tribune", "metrotribune.example.com"),
        ("Health Brief", "healthbrief.example.org"),
        ("Capital Letters", "capitalletters.example.com"),
        ("Field Notes", "fieldnotes.example.net"),
        ("The Continental", "www.thecontinental.example.eu"),
        ("Data Points", "datapoints.example.io"),
        ("Riverside Gazette", "riversidegazette.example.com"),
    )
) + tuple((f"Regional Post {k}", f"regionalpost{k}.example.com") for k in range(20))

SUBJECTS = ("Chipmakers", "Regulators in Brussels", "The central bank", "Coastal cities",
            "Researchers at a Swiss university", "A coalition of 14 countries",
            "Two of the largest cloud providers", "Côte d’Ivoire’s electoral commission",
            "Farmers across the Sahel", "The transport ministry", "Shareholders of the utility",
            "An open-source foundation", "Astronomers", "Hospital networks", "Union leaders",
            "The world’s biggest shipping line", "Start-ups in Nairobi and Lagos")
VERBS = ("race to", "agree to", "vote to", "plan to", "move to", "are set to", "refuse to",
         "quietly begin to", "promise to", "struggle to")
OBJECTS = ("build the first 2nm fabs outside Taiwan", "cap interest rates on consumer loans",
           "open an inquiry into AI partnerships", "share flood data across borders",
           "publish the source code of their voting machines", "cut methane leaks by half",
           "map a dark-matter filament for the first time", "delay the new port tariffs",
           "merge their payment networks", "replace coal boilers with heat pumps",
           "track antibiotic resistance in wastewater", "sell bonds in local currency")
TAILS = ("after a year of talks", "despite warnings from analysts", "as prices keep rising",
         "— and what it means for consumers", "ahead of next week’s summit",
         "in a deal worth $4.2bn", "amid a record heatwave", "with little public debate",
         "weeks before the election", "as demand for AI accelerators soars",
         "following a court ruling on Tuesday", "to meet the 2030 targets")
SENTENCES = (
    "Three of the world's largest companies in the sector announced the move this week, "
    "betting that demand will outlast the current boom.",
    "Analysts cautioned that the plans will take years to reach full output.",
    "Officials said the first results would be published before the end of the quarter.",
    "Critics argue the timetable is unrealistic and the costs are badly underestimated.",
    "The decision follows months of negotiations & a series of public consultations.",
    "Turnout was high in the capital; results are expected on Tuesday.",
    "“We have never seen numbers like these,” one researcher told reporters.",
    "Prices rose 3.4% in October, the fastest pace since early 2023.",
    "The proposal still needs the approval of parliament, where the coalition has a thin majority.",
    "Local groups welcomed the plan but asked for independent monitoring.",
    "The company declined to comment on the figures, citing a quiet period before earnings.",
    "Engineers expect the first pilot sites to open in the spring.",
)


def _title(rng: random.Random) -> str:
    for _ in range(50):
        title = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
        if rng.random() < 0.7:
            title += f" {rng.choice(TAILS)}"
        if 60 <= len(title) <= 110:
            return title
    return title[:110] if len(title) > 60 else title.ljust(60, ".")


def _summary(rng: random.Random) -> str:
    limit = rng.randint(200, 320)
    for _ in range(50):
        sentences = rng.sample(SENTENCES, len(SENTENCES))
        text = ""
        for sentence in sentences:
            if len(text) + 1 + len(sentence) > limit:
                continue
            text = f"{text} {sentence}".strip()
        if len(text) >= 200:
            return text
    return text


def _url(rng: random.Random, domain: str, section: str, when: datetime, slug_of: str) -> str:
    slug = "-".join("".join(c for c in word.lower() if c.isalnum())
                    for word in slug_of.split()).replace("--", "-").strip("-")
    head = f"https://{domain}/{section}/{when:%Y/%m/%d}/"
    tail = f"-{rng.randint(10_000, 99_999_999)}"
    if rng.random() < 0.3:
        tail += "?utm_source=rss&utm_medium=feed"
    length = rng.randint(60, 120)
    room = max(length - len(head) - len(tail), 8)
    return head + slug[:room].rstrip("-") + tail


def make_edition(stories: int, seed: int = SEED) -> Edition:
    """An edition of `stories` stories over 3 (10 stories or fewer) or 4 sections."""
    rng = random.Random(seed + stories)
    chosen = SECTIONS[:3] if stories <= 10 else SECTIONS
    counts = [stories // len(chosen)] * len(chosen)
    for k in range(stories - sum(counts)):
        counts[k] += 1
    sections = []
    for (sid, stitle), count in zip(chosen, counts, strict=True):
        made = []
        for _ in range(count):
            source, domain = rng.choice(OUTLETS)
            title = _title(rng)
            when = GENERATED - timedelta(minutes=rng.randint(30, 3 * 24 * 60))
            others = rng.sample([o for o in OUTLETS if o[0] != source], rng.choice((0, 0, 1, 2, 3)))
            also = tuple(AlsoLink(name, _url(rng, dom, sid, when, title)) for name, dom in others)
            extra: dict[str, Any] = {}
            if HAS_IMAGE and rng.random() < THUMBNAIL_SHARE:
                extra["image"] = (f"https://cdn.{domain.removeprefix('www.')}/images/"
                                  f"{when:%Y/%m}/{rng.randint(10**7, 10**8 - 1)}-640x360.jpg")
            made.append(Story(title=title, url=_url(rng, domain, sid, when, title), source=source,
                              published=when, summary=_summary(rng), weight=1.0, items=(),
                              also=also, section=sid, **extra))
        sections.append(Section(sid, stitle, tuple(made)))
    return Edition(date=EDITION_DATE, title="The Weekly Brief", generated_at=GENERATED,
                   sections=tuple(sections))


def context_of(renderer: Renderer, edition: Edition) -> dict[str, Any]:
    """The template context `Renderer.render` uses (all sections)."""
    return renderer.context(edition)


def timings(runs: int, fn: Callable[[], object]) -> tuple[float, float]:
    """(best, median) in ms of `runs` calls, after one warm-up call."""
    fn()
    gc.collect()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3, statistics.median(times) * 1e3


NODE_JS = r"""
// digest bench/render.py: Node's mjml on one MJML file, timed in-process.
const fs = require("fs");
const [prefix, file, runs, warmup] = process.argv.slice(2);
const mjml2html = require(require.resolve("mjml", {paths: [prefix]}));
const version = require(require.resolve("mjml/package.json", {paths: [prefix]})).version;
const source = fs.readFileSync(file, "utf8");
const options = {fonts: {}};
let result = null;
for (let i = 0; i < Number(warmup); i++) result = mjml2html(source, options);
const times = [];
for (let i = 0; i < Number(runs); i++) {
  const start = process.hrtime.bigint();
  result = mjml2html(source, options);
  times.push(Number(process.hrtime.bigint() - start) / 1e6);
}
times.sort((a, b) => a - b);
const mid = times.length >> 1;
const median = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
process.stdout.write(JSON.stringify({
  version, node: process.version, best_ms: times[0], median_ms: median,
  html_bytes: Buffer.byteLength(result.html, "utf8"), errors: result.errors.length,
}));
"""


def node_mjml() -> str | None:
    """Why the Node peer cannot run, or None once mjml is installed in NODE_PREFIX."""
    if shutil.which("node") is None:
        return "node not found"
    if (NODE_PREFIX / "node_modules" / "mjml" / "package.json").is_file():
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "npm not found"
    print(f"  installing mjml@4 with npm into {NODE_PREFIX} (once) ...", flush=True)
    NODE_PREFIX.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run([npm, "install", "--prefix", os.fspath(NODE_PREFIX), "mjml@4",
                               "--no-audit", "--no-fund", "--loglevel=error"],
                              capture_output=True, text=True, timeout=NPM_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return f"npm install mjml@4 took over {NPM_TIMEOUT_S} s"
    if done.returncode != 0:
        return f"npm install mjml@4 failed: {(done.stderr or done.stdout).strip()[-300:]}"
    return None


def run_node(source: str, runs: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".mjml", encoding="utf-8", delete=False) as f:
        f.write(source)
        path = f.name
    try:
        done = subprocess.run(["node", os.fspath(NODE_SCRIPT), os.fspath(NODE_PREFIX), path,
                               str(runs), str(NODE_WARMUP)],
                              capture_output=True, text=True, timeout=NODE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"node took over {NODE_TIMEOUT_S} s"}
    finally:
        os.unlink(path)
    if done.returncode != 0:
        return {"error": f"node exited {done.returncode}: {done.stderr.strip()[-300:]}"}
    return json.loads(done.stdout)


def bench(sizes: Sequence[int] = SIZES, runs: int = RUNS, node: bool = True,
          node_runs: int = NODE_RUNS) -> dict[str, Any]:
    renderer = Renderer(ZoneInfo("UTC"))
    skipped = "--skip-node" if not node else node_mjml()
    if skipped is None:
        NODE_SCRIPT.write_text(NODE_JS, encoding="utf-8")
    rows = []
    for n in sizes:
        edition = make_edition(n)
        ctx = context_of(renderer, edition)
        rendered = renderer.render(edition)
        source = renderer._render(HTML_TEMPLATE, ctx)
        html = mjml2html(source, fonts={})
        total = timings(runs, lambda e=edition: renderer.render(e))
        jinja = timings(runs, lambda c=ctx: renderer._render(HTML_TEMPLATE, c))
        mrml = timings(runs, lambda s=source: mjml2html(s, fonts={}))
        text = timings(runs, lambda c=ctx: renderer._render(TEXT_TEMPLATE, c))
        html_bytes = len(rendered.html.encode())
        row: dict[str, Any] = {
            "stories": n, "sections": len(edition.sections),
            "also_links": sum(len(s.also) for s in edition.stories),
            "thumbnails": sum(1 for s in edition.stories if getattr(s, "image", None)),
            "thumbnails_in_html": sum(1 for s in edition.stories
                                      if getattr(s, "image", None) and s.image in rendered.html),
            "stages_match_render": html == rendered.html,
            "total_ms": round(total[0], 3), "total_median_ms": round(total[1], 3),
            "jinja_ms": round(jinja[0], 3), "jinja_median_ms": round(jinja[1], 3),
            "mrml_ms": round(mrml[0], 3), "mrml_median_ms": round(mrml[1], 3),
            "text_ms": round(text[0], 3), "text_median_ms": round(text[1], 3),
            "mjml_bytes": len(source.encode()), "html_bytes": html_bytes,
            "bytes_per_story": round(html_bytes / n), "text_bytes": len(rendered.text.encode()),
        }
        if skipped is None:
            peer = run_node(source, node_runs)
            row["node"] = peer
            if "error" not in peer:
                row["ratio_node_mrml"] = round(peer["best_ms"] / mrml[0], 1)
        rows.append(row)
        print(f"  {n} stories: render {total[0]:.2f} ms, {html_bytes:,} bytes"
              + (f", node mjml {row['node'].get('best_ms', float('nan')):.1f} ms"
                 if "node" in row else ""), flush=True)
    result: dict[str, Any] = {"runs": runs, "node_runs": node_runs, "rows": rows,
                              "node_skipped": skipped,
                              "thumbnails_rendered": any(r["thumbnails_in_html"] for r in rows)}
    by_n = {r["stories"]: r for r in rows}
    if len(by_n) >= 2:
        lo, hi = min(by_n), max(by_n)
        marginal = (by_n[hi]["html_bytes"] - by_n[lo]["html_bytes"]) / (hi - lo)
        fixed = by_n[lo]["html_bytes"] - marginal * lo
        result["marginal_bytes_per_story"] = round(marginal)
        result["fixed_bytes"] = round(fixed)
        result["stories_within_budget"] = int((TARGET_BYTES - fixed) // marginal)
    if TARGET_SIZE in by_n:
        row = by_n[TARGET_SIZE]
        result["target_ms_met"] = row["total_ms"] < TARGET_MS
        result["target_bytes_met"] = row["html_bytes"] < TARGET_BYTES
    return result


def print_report(r: dict[str, Any]) -> None:
    print(f"\nRendering an edition (Renderer.render: subject + Jinja2 -> MJML -> HTML (MRML) + "
          f"text; best / median of {r['runs']} runs, ms)")
    print(f"  {'stories':>7} {'sect':>4} {'also':>4} {'render':>15} {'jinja->mjml':>15} "
          f"{'mjml->html':>15} {'text':>13} {'node mjml':>15} {'node/mrml':>9}")
    for row in r["rows"]:
        peer = row.get("node") or {}
        node = (f"{peer['best_ms']:6.2f} / {peer['median_ms']:6.2f}" if "best_ms" in peer
                else "-")
        ratio = f"{row['ratio_node_mrml']}x" if "ratio_node_mrml" in row else "-"
        print(f"  {row['stories']:>7} {row['sections']:>4} {row['also_links']:>4} "
              f"{row['total_ms']:6.2f} / {row['total_median_ms']:6.2f} "
              f"{row['jinja_ms']:6.2f} / {row['jinja_median_ms']:6.2f} "
              f"{row['mrml_ms']:6.2f} / {row['mrml_median_ms']:6.2f} "
              f"{row['text_ms']:5.2f} / {row['text_median_ms']:5.2f} {node:>15} {ratio:>9}")
    print("\n  Size (UTF-8 bytes)")
    print(f"  {'stories':>7} {'MJML':>9} {'HTML':>9} {'HTML/story':>10} {'text':>8} "
          f"{'node HTML':>9}")
    for row in r["rows"]:
        peer = row.get("node") or {}
        node = f"{peer['html_bytes']:,}" if "html_bytes" in peer else "-"
        print(f"  {row['stories']:>7} {row['mjml_bytes']:>9,} {row['html_bytes']:>9,} "
              f"{row['bytes_per_story']:>10,} {row['text_bytes']:>8,} {node:>9}")
    if "marginal_bytes_per_story" in r:
        print(f"  one more story adds {r['marginal_bytes_per_story']:,} bytes of HTML over a "
              f"fixed {r['fixed_bytes']:,}; {r['stories_within_budget']} stories fit "
              f"{TARGET_BYTES:,} bytes")
    given = ", ".join(f"{x['thumbnails']}/{x['stories']}" for x in r["rows"])
    shown = ", ".join(str(x["thumbnails_in_html"]) for x in r["rows"])
    if not HAS_IMAGE:
        print("  thumbnails: not implemented yet (Story has no image field), so every size here "
              "is without images")
    elif not r["thumbnails_rendered"]:
        print(f"  thumbnails: stories given a Story.image ({given}), but the template does not "
              "render them yet, so every size here is without images")
    else:
        print(f"  thumbnails: stories given a Story.image {given}; in the HTML: {shown}")
    if "target_ms_met" in r:
        row = next(x for x in r["rows"] if x["stories"] == TARGET_SIZE)
        print(f"  target {TARGET_SIZE} stories render < {TARGET_MS:g} ms: "
              f"{'yes' if r['target_ms_met'] else 'NO'} ({row['total_ms']:.2f} ms best)")
        print(f"  target {TARGET_SIZE} stories HTML < {TARGET_BYTES:,} bytes: "
              f"{'yes' if r['target_bytes_met'] else 'NO'} ({row['html_bytes']:,} bytes, "
              f"{row['thumbnails_in_html']} thumbnails in the HTML)")
    for row in r["rows"]:
        if not row["stages_match_render"]:
            print(f"  note: at {row['stories']} stories the stage-by-stage HTML differs from "
                  "render()'s: the replicated context is out of date")
        peer = row.get("node") or {}
        if "error" in peer:
            print(f"  node mjml at {row['stories']} stories failed: {peer['error']}")
        elif peer.get("errors"):
            print(f"  node mjml at {row['stories']} stories: {peer['errors']} validation errors")
    if r["node_skipped"]:
        print(f"  peer skipped: Node's mjml ({r['node_skipped']})")
    else:
        first = next((x["node"] for x in r["rows"] if "version" in x.get("node", {})), None)
        if first:
            print(f"  peer: mjml {first['version']} on Node {first['node']}, same MJML source, "
                  f"fonts {{}}, in-process, {NODE_WARMUP} warm-up + {r['node_runs']} runs")
        ratios = [x["ratio_node_mrml"] for x in r["rows"] if "ratio_node_mrml" in x]
        if ratios:
            print("  RATIO node mjml / mrml (MJML -> HTML, best): "
                  + ", ".join(f"{x['stories']}: {x['ratio_node_mrml']}x"
                              for x in r["rows"] if "ratio_node_mrml" in x))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)),
                        help="stories per edition, comma-separated")
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--node-runs", type=int, default=NODE_RUNS)
    parser.add_argument("--skip-node", action="store_true", help="do not run Node's mjml")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print_report(bench(sizes, runs=args.runs, node=not args.skip_node, node_runs=args.node_runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
