"""What MTG-Jamendo's files are, where they are served, and how they are laid out under ``root``.

The metadata (annotations, splits, sha256 lists) comes from the MTG/mtg-jamendo-dataset GitHub
repository at a pinned commit; the audio is 100 tar parts ``raw_30s_<set>-NN.tar``, part ``NN``
holding the folder ``NN/`` with the tracks ``NN/<id>.mp3`` (the ``audio-low`` set:
``NN/<id>.low.mp3``). Under ``root``::

    <root>/data/...                  the repository's data/ paths (metadata, splits, lists)
    <root>/audio/NN/<id>.mp3         the extracted tracks
    <root>/tars/raw_30s_<set>-NN.tar a part while it is downloaded and extracted
    <root>/.complete/raw_30s_<set>-NN.tsv  the files extracted from a part (its completion mark)
"""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

from autotag.data.datasets.jamendo.layout import N_SPLITS, PARTS, SUBSETS, metadata_path, split_path
from autotag.data.download.errors import CorruptDataError, DownloadError

#: The commit of MTG/mtg-jamendo-dataset whose metadata is fetched (the published splits).
METADATA_COMMIT = "1b4fa8c32e076c73b5175c1703ae805b4109309d"
METADATA_URL = f"https://raw.githubusercontent.com/MTG/mtg-jamendo-dataset/{METADATA_COMMIT}/"
AUDIO_URL = "https://cdn.freesound.org/mtg-jamendo/"
#: The slower official mirror (same layout below it): pass it as --base-url.
MIRROR_URL = "https://essentia.upf.edu/documentation/datasets/mtg-jamendo/"
DATASET = "raw_30s"
#: The audio sets: name -> description.
AUDIO_SETS: dict[str, str] = {"audio": "320 kbps MP3", "audio-low": "mono LAME V2 MP3 (.low.mp3)"}
SIZE_GB: dict[str, float] = {"audio": 508.0, "audio-low": 156.0}  # all parts, extracted
N_PARTS = 100
#: ``data/autotagging.tsv`` is a git symlink to this file (raw.githubusercontent serves the link
#: text), so its target is fetched instead and saved under the link's name.
AUTOTAGGING_TARGET = "data/raw_30s_cleantags_50artists.tsv"
TSV_HEADER = "TRACK_ID\t"

TARS_DIR = "tars"
COMPLETE_DIR = ".complete"

_SHA256 = re.compile(r"[0-9a-f]{64}")
_PART = re.compile(r"-(\d+)\.tar$")


def sha256_list(audio: str, kind: str) -> str:
    """Path (under ``root`` and the repository) of the sha256 list of ``kind`` tars/tracks."""
    return f"data/download/{DATASET}_{audio}_sha256_{kind}.txt"


def metadata_files(audio: str) -> dict[str, str]:
    """``{path under root: path in the repository}`` of every metadata file for ``audio``."""
    files = {metadata_path("all"): AUTOTAGGING_TARGET}
    files |= {metadata_path(s): metadata_path(s) for s in SUBSETS if s != "all"}
    for i in range(N_SPLITS):
        for s in SUBSETS:
            for part in PARTS:
                files[split_path(s, i, part)] = split_path(s, i, part)
    for kind in ("tars", "tracks"):
        files[sha256_list(audio, kind)] = sha256_list(audio, kind)
    return files


def url_join(base: str, path: str) -> str:
    """``path`` under ``base`` (with or without a final slash)."""
    return urllib.parse.urljoin(base if base.endswith("/") else base + "/", path)


def part_url(base_url: str, audio: str, tar_name: str) -> str:
    """The address of the tar ``tar_name`` of the set ``audio``."""
    return url_join(base_url, f"{DATASET}/{audio}/{tar_name}")


def part_number(tar_name: str) -> int:
    """``NN`` of ``raw_30s_<set>-NN.tar``."""
    m = _PART.search(tar_name)
    if m is None:
        raise DownloadError(f"unexpected tar name {tar_name!r} (expected ...-NN.tar)")
    return int(m.group(1))


def parse_folders(spec: str) -> list[int] | None:
    """The part numbers of ``spec`` (``7``, ``0-9``, ``3,7``, ``0-4,10``); None for ``all``."""
    if spec.strip().lower() in ("", "all"):
        return None
    out: set[int] = set()
    for item in spec.split(","):
        lo, sep, hi = item.strip().partition("-")
        try:
            a, b = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise DownloadError(f"--folders {spec!r}: expected e.g. 0-9 or 3,7") from None
        if not 0 <= a <= b < N_PARTS:
            raise DownloadError(f"--folders {spec!r}: parts are numbered 0 to {N_PARTS - 1}")
        out.update(range(a, b + 1))
    return sorted(out)


def read_sha256_list(path: Path) -> dict[str, str]:
    """``{file name: sha256}`` of a published list (lines ``<sha256> <name>``)."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            digest, _, name = line.partition(" ")
            if not _SHA256.fullmatch(digest.lower()) or not name.strip():
                raise DownloadError(
                    f"{path}, line {n}: expected '<sha256> <file name>', got {line[:80]!r}; "
                    "delete the file and run again"
                )
            out[name.strip()] = digest.lower()
    return out


def check_metadata(path: Path, name: str) -> None:
    """Reject (delete) a downloaded metadata file that is not what ``name`` should be.

    Catches an error or login page, and the text of a git symlink served instead of its target.
    """
    with open(path, "rb") as f:
        head = f.readline(4096).decode("utf-8", errors="replace")
    if name.endswith(".tsv"):
        ok = head.startswith(TSV_HEADER)
        what = f"a header starting with {TSV_HEADER.strip()!r}"
    else:
        digest = head.partition(" ")[0].lower()
        ok = bool(_SHA256.fullmatch(digest)) and bool(head.partition(" ")[2].strip())
        what = "lines '<sha256> <file name>'"
    if not ok:
        path.unlink(missing_ok=True)
        raise CorruptDataError(
            f"{name}: expected {what}, got {head[:80]!r}; it was removed. Is --metadata-url "
            "right (a page or a symlink's text instead of the file)?",
            files=[name],
        )


def offline_message(root: Path, url: str, reason: str, option: str) -> str:
    """One paragraph for a host that cannot be reached: which host, what resumes, what to try.

    ``option`` is the flag that sets the address of ``url`` (``--base-url``, ``--metadata-url``).
    """
    host = urllib.parse.urlsplit(url).netloc or url
    return (
        f"error: cannot reach {host} ({reason}) to fetch {url}; are you offline or behind a "
        f"firewall? Files already downloaded into {root}/ are kept and partial downloads "
        f"(.part) resume: run the same command again once the host answers. Another address "
        f"can be given with {option} (the audio's slower mirror: --base-url {MIRROR_URL})."
    )
