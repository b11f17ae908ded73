"""The cache folder of downloaded and converted models."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$AUTOTAG_CACHE``, else ``$XDG_CACHE_HOME/autotag``, else ``~/.cache/autotag``."""
    if os.environ.get("AUTOTAG_CACHE"):
        return Path(os.environ["AUTOTAG_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "autotag"
