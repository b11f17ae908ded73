"""The ``autotag`` command: tag, embed, catalogue, index, similar, serve, export, compare, robustness,
pretrained, report, download, synth. It parses arguments and calls :mod:`autotag.inference` (report:
:mod:`autotag.experiments`; download and synth: :mod:`autotag.data.datasets`); nothing imports it.

Exit codes: 0 when every file went through, 1 when at least one file failed (each failure gets
one ``error: <path>: <reason>`` line on stderr and the others go on), 2 for usage errors (bad
arguments, a model or index file that cannot be used).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from autotag.cli import (
    catalogue,
    compare,
    download,
    embed,
    export,
    index,
    pretrained,
    report,
    robustness,
    serve,
    similar,
    synth,
    tag,
)
from autotag.cli.common import EXIT_FAILED, EXIT_USAGE, UsageError
from autotag.common.worker import keep_freed_memory

COMMANDS = (
    tag,
    embed,
    catalogue,
    index,
    similar,
    serve,
    export,
    compare,
    robustness,
    pretrained,
    report,
    download,
    synth,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autotag",
        description="Tag songs with a trained tagger, embed a catalogue, find similar songs, "
        "export, compare two runs, measure robustness, report a sweep; download a data set or "
        "write its synthetic twin.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The ``autotag`` command line on ``argv``; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return int(e.code or 0)
    try:
        return args.run(args)
    except UsageError as e:
        print(f"autotag {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `autotag tag ... | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())


def command() -> int:
    """The ``autotag`` program (console script, ``python -m autotag.cli``): its process is
    ours, so it keeps freed memory first (autotag/common/worker.py says why); :func:`main`, which
    other programs and the tests call, leaves their allocator alone."""
    keep_freed_memory()
    return main()
