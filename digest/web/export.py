"""The archive as static files (issue 19, `digest archive build --out DIR`): every page of
digest.web.archive written as the service serves it, for any static host:

    index.html  page/N/index.html  editions/YYYY-MM-DD/index.html
    feed.atom  feed.json  sitemap.xml  robots.txt  static/digest.css

Not the search (it needs the service; the pages' search and subscribe forms go to
web.base_url). Everything is written into a new folder beside DIR, then put in DIR's place, so
a reader of DIR never sees half a site and a failed build leaves the old one. Renders through
digest.web.archive only; decides nothing about what is public.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from digest.app import App
from digest.errors import DigestError, UsageError
from digest.web.archive import ArchiveSite, edition_path, index_path
from digest.web.pages import Pages

# What marks a folder as an earlier export, safe to replace whole.
MARKERS = ("index.html", "sitemap.xml")


@dataclass(frozen=True, slots=True)
class Exported:
    """What a build wrote."""

    out: Path
    files: int
    editions: int
    pages: int


def export_archive(app: App, out: Path) -> Exported:
    """Write the public archive into `out` (replacing an earlier export there). UsageError
    without web.base_url, with a private archive, or when `out` holds something else."""
    settings = app.settings
    source = settings.source or "config"
    if settings.web.base_url is None:
        raise UsageError(f"{source}: web.base_url is not set: the archive's feeds, sitemap "
                         "and page metadata need its absolute address")
    if not settings.archive.public:
        raise UsageError(f"{source}: archive.public is false: there is nothing to publish")
    _check_out(out)
    templates = Pages(settings)
    files = _files(ArchiveSite(app.archive, settings, templates), templates.static)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for path, body in files.items():
            target = work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
        os.chmod(work, 0o755)  # mkdtemp makes it private; a web server must read it
        _swap(work, out)
    except OSError as e:
        shutil.rmtree(work, ignore_errors=True)
        raise DigestError(f"{out}: cannot write the archive: {e}") from e
    editions = sum(1 for p in files if p.startswith("editions/"))
    pages = sum(1 for p in files if p == "index.html" or p.startswith("page/"))
    return Exported(out, len(files), editions, pages)


def _files(site: ArchiveSite, static: Path) -> dict[str, bytes]:
    """Every file of the export by its path, rendered before anything is written."""
    files: dict[str, bytes] = {}
    number = 1
    while (html := site.index_page(number)) is not None:
        files[index_path(number) + "index.html"] = html.encode("utf-8")
        number += 1
    for archived in site.archive.all_editions():
        day = archived.edition.date
        page = site.edition_page(day)
        if page is not None:
            files[edition_path(day) + "index.html"] = page.encode("utf-8")
    documents = {"feed.atom": site.atom(), "feed.json": site.json_feed(),
                 "sitemap.xml": site.sitemap(), "robots.txt": site.robots()}
    for name, body in documents.items():
        assert body is not None  # the archive is public
        files[name] = body.encode("utf-8") if isinstance(body, str) else body
    files["static/digest.css"] = (static / "digest.css").read_bytes()
    return files


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: not a folder")
    if out.is_dir() and any(out.iterdir()) and not all((out / m).is_file() for m in MARKERS):
        raise UsageError(f"{out}: the folder holds other files (not an earlier archive "
                         "export): choose a new or empty folder")


def _swap(work: Path, out: Path) -> None:
    """`work` becomes `out`; the earlier export, if any, is removed once it is out of the
    way (two renames: between them `out` is briefly missing, never half written)."""
    if not out.exists():
        work.rename(out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
    old.rmdir()
    out.rename(old)
    try:
        work.rename(out)
    except OSError:
        old.rename(out)  # put the earlier export back
        raise
    shutil.rmtree(old, ignore_errors=True)
