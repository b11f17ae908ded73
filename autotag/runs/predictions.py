"""``predictions.npz``: a run's val and test scores, labels and clip ids, and its tag names, so
any metric can be recomputed without the model (networks and baselines alike). The one module
that spells its keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autotag.common.files import atomic_path
from autotag.runs.folder import PREDICTIONS, RunFileError, RunFolder

TAG_NAMES = "tag_names"
FIELDS = ("scores", "labels", "clip_ids")  # per split: <split>_scores, <split>_labels, ...
UNITS = "units"  # the unit names, natural first; per split and unit: <split>_unit_<name>


@dataclass
class Predictions:
    """One split's saved predictions of a run (``path``: the file they were read from)."""

    path: Path
    tag_names: list[str]
    clip_ids: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    units: dict[str, np.ndarray] = field(default_factory=dict)  # older files: none


def write_predictions(
    out: str | Path,
    tag_names: list[str],
    scores: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
    clip_ids: Mapping[str, np.ndarray],
    units: Mapping[str, Mapping[str, np.ndarray]] | None = None,
) -> Path:
    """``predictions.npz`` in the run folder ``out``: per split (the keys of ``scores``: val,
    test) the scores (float32), labels (uint8), clip ids and each clip's key per unit of the
    data set (``units[split]``: unit name -> keys, e.g. the song of each clip), and the tag
    names."""
    path = RunFolder(out).predictions
    arrays = {TAG_NAMES: np.array(tag_names)}
    units = units or {}
    names = list(next(iter(units.values()), {}))
    arrays[UNITS] = np.array(names, dtype=str)
    for split in scores:
        arrays[f"{split}_scores"] = np.asarray(scores[split], dtype=np.float32)
        arrays[f"{split}_labels"] = np.asarray(labels[split], dtype=np.uint8)
        arrays[f"{split}_clip_ids"] = np.asarray(clip_ids[split])
        for name in names:  # str, not object: the file is read without pickle
            arrays[f"{split}_unit_{name}"] = np.asarray(units[split][name], dtype=str)
    with atomic_path(path, suffix=".npz") as tmp:  # np.savez insists on the extension
        np.savez_compressed(tmp, **arrays)
    return path


def read_predictions(run: str | Path, split: str = "test") -> Predictions:
    """The ``split`` predictions of a run folder (or of a ``predictions.npz`` path). A missing
    file, or one that is not a run's predictions (HDF5, a tagger.pt, a truncated npz, one
    lacking the split), raises :class:`RunFileError` naming it."""
    p = Path(run)
    if not p.exists():
        raise RunFileError(f"{p}: no such run folder")
    path = RunFolder(p).predictions if p.is_dir() else p
    if not path.is_file():
        raise RunFileError(f"{path}: not found (a run folder holds {PREDICTIONS})")
    try:  # allow_pickle stays off: a file handed to us never runs code
        with np.load(path) as z:
            needed = {f"{split}_{f}" for f in FIELDS} | {TAG_NAMES}
            if not needed <= set(z.files):
                raise RunFileError(
                    f"{path}: lacks {', '.join(sorted(needed - set(z.files)))} (not the "
                    f"{PREDICTIONS} of a training run?)"
                )
            names = [str(u) for u in z[UNITS]] if UNITS in z.files else []  # older files: none
            return Predictions(
                path,
                [str(t) for t in z[TAG_NAMES]],
                z[f"{split}_clip_ids"],
                z[f"{split}_scores"].astype(np.float64),
                z[f"{split}_labels"],
                {u: z[f"{split}_unit_{u}"] for u in names},
            )
    except RunFileError:
        raise
    except Exception as e:  # not an npz (HDF5, a tagger.pt), truncated, or holding objects
        raise RunFileError(
            f"{path}: not a readable {PREDICTIONS} ({type(e).__name__}: {str(e)[:120]}); give a "
            f"run folder or the {PREDICTIONS} a training run wrote"
        ) from None
