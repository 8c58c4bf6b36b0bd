"""The command line: arguments in, calls `app`, prints results; errors become exit codes.

The only importer of click and rich, and the only place logging is configured. Exit codes:
0 success, 1 the work ran but failed (a delivery failed permanently), 2 usage or config error.
`root` holds the `digest` group, its shared options and `main`; each other module adds the
commands of one domain to it when `root.LazyGroup` imports it (the command is named, or --help
lists them all). None of them imports the app at module level: `digest --help` and
`digest status --check` stay light.
"""

from digest.cli.root import cli, main

__all__ = ["cli", "main"]
