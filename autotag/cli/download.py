"""``autotag download <dataset>``: fetch, verify and extract a data set (resumable). Each data
set's flags and run are its ``download`` entry (``autotag/data/datasets/<name>/commands.py``);
``python -m autotag.data.download`` is the old form of the same command."""

from __future__ import annotations

import argparse

from autotag.cli.common import dataset_subcommands


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "download",
        help="download, verify and extract a data set (mtat, jamendo; resumable)",
        description="Download, verify and extract a data set into --root; a second run resumes "
        "or does nothing. Exit codes: 0 done, 1 download or check error, 2 host unreachable "
        "(with instructions for a download by hand), 130 interrupted (run again to resume).",
    )
    dataset_subcommands(p, "download")
