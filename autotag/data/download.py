"""Download, verify and extract MagnaTagATune (MTAT).

The data set is served as a zip split into three byte-chopped parts (``mp3.zip.001`` .. ``.003``;
concatenated in order they form one ordinary ``mp3.zip`` holding the folders ``0``-``9``,
``a``-``f``) plus three tab-separated annotation files. This module:

* downloads each file with :mod:`urllib` to ``<name>.part``, resuming partial downloads with HTTP
  ``Range`` requests, retrying transient errors with exponential backoff, and renaming to the final
  name only once the size matches ``Content-Length`` (and the md5 where one is known);
* joins the parts into ``mp3.zip`` (streamed), checks the CRC of every member while extracting it
  into ``root`` (so ``root/0/<clip>.mp3``, ``root/annotations_final.csv``, ...), skips members that
  are already extracted, and names the part that holds a corrupt member;
* writes a manifest (``root/.mtat_complete.tsv``) when done, so that a second run only checks that
  every file is still there and reports "already complete".

Usage::

    python -m autotag.data.download --root data/mtat [--base-url URL] [--keep-zip] [--no-extract]

Exit codes: 0 success, 1 download/verification error, 2 host unreachable (with instructions for a
manual download), 130 interrupted (run again to resume).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import http.client
import os
import shutil
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from tqdm import tqdm

OFFICIAL_URL = "https://mirg.city.ac.uk/datasets/magnatagatune/"
#: The address used in older papers and scripts (may no longer answer): try it with --base-url.
LEGACY_URL = "http://mi.soi.city.ac.uk/datasets/magnatagatune/"

ZIP_PARTS: tuple[str, ...] = ("mp3.zip.001", "mp3.zip.002", "mp3.zip.003")
CSV_FILES: tuple[str, ...] = (
    "annotations_final.csv",
    "clip_info_final.csv",
    "comparisons_final.csv",
)
DEFAULT_FILES: tuple[str, ...] = ZIP_PARTS + CSV_FILES
JOINED_ZIP = "mp3.zip"
AUDIO_FOLDERS: tuple[str, ...] = tuple("0123456789abcdef")
MANIFEST = ".mtat_complete.tsv"

#: md5 checked strictly (a mismatch is an error). No value has been confirmed against the server,
#: so all are ``None`` (skipped); fill in a value only after checking it on a real download.
KNOWN_MD5: dict[str, str | None] = dict.fromkeys((*DEFAULT_FILES, JOINED_ZIP))
#: md5 values found in a single third-party script (github, for the joined zip and the annotations);
#: unconfirmed, so a mismatch only prints a warning. The CRC test of every member is what decides.
REPORTED_MD5: dict[str, str] = {
    JOINED_ZIP: "f12add0eb4cd6c2a3ab7e4afaf7b7467",
    "annotations_final.csv": "f04fa01752a8cc64f6e1ca142a0fef1d",
}
#: Sizes in bytes, where known (otherwise the server's Content-Length is used). None are confirmed.
KNOWN_SIZES: dict[str, int | None] = dict.fromkeys(DEFAULT_FILES)
#: First-line checks: a field name that must appear in a tab-separated header (None: only check
#: that the file is not an HTML page, e.g. a login or error page served with status 200).
CSV_HEADER_FIELD: dict[str, str | None] = {
    "annotations_final.csv": "clip_id",
    "clip_info_final.csv": "clip_id",
    "comparisons_final.csv": None,
}

MAX_RETRIES = 6  # per file, for errors after the host has answered at least once
CONNECT_RETRIES = 2  # while the host has never answered (offline, refused, timing out)
BACKOFF_S = 2.0  # first wait; doubles each retry, capped at BACKOFF_MAX_S
BACKOFF_MAX_S = 60.0
TIMEOUT_S = 30.0  # socket timeout (connect and each read)
CHUNK = 1 << 20
DISK_NEEDED_GB = 9.0  # ~3 GB parts + ~3 GB joined zip + ~3 GB extracted, at the peak
USER_AGENT = "autotag-mtat-downloader/1.0 (+python-urllib)"
TRANSIENT_HTTP = {408, 425, 429, 500, 502, 503, 504}


class DownloadError(RuntimeError):
    """A download or verification step failed; the message says what and what to do."""


class HostUnreachableError(DownloadError):
    """The host could not be reached at all (offline, DNS failure, refused, timeouts)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"cannot reach {url}: {reason}")


class CorruptDataError(DownloadError):
    """Downloaded data failed a check; ``files`` names the culprit file(s) where known."""

    def __init__(self, message: str, files: list[str]) -> None:
        super().__init__(message)
        self.files = files


class _Transient(Exception):
    """Internal: a retryable failure (``answered`` tells whether the host replied)."""

    def __init__(self, reason: str, answered: bool) -> None:
        super().__init__(reason)
        self.answered = answered


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _log(msg: str) -> None:
    tqdm.write(msg, file=sys.stdout)


def _part_path(path: Path) -> Path:
    return path.with_name(path.name + ".part")


def _md5(path: Path, progress: bool = False) -> str:
    h = hashlib.md5()
    with (
        open(path, "rb") as f,
        tqdm(
            total=path.stat().st_size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"md5 {path.name}",
            disable=not progress,
            leave=False,
        ) as bar,
    ):
        while block := f.read(CHUNK):
            h.update(block)
            bar.update(len(block))
    return h.hexdigest()


def _parse_content_range(value: str | None) -> tuple[int | None, int | None]:
    """Parse ``bytes a-b/total`` (or ``bytes */total``) into ``(a, total)``."""
    if not value or not value.strip().lower().startswith("bytes"):
        return None, None
    spec = value.strip()[5:].strip()
    rng, _, total = spec.partition("/")
    start = None
    if rng != "*":
        try:
            start = int(rng.split("-", 1)[0])
        except ValueError:
            start = None
    try:
        total_i = int(total) if total.strip() != "*" else None
    except ValueError:
        total_i = None
    return start, total_i


def _describe(err: BaseException) -> str:
    reason = getattr(err, "reason", None)
    if isinstance(reason, BaseException):
        return _describe(reason)
    text = str(reason if reason is not None else err) or type(err).__name__
    return f"{type(err).__name__}: {text}" if reason is None else text


def _is_dns_failure(err: BaseException) -> bool:
    reason = getattr(err, "reason", err)
    return isinstance(reason, socket.gaierror)


# --------------------------------------------------------------------------------------------
# download of one file
# --------------------------------------------------------------------------------------------


class _Session:
    """Remembers whether the host has answered during this run (changes the retry budget)."""

    def __init__(self) -> None:
        self.answered = False


def _fetch_once(
    url: str, dest: Path, expected: int | None, session: _Session, progress: bool
) -> None:
    """One attempt: (re)start or resume ``dest.part``; return when it holds the complete file."""
    part = _part_path(dest)
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if expected is not None and offset > expected:  # stale/foreign .part
        part.unlink()
        offset = 0
    if offset:
        headers["Range"] = f"bytes={offset}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        session.answered = True
        if e.code == 416:  # range not satisfiable: .part is complete, or longer than the file
            _, total = _parse_content_range(e.headers.get("Content-Range"))
            e.close()
            if total is not None and offset == total:
                return
            part.unlink(missing_ok=True)
            raise _Transient("server refused the resume range; restarting", True) from e
        if e.code in TRANSIENT_HTTP:
            raise _Transient(f"HTTP {e.code} {e.reason}", True) from e
        raise DownloadError(
            f"{url} answered HTTP {e.code} {e.reason}. Check --base-url (default {OFFICIAL_URL}), "
            f"or download {dest.name} by hand into {dest.parent}/ and run again."
        ) from e
    except urllib.error.URLError as e:
        if _is_dns_failure(e) and not session.answered:
            raise HostUnreachableError(url, _describe(e)) from e
        raise _Transient(_describe(e), session.answered) from e
    except (TimeoutError, ConnectionError, http.client.HTTPException, ssl.SSLError, OSError) as e:
        raise _Transient(_describe(e), session.answered) from e

    session.answered = True
    with resp:
        status = resp.status
        length = resp.headers.get("Content-Length")
        length_i = int(length) if length and length.isdigit() else None
        if status == 206:
            start, total = _parse_content_range(resp.headers.get("Content-Range"))
            if start != offset:  # server sent another range than asked: start over
                part.unlink(missing_ok=True)
                raise _Transient(f"unexpected Content-Range {start}, wanted {offset}", True)
            mode = "ab"
        elif status == 200:
            offset, mode = 0, "wb"  # the server ignored the Range header: restart
            total = length_i
        else:
            raise _Transient(f"unexpected HTTP status {status}", True)
        if expected is not None and total is not None and total != expected:
            raise DownloadError(
                f"{dest.name}: the server reports {total} bytes, expected {expected}; "
                "is --base-url pointing to the right files?"
            )
        total = expected if expected is not None else total
        received = offset
        with (
            open(part, mode) as f,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=dest.name,
                disable=not progress,
                dynamic_ncols=True,
            ) as bar,
        ):
            while True:
                try:
                    block = resp.read(CHUNK)
                except (TimeoutError, http.client.HTTPException, ssl.SSLError, OSError) as e:
                    msg = f"connection lost at byte {received}: {_describe(e)}"
                    raise _Transient(msg, True) from e
                if not block:
                    break
                f.write(block)  # disk errors (OSError) propagate: not worth a retry
                received += len(block)
                bar.update(len(block))
    if total is not None and received != total:
        if received > total:
            part.unlink(missing_ok=True)
        raise _Transient(f"connection closed at byte {received} of {total}", True)


def download_file(
    url: str, dest: Path, expected_size: int | None = None, progress: bool = True
) -> Path:
    """Download ``url`` to ``dest`` (resumable, retried); return ``dest``.

    Raises :class:`HostUnreachableError` when the host never answers and :class:`DownloadError`
    for permanent failures (HTTP 4xx, size or checksum mismatch).
    """
    return _download(url, dest, expected_size, _Session(), progress)


def _download(
    url: str, dest: Path, expected: int | None, session: _Session, progress: bool
) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    attempt = 0
    while True:
        try:
            _fetch_once(url, dest, expected, session, progress)
            break
        except _Transient as e:
            attempt += 1
            limit = MAX_RETRIES if (e.answered or session.answered) else CONNECT_RETRIES
            if attempt > limit:
                if not (e.answered or session.answered):
                    raise HostUnreachableError(url, str(e)) from e
                raise DownloadError(
                    f"{dest.name}: giving up after {attempt} attempts ({e}). "
                    f"The partial file {_part_path(dest).name} is kept: run again to resume."
                ) from e
            wait = min(BACKOFF_S * 2 ** (attempt - 1), BACKOFF_MAX_S)
            _log(f"{dest.name}: {e}; retry {attempt}/{limit} in {wait:.0f} s")
            time.sleep(wait)
    part = _part_path(dest)
    _verify_file(part, dest.name, progress)
    os.replace(part, dest)
    return dest


def _verify_file(path: Path, name: str, progress: bool) -> None:
    """Check md5 (if known) and, for the annotation files, the header; delete and raise if bad."""
    want = KNOWN_MD5.get(name)
    if want:
        got = _md5(path, progress)
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
        got = _md5(path)
        if got != reported:
            _log(f"note: {name} md5 {got} differs from a value reported elsewhere ({reported}).")


# --------------------------------------------------------------------------------------------
# join, test, extract
# --------------------------------------------------------------------------------------------


def join_parts(parts: list[Path], out: Path, progress: bool = True) -> str:
    """Concatenate ``parts`` in order into ``out`` (streamed, atomic rename); return its md5."""
    tmp = out.with_name(out.name + ".tmp")
    total = sum(p.stat().st_size for p in parts)
    h = hashlib.md5()
    with (
        open(tmp, "wb") as dst,
        tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"join {out.name}",
            disable=not progress,
            dynamic_ncols=True,
        ) as bar,
    ):
        for p in parts:
            with open(p, "rb") as src:
                while block := src.read(CHUNK):
                    dst.write(block)
                    h.update(block)
                    bar.update(len(block))
    if tmp.stat().st_size != total:
        tmp.unlink(missing_ok=True)
        raise DownloadError(f"joining into {out.name} failed (disk full?)")
    os.replace(tmp, out)
    return h.hexdigest()


def _safe_target(root: Path, name: str) -> Path:
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise DownloadError(f"refusing to extract unsafe path {name!r}")
    return root.joinpath(*pure.parts)


def _culprit_parts(info: zipfile.ZipInfo, parts: list[tuple[str, int]]) -> list[str]:
    """Names of the parts overlapping ``info``'s bytes in the joined zip."""
    start = info.header_offset
    end = start + 30 + len(info.filename.encode()) + len(info.extra) + info.compress_size + 16
    out, pos = [], 0
    for name, size in parts:
        if pos < end and start < pos + size:
            out.append(name)
        pos += size
    return out


def extract_zip(
    zip_path: Path,
    root: Path,
    parts: list[tuple[str, int]] | None = None,
    progress: bool = True,
) -> list[tuple[str, int]]:
    """Test (CRC of every member) and extract ``zip_path`` into ``root``.

    Members already present with the right size are skipped (those written here were CRC-checked:
    each member goes to a temporary name, renamed only once its CRC matched).
    ``parts`` (name, size) lets a corrupt member be traced to the part holding it.
    Returns the ``(relative path, size)`` of every file member.
    """
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as e:
        names = ", ".join(n for n, _ in parts) if parts else zip_path.name
        raise DownloadError(
            f"{zip_path.name} is not a readable zip ({e}). A part is truncated or corrupt "
            f"(check {names}); delete the bad part(s) and {zip_path.name}, then run again."
        ) from e
    members: list[tuple[str, int]] = []
    with zf:
        infos = zf.infolist()
        todo = []
        for info in infos:
            target = _safe_target(root, info.filename)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            members.append((PurePosixPath(info.filename).as_posix(), info.file_size))
            if target.is_file() and target.stat().st_size == info.file_size:
                continue
            todo.append((info, target))
        skipped = len(members) - len(todo)
        if skipped:
            _log(f"{skipped} of {len(members)} files already extracted, skipping them")
        with tqdm(
            total=sum(i.file_size for i, _ in todo),
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"test+extract ({len(todo)} files)",
            disable=not progress,
            dynamic_ncols=True,
        ) as bar:
            for info, target in todo:
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(target.name + ".tmp")
                try:
                    with zf.open(info) as src, open(tmp, "wb") as dst:
                        while block := src.read(CHUNK):
                            dst.write(block)
                            bar.update(len(block))
                except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as e:
                    tmp.unlink(missing_ok=True)
                    raise _corrupt_member(zip_path, info, parts, e) from e
                os.replace(tmp, target)
    return members


def _corrupt_member(
    zip_path: Path, info: zipfile.ZipInfo, parts: list[tuple[str, int]] | None, err: Exception
) -> CorruptDataError:
    where = _culprit_parts(info, parts) if parts else []
    if where:
        return CorruptDataError(
            f"corrupt data in {' / '.join(where)}: member {info.filename} of {zip_path.name} "
            f"fails its check ({err}).",
            files=where,
        )
    return CorruptDataError(
        f"{zip_path.name} is corrupt: member {info.filename} fails its check ({err}); "
        "replace the archive (or its parts) and run again.",
        files=[],
    )


# --------------------------------------------------------------------------------------------
# manifest (completion marker)
# --------------------------------------------------------------------------------------------


def _write_manifest(root: Path, entries: Iterable[tuple[str, int]]) -> None:
    tmp = root / (MANIFEST + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for name, size in sorted(set(entries)):
            f.write(f"{size}\t{name}\n")
    os.replace(tmp, root / MANIFEST)


def _read_manifest(root: Path) -> list[tuple[str, int]] | None:
    path = root / MANIFEST
    if not path.is_file():
        return None
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            size, _, name = line.rstrip("\n").partition("\t")
            if name:
                out.append((name, int(size)))
    return out


def _missing(root: Path, entries: Iterable[tuple[str, int]]) -> list[str]:
    bad = []
    for name, size in entries:
        p = root / name
        try:
            if p.stat().st_size != size:
                bad.append(name)
        except OSError:
            bad.append(name)
    return bad


def _audio_complete(root: Path) -> bool:
    """True if the manifest exists and every audio file it lists is present with its size."""
    entries = _read_manifest(root)
    if entries is None:
        return False
    bad = _missing(root, entries)
    if bad:
        _log(
            f"{len(bad)} files listed in {MANIFEST} are missing or changed "
            f"(e.g. {bad[0]}); they will be restored"
        )
        (root / MANIFEST).unlink()
        return False
    return True


def _adopt_extracted_copy(root: Path, max_missing: int = 10) -> bool:
    """Accept an already extracted copy (e.g. unzipped by hand) if the annotations confirm it.

    Every ``mp3_path`` of ``annotations_final.csv`` must exist, up to ``max_missing`` absences
    and at most 0.1 % of the clips (the real data set lacks at least one clip, 35644). Writes the
    manifest and returns True on success.
    """
    ann = root / "annotations_final.csv"
    if not ann.is_file() or not any((root / d).is_dir() for d in AUDIO_FOLDERS):
        return False
    try:
        with open(ann, encoding="utf-8", newline="") as f:
            rows = csv.DictReader(f, delimiter="\t")
            paths = [r["mp3_path"] for r in rows if r.get("mp3_path")]
    except (KeyError, csv.Error, UnicodeDecodeError):
        return False
    if not paths:
        return False
    entries, missing = [], 0
    for rel in paths:
        p = root / rel
        if p.is_file():
            entries.append((PurePosixPath(rel).as_posix(), p.stat().st_size))
        else:
            missing += 1
    if missing > min(max_missing, len(paths) // 1000):
        return False
    _write_manifest(root, entries)
    _log(
        f"found an extracted copy in {root}: {len(entries)} clips"
        + (f", {missing} listed clip(s) missing" if missing else "")
    )
    return True


# --------------------------------------------------------------------------------------------
# orchestration
# --------------------------------------------------------------------------------------------


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


def _file_url(base_url: str, name: str) -> str:
    return urllib.parse.urljoin(base_url if base_url.endswith("/") else base_url + "/", name)


def _cleanup(root: Path) -> None:
    for name in (*ZIP_PARTS, JOINED_ZIP):
        p = root / name
        if p.exists():
            p.unlink()
            _log(f"removed {p}")


def _check_disk(root: Path, needed_gb: float) -> None:
    free_gb = shutil.disk_usage(root).free / 1e9
    if free_gb < needed_gb:
        _log(
            f"warning: {free_gb:.1f} GB free in {root}; MTAT needs about {needed_gb:.0f} GB "
            "at the peak (parts + joined zip + extracted audio)"
        )


def _join_and_extract(root: Path, part_paths: list[Path], progress: bool) -> list[tuple[str, int]]:
    """Join the parts (unless ``mp3.zip`` is already there), check md5s, test and extract."""
    zip_path = root / JOINED_ZIP
    have_parts = all(p.is_file() for p in part_paths)
    part_sizes = [(p.name, p.stat().st_size) for p in part_paths] if have_parts else None
    digest = None
    if part_sizes and (
        not zip_path.is_file() or zip_path.stat().st_size != sum(s for _, s in part_sizes)
    ):
        digest = join_parts(part_paths, zip_path, progress)
    want = KNOWN_MD5.get(JOINED_ZIP)
    if want:
        digest = digest or _md5(zip_path, progress)
        if digest != want.lower():
            if part_sizes:
                zip_path.unlink(missing_ok=True)
            raise DownloadError(
                f"{JOINED_ZIP} md5 {digest} differs from the known {want}: one of "
                f"{', '.join(ZIP_PARTS)} is corrupt; delete them and run again."
            )
    elif digest and REPORTED_MD5.get(JOINED_ZIP):
        same = digest == REPORTED_MD5[JOINED_ZIP]
        _log(
            f"{JOINED_ZIP} md5 {digest} "
            + ("matches" if same else "differs from")
            + " the value reported elsewhere (unconfirmed; the CRC test decides)"
        )
    try:
        return extract_zip(zip_path, root, part_sizes, progress)
    except CorruptDataError as e:
        if not part_sizes:
            raise
        zip_path.unlink(missing_ok=True)  # rebuilt from the parts on the next run
        for name in e.files:
            (root / name).unlink(missing_ok=True)
        raise CorruptDataError(
            f"{e} Removed {' and '.join(e.files)}: run again to download it anew.", e.files
        ) from e
    except DownloadError:
        if part_sizes:
            zip_path.unlink(missing_ok=True)
        raise


def download_mtat(
    root: str | Path,
    base_url: str = OFFICIAL_URL,
    files: list[str] | None = None,
    keep_zip: bool = False,
    extract: bool = True,
    progress: bool = True,
) -> Path:
    """Download MagnaTagATune into ``root`` and (by default) extract the audio there.

    ``files`` selects which of :data:`DEFAULT_FILES` to fetch (default: all). With ``extract``
    and all three parts selected, the parts are joined into ``mp3.zip``, every member is
    CRC-checked and extracted into ``root/<0-9a-f>/``, and the parts and ``mp3.zip`` are deleted
    unless ``keep_zip``. Files already present are not downloaded again, partial ``.part`` files
    are resumed, and a finished ``root`` is detected (``root/.mtat_complete.tsv``) so that a second
    call does nothing. Returns ``root``.

    Raises :class:`HostUnreachableError` (host never answered) or :class:`DownloadError`.
    """
    root = Path(root).expanduser()
    names = list(DEFAULT_FILES if files is None else files)
    unknown = [n for n in names if n not in DEFAULT_FILES]
    if unknown:
        raise DownloadError(f"unknown MTAT file(s) {unknown}; choose from {list(DEFAULT_FILES)}")
    root.mkdir(parents=True, exist_ok=True)
    parts = [n for n in ZIP_PARTS if n in names]
    others = [n for n in names if n not in ZIP_PARTS]
    want_audio = extract and bool(parts)
    if want_audio and len(parts) != len(ZIP_PARTS):
        raise DownloadError("extracting the audio needs all three parts (or pass extract=False)")

    had_manifest = (root / MANIFEST).is_file()
    audio_done = want_audio and _audio_complete(root)
    pending = [n for n in others if not (root / n).is_file()]
    if want_audio and not audio_done and not had_manifest:
        # no archive and no download of ours in progress: maybe a copy extracted by hand
        ours = [root / n for n in (*ZIP_PARTS, JOINED_ZIP)]
        ours += [_part_path(p) for p in ours]
        if not any(p.exists() for p in ours) and _adopt_extracted_copy(root):
            audio_done = True
    if want_audio:
        if not audio_done and not (root / JOINED_ZIP).is_file():
            pending += [p for p in parts if not (root / p).is_file()]
    else:
        pending += [p for p in parts if not (root / p).is_file()]

    if not pending and (audio_done or not want_audio):
        if audio_done and not keep_zip:
            _cleanup(root)
        _log(f"MagnaTagATune already complete in {root}")
        return root

    if want_audio and not audio_done:
        _check_disk(root, DISK_NEEDED_GB)
    session = _Session()
    for i, name in enumerate(pending, 1):
        _log(f"[{i}/{len(pending)}] {name}")
        _download(_file_url(base_url, name), root / name, KNOWN_SIZES.get(name), session, progress)

    if want_audio and not audio_done:
        members = _join_and_extract(root, [root / p for p in parts], progress)
        _write_manifest(root, members)
        _log(f"extracted {len(members)} files into {root}")
        if not keep_zip:
            _cleanup(root)
    _log(f"MagnaTagATune ready in {root}")
    return root


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


if __name__ == "__main__":
    sys.exit(main())
