"""The downloaded archive on disk: join the parts into one zip, test and extract it; tar files.

Also the md5 / sha256 of a file. Every zip member's CRC is checked while it is extracted, and a
corrupt member is traced back to the part(s) holding its bytes, so that only those need
downloading again. :func:`extract_tar` checks every member of a tar before writing anything
(no absolute paths, ``..``, links or device files) and hashes each file while writing it.
"""

from __future__ import annotations

import hashlib
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from autotag.common.console import byte_bar, log
from autotag.common.files import atomic_path
from autotag.data.download.errors import CorruptDataError, DownloadError

CHUNK = 1 << 20  # bytes per disk read (hashing, joining, extracting)


def _hash_file(path: Path, algorithm: str, progress: bool) -> str:
    h = hashlib.new(algorithm)
    with (
        open(path, "rb") as f,
        byte_bar(path.stat().st_size, f"{algorithm} {path.name}", progress, leave=False) as bar,
    ):
        while block := f.read(CHUNK):
            h.update(block)
            bar.update(len(block))
    return h.hexdigest()


def md5_file(path: Path, progress: bool = False) -> str:
    """The md5 hex digest of the file at ``path`` (streamed)."""
    return _hash_file(path, "md5", progress)


def sha256_file(path: Path, progress: bool = False) -> str:
    """The sha256 hex digest of the file at ``path`` (streamed)."""
    return _hash_file(path, "sha256", progress)


def join_parts(parts: list[Path], out: Path, progress: bool = True) -> str:
    """Concatenate ``parts`` in order into ``out`` (streamed, atomic rename); return its md5."""
    total = sum(p.stat().st_size for p in parts)
    h = hashlib.md5()
    with atomic_path(out) as tmp:
        with (
            open(tmp, "wb") as dst,
            byte_bar(total, f"join {out.name}", progress) as bar,
        ):
            for p in parts:
                with open(p, "rb") as src:
                    while block := src.read(CHUNK):
                        dst.write(block)
                        h.update(block)
                        bar.update(len(block))
        if tmp.stat().st_size != total:
            raise DownloadError(f"joining into {out.name} failed (disk full?)")
    return h.hexdigest()


def _path_problem(name: str) -> str | None:
    """Why the archive member name ``name`` must not be extracted (None: it is safe)."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or (len(name) > 1 and name[1] == ":"):  # /x, C:\x
        return "absolute path"
    if ".." in pure.parts:
        return "'..' in the path"
    return None


def _safe_target(root: Path, name: str) -> Path:
    pure = PurePosixPath(name.replace("\\", "/"))
    if _path_problem(name) or not pure.parts:
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
            log(f"{skipped} of {len(members)} files already extracted, skipping them")
        with byte_bar(
            sum(i.file_size for i, _ in todo),
            f"test+extract ({len(todo)} files)",
            progress,
        ) as bar:
            for info, target in todo:
                target.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(target) as tmp:  # renamed only once its CRC matched
                    try:
                        with zf.open(info) as src, open(tmp, "wb") as dst:
                            while block := src.read(CHUNK):
                                dst.write(block)
                                bar.update(len(block))
                    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as e:
                        raise _corrupt_member(zip_path, info, parts, e) from e
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


class TarMember(NamedTuple):
    """A file written by :func:`extract_tar`: its path inside the tar, size and sha256."""

    name: str
    size: int
    sha256: str


def _tar_member_problem(info: tarfile.TarInfo) -> str | None:
    """Why ``info`` must not be extracted (None: a plain file or folder with a safe path)."""
    if info.issym() or info.islnk():
        return f"{'symbolic' if info.issym() else 'hard'} link to {info.linkname!r}"
    if not (info.isfile() or info.isdir()):
        return "device, fifo or other special file"
    return _path_problem(info.name)


def extract_tar(tar_path: Path, dest: Path, progress: bool = True) -> list[TarMember]:
    """Check every member of ``tar_path``, then extract its files into ``dest``.

    Nothing is written if one member has an absolute path, a ``..``, is a (sym/hard) link or a
    device file: :class:`CorruptDataError` names the tar and the member. Each file is written to a
    temporary name, hashed on the way, and renamed once complete. Returns the extracted files.
    """
    try:
        tf = tarfile.open(tar_path)
    except (tarfile.TarError, EOFError) as e:
        msg = f"{tar_path.name} is not a readable tar ({e})."
        raise CorruptDataError(msg, [tar_path.name]) from e
    with tf:
        try:
            infos = tf.getmembers()
        except (tarfile.TarError, EOFError) as e:
            msg = f"{tar_path.name} is truncated or corrupt ({e})."
            raise CorruptDataError(msg, [tar_path.name]) from e
        for info in infos:
            problem = _tar_member_problem(info)
            if problem:
                raise CorruptDataError(
                    f"{tar_path.name}: refusing to extract member {info.name!r} ({problem}); "
                    "nothing was extracted from this tar.",
                    [tar_path.name],
                )
        files = [i for i in infos if i.isfile()]
        out: list[TarMember] = []
        with byte_bar(
            sum(i.size for i in files),
            f"extract {tar_path.name} ({len(files)} files)",
            progress,
        ) as bar:
            for info in infos:
                parts = PurePosixPath(info.name.replace("\\", "/")).parts
                if info.isdir() or not parts:
                    dest.joinpath(*parts).mkdir(parents=True, exist_ok=True)
                    continue
                target = dest.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                h = hashlib.sha256()
                with atomic_path(target) as tmp:
                    try:
                        src = tf.extractfile(info)
                        assert src is not None  # a regular file
                        with src, open(tmp, "wb") as dst:
                            while block := src.read(CHUNK):
                                dst.write(block)
                                h.update(block)
                                bar.update(len(block))
                    except (tarfile.TarError, EOFError) as e:
                        raise CorruptDataError(
                            f"{tar_path.name}: member {info.name} cannot be read ({e}).",
                            [tar_path.name],
                        ) from e
                out.append(TarMember(PurePosixPath(*parts).as_posix(), info.size, h.hexdigest()))
    return out
