"""``python -m autotag.data.synthetic``: the old form of ``autotag synth <dataset>``.

``--layout mtat`` (the default) or ``--layout jamendo`` picks the data set; the other flags are
that data set's synth flags (``autotag/data/datasets/<name>/commands.py``)."""

from __future__ import annotations

import argparse
import sys

from autotag.data.datasets.registry import datasets

PROG = "python -m autotag.data.synthetic"


def main(argv: list[str] | None = None) -> int:
    """``python -m autotag.data.synthetic [--layout jamendo] ...``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    synths = {name: d.synth for name, d in datasets().items() if d.synth is not None}
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--layout", choices=list(synths), default="mtat")
    layout = pre.parse_known_args(argv)[0].layout
    command = synths[layout]
    parser = argparse.ArgumentParser(prog=PROG, description=command.help)
    parser.add_argument(
        "--layout", choices=list(synths), default=layout, help="whose format to write"
    )
    command.add_arguments(parser)
    return command.run(parser.parse_args(argv))
