"""``python -m autotag.data.download``: see :mod:`autotag.data.download.cli`."""

import sys

from autotag.data.download.cli import main

if __name__ == "__main__":
    sys.exit(main())
