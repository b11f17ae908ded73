"""``autotag synth <dataset>``: write a data set's synthetic twin (a corpus in the data set's
exact on-disk layout whose tags are audible). Each data set's flags and run are its ``synth``
entry (``autotag/data/datasets/<name>/commands.py``); ``python -m autotag.data.synthetic`` is
the old form of the same command. ``train.py`` writes the same corpus on first use."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from autotag.cli.common import UsageError, dataset_subcommands


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="write a data set's synthetic twin (mtat, jamendo)",
        description="Write (or finish) a synthetic corpus in a data set's exact on-disk layout; "
        "a second run with the same arguments skips what is on disk.",
    )
    dataset_subcommands(p, "synth", wrap=_usage_errors)


def _usage_errors(run: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    """``run`` with bad arguments (ValueError) and a root holding another corpus
    (FileExistsError) reported as one line, as the other commands' usage errors."""

    def wrapped(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except (ValueError, FileExistsError) as e:
            raise UsageError(str(e)) from None

    return wrapped
