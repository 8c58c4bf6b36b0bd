"""`digest` and `python -m digest`: the console entry point, kept import-light on purpose.

Parser worker processes re-import the program's main module (multiprocessing does that for
every start method but fork); this module imports nothing heavy, so a worker pays for feedparser
only, not for the whole CLI stack (about 1 s and 45 MB each otherwise).
"""

from __future__ import annotations

import sys


def main() -> int:
    from digest.cli import main as cli_main  # the heavy imports happen here, in the parent only

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
