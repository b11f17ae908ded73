"""Terminal output of the downloader: one-line messages and byte-counting progress bars."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


def log(msg: str) -> None:
    """Print ``msg`` on stdout without garbling a progress bar that is being drawn."""
    tqdm.write(msg, file=sys.stdout)


def byte_bar(total: int | None, desc: str, enabled: bool, **kwargs: Any) -> tqdm:
    """A progress bar counting bytes (shown in KiB/MiB/GiB); silent unless ``enabled``.

    ``kwargs`` go to :class:`tqdm.tqdm` (e.g. ``initial``, ``leave``, ``dynamic_ncols``).
    """
    return tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=desc,
        disable=not enabled,
        **kwargs,
    )
