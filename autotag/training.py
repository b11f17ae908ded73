"""One training run: store → DataModule → FCN → fit → best checkpoint → test → results."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import (
    Callback,
    Checkpoint,
    LearningRateMonitor,
    ModelCheckpoint,
    TQDMProgressBar,
)

from autotag import __version__, plots
from autotag.data.datamodule import TagDataModule
from autotag.data.normalize import NORMS, Normalizer
from autotag.data.sources import resolve_path
from autotag.loggers import build_logger
from autotag.losses import positive_weights
from autotag.metrics import results_scores, tag_scores
from autotag.models import build_model
from autotag.module import TaggingModule
from autotag.prepare import ensure_store
from autotag.thresholds import f1_thresholds

log = logging.getLogger(__name__)


class Throughput(Callback):
    """Training wall time and clips/s (train epochs only)."""

    def __init__(self) -> None:
        self.train_seconds = 0.0
        self.train_clips = 0
        self._t0 = 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.train_clips += len(batch[0]) * trainer.world_size

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.train_seconds += time.perf_counter() - self._t0

    @property
    def clips_per_second(self) -> float:
        return self.train_clips / self.train_seconds if self.train_seconds else math.nan


class SaveLast(Checkpoint):
    """``last.ckpt`` after every epoch, whatever the score (resume: ``ckpt_path=.../last.ckpt``).

    Lightning 2.6's ``save_last`` only writes when a top-k checkpoint is written. As a
    ``Checkpoint`` callback listed after the ModelCheckpoint, it runs after that one has updated
    its best path, so a resumed run never points at a deleted best checkpoint.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            trainer.save_checkpoint(self.path)


def run_dir() -> Path:
    """The Hydra run (or multirun job) folder."""
    if not HydraConfig.initialized():
        return Path.cwd()
    return Path(HydraConfig.get().runtime.output_dir)


def run_identity(cfg: DictConfig) -> tuple[str, list[str]]:
    """Run name and tags from the config choices (norm, model, epochs) and overrides."""
    choices = dict(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else {}
    norm, model = (
        choices.get("norm", cfg.norm.mode),
        choices.get("model", cfg.model.get("name", "model")),
    )
    name = cfg.get("run_name") or f"{model}-{norm}-e{cfg.epochs}"
    tags = [
        f"norm={norm}",
        f"model={model}",
        f"epochs={cfg.epochs}",
        f"features={cfg.features.name}",
        f"data={cfg.data.name}",
    ]
    return name, tags


def trainer_kwargs(cfg: DictConfig) -> dict[str, Any]:
    kw = OmegaConf.to_container(cfg.trainer, resolve=True)
    assert isinstance(kw, dict)
    kw.pop("name", None)
    return kw


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run the training job described by ``cfg``; returns the results written to results.json."""
    out = run_dir()
    out.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(cfg.seed, workers=True)
    if cfg.norm.mode not in NORMS:
        raise ValueError(f"norm.mode={cfg.norm.mode!r}: choose one of {', '.join(NORMS)}")
    store_path = ensure_store(cfg.data, cfg.features)
    if cfg.model.get("arch") in ("rf", "knn"):
        from autotag.baselines import run_baseline

        return run_baseline(cfg, store_path, out)

    dm = TagDataModule(
        store_path,
        top_k=cfg.data.top_k,
        batch_size=cfg.data.batch_size,
        num_workers=cfg.data.num_workers,
        in_memory=cfg.data.in_memory,
        random_crop=cfg.data.random_crop,
        norm=cfg.norm.mode,
        shuffle_labels=cfg.shuffle_labels,
        seed=cfg.seed,
    )
    dm.setup()
    pos, n = dm.train_label_counts()
    pos_weight = positive_weights(pos, n, cfg.loss.max_pos_weight) if cfg.loss.weighted else None
    net = build_model(cfg.model, dm.n_mels, dm.n_frames, len(dm.tag_names))
    plain_cfg = OmegaConf.to_container(cfg, resolve=True)
    module = TaggingModule(
        net,
        dm.normalizer,
        dm.tag_names,
        pos_weight=pos_weight,
        optimizer=OmegaConf.to_container(cfg.optimizer, resolve=True),
        scheduler=OmegaConf.to_container(cfg.scheduler, resolve=True),
        config=plain_cfg,
    )
    if cfg.get("init_from"):
        blob = torch.load(resolve_path(cfg.init_from), map_location="cpu", weights_only=True)
        module.load_state_dict(blob["state_dict"])
        log.info("weights initialized from %s", cfg.init_from)
    name, tags = run_identity(cfg)
    logger = build_logger(cfg, out, name, tags)
    ckpt = ModelCheckpoint(
        dirpath=out / "checkpoints",
        filename="epoch{epoch:03d}-auc{val/roc_auc:.4f}",
        monitor="val/roc_auc",
        mode="max",
        auto_insert_metric_name=False,
    )
    last = SaveLast(out / "checkpoints" / "last.ckpt")
    speed = Throughput()
    callbacks: list[Callback] = [
        ckpt,
        last,
        speed,
        TQDMProgressBar(refresh_rate=cfg.get("progress_refresh", 5)),
    ]
    if logger is not None:
        callbacks.append(LearningRateMonitor(logging_interval="epoch"))
    trainer = pl.Trainer(
        max_epochs=cfg.epochs,
        logger=logger if logger is not None else False,
        callbacks=callbacks,
        default_root_dir=str(out),
        **trainer_kwargs(cfg),
    )
    ckpt_path = str(resolve_path(cfg.ckpt_path)) if cfg.get("ckpt_path") else None
    t0 = time.perf_counter()
    trainer.fit(module, dm, ckpt_path=ckpt_path)
    fit_seconds = time.perf_counter() - t0
    history = list(module.history)
    best = ckpt.best_model_path or None
    trainer.validate(module, dm, ckpt_path=best, verbose=False)
    assert module.last_val is not None
    val_preds, val_target = module.last_val
    trainer.test(module, dm, ckpt_path=best, verbose=False)
    test = module.test_results
    assert test is not None

    val = tag_scores(val_preds, val_target, dm.tag_names, warn=False)
    results = {
        "run_name": name,
        "overrides": list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else [],
        "data": cfg.data.name,
        "split": cfg.data.split,
        "features": cfg.features.name,
        "norm": cfg.norm.mode,
        "model": cfg.model.get("name", cfg.model.arch),
        "epochs": cfg.epochs,
        "epochs_run": trainer.current_epoch,
        "shuffle_labels": bool(cfg.shuffle_labels),
        "best_checkpoint": best,
        **results_scores(val, test, dm.tag_names),
        "history": history,
        "train_seconds": speed.train_seconds,
        "fit_seconds": fit_seconds,
        "train_clips_per_second": speed.clips_per_second,
        "n_clips": {s: len(dm.datasets[s]) for s in ("train", "val", "test")},
        "n_parameters": sum(p.numel() for p in net.parameters()),
        "store": str(store_path),
        "autotag_version": __version__,
    }
    if trainer.is_global_zero:
        thresholds = f1_thresholds(val_preds.numpy(), val_target.numpy())
        save_tagger(out / "tagger.pt", module, plain_cfg, dm, thresholds, results)
        figures = make_figures(out, results, test, dm)
        (out / "results.json").write_text(json.dumps(results, indent=2, allow_nan=True))
        log_to_logger(logger, results, figures)
        print_summary(results, out)
    if logger is not None and hasattr(logger, "experiment") and cfg.logger.get("name") == "wandb":
        import wandb

        wandb.finish()
    return results


def save_tagger(
    path: Path,
    module: TaggingModule,
    cfg: dict,
    dm: TagDataModule,
    thresholds: np.ndarray,
    results: dict,
) -> None:
    """A self-contained model file: weights, plain-dict config, tags, thresholds (weights_only-safe)."""
    torch.save(
        {
            "format": "autotag-tagger/1",
            "autotag_version": __version__,
            "state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()},
            "config": cfg,
            "model": cfg["model"],
            "features": dm.store.features.to_dict(),
            "norm": {
                "mode": dm.normalizer.mode,
                "global_mean": float(dm.normalizer.global_mean),
                "global_std": float(dm.normalizer.global_std),
            },
            "tag_names": list(dm.tag_names),
            "thresholds": [float(t) for t in thresholds],
            "input_shape": [dm.n_mels, dm.n_frames],
            "metrics": {"val": results["val"], "test": results["test"]},
        },
        path,
    )


def make_figures(out: Path, results: dict, test: dict, dm: TagDataModule) -> dict[str, Path]:
    figs = out / "figures"
    paths = {}
    if results["history"]:
        paths["auc_through_training"] = plots.auc_through_training(
            results["history"], figs / "auc_through_training.png", results["run_name"]
        )
    paths["per_tag_test_roc_auc"] = plots.per_tag_bars(
        test["per_tag"], figs / "per_tag_test_roc_auc.png"
    )
    paths["roc_curves"] = plots.roc_curves(
        test["preds"], test["target"], dm.tag_names, figs / "roc_curves.png"
    )
    i = dm.store.indices("train")[0]
    mel = dm.store.mel(i).astype(np.float32)
    st = dm.store.stats
    normalized = {}
    for mode in ("global", "per_coeff", "per_spec", "prelog"):
        normalized[mode] = Normalizer(mode, st["global_mean"], st["global_std"])(
            torch.from_numpy(mel)
        ).numpy()
    paths["normalizations"] = plots.normalizations(
        mel, normalized, figs / "normalizations.png", f"clip {dm.store.clip_ids[i]}"
    )
    return paths


def log_to_logger(logger, results: dict, figures: dict[str, Path]) -> None:
    from pytorch_lightning.loggers import WandbLogger

    if not isinstance(logger, WandbLogger):
        return
    import wandb

    rows = [
        [t, v["test"]["roc_auc"], v["test"]["pr_auc"], v["test"]["positives"]]
        for t, v in results["per_tag"].items()
    ]
    logger.experiment.log(
        {
            "per_tag": wandb.Table(
                columns=["tag", "test_roc_auc", "test_pr_auc", "test_positives"], data=rows
            ),
            **{f"figures/{k}": wandb.Image(str(p)) for k, p in figures.items()},
        }
    )
    logger.experiment.summary.update(
        {
            "test/roc_auc": results["test"]["roc_auc"],
            "test/pr_auc": results["test"]["pr_auc"],
            "val_best/roc_auc": results["val"]["roc_auc"],
            "val_best/pr_auc": results["val"]["pr_auc"],
            "train_clips_per_second": results["train_clips_per_second"],
        }
    )


def print_summary(results: dict, out: Path) -> None:
    per_tag = results["per_tag"]
    ranked = sorted(
        (v["test"]["roc_auc"], t) for t, v in per_tag.items() if np.isfinite(v["test"]["roc_auc"])
    )
    lines = [
        "",
        f"== {results['run_name']} ({results['data']}, split {results['split']}, {results['epochs_run']} epochs) ==",
        f"{'':12s}{'ROC-AUC':>10s}{'PR-AUC':>10s}",
        f"{'val (best)':12s}{results['val']['roc_auc']:10.4f}{results['val']['pr_auc']:10.4f}",
        f"{'test':12s}{results['test']['roc_auc']:10.4f}{results['test']['pr_auc']:10.4f}",
        f"worst tags: {', '.join(f'{t} {a:.3f}' for a, t in ranked[:3])}",
        f"best tags:  {', '.join(f'{t} {a:.3f}' for a, t in ranked[::-1][:3])}",
        f"training: {results['train_seconds']:.0f} s, {results['train_clips_per_second']:.1f} clips/s",
        f"run folder: {out}",
        f"test macro ROC-AUC {results['test']['roc_auc']:.4f}  PR-AUC {results['test']['pr_auc']:.4f}",
    ]
    print("\n".join(lines), flush=True)
