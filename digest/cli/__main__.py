"""`python -m digest.cli`: the same entry point as the `digest` script."""

import sys

from digest.cli import main

sys.exit(main())
