"""What MagnaTagATune's files are, where they are served, and how to fetch them by hand.

The data set is served as a zip split into three byte-chopped parts (``mp3.zip.001`` .. ``.003``;
concatenated in order they form one ordinary ``mp3.zip`` holding the folders ``0``-``9``,
``a``-``f``) plus three tab-separated annotation files.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from autotag.data.datasets.mtat.layout import ANNOTATIONS, CLIP_INFO, COMPARISONS, FOLDERS

OFFICIAL_URL = "https://mirg.city.ac.uk/datasets/magnatagatune/"
#: The address used in older papers and scripts (may no longer answer): try it with --base-url.
LEGACY_URL = "http://mi.soi.city.ac.uk/datasets/magnatagatune/"

ZIP_PARTS: tuple[str, ...] = ("mp3.zip.001", "mp3.zip.002", "mp3.zip.003")
CSV_FILES: tuple[str, ...] = (ANNOTATIONS, CLIP_INFO, COMPARISONS)
DEFAULT_FILES: tuple[str, ...] = ZIP_PARTS + CSV_FILES
JOINED_ZIP = "mp3.zip"
AUDIO_FOLDERS: tuple[str, ...] = tuple(FOLDERS)

#: md5 checked strictly (a mismatch is an error). No value has been confirmed against the server,
#: so all are ``None`` (skipped); fill in a value only after checking it on a real download.
KNOWN_MD5: dict[str, str | None] = dict.fromkeys((*DEFAULT_FILES, JOINED_ZIP))
#: md5 values found in a single third-party script (github, for the joined zip and the annotations);
#: unconfirmed, so a mismatch only prints a warning. The CRC test of every member is what decides.
REPORTED_MD5: dict[str, str] = {
    JOINED_ZIP: "f12add0eb4cd6c2a3ab7e4afaf7b7467",
    ANNOTATIONS: "f04fa01752a8cc64f6e1ca142a0fef1d",
}
#: Sizes in bytes, where known (otherwise the server's Content-Length is used). None are confirmed.
KNOWN_SIZES: dict[str, int | None] = dict.fromkeys(DEFAULT_FILES)
#: First-line checks: a field name that must appear in a tab-separated header (None: only check
#: that the file is not an HTML page, e.g. a login or error page served with status 200).
CSV_HEADER_FIELD: dict[str, str | None] = {
    ANNOTATIONS: "clip_id",
    CLIP_INFO: "clip_id",
    COMPARISONS: None,
}

DISK_NEEDED_GB = 9.0  # ~3 GB parts + ~3 GB joined zip + ~3 GB extracted, at the peak


def file_url(base_url: str, name: str) -> str:
    """The address of MTAT file ``name`` under ``base_url`` (with or without a final slash)."""
    return urllib.parse.urljoin(base_url if base_url.endswith("/") else base_url + "/", name)


def manual_instructions(root: Path, base_url: str = OFFICIAL_URL) -> str:
    """One paragraph telling what to download by hand and where to put it."""
    files = ", ".join(DEFAULT_FILES)
    return (
        f"Download these files by hand from {base_url} (browser, or `wget -c URL`): {files}; "
        f"and put them, with these names, in {root}/. Then run this command again: it joins the "
        f"three parts, tests them and extracts the audio into {root}/0 ... {root}/f (e.g. "
        f"{root}/f/<artist>-<album>-<track>-<title>-<start>-<end>.mp3), next to "
        f"{root}/annotations_final.csv, {root}/clip_info_final.csv and "
        f"{root}/comparisons_final.csv. An already extracted copy also works: put the folders "
        f"0-9, a-f and the three .csv files in {root}/. To use a mirror or the older address "
        f"{LEGACY_URL}, pass --base-url."
    )
