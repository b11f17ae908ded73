"""``python -m autotag.sweep report <sweep folder> [--wandb] [--no-paper]`` = ``autotag report``
(see :mod:`autotag.cli.report`), kept so that older commands still work."""

from __future__ import annotations

import sys

USAGE = "usage: python -m autotag.sweep report SWEEP_DIR [--wandb] [--no-paper] (= autotag report)"


def main(argv: list[str] | None = None) -> int:
    """Rebuild a sweep's report; returns the exit code."""
    from autotag.cli import main as cli_main

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] != ["report"]:
        print(USAGE, file=sys.stderr)
        return 2
    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
