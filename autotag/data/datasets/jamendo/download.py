"""The whole MTG-Jamendo run: the metadata, then per tar part: download, sha256, extract, check.

Files already present are not downloaded again, partial ``.part`` files are resumed, and a part
whose tracks were extracted and checked gets a completion mark, so that a second run only checks
that the marked files are still there. A part that fails a check is reported and skipped; the run
goes on with the others and ends with :class:`CorruptDataError` listing every failed part (a rerun
fetches only those).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from autotag.common.console import log
from autotag.data.datasets.jamendo.layout import AUDIO_DIR
from autotag.data.datasets.jamendo.sources import (
    AUDIO_SETS,
    AUDIO_URL,
    COMPLETE_DIR,
    METADATA_URL,
    MIRROR_URL,
    N_PARTS,
    SIZE_GB,
    TARS_DIR,
    check_metadata,
    metadata_files,
    part_number,
    part_url,
    read_sha256_list,
    sha256_list,
    url_join,
)
from autotag.data.download.archive import TarMember, extract_tar, sha256_file
from autotag.data.download.completion import files_intact, write_size_list
from autotag.data.download.errors import CorruptDataError, DownloadError
from autotag.data.download.http import Session, download


def _marker(root: Path, tar_name: str) -> Path:
    return root / COMPLETE_DIR / (Path(tar_name).stem + ".tsv")


def _write_marker(root: Path, tar_name: str, members: Iterable[TarMember]) -> None:
    path = _marker(root, tar_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_size_list(path, ((m.name, m.size) for m in members))


def part_complete(root: Path, tar_name: str) -> bool:
    """True if ``tar_name`` was extracted and every file it holds is still there with its size.

    A mark whose files are missing or changed is deleted (the part is then extracted again).
    """
    return files_intact(_marker(root, tar_name), root / AUDIO_DIR, f"of {tar_name}")


def _fetch_metadata(root: Path, audio: str, metadata_url: str, progress: bool) -> None:
    todo = [(loc, rem) for loc, rem in metadata_files(audio).items() if not (root / loc).is_file()]
    if not todo:
        return
    log(f"metadata: {len(todo)} file{'s' if len(todo) != 1 else ''} from {metadata_url}")
    session = Session(url_option=f"--metadata-url (default {METADATA_URL})")
    for local, remote in todo:
        big = "sha256_tracks" in local  # a few MB; the others are small
        check = lambda p, name=local: check_metadata(p, name)
        download(
            url_join(metadata_url, remote), root / local, None, session, big and progress, check
        )


def _sha256_check(name: str, want: str, listed_in: str, progress: bool) -> Callable[[Path], None]:
    def check(path: Path) -> None:
        got = sha256_file(path, progress)
        if got != want:
            path.unlink(missing_ok=True)
            raise CorruptDataError(
                f"{name} is corrupt: sha256 {got} differs from the published {want} "
                f"({listed_in}); the file was removed.",
                files=[name],
            )

    return check


def _check_tracks(
    audio_dir: Path, tar_name: str, members: list[TarMember], tracks: dict[str, str]
) -> None:
    unlisted = [m.name for m in members if m.name not in tracks]
    if unlisted:
        log(f"note: {len(unlisted)} files of {tar_name} are not in the tracks list: {unlisted[0]}")
    bad = [m for m in members if m.name in tracks and tracks[m.name] != m.sha256]
    if bad:
        for m in bad:
            (audio_dir / m.name).unlink(missing_ok=True)
        raise CorruptDataError(
            f"{tar_name}: {len(bad)} extracted track(s) differ from the tracks sha256 list, e.g. "
            f"{bad[0].name}: sha256 {bad[0].sha256}, expected {tracks[bad[0].name]}. They were "
            f"removed; the next run extracts {tar_name} again (delete it to download it anew).",
            files=[tar_name],
        )


def _check_disk(root: Path, audio: str, n_parts: int, extract: bool, keep_tars: bool) -> None:
    part_gb = SIZE_GB[audio] / N_PARTS
    needed = part_gb * (n_parts * (2 if extract and keep_tars else 1) + (1 if extract else 0))
    free = shutil.disk_usage(root).free / 1e9
    if free < needed:
        log(f"warning: {free:.1f} GB free in {root}; {n_parts} part(s) need about {needed:.0f} GB")


def download_jamendo(
    root: str | Path,
    audio: str = "audio",
    folders: Iterable[int] | None = None,
    base_url: str = AUDIO_URL,
    metadata_url: str = METADATA_URL,
    keep_tars: bool = False,
    extract: bool = True,
    progress: bool = True,
    metadata_only: bool = False,
) -> Path:
    """Download MTG-Jamendo's metadata and the tar parts ``folders`` into ``root``.

    ``folders`` are part numbers (0-99); default: every part in the published tars list.

    Each tar is checked against the published sha256, extracted into ``root/audio`` (safely:
    no links, absolute paths or ``..``), its tracks checked against the tracks sha256 list, and
    deleted unless ``keep_tars``. Returns ``root``. Raises :class:`HostUnreachableError`,
    :class:`CorruptDataError` (after trying every part; ``files`` lists the failed ones) or
    :class:`DownloadError`.
    """
    root = Path(root).expanduser()
    if audio not in AUDIO_SETS:
        raise DownloadError(f"unknown audio set {audio!r}; choose from {list(AUDIO_SETS)}")
    root.mkdir(parents=True, exist_ok=True)
    _fetch_metadata(root, audio, metadata_url, progress)
    if metadata_only:
        log(f"MTG-Jamendo metadata ready in {root}/data")
        return root

    tars_list = sha256_list(audio, "tars")
    tars = read_sha256_list(root / tars_list)
    by_number = {part_number(name): name for name in tars}
    wanted = sorted(set(by_number if folders is None else folders))
    absent = [k for k in wanted if k not in by_number]
    if absent:
        raise DownloadError(f"{tars_list} lists no part(s) {absent}")
    names = [by_number[k] for k in wanted]
    tar_dir = root / TARS_DIR
    if extract:
        todo = [n for n in names if not part_complete(root, n)]
        if not keep_tars:
            for n in set(names) - set(todo):
                (tar_dir / n).unlink(missing_ok=True)
    else:
        todo = [n for n in names if not (tar_dir / n).is_file()]
    if not todo:
        log(f"MTG-Jamendo ({audio}, {len(names)} parts) already complete in {root}")
        return root

    _check_disk(root, audio, len(todo), extract, keep_tars)
    tracks_path = root / sha256_list(audio, "tracks")
    tracks = read_sha256_list(tracks_path) if extract and tracks_path.is_file() else None
    audio_dir = root / AUDIO_DIR
    session = Session(url_option=f"--base-url (default {AUDIO_URL}; or the mirror {MIRROR_URL})")
    failed: dict[str, str] = {}
    for i, name in enumerate(todo, 1):
        log(f"[{i}/{len(todo)}] {name}")
        tar = tar_dir / name
        try:
            check = _sha256_check(name, tars[name], tars_list, progress)
            if not tar.is_file():
                download(part_url(base_url, audio, name), tar, None, session, progress, check)
            elif extract:  # placed by hand or kept by --no-extract: checked before extraction
                check(tar)
            if not extract:
                continue
            members = extract_tar(tar, audio_dir, progress)
            if tracks is not None:
                _check_tracks(audio_dir, name, members, tracks)
        except CorruptDataError as e:
            log(f"error: {e}")
            failed[name] = str(e)
            continue
        except DownloadError:
            if failed:
                log(f"parts that failed before: {', '.join(failed)}")
            raise
        _write_marker(root, name, members)
        if not keep_tars:
            tar.unlink()
        log(f"{name}: {len(members)} files extracted and checked")
    if not keep_tars and tar_dir.is_dir() and not any(tar_dir.iterdir()):
        tar_dir.rmdir()
    if failed:
        raise CorruptDataError(
            f"{len(failed)} of {len(todo)} part(s) failed: {', '.join(failed)}.\n"
            + "\n".join(f"  {msg}" for msg in failed.values())
            + "\nRun the same command again: only these parts are processed again.",
            files=list(failed),
        )
    log(f"MTG-Jamendo ({audio}, {len(names)} parts) ready in {root}")
    return root
