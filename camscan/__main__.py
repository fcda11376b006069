"""``python -m camscan``: the same as the ``camscan`` command (the lab runs the scanner this way in a namespace)."""

import sys

if __name__ == "__main__":  # importing this module (e.g. to load every module) runs nothing
    from camscan.cli import main

    sys.exit(main())
