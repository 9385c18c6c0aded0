"""`python -m fruits.cli`: the `fruits` command without its console script (a non-root user, a bare image)."""

import sys

from fruits.cli import main

sys.exit(main())
