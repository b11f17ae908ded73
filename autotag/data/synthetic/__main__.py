"""``python -m autotag.data.synthetic``: write a synthetic MTAT corpus (see :mod:`.cli`)."""

import sys

from autotag.data.synthetic.cli import main

sys.exit(main())
