"""Command line of the MTAT downloader: flags, error messages on stderr, exit codes.

Exit codes: 0 success, 1 download/verification error (or a disk error), 2 host unreachable (with
instructions for a manual download), 130 interrupted (run again to resume).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autotag.data.download.errors import DownloadError, HostUnreachableError
from autotag.data.download.mtat import OFFICIAL_URL, manual_instructions
from autotag.data.download.pipeline import download_mtat


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (0 ok, 1 error, 2 unreachable)."""
    ap = argparse.ArgumentParser(
        prog="python -m autotag.data.download",
        description="Download, verify and extract MagnaTagATune (resumable).",
    )
    ap.add_argument("--root", default="data/mtat", help="target folder (default: data/mtat)")
    ap.add_argument("--base-url", default=OFFICIAL_URL, help=f"default: {OFFICIAL_URL}")
    ap.add_argument("--keep-zip", action="store_true", help="keep mp3.zip.00? and mp3.zip")
    ap.add_argument("--no-extract", action="store_true", help="only download the files")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    root = Path(args.root)
    try:
        download_mtat(
            root,
            base_url=args.base_url,
            keep_zip=args.keep_zip,
            extract=not args.no_extract,
            progress=not args.no_progress,
        )
    except HostUnreachableError as e:
        print(
            f"error: the host of {args.base_url} cannot be reached ({e.reason}); are you offline "
            f"or behind a firewall? Partial downloads (if any) in {root}/ resume on the next "
            f"run. " + manual_instructions(root, args.base_url),
            file=sys.stderr,
        )
        return 2
    except DownloadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # disk full, permissions, ...
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 0
