"""``python -m camscan``: the same as the ``camscan`` command (the lab runs the scanner this way in a namespace)."""

import sys

from camscan.cli import main

sys.exit(main())
