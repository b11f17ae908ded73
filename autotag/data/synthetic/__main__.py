"""``python -m autotag.data.synthetic``: see :mod:`.cli` (the new form: ``autotag synth``)."""

import sys

from autotag.data.synthetic.cli import main

sys.exit(main())
