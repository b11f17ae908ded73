"""Robustness of a trained tagger to audio degradations, as Won et al. (2020) measured it: the
test split re-scored (macro ROC-AUC and PR-AUC) under white noise, pitch shift, time stretch,
mp3 re-encoding and a gain change, next to the clean condition.

Every clip is decoded once with the tagger's :class:`~autotag.data.frontend.FrontEnd` (mono at
the model's rate), each perturbation is applied to that waveform, and the result is tagged by
:meth:`Tagger.tag_audio` (windows, log-mel, normalization, FCN, mean over windows): the path of
``autotag tag``. The test split, its paths and labels come from the store the model was trained
on, joined with the data config the tagger file keeps (a store made before stores were shared
holds its own). The conditions (``--conditions``) are :mod:`autotag.inference.perturb`'s.

A tag is scored only where the evaluated clips hold at least one positive and one negative (as
:func:`autotag.common.metrics.macro_scores`); drops are clean minus perturbed, so a positive
drop is a loss.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autotag.common.metrics import macro_scores
from autotag.data.audio import AudioError
from autotag.data.datasets import load_manifest
from autotag.data.labelled import LabelledStore
from autotag.data.store import MelStore
from autotag.inference.perturb import Condition, check_conditions, parse_conditions
from autotag.inference.tagger import DEFAULT_AGG, Tagger

COLUMNS = ("condition", "roc_auc", "pr_auc", "roc_auc_drop", "pr_auc_drop", "clips")

# --------------------------------------------------------------------------- scoring


def clips_digest(clips: EvalClips) -> str:
    """sha256 of the clips' ids, labels and units, in order: which clips, labelled how."""
    h = hashlib.sha256("\n".join(map(str, np.asarray(clips.clip_ids).tolist())).encode())
    h.update(np.ascontiguousarray(clips.labels, dtype=np.uint8).tobytes())
    for unit, keys in sorted(clips.units.items()):
        h.update(("\n" + unit + "\n" + "\n".join(map(str, keys))).encode())
    return h.hexdigest()


def clip_seed(clip_id: Any) -> int:
    """The noise seed of a clip: its id (a non-negative int), stable across runs and machines."""
    try:
        return abs(int(clip_id))
    except (TypeError, ValueError):
        import zlib

        return zlib.crc32(str(clip_id).encode())


@dataclass
class EvalClips:
    """The test clips of a store and their labels in the tagger's tag order."""

    paths: list[str]
    clip_ids: np.ndarray
    labels: np.ndarray  # (n_clips, n_tags) uint8
    units: dict[str, np.ndarray] = field(default_factory=dict)  # each clip's key per unit

    def take(self, rows: Sequence[int] | np.ndarray) -> EvalClips:
        """The clips at ``rows``."""
        rows = np.asarray(rows, dtype=np.int64)
        return EvalClips(
            [self.paths[i] for i in rows],
            self.clip_ids[rows],
            self.labels[rows],
            {u: keys[rows] for u, keys in self.units.items()},
        )

    def head(self, n: int) -> EvalClips:
        """The first ``n`` clips."""
        return self.take(np.arange(min(max(0, int(n)), len(self.paths))))


def load_test_clips(
    store: str | Path | LabelledStore,
    tag_names: Sequence[str],
    limit: int | None = None,
    data: Mapping[str, Any] | None = None,
) -> EvalClips:
    """The valid test clips of a store (the first ``limit`` of them), labels of ``tag_names``;
    :class:`ValueError` when the store lacks one of the tags or has no test clip.

    ``store`` is a store joined with its labels, or a store's path: one made before stores were
    shared holds its own split, one shared by every split is joined with the manifest of
    ``data`` (a data config: a tagger's training config names its own)."""
    if not isinstance(store, LabelledStore):
        items = MelStore(store)
        if items.legacy is None and not data:
            raise ValueError(
                f"{items.path}: a store shared by every split holds no split or labels, and the "
                "tagger carries no training data config to take them from (a pretrained model): "
                "give a tagger trained on this store's data (a run of init_from=<it>, epochs=0 "
                "scores it as it is), or a store made before stores were shared"
            )
        if items.legacy is None:  # the data as it is now: never generated at the tagger's paths
            data = {**data, "generate": None}
            store = LabelledStore(items, load_manifest(data))
        else:
            store = LabelledStore(items)
    store_path = store.path
    missing = [t for t in tag_names if t not in store.tag_names]
    if missing:
        raise ValueError(f"{store_path}: the store has no tag {', '.join(missing)} of the model")
    rows = store.indices("test")
    if limit is not None:
        rows = rows[: max(0, int(limit))]
    if len(rows) == 0:
        raise ValueError(f"{store_path}: no valid test clip in the store")
    cols = [store.tag_names.index(t) for t in tag_names]
    return EvalClips(
        [str(store.paths[i]) for i in rows],
        np.asarray(store.clip_ids[rows]),
        np.asarray(store.labels[rows][:, cols]),
        {u: np.asarray(keys[rows]).astype(str) for u, keys in store.units.items()},
    )


@dataclass
class ConditionScores:
    """One tagger's probabilities under each condition, on the clips that every condition
    scored (a file that failed is left out of all of them)."""

    tag_names: list[str]
    clips: EvalClips
    probs: dict[str, np.ndarray]  # condition name -> (n_clips, n_tags), clean first
    tagger_sha256: str = ""  # the tagger file scored (its provenance in a saved report)
    asked: str = ""  # clips_digest of the clips asked for (``clips`` less those that failed)

    def rows(self) -> list[dict[str, Any]]:
        """One row per condition, clean first, with the keys of :data:`COLUMNS`."""
        rows = []
        for name, p in self.probs.items():
            roc, ap = (float(v) for v in macro_scores(p, self.clips.labels))
            rows.append({"condition": name, "roc_auc": roc, "pr_auc": ap, "clips": len(p)})
        clean = rows[0]
        for r in rows:
            r["roc_auc_drop"] = clean["roc_auc"] - r["roc_auc"]
            r["pr_auc_drop"] = clean["pr_auc"] - r["pr_auc"]
        return [{k: r[k] for k in COLUMNS} for r in rows]


def evaluate_robustness(
    tagger: Tagger,
    store: str | Path | LabelledStore | EvalClips,
    conditions: str | Iterable[str | Condition] | None = None,
    limit: int | None = None,
    hop: float | None = None,
    agg: str = DEFAULT_AGG,
    on_clip: Callable[[], None] | None = None,
    on_error: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Score ``tagger`` on a store's test split (a store path, or clips from
    :func:`load_test_clips`) under each condition (default: all of :data:`DEFAULT_CONDITIONS`);
    one row per condition, clean first, with the keys of :data:`COLUMNS`. ``hop`` and ``agg``
    are :meth:`Tagger.tag_audio`'s; the rest is :func:`score_conditions`'."""
    if isinstance(store, EvalClips):
        clips = store if limit is None else store.head(limit)
    else:
        clips = load_test_clips(store, tagger.tag_names, limit, tagger.data_config)
    (scores,) = score_conditions([tagger], clips, conditions, hop, agg, on_clip, on_error)
    return scores.rows()


def score_conditions(
    taggers: Sequence[Tagger],
    clips: EvalClips,
    conditions: str | Iterable[str | Condition] | None = None,
    hop: float | None = None,
    agg: str = DEFAULT_AGG,
    on_clip: Callable[[], None] | None = None,
    on_error: Callable[[str], None] | None = None,
) -> list[ConditionScores]:
    """Every tagger's probabilities on ``clips`` under each condition. Each file is decoded
    once and each condition applied to it once, for all taggers together (a sweep's runs share
    the phase vocoder's work, the dearest part); the taggers must share a sample rate. A file
    that cannot be decoded is reported to ``on_error`` and left out of every condition, so all
    rows score the same clips. ``on_clip`` is called once per file (progress)."""
    conds = parse_conditions(conditions)
    sr = taggers[0].sample_rate
    if any(t.sample_rate != sr for t in taggers):
        raise ValueError(f"taggers of {sorted({t.sample_rate for t in taggers})} Hz: give one rate")
    check_conditions(conds, sr)
    probs: list[dict[str, list[np.ndarray]]] = [{c.name: [] for c in conds} for _ in taggers]
    kept: list[int] = []
    for k, path in enumerate(clips.paths):
        seed = clip_seed(clips.clip_ids[k])
        try:  # all conditions of a clip, or none: the conditions stay comparable
            wav = taggers[0].front.load(path)
            scored = [{} for _ in taggers]
            for c in conds:
                audio = c.apply(wav, sr, seed)
                for t, tagger in enumerate(taggers):
                    scored[t][c.name] = tagger.tag_audio(audio, hop=hop, agg=agg, path=path).probs
        except AudioError as e:
            _call(on_error, str(e))
        except Exception as e:  # a decoder or perturbation crash on one file must not stop it
            _call(on_error, f"{path}: cannot process ({type(e).__name__}: {e})")
        else:
            for t in range(len(taggers)):
                for name, p in scored[t].items():
                    probs[t][name].append(p)
            kept.append(k)
        if on_clip is not None:
            on_clip()
    done = clips.take(kept)
    out = []
    for tagger, by_cond in zip(taggers, probs):
        n_tags = len(tagger.tag_names)
        stacked = {
            name: np.stack(p) if kept else np.zeros((0, n_tags), np.float32)
            for name, p in by_cond.items()
        }
        out.append(
            ConditionScores(
                list(tagger.tag_names), done, stacked, tagger.sha256, clips_digest(clips)
            )
        )
    return out


def _call(fn: Callable[[str], None] | None, message: str) -> None:
    if fn is not None:
        fn(message)
