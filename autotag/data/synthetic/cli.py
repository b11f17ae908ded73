"""Command line of the synthetic MTAT generator (``python -m autotag.data.synthetic``)."""

from __future__ import annotations

import argparse

from autotag.data.synthetic.corpus import format_summary, generate


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m autotag.data.synthetic --root data/synthetic --clips 1600``."""
    parser = argparse.ArgumentParser(
        prog="python -m autotag.data.synthetic",
        description="Write a synthetic corpus in MagnaTagATune's exact on-disk format.",
    )
    parser.add_argument("--root", default="data/synthetic", help="output folder")
    parser.add_argument("--clips", type=int, default=1600, help="number of clips")
    parser.add_argument("--seconds", type=float, default=29.1, help="clip length")
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--label-drop", type=float, default=0.2, help="share of true labels dropped"
    )
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--no-broken", action="store_true", help="no deliberately broken entries")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    summary = generate(
        args.root,
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
