"""``python -m autotag.predict PATH... --model tagger.pt`` = ``autotag tag`` (see :mod:`autotag.cli`).

The library side is :class:`autotag.inference.Tagger`.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Tag files and folders; returns the exit code (0 ok, 1 a file failed, 2 usage error)."""
    from autotag.cli import main as cli_main

    return cli_main(["tag", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    from autotag.common.worker import keep_freed_memory

    keep_freed_memory()  # the program's own process (see autotag.cli.command)
    raise SystemExit(main())
