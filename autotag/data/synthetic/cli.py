"""Command line of the synthetic corpus generators (``python -m autotag.data.synthetic``)."""

from __future__ import annotations

import argparse

from autotag.data.datasets.jamendo.synth import format_jamendo_summary, generate_jamendo
from autotag.data.datasets.mtat.synth import format_summary, generate

DEFAULT_ROOTS = {"mtat": "data/synthetic", "jamendo": "data/jamendo_synthetic"}


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m autotag.data.synthetic --root data/synthetic --clips 1600``,
    or ``--layout jamendo --tracks 400`` for MTG-Jamendo's layout."""
    parser = argparse.ArgumentParser(
        prog="python -m autotag.data.synthetic",
        description="Write a synthetic corpus in MagnaTagATune's (or MTG-Jamendo's) exact "
        "on-disk format.",
    )
    parser.add_argument(
        "--layout", choices=("mtat", "jamendo"), default="mtat", help="whose format to write"
    )
    parser.add_argument(
        "--root",
        default=None,
        help="output folder (default: data/synthetic for mtat, data/jamendo_synthetic for jamendo)",
    )
    parser.add_argument("--clips", type=int, default=1600, help="mtat: number of clips")
    parser.add_argument("--seconds", type=float, default=29.1, help="mtat: clip length")
    parser.add_argument("--tracks", type=int, default=400, help="jamendo: number of tracks")
    parser.add_argument("--min-seconds", type=float, default=40.0, help="jamendo: shortest track")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="jamendo: longest track")
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--label-drop", type=float, default=0.2, help="share of true labels dropped"
    )
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--no-broken", action="store_true", help="no deliberately broken entries")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    root = args.root or DEFAULT_ROOTS[args.layout]
    if args.layout == "jamendo":
        summary = generate_jamendo(
            root,
            n_tracks=args.tracks,
            min_seconds=args.min_seconds,
            max_seconds=args.max_seconds,
            seed=args.seed,
            label_drop=args.label_drop,
            broken=not args.no_broken,
            workers=args.workers,
            sample_rate=args.sample_rate,
            progress=not args.quiet,
        )
        print(format_jamendo_summary(summary))
        return 0
    summary = generate(
        root,
        n_clips=args.clips,
        clip_seconds=args.seconds,
        sample_rate=args.sample_rate,
        seed=args.seed,
        label_drop=args.label_drop,
        broken=not args.no_broken,
        workers=args.workers,
        progress=not args.quiet,
    )
    print(format_summary(summary))
    return 0
