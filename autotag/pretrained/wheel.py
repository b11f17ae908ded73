"""musicnn's files (the ``musicnn`` package 0.1.0 on PyPI, ISC licence): from an installed copy,
from a wheel file given by the user, or from the wheel downloaded once from PyPI into the cache
folder. A wheel is checked by its sha256: the conversion maps this release's checkpoints only."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import zipfile
from collections.abc import Callable
from pathlib import Path

from autotag.data.download.archive import sha256_file
from autotag.data.download.errors import DownloadError
from autotag.data.download.http import Session, download
from autotag.pretrained.cache import cache_dir, cache_lock
from autotag.pretrained.errors import PretrainedError

VERSION = "0.1.0"
WHEEL = f"musicnn-{VERSION}-py3-none-any.whl"
WHEEL_URL = (
    "https://files.pythonhosted.org/packages/1b/6f/"
    f"38229e7d99c438e11114bbfa39c8c39185458c398011d0b6d7d7c7401617/{WHEEL}"
)
WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"
WHEEL_SIZE = 29_292_476
LICENSE_FILE = f"musicnn-{VERSION}.dist-info/LICENSE.md"
LOCK = "musicnn"  # the cache lock's name, shared with the conversion (one lock: no deadlock)


class Source:
    """The files of the musicnn package, by their path inside the wheel (``musicnn/...``): from
    an installed copy or from the wheel file."""

    def __init__(self, name: str, read: Callable[[str], bytes], kind: str = "files") -> None:
        self.name = name  # where the files are: for messages
        self.kind = kind  # what they are, without a path: recorded in the converted file
        self._read = read

    def read(self, rel: str) -> bytes:
        try:
            return self._read(rel)
        except (KeyError, FileNotFoundError):
            raise PretrainedError(
                f"{self.name}: {rel} is missing (not musicnn {VERSION}?)"
            ) from None
        except (OSError, zipfile.BadZipFile, EOFError) as e:
            raise PretrainedError(f"{self.name}: cannot read {rel} ({e})") from None

    @classmethod
    def from_wheel(cls, wheel: Path) -> Source:
        """A wheel file, checked by its sha256 (the mapping is for this release only)."""
        if not wheel.is_file():
            raise PretrainedError(f"{wheel}: no such wheel file")
        digest = sha256_file(wheel)
        if digest != WHEEL_SHA256:
            raise PretrainedError(
                f"{wheel}: sha256 {digest} is not that of {WHEEL} ({WHEEL_SHA256}): a damaged "
                f"copy or another file"
            )
        try:
            zf = zipfile.ZipFile(wheel)
        except (OSError, zipfile.BadZipFile) as e:
            raise PretrainedError(f"{wheel}: not a readable wheel ({e})") from None
        return cls(f"{wheel}", zf.read, f"wheel {WHEEL} (sha256 {WHEEL_SHA256[:12]}...)")

    @classmethod
    def installed(cls) -> Source | None:
        """The installed ``musicnn`` package, if it is version 0.1.0 (found without importing it:
        its ``__init__`` would import TensorFlow)."""
        try:
            spec = importlib.util.find_spec("musicnn")
            version = importlib.metadata.version("musicnn")
        except (ImportError, ValueError, importlib.metadata.PackageNotFoundError):
            return None
        if spec is None or not spec.submodule_search_locations or version != VERSION:
            return None
        root = Path(list(spec.submodule_search_locations)[0]).parent
        dist = importlib.metadata.distribution("musicnn")

        def read(rel: str) -> bytes:
            if rel == LICENSE_FILE:
                text = dist.read_text("LICENSE.md")
                if text is None:
                    raise FileNotFoundError(rel)
                return text.encode()
            return (root / rel).read_bytes()

        return cls(f"installed musicnn {VERSION} ({root / 'musicnn'})", read, "installed package")


def cached_wheel() -> Path:
    """Where the downloaded wheel is kept."""
    return cache_dir() / "downloads" / WHEEL


def fetch_wheel(progress: bool = True) -> Path:
    """The wheel in the cache folder, downloaded from PyPI the first time (sha256-checked)."""
    try:
        with cache_lock(LOCK):
            return _fetch_wheel(progress)
    except OSError as e:
        raise PretrainedError(
            f"cannot write {cached_wheel()} ({e}); set AUTOTAG_CACHE to a writable folder"
        ) from None


def _fetch_wheel(progress: bool) -> Path:
    """:func:`fetch_wheel` for a caller that holds the cache lock."""
    path = cached_wheel()
    if path.is_file():
        if sha256_file(path) == WHEEL_SHA256:
            return path
        path.unlink()  # damaged (or another file of that name): fetched again

    def check(part: Path) -> None:
        digest = sha256_file(part)
        if digest != WHEEL_SHA256:
            part.unlink(missing_ok=True)
            raise PretrainedError(f"{WHEEL_URL}: sha256 {digest}, expected {WHEEL_SHA256}")

    try:
        return download(WHEEL_URL, path, WHEEL_SIZE, Session(), progress, check=check)
    except DownloadError as e:
        raise PretrainedError(
            f"cannot download {WHEEL} ({e}); install musicnn {VERSION} with "
            f"`pip install --no-deps musicnn=={VERSION}`, or pass the wheel file (--wheel)"
        ) from None


def find_source(wheel: str | Path | None = None, progress: bool = True) -> Source:
    """``wheel`` when given; else the installed package; else the wheel in the cache folder
    (downloaded on first use). The caller holds the cache lock (:data:`LOCK`)."""
    if wheel is not None:
        return Source.from_wheel(Path(wheel))
    return Source.installed() or Source.from_wheel(_fetch_wheel(progress))
