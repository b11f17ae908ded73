"""``autotag catalogue``: tag and embed a catalogue on one machine (resumable). A cluster runs
``python -m autotag.catalogue`` instead, one array task per shard."""

from __future__ import annotations

import argparse
import sys

from autotag.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    add_model,
    add_windowing,
    load_tagger,
    positive_int,
    report_error,
)
from autotag.inference.backends import DEFAULT_LAYER
from autotag.inference.catalogue import (
    DEFAULT_UNIT,
    ERRORS,
    INDEX,
    TABLE,
    pick_device,
    run_catalogue,
)
from autotag.inference.catalogue_input import CatalogueInputError, catalogue_songs


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "catalogue",
        help="tag and embed a whole catalogue into a folder (resumable)",
        description="Tag and embed every song of folders (recursive), CSV files (a 'path' "
        f"column) or audio files into OUT: {TABLE} (every song: probabilities, tags present, "
        f"embedding, silent, duration, error), {INDEX} (the ok songs, for `autotag similar "
        f"--index`) and {ERRORS}. Written in parts of --unit-size songs: a killed run, rerun, "
        "tags only the missing parts. On a cluster: python -m autotag.catalogue.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="folders, CSV files, audio files")
    add_model(p)
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="folder to write")
    p.add_argument(
        "--unit-size",
        type=positive_int,
        default=DEFAULT_UNIT,
        metavar="N",
        help=f"songs per resumable part (default: {DEFAULT_UNIT})",
    )
    p.add_argument(
        "--layer",
        default=DEFAULT_LAYER,
        metavar="NAME",
        help="the layer the embeddings come from (default: penultimate)",
    )
    add_windowing(p)
    device = next(a for a in p._actions if a.dest == "device")
    device.default = "auto"
    device.help = "where the network runs: auto (default: cuda when present, else cpu), cpu, cuda"
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    tagger = load_tagger(args.model, pick_device(args.device))
    try:
        tagger.embedding_layer = args.layer
    except ValueError as e:
        raise UsageError(f"--layer: {e}") from None
    try:
        paths, ids = catalogue_songs(args.paths)
        done = run_catalogue(
            tagger, paths, ids, args.out, unit_size=args.unit_size, workers=args.workers,
            batch_size=args.batch_size, hop=args.hop, agg=args.agg,
            progress=not args.no_progress, on_error=report_error,
        )  # fmt: skip
    except CatalogueInputError as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"{args.out}: cannot write the catalogue ({e})") from None
    print(
        f"catalogued {done.n_songs - done.n_failed} of {done.n_songs} songs into {done.out}"
        + (f"; {done.n_failed} failed (listed in {done.out / ERRORS})" if done.n_failed else ""),
        file=sys.stderr,
    )
    return EXIT_FAILED if done.n_failed else EXIT_OK
