"""``python -m autotag.data.synthetic``: see :mod:`.cli` (the new form: ``autotag synth``)."""

import sys

from autotag.data.synthetic.cli import main

if __name__ == "__main__":  # a spawned render worker imports this module again: not a new run
    sys.exit(main())
