"""``python -m autotag.cli`` is the ``autotag`` command."""

import sys

from autotag.cli import main

sys.exit(main())
