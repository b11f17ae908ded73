"""What the ``autotag`` commands share: exit codes, argument types and options, loading the
model, collecting files, progress and error lines."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from tqdm import tqdm

from autotag.common.console import progress
from autotag.common.worker import usable_cores
from autotag.data.datasets import datasets
from autotag.inference import Tagger, TaggerError, find_audio
from autotag.inference.tagger import AGGREGATIONS, DEFAULT_AGG, DEFAULT_BATCH

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Reported as ``autotag <cmd>: error: ...`` with exit code 2."""


def dataset_subcommands(
    parser: argparse.ArgumentParser,
    entry: str,
    wrap: Callable[[Callable[[argparse.Namespace], int]], Callable[..., int]] = lambda run: run,
) -> None:
    """One subcommand per data set that has the ``entry`` command (``download``, ``synth``):
    its flags and run (wrapped by ``wrap``) from the data set's folder."""
    names = parser.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    for name, dataset in datasets().items():
        command = getattr(dataset, entry)
        if command is None:
            continue
        q = names.add_parser(name, help=command.help, description=command.help)
        command.add_arguments(q)
        q.set_defaults(run=wrap(command.run))


def positive_int(s: str) -> int:
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {s}")
    return v


def non_negative_int(s: str) -> int:
    v = int(s)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {s}")
    return v


def positive_float(s: str) -> float:
    v = float(s)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {s}")
    return v


def probability(s: str) -> float:
    v = float(s)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {s}")
    return v


def add_model(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument(
        "--model",
        "-m",
        required=required,
        metavar="TAGGER_PT",
        help="tagger.pt written by training (in the run folder), or a pretrained model: "
        "musicnn:MTT_musicnn, musicnn:MTT_vgg, musicnn:MSD_musicnn, musicnn:MSD_vgg "
        "(converted on first use into the cache folder; see `autotag pretrained`)",
    )


def add_windowing(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--hop",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="seconds between window starts; windows are the model's clip length "
        "(features.clip_seconds, 29.1 s for the seed features). Default: one window (no overlap)",
    )
    p.add_argument(
        "--agg",
        choices=AGGREGATIONS,
        default=DEFAULT_AGG,
        help=f"how window predictions make the song's (default: {DEFAULT_AGG})",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=DEFAULT_BATCH,
        metavar="N",
        help=f"windows per forward pass (default: {DEFAULT_BATCH})",
    )
    p.add_argument(
        "--workers",
        type=non_negative_int,
        default=None,
        metavar="N",
        help=f"worker processes (default: all usable cores, {usable_cores()}, from 8 files on; "
        "0: all in this process). With the network on the CPU each worker tags whole songs "
        "with one thread; on a GPU the workers decode and this process runs the network",
    )
    p.add_argument(
        "--device",
        default="cpu",
        metavar="DEV",
        help="where the network runs: cpu (default), cuda, cuda:1, ...; decoding and the "
        "log-mel stay on the CPU",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def load_tagger(path: str, device: str = "cpu") -> Tagger:
    try:
        return Tagger.load(path, device)
    except TaggerError as e:
        raise UsageError(str(e)) from None


def collect(paths: Sequence[str], err: TextIO) -> tuple[list[str], int]:
    files, problems = find_audio(paths)
    for msg in problems:
        print(f"error: {msg}", file=err)
    return files, len(problems)


def progress_bar(total: int, desc: str, disabled: bool):
    """A live bar on a terminal, a line every 30 s in a log; none for a single file."""
    return progress(total, desc, "song", disable=disabled or total <= 1, final=False)


def report_error(message: str) -> None:
    tqdm.write(f"error: {message}", file=sys.stderr)  # above the progress bar, if any


def fmt_tags(pairs: list[tuple[str, float]]) -> str:
    return ", ".join(f"{t} {p:.2f}" for t, p in pairs)
