"""Checks of one downloaded file before it gets its final name: md5, annotation-file header."""

from __future__ import annotations

from pathlib import Path

from autotag.common.console import log
from autotag.data.datasets.mtat.sources import CSV_HEADER_FIELD, KNOWN_MD5, REPORTED_MD5
from autotag.data.download.archive import md5_file
from autotag.data.download.errors import CorruptDataError, DownloadError


def verify_file(path: Path, name: str, progress: bool) -> None:
    """Check md5 (if known) and, for the annotation files, the header; delete and raise if bad.

    ``name`` is the MTAT file name that ``path`` (e.g. its ``.part``) is meant to become. An md5
    in :data:`KNOWN_MD5` must match (:class:`CorruptDataError`); one only in
    :data:`REPORTED_MD5` is compared for files under 64 MiB, and a mismatch only prints a note.
    """
    want = KNOWN_MD5.get(name)
    if want:
        got = md5_file(path, progress)
        if got != want.lower():
            path.unlink(missing_ok=True)
            raise CorruptDataError(
                f"{name} is corrupt: md5 {got} differs from the known {want}. "
                "The file was removed; run again to download it again.",
                files=[name],
            )
    if name in CSV_HEADER_FIELD:
        with open(path, "rb") as f:
            head = f.readline(65536).decode("utf-8", errors="replace")
        field = CSV_HEADER_FIELD[name]
        html = head.lstrip().startswith("<")
        if html or (field is not None and ("\t" not in head or field not in head)):
            path.unlink(missing_ok=True)
            raise DownloadError(
                f"{name} does not look like the MTAT annotation file (first line: {head[:80]!r}); "
                "it was removed. Is --base-url right (a login or error page instead of the file)?"
            )
    reported = REPORTED_MD5.get(name)
    if reported and not want and path.stat().st_size < (64 << 20):
        got = md5_file(path)
        if got != reported:
            log(f"note: {name} md5 {got} differs from a value reported elsewhere ({reported}).")
