"""The paper's baselines (Table III): a random forest and k-nearest neighbours.

Same store, split, top-K tags, normalization (``norm=...``) and metric (:func:`tag_scores`) as
the networks; ``python train.py model=rf`` or ``model=knn`` (``train`` dispatches here). The
classifier input is either every value of the normalized spectrogram, flattened (``flat``, the
paper), or summary statistics over time per mel band (``stats``). Scores are
``predict_proba``'s probability of each tag, so the AUCs rank real scores.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from sklearn.base import ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.neighbors import KNeighborsClassifier

from autotag import __version__, plots
from autotag.data.datamodule import TagDataModule
from autotag.data.normalize import Normalizer
from autotag.data.store import MelStore
from autotag.loggers import build_logger
from autotag.metrics import results_scores, tag_scores

log = logging.getLogger(__name__)

BASELINES = ("rf", "knn")
STATS = ("mean", "std", "min", "max", "median")


def spectrogram_features(
    mel: torch.Tensor, kind: str = "flat", stats: Sequence[str] = ("mean", "std", "min", "max")
) -> np.ndarray:
    """Classifier inputs ``(n, dims)`` from normalized spectrograms ``(n, n_mels, n_frames)``.

    ``flat``: every value (n_mels * n_frames dims); ``stats``: the chosen statistics of each mel
    band over time, concatenated statistic by statistic (len(stats) * n_mels dims).
    """
    mel = mel.float()
    if kind == "flat":
        return mel.reshape(len(mel), -1).numpy()
    if kind != "stats":
        raise ValueError(f"model.features={kind!r}: choose flat or stats")
    unknown = [s for s in stats if s not in STATS]
    if unknown or not stats:
        raise ValueError(f"model.stats={list(stats)}: choose among {', '.join(STATS)}")
    fns = {
        "mean": lambda x: x.mean(-1),
        "std": lambda x: x.std(-1, unbiased=False),
        "min": lambda x: x.amin(-1),
        "max": lambda x: x.amax(-1),
        "median": lambda x: x.median(-1).values,
    }
    return torch.cat([fns[s](mel) for s in stats], dim=-1).numpy()


def split_features(
    store: MelStore,
    index: np.ndarray,
    normalizer: Normalizer,
    kind: str,
    stats: Sequence[str],
    chunk: int = 256,
) -> np.ndarray:
    """Features of the store rows ``index``, read and normalized ``chunk`` clips at a time."""
    parts = []
    with torch.inference_mode():
        for lo in range(0, len(index), chunk):
            mel = torch.from_numpy(store.mels(index[lo : lo + chunk]).astype(np.float32))
            parts.append(spectrogram_features(normalizer(mel), kind, stats).astype(np.float32))
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def build_estimator(model: DictConfig, n_train: int) -> ClassifierMixin:
    """The scikit-learn classifier of ``model.arch`` (``rf`` or ``knn``)."""
    if model.arch == "rf":
        return RandomForestClassifier(
            n_estimators=model.get("n_estimators", 100),
            max_features=model.get("max_features", "sqrt"),
            min_samples_leaf=model.get("min_samples_leaf", 1),
            n_jobs=model.get("n_jobs", -1),
            random_state=model.get("random_state", 0),
        )
    if model.arch == "knn":
        k = int(model.get("n_neighbors", 125))
        if k > n_train:
            msg = (
                f"model.n_neighbors={k} but the training split has only {n_train} clips "
                "(K-nearest neighbours needs K <= number of training clips)"
            )
            if not model.get("clamp_neighbors", True):
                raise ValueError(msg + "; lower model.n_neighbors")
            log.warning("%s: using K=%d", msg, n_train)
            k = n_train
        return KNeighborsClassifier(
            n_neighbors=k,
            weights=model.get("weights", "uniform"),
            metric=model.get("metric", "minkowski"),
            p=model.get("p", 2),
            n_jobs=model.get("n_jobs", -1),
        )
    raise ValueError(f"model.arch={model.arch!r}: not a baseline (choose {', '.join(BASELINES)})")


def positive_scores(clf: ClassifierMixin, x: np.ndarray) -> np.ndarray:
    """``(n, K)`` probability of the positive class of each tag from ``predict_proba``.

    scikit-learn answers a list of ``(n, n_classes)`` arrays for multi-output targets (one array
    when there is a single output). A tag with one class in the training split has one column:
    its score is then the constant 0 (never positive) or 1 (always positive).
    """
    proba = clf.predict_proba(x)
    classes = clf.classes_
    if not isinstance(proba, list):
        proba, classes = [proba], [classes]
    cols = []
    for p, c in zip(proba, classes):
        c = np.asarray(c).tolist()
        cols.append(p[:, c.index(1)] if 1 in c else np.zeros(len(x)))
    return np.stack(cols, axis=1).astype(np.float32)


def run_baseline(cfg: DictConfig, store_path: str | Path, out: str | Path) -> dict[str, Any]:
    """Fit the baseline of ``cfg.model`` on the training split, score val and test, write
    ``results.json`` (the keys of a network run where they apply), ``predictions.npz`` (the
    val/test scores and labels) and figures into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    dm = TagDataModule(
        store_path,
        top_k=cfg.data.top_k,
        num_workers=0,
        norm=cfg.norm.mode,
        shuffle_labels=cfg.get("shuffle_labels", False),
        seed=cfg.seed,
    )
    dm.setup()
    kind = cfg.model.get("features", "flat")
    stats = list(cfg.model.get("stats") or ("mean", "std", "min", "max"))
    x, y = {}, {}
    for split in ("train", "val", "test"):
        ds = dm.datasets[split]
        x[split] = split_features(dm.store, ds.index, dm.normalizer, kind, stats)
        y[split] = ds.labels.astype(np.uint8)
    feature_seconds = time.perf_counter() - t_start
    n_train = len(y["train"])
    log.info(
        "%s baseline: %s features (%d dims), train %d, val %d, test %d clips, %d tags",
        cfg.model.arch,
        kind,
        x["train"].shape[1],
        n_train,
        len(y["val"]),
        len(y["test"]),
        y["train"].shape[1],
    )
    clf = build_estimator(cfg.model, n_train)
    t0 = time.perf_counter()
    clf.fit(x["train"], y["train"])
    fit_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores = {s: positive_scores(clf, x[s]) for s in ("val", "test")}
    predict_seconds = time.perf_counter() - t0
    never = [t for t, p in zip(dm.tag_names, y["train"].sum(0)) if p == 0]
    if never:
        log.warning("no positive training clip (constant score 0): %s", ", ".join(never))

    val = tag_scores(
        torch.from_numpy(scores["val"]), torch.from_numpy(y["val"]), dm.tag_names, warn=False
    )
    test = tag_scores(torch.from_numpy(scores["test"]), torch.from_numpy(y["test"]), dm.tag_names)
    norm, model = cfg.norm.mode, cfg.model.get("name", cfg.model.arch)
    name = cfg.get("run_name") or f"{model}-{norm}"
    try:
        from hydra.core.hydra_config import HydraConfig

        overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    except ValueError:
        overrides = []
    details: dict[str, Any] = {
        "features": kind,
        "stats": stats if kind == "stats" else None,
        "input_dims": int(x["train"].shape[1]),
        "feature_seconds": feature_seconds,
        "predict_seconds": predict_seconds,
    }
    if isinstance(clf, KNeighborsClassifier):
        details["n_neighbors"] = int(clf.n_neighbors)
    else:
        details["tree_nodes"] = int(sum(t.tree_.node_count for t in clf.estimators_))
    results: dict[str, Any] = {
        "run_name": name,
        "overrides": overrides,
        "data": cfg.data.name,
        "split": cfg.data.split,
        "features": cfg.features.name,
        "norm": norm,
        "model": model,
        "epochs": None,  # a baseline does not train in epochs
        "epochs_run": 0,
        "shuffle_labels": bool(cfg.get("shuffle_labels", False)),
        "best_checkpoint": None,
        **results_scores(val, test, dm.tag_names),
        "history": [],
        "train_seconds": fit_seconds,
        "fit_seconds": fit_seconds,
        "train_clips_per_second": n_train / fit_seconds if fit_seconds > 0 else float("nan"),
        "n_clips": {s: len(y[s]) for s in ("train", "val", "test")},
        "n_parameters": None,
        "store": str(store_path),
        "autotag_version": __version__,
        "baseline": details,
    }
    figs = out / "figures"
    figures = {
        "per_tag_test_roc_auc": plots.per_tag_bars(
            test["per_tag"], figs / "per_tag_test_roc_auc.png"
        ),
        "roc_curves": plots.roc_curves(
            scores["test"], y["test"], dm.tag_names, figs / "roc_curves.png"
        ),
    }
    np.savez_compressed(
        out / "predictions.npz",
        tag_names=np.array(dm.tag_names),
        **{f"{s}_scores": scores[s] for s in ("val", "test")},
        **{f"{s}_labels": y[s] for s in ("val", "test")},
    )
    (out / "results.json").write_text(json.dumps(results, indent=2, allow_nan=True))
    _log_results(cfg, out, name, results, figures)
    print(
        f"\n== {name} ({results['data']}, split {results['split']}, {kind} input) ==\n"
        f"{'':12s}{'ROC-AUC':>10s}{'PR-AUC':>10s}\n"
        f"{'val':12s}{val['roc_auc']:10.4f}{val['pr_auc']:10.4f}\n"
        f"{'test':12s}{test['roc_auc']:10.4f}{test['pr_auc']:10.4f}\n"
        f"fit: {fit_seconds:.1f} s; run folder: {out}\n"
        f"test macro ROC-AUC {test['roc_auc']:.4f}  PR-AUC {test['pr_auc']:.4f}",
        flush=True,
    )
    return results


def _log_results(
    cfg: DictConfig, out: Path, name: str, results: dict[str, Any], figures: dict[str, Path]
) -> None:
    """The run's metrics to the configured logger (wandb: one run, as a network run)."""
    from autotag.training import log_to_logger

    tags = [
        f"norm={results['norm']}",
        f"model={results['model']}",
        f"features={results['features']}",
        f"data={results['data']}",
        "baseline",
    ]
    logger = build_logger(cfg, out, name, tags)
    if logger is None:
        return
    metrics = {
        "val/roc_auc": results["val"]["roc_auc"],
        "val/pr_auc": results["val"]["pr_auc"],
        "test/roc_auc": results["test"]["roc_auc"],
        "test/pr_auc": results["test"]["pr_auc"],
        "fit_seconds": results["fit_seconds"],
    }
    logger.log_metrics(metrics, step=0)
    log_to_logger(logger, results, figures)
    logger.save()
    if cfg.logger.get("name") == "wandb":
        import wandb

        wandb.finish()
    else:
        logger.finalize("success")
