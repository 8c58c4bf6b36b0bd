"""`digest` and `python -m digest`: the console entry point, kept import-light on purpose.

Parser worker processes re-import the program's main module (multiprocessing does that for
every start method but fork); this module imports nothing heavy, so a worker pays for feedparser
only, not for the whole CLI stack (about 1 s and 45 MB each otherwise).

Once a command is done (its output written, its store and pools closed by the command itself),
the process ends at once: the interpreter's teardown would spend 0.1-0.45 s freeing the modules
of the app (numpy, SQLAlchemy, ...) one object at a time while the shell waits.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    from digest.cli import main as cli_main  # the heavy imports happen here, in the parent only

    code = cli_main()
    exit_now(code)
    return code  # not reached


def exit_now(code: int) -> None:
    """Flush what was written and end the process without the interpreter's teardown."""
    import logging
    from contextlib import suppress

    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):  # a closed pipe (`digest history | head`)
            stream.flush()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
