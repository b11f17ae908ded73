"""Saving a matplotlib figure: the one way autotag's plots (normalization panels, robustness
bars) are written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DPI = 110  # sharp enough on a screen, a few hundred KB per figure


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend: figures go to files, and a cluster node or a
    CI runner has no display to open a window on."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, dpi: int = DPI) -> Path:
    """Lay ``fig`` out tightly, write it to ``path`` (its folder made), close it (a loop of
    plots must not keep every figure alive); returns the path."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
