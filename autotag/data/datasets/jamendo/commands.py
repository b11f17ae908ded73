"""MTG-Jamendo's commands: ``autotag download jamendo`` (metadata, then the tar parts: fetch,
sha256, extract, check) and ``autotag synth jamendo`` (write the synthetic twin). Their
defaults come from the functions they call."""

from __future__ import annotations

import argparse
from pathlib import Path

from autotag.data.datasets.jamendo.download import download_jamendo
from autotag.data.datasets.jamendo.sources import (
    AUDIO_SETS,
    AUDIO_URL,
    METADATA_COMMIT,
    METADATA_URL,
    MIRROR_URL,
    SIZE_GB,
    offline_message,
    parse_folders,
)
from autotag.data.datasets.jamendo.synth import format_jamendo_summary, generate_jamendo
from autotag.data.datasets.registry import (
    Command,
    add_twin_flags,
    signature_defaults,
    twin_options,
)
from autotag.data.download.cli import run_job
from autotag.data.download.errors import HostUnreachableError


def download_arguments(ap: argparse.ArgumentParser) -> None:
    """The flags of ``autotag download jamendo``."""
    ap.add_argument("--root", default="data/jamendo", help="target folder (default: data/jamendo)")
    sets = "; ".join(f"{k}: {v}, {SIZE_GB[k]:.0f} GB" for k, v in AUDIO_SETS.items())
    ap.add_argument(
        "--audio", choices=list(AUDIO_SETS), default="audio", help=f"default: audio ({sets})"
    )
    ap.add_argument(
        "--folders",
        default="all",
        help="which of the 100 tar parts (00-99), e.g. 0-9 or 3,7 (default: all; a few parts "
        "make a first try)",
    )
    ap.add_argument(
        "--base-url",
        default=AUDIO_URL,
        help=f"address of the audio (default: {AUDIO_URL}; slower mirror: {MIRROR_URL})",
    )
    ap.add_argument(
        "--metadata-url",
        default=METADATA_URL,
        help=f"address of the repository's files (default: MTG/mtg-jamendo-dataset at commit "
        f"{METADATA_COMMIT[:10]} on raw.githubusercontent.com)",
    )
    ap.add_argument("--keep-tars", action="store_true", help="keep the tars in ROOT/tars")
    ap.add_argument("--no-extract", action="store_true", help="only download (and check) tars")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    ap.add_argument("--metadata-only", action="store_true", help="only the metadata and splits")


def download(args: argparse.Namespace) -> int:
    """Run the download; the exit code (0 ok, 1 error, 2 unreachable, 130 interrupted)."""
    root = Path(args.root)

    def unreachable(e: HostUnreachableError) -> str:
        option = "--metadata-url" if e.url.startswith(args.metadata_url) else "--base-url"
        return offline_message(root, e.url, e.reason, option)

    return run_job(
        lambda: download_jamendo(
            root,
            audio=args.audio,
            folders=parse_folders(args.folders),
            base_url=args.base_url,
            metadata_url=args.metadata_url,
            keep_tars=args.keep_tars,
            extract=not args.no_extract,
            progress=not args.no_progress,
            metadata_only=args.metadata_only,
        ),
        unreachable,
    )


def synth_arguments(ap: argparse.ArgumentParser) -> None:
    """The flags of ``autotag synth jamendo`` (defaults: :func:`generate_jamendo`'s)."""
    d = signature_defaults(generate_jamendo)
    ap.add_argument(
        "--root", default="data/jamendo_synthetic", help="output folder (default: %(default)s)"
    )
    ap.add_argument("--tracks", type=int, default=d["n_tracks"], help="number of tracks")
    ap.add_argument("--min-seconds", type=float, default=d["min_seconds"], help="shortest track")
    ap.add_argument("--max-seconds", type=float, default=d["max_seconds"], help="longest track")
    add_twin_flags(ap, generate_jamendo)


def synth(args: argparse.Namespace) -> int:
    """Write (or finish) the synthetic corpus and print its summary."""
    summary = generate_jamendo(
        args.root,
        n_tracks=args.tracks,
        min_seconds=args.min_seconds,
        max_seconds=args.max_seconds,
        **twin_options(args),
    )
    print(format_jamendo_summary(summary))
    return 0


DOWNLOAD = Command(
    "Download, verify (sha256) and extract MTG-Jamendo (raw_30s; resumable): the metadata and "
    "splits into ROOT/data, the tracks into ROOT/audio/NN/.",
    download_arguments,
    download,
)
SYNTH = Command(
    "Write a synthetic corpus in MTG-Jamendo's exact on-disk layout (full-length tracks).",
    synth_arguments,
    synth,
)
