"""``python -m autotag.cli`` is the ``autotag`` command."""

import sys

from autotag.cli import command

sys.exit(command())
