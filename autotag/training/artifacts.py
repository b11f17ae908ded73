"""What a network run leaves besides results.json: the tagger file, the figures and what its
predictions.npz holds."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from autotag.data.datamodule import ShardSampler, TagDataModule
from autotag.data.normalize import NORMS, Normalizer, norm_description
from autotag.runs.folder import RunFolder
from autotag.runs.tagger_file import TaggerFile, write_tagger
from autotag.training import plots


def save_tagger(
    path: Path,
    net: nn.Module,
    normalizer: Normalizer,
    dm: TagDataModule,
    thresholds: np.ndarray,
    config: Mapping[str, Any],
    metrics: Mapping[str, Any],
    eval_chunks: int,
) -> Path:
    """The run's ``tagger.pt``: network weights, front end, the normalizer the network was
    evaluated with (a resumed run's comes from its checkpoint), tags, thresholds."""
    return write_tagger(
        path,
        TaggerFile(
            model=dict(config["model"]),
            weights=net.state_dict(),
            features=dm.store.features.to_dict(),
            norm=normalizer.describe(),
            tag_names=list(dm.tag_names),
            thresholds=[float(t) for t in thresholds],
            input_shape=[dm.n_mels, dm.n_frames],
            eval_chunks=int(eval_chunks),
            metrics=dict(metrics),
            config=dict(config),
        ),
    )


def make_figures(out: Path, results: Mapping[str, Any], test: Mapping[str, Any], dm: TagDataModule):
    """AUC through training, per-tag test ROC-AUC, ROC curves, one clip under each norm."""
    figs = RunFolder(out).figures
    paths: dict[str, Path] = {}
    if results["history"]:
        paths["auc_through_training"] = plots.auc_through_training(
            results["history"], figs / "auc_through_training.png", results["run_name"]
        )
    paths.update(evaluation_figures(figs, test, dm.tag_names))
    i = dm.store.indices("train")[0]
    mel = torch.from_numpy(dm.store.mel(i)[..., : dm.store.features.n_frames].astype(np.float32))
    normalized = {
        mode: Normalizer(**norm_description(mode, dm.store.stats, dm.store.features.amin))(
            mel
        ).numpy()
        for mode in NORMS
        if mode != "none"
    }
    paths["normalizations"] = plots.normalizations(
        mel.numpy(), normalized, figs / "normalizations.png", f"clip {dm.store.clip_ids[i]}"
    )
    return paths


def evaluation_figures(
    figs: Path, test: Mapping[str, Any], tag_names: list[str]
) -> dict[str, Path]:
    """Per-tag test ROC-AUC bars and the ROC curves of the most frequent tags."""
    return {
        "per_tag_test_roc_auc": plots.per_tag_bars(
            test["per_tag"], figs / "per_tag_test_roc_auc.png"
        ),
        "roc_curves": plots.roc_curves(
            test["preds"], test["target"], tag_names, figs / "roc_curves.png"
        ),
    }


def in_dataset_order(
    gathered: dict[str, tuple[torch.Tensor, torch.Tensor]], world_size: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Scores and labels per split in dataset order (rows gathered from several DDP ranks come
    rank by rank: see :class:`ShardSampler`)."""
    out = {}
    for split, (preds, target) in gathered.items():
        order = ShardSampler.gathered_order(len(preds), world_size)
        scores, labels = np.empty(preds.shape, np.float32), np.empty(target.shape, np.uint8)
        scores[order], labels[order] = preds.numpy(), target.numpy()
        out[split] = (scores, labels)
    return out


def eval_predictions(
    dm: TagDataModule, ordered: dict[str, tuple[np.ndarray, np.ndarray]]
) -> dict[str, Any]:
    """What ``predictions.npz`` of a network run holds (the keyword arguments of
    :func:`autotag.runs.end.end_run`): the val and test scores of the best checkpoint."""
    return {
        "tag_names": list(dm.tag_names),
        "scores": {split: s for split, (s, _) in ordered.items()},
        "labels": {split: y for split, (_, y) in ordered.items()},
        "clip_ids": {s: dm.store.clip_ids[dm.datasets[s].index] for s in ordered},
        "units": {s: split_units(dm, s) for s in ordered},
    }


def split_units(dm: TagDataModule, split: str) -> dict[str, np.ndarray]:
    """Each clip's key per unit (song, artist, ...) of ``split``, in the split's clip order:
    the bootstrap draws these units (:mod:`autotag.training.bootstrap`)."""
    index = dm.datasets[split].index
    return {unit: keys[index] for unit, keys in dm.store.units.items()}
