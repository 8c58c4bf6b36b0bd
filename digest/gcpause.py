"""Pausing Python's cycle collector around work that allocates many small, acyclic objects.

A process-wide switch, so it lives here, used by the use cases that need it (a build reading
its window, working out features), never inside a pure step.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cycle collector: clustering (and a build's reading of its window) allocates
    hundreds of thousands of small objects (items, word sets, pairs) and no cycles; with the
    collector on, each of its passes walks them all again. A 50,000-item window takes about 30%
    longer with it, and proportionally more the bigger the window."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
