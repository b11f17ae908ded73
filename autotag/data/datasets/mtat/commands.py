"""MTAT's commands: ``autotag download mtat`` (fetch, verify, extract) and ``autotag synth mtat``
(write the synthetic twin). Their defaults come from the functions they call."""

from __future__ import annotations

import argparse
from pathlib import Path

from autotag.data.datasets.mtat.download import download_mtat
from autotag.data.datasets.mtat.sources import OFFICIAL_URL, manual_instructions
from autotag.data.datasets.mtat.synth import format_summary, generate
from autotag.data.datasets.registry import (
    Command,
    add_twin_flags,
    signature_defaults,
    twin_options,
)
from autotag.data.download.cli import run_job


def download_arguments(ap: argparse.ArgumentParser) -> None:
    """The flags of ``autotag download mtat``."""
    ap.add_argument("--root", default="data/mtat", help="target folder (default: data/mtat)")
    ap.add_argument("--base-url", default=OFFICIAL_URL, help=f"default: {OFFICIAL_URL}")
    ap.add_argument("--keep-zip", action="store_true", help="keep mp3.zip.00? and mp3.zip")
    ap.add_argument("--no-extract", action="store_true", help="only download the files")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")


def download(args: argparse.Namespace) -> int:
    """Run the download; the exit code (0 ok, 1 error, 2 unreachable, 130 interrupted)."""
    root = Path(args.root)
    return run_job(
        lambda: download_mtat(
            root,
            base_url=args.base_url,
            keep_zip=args.keep_zip,
            extract=not args.no_extract,
            progress=not args.no_progress,
        ),
        lambda e: (
            f"error: the host of {args.base_url} cannot be reached ({e.reason}); are you offline "
            f"or behind a firewall? Partial downloads (if any) in {root}/ resume on the next "
            f"run. " + manual_instructions(root, args.base_url)
        ),
    )


def synth_arguments(ap: argparse.ArgumentParser) -> None:
    """The flags of ``autotag synth mtat`` (defaults: :func:`generate`'s)."""
    d = signature_defaults(generate)
    ap.add_argument("--root", default="data/synthetic", help="output folder (default: %(default)s)")
    ap.add_argument("--clips", type=int, default=d["n_clips"], help="number of clips (%(default)s)")
    ap.add_argument("--seconds", type=float, default=d["clip_seconds"], help="clip length")
    add_twin_flags(ap, generate)


def synth(args: argparse.Namespace) -> int:
    """Write (or finish) the synthetic corpus and print its summary."""
    summary = generate(
        args.root, n_clips=args.clips, clip_seconds=args.seconds, **twin_options(args)
    )
    print(format_summary(summary))
    return 0


DOWNLOAD = Command(
    "Download, verify and extract MagnaTagATune (resumable).", download_arguments, download
)
SYNTH = Command(
    "Write a synthetic corpus in MagnaTagATune's exact on-disk format.", synth_arguments, synth
)
