"""Command line of the downloaders (MTAT, the default, or MTG-Jamendo): flags, messages, exit codes.

Flags may also be given as bare ``key=value`` tokens (``dataset=jamendo audio=audio-low``), as
with the Hydra commands of the project. Exit codes: 0 success, 1 download/verification error (or
a disk error), 2 host unreachable (with instructions), 130 interrupted (run again to resume).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
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
from autotag.data.datasets.mtat.download import download_mtat
from autotag.data.datasets.mtat.sources import OFFICIAL_URL, manual_instructions
from autotag.data.download.errors import DownloadError, HostUnreachableError

PROG = "python -m autotag.data.download"
DATASETS = ("mtat", "jamendo")
#: Flags without a value: ``key=true`` gives the flag, ``key=false`` drops it.
_SWITCHES = {"--keep-zip", "--keep-tars", "--no-extract", "--no-progress", "--metadata-only"}
_KEY_VALUE = re.compile(r"([A-Za-z][\w-]*)=(.*)", re.DOTALL)


def rewrite_key_values(argv: list[str]) -> list[str]:
    """Turn bare ``key=value`` tokens into ``--key value`` (``_`` in a key becomes ``-``)."""
    out: list[str] = []
    takes_value = False  # the previous token is a flag whose value this token is
    for tok in argv:
        m = None if takes_value else _KEY_VALUE.fullmatch(tok)
        if m is None:
            out.append(tok)
            takes_value = tok.startswith("--") and "=" not in tok and tok not in _SWITCHES
            continue
        flag, value = "--" + m.group(1).replace("_", "-"), m.group(2)
        if flag in _SWITCHES:
            if value.lower() in ("true", "1", "yes", ""):
                out.append(flag)
            elif value.lower() not in ("false", "0", "no"):
                out.append(f"{flag}={value}")  # argparse reports it
        else:
            out += [flag, value]
        takes_value = False
    return out


def _add_dataset(ap: argparse.ArgumentParser, default: str) -> None:
    ap.add_argument(
        "--dataset",
        choices=DATASETS,
        default=default,
        help="mtat (the default) or jamendo (`--dataset jamendo --help`: its options)",
    )


def _mtat_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog=PROG, description="Download, verify and extract MagnaTagATune (resumable)."
    )
    _add_dataset(ap, "mtat")
    ap.add_argument("--root", default="data/mtat", help="target folder (default: data/mtat)")
    ap.add_argument("--base-url", default=OFFICIAL_URL, help=f"default: {OFFICIAL_URL}")
    ap.add_argument("--keep-zip", action="store_true", help="keep mp3.zip.00? and mp3.zip")
    ap.add_argument("--no-extract", action="store_true", help="only download the files")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    return ap


def _jamendo_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog=PROG + " dataset=jamendo",
        description="Download, verify (sha256) and extract MTG-Jamendo (raw_30s; resumable): the "
        "metadata and splits into ROOT/data, the tracks into ROOT/audio/NN/.",
    )
    _add_dataset(ap, "jamendo")
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
    return ap


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (0 ok, 1 error, 2 unreachable)."""
    argv = rewrite_key_values(list(sys.argv[1:] if argv is None else argv))
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--dataset", choices=DATASETS, default="mtat")
    dataset = pre.parse_known_args(argv)[0].dataset
    if dataset == "jamendo":
        return _main_jamendo(_jamendo_parser().parse_args(argv))
    return _main_mtat(_mtat_parser().parse_args(argv))


def _run(job: Callable[[], object], unreachable: Callable[[HostUnreachableError], str]) -> int:
    """Run ``job``; map its errors to a message on stderr and an exit code."""
    try:
        job()
    except HostUnreachableError as e:
        print(unreachable(e), file=sys.stderr)
        return 2
    except (DownloadError, OSError) as e:  # OSError: disk full, permissions, ...
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


def _main_mtat(args: argparse.Namespace) -> int:
    root = Path(args.root)
    return _run(
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


def _main_jamendo(args: argparse.Namespace) -> int:
    root = Path(args.root)

    def unreachable(e: HostUnreachableError) -> str:
        option = "--metadata-url" if e.url.startswith(args.metadata_url) else "--base-url"
        return offline_message(root, e.url, e.reason, option)

    return _run(
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
