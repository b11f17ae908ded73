"""Is an extraction still complete? A size list (relative path, size) of every extracted file,
written when the extraction has finished, so that a later run only checks that every listed file
is still there with its size (MTAT's manifest, each MTG-Jamendo part's mark)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from autotag.common.console import log
from autotag.common.files import write_text


def write_size_list(path: Path, entries: Iterable[tuple[str, int]]) -> None:
    """Write ``(relative path, size)`` entries to ``path``: ``size<TAB>path`` lines, sorted,
    atomically (MTAT's manifest, Jamendo's completion mark of each part)."""
    write_text(path, "".join(f"{size}\t{name}\n" for name, size in sorted(set(entries))))


def read_size_list(path: Path) -> list[tuple[str, int]] | None:
    """The ``(relative path, size)`` entries of a size list; None if there is none. A size that
    is not a number reads as -1, which no file has."""
    if not path.is_file():
        return None
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            size, _, name = line.rstrip("\n").partition("\t")
            if name:
                out.append((name, int(size) if size.isdigit() else -1))
    return out


def files_intact(path: Path, base: Path, what: str) -> bool:
    """True if the size list ``path`` exists and every file it lists is under ``base`` with its
    size. A list with missing or changed files is deleted (they get extracted again); ``what``
    names the files in that message ("of <archive>")."""
    entries = read_size_list(path)
    if entries is None:
        return False
    bad = []
    for name, size in entries:
        try:
            if (base / name).stat().st_size != size:
                bad.append(name)
        except OSError:
            bad.append(name)
    if bad:
        log(
            f"{len(bad)} files {what} are missing or changed (e.g. {bad[0]}); they will be restored"
        )
        path.unlink()
        return False
    return True
