"""One baseline run (``model=rf`` / ``model=knn``): the same store, split, top-K tags,
normalization and metric as the networks; ``results.json`` from the same function, plus
``predictions.npz`` (val/test scores and labels) and figures."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autotag.data.datamodule import TagDataModule
from autotag.data.features import fit_frames, pad_value
from autotag.data.labelled import LabelledStore
from autotag.data.normalize import Normalizer
from autotag.models import build_baseline
from autotag.models.baselines import SpectrogramBaseline
from autotag.runs.end import closing_logger, end_run
from autotag.runs.folder import RunFolder
from autotag.runs.results import RunInfo, build_results
from autotag.training.artifacts import evaluation_figures, split_units
from autotag.training.bootstrap import confidence_interval
from autotag.training.loggers import build_logger, log_results
from autotag.training.metrics import tag_scores
from autotag.training.settings import RunSettings

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")


def split_inputs(
    store: LabelledStore,
    index: np.ndarray,
    normalizer: Normalizer,
    model: SpectrogramBaseline,
    chunk: int = 256,
) -> np.ndarray:
    """Classifier inputs of the store rows ``index``, read and normalized ``chunk`` at a time.

    The items of a ragged store (whole tracks of their own lengths) are read one at a time:
    ``stats`` inputs summarize the whole track, ``flat`` ones (a fixed size) flatten its centre
    window of the features' ``n_frames``."""
    parts = []
    kind = store.features.kind
    with torch.inference_mode():
        for lo in range(0, len(index), 1 if store.ragged else chunk):
            if store.ragged:
                mel = torch.from_numpy(store.mel(index[lo]).astype(np.float32))[None]
                if model.features == "flat":
                    mel = fit_frames(mel, store.features.n_frames, pad_value(kind))
            else:
                mel = torch.from_numpy(store.mels(index[lo : lo + chunk]).astype(np.float32))
            parts.append(model.inputs(normalizer(mel)))
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def fit_baseline(
    cfg: Mapping[str, Any], settings: RunSettings, store: LabelledStore, out: Path, run: RunInfo
) -> dict[str, Any]:
    """Fit on the training split, score val and test, write results, predictions, figures.
    ``cfg`` gives the groups (and is saved with the run), ``settings`` the run's own keys."""
    t_start = time.perf_counter()
    # the rows are read in chunks below: no loaders, no in-memory copy, no crops
    loader = {**cfg["loader"], "in_memory": False, "crops_per_item": 1}
    if store.ragged:  # whole tracks: the loaders' crop length (unused here) is a window
        loader["random_crop"] = store.features.n_frames
    dm = TagDataModule.from_config(
        store,
        loader,
        top_k=cfg["data"]["top_k"],
        norm=cfg["norm"]["mode"],
        shuffle_labels=settings.shuffle_labels,
        seed=settings.seed,
    )
    model = build_baseline(cfg["model"])
    x, y = {}, {}
    for split in SPLITS:
        ds = dm.datasets[split]
        x[split] = split_inputs(dm.store, ds.index, dm.normalizer, model)
        y[split] = ds.labels.astype(np.uint8)
    feature_seconds = time.perf_counter() - t_start
    n_train = len(y["train"])
    log.info(
        "%s baseline: %s inputs (%d dims), train %d, val %d, test %d clips, %d tags",
        cfg["model"]["arch"],
        model.features,
        x["train"].shape[1],
        *(len(y[s]) for s in SPLITS),
        y["train"].shape[1],
    )
    t0 = time.perf_counter()
    model.fit(x["train"], y["train"])
    fit_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores = {s: model.scores(x[s]) for s in ("val", "test")}
    predict_seconds = time.perf_counter() - t0
    never = [t for t, p in zip(dm.tag_names, y["train"].sum(0)) if p == 0]
    if never:
        log.warning("no positive training clip (constant score 0): %s", ", ".join(never))

    val, test = (
        tag_scores(
            torch.from_numpy(scores[s]), torch.from_numpy(y[s]), dm.tag_names, warn=s == "test"
        )
        for s in ("val", "test")
    )
    details = {
        **model.details(),
        "input_dims": int(x["train"].shape[1]),
        "feature_seconds": feature_seconds,
        "predict_seconds": predict_seconds,
    }
    results = build_results(
        cfg,
        run,
        val,
        test,
        dm.tag_names,
        epochs=None,  # a baseline does not train in epochs
        epochs_run=0,
        history=[],
        best_checkpoint=None,
        train_seconds=fit_seconds,
        fit_seconds=fit_seconds,
        train_clips_per_second=n_train / fit_seconds if fit_seconds > 0 else float("nan"),
        n_clips={s: len(y[s]) for s in SPLITS},
        n_parameters=None,
        store=store.path,
        test_interval=confidence_interval(
            scores["test"], y["test"], units=split_units(dm, "test"), **asdict(settings.bootstrap)
        ),
        extra={"baseline": details},
    )
    test = {**test, "preds": scores["test"], "target": y["test"]}
    figures = evaluation_figures(RunFolder(out).figures, test, dm.tag_names)
    logger = build_logger(
        cfg["logger"], out, run.name, [*run.tags, "baseline"], settings.group, dict(cfg)
    )
    with closing_logger(logger):
        end_run(
            out,
            results,
            tag_names=dm.tag_names,
            scores=scores,
            labels={s: y[s] for s in scores},
            clip_ids={s: dm.store.clip_ids[dm.datasets[s].index] for s in scores},
            units={s: split_units(dm, s) for s in scores},
            publish=lambda: _publish(logger, results, figures),
        )
    return results


def _publish(logger: Any, results: dict, figures: dict) -> None:
    """The run's metrics to the configured logger (wandb: one run, as a network run)."""
    if logger is None:
        return
    metrics = {f"{s}/{m}": results[s][m] for s in ("val", "test") for m in ("roc_auc", "pr_auc")}
    logger.log_metrics({**metrics, "fit_seconds": results["fit_seconds"]}, step=0)
    log_results(logger, results, figures)
    logger.save()
