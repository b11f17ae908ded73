"""``autotag embed``."""

from __future__ import annotations

import argparse
import sys

from autotag.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    add_model,
    add_windowing,
    collect,
    load_tagger,
    progress_bar,
    report_error,
)
from autotag.inference.backends import DEFAULT_LAYER
from autotag.inference.embed import song_ids, write_index


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "embed",
        help="embed a catalogue into an HDF5 index",
        description="Penultimate-layer embeddings (and tag probabilities) of every song, "
        "into an HDF5 index for `autotag similar`.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files and/or folders")
    add_model(p)
    p.add_argument("--out", "-o", required=True, metavar="INDEX_H5", help="index file to write")
    p.add_argument(
        "--layer",
        default=DEFAULT_LAYER,
        metavar="NAME",
        help="the layer the embeddings come from (default: penultimate, the layer the classifier "
        "reads); musicnn models also have mean_pool and max_pool (their pooled mid-end, 753-d)",
    )
    add_windowing(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    tagger = load_tagger(args.model, args.device)
    try:
        tagger.embedding_layer = args.layer
    except ValueError as e:
        raise UsageError(f"--layer: {e}") from None
    files, failed = collect(args.paths, sys.stderr)
    if not files:
        return EXIT_FAILED
    ids = dict(zip(files, song_ids(files, args.paths)))
    bar = progress_bar(len(files), "embed", args.no_progress)
    n_failed = [failed]

    def on_result(song) -> None:
        bar.update(1)
        if not song.ok:
            n_failed[0] += 1
            report_error(song.error or song.path)

    with bar:
        results = tagger.tag_files(files, args.hop, args.agg, args.batch_size, args.workers)
        try:
            n = write_index(args.out, tagger, results, ids, args.hop, args.agg, on_result)
        except OSError as e:
            raise UsageError(f"{args.out}: cannot write the index ({e})") from None
    print(
        f"embedded {n} of {len(files)} files ({tagger.embedding_dim}-d {args.layer}) into {args.out}"
        + (f"; {n_failed[0]} failed" if n_failed[0] else ""),
        file=sys.stderr,
    )
    return EXIT_FAILED if n_failed[0] else EXIT_OK
