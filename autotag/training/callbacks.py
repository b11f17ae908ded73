"""Callbacks of a training run: throughput, ``last.ckpt`` every epoch, and the standard set."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import torch
from pytorch_lightning.callbacks import (
    Callback,
    Checkpoint,
    LearningRateMonitor,
    ModelCheckpoint,
    ProgressBar,
    TQDMProgressBar,
)

from autotag.data.progress import is_terminal
from autotag.training.module import StageSwitch


class Throughput(Callback):
    """Training clips/s two ways: over whole epochs (validation and checkpoints included: what
    a run costs) and over the training steps alone (epoch start to the last batch's end, the
    GPU's queue drained: what the model and the loader give)."""

    def __init__(self) -> None:
        self.train_seconds = 0.0
        self.step_seconds = 0.0
        self.train_clips = 0
        self._t0 = 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.train_clips += len(batch[0]) * trainer.world_size
        if batch_idx == trainer.num_training_batches - 1:
            if pl_module.device.type == "cuda":
                torch.cuda.synchronize(pl_module.device)  # once per epoch
            self.step_seconds += time.perf_counter() - self._t0

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.train_seconds += time.perf_counter() - self._t0

    @property
    def clips_per_second(self) -> float:
        return self.train_clips / self.train_seconds if self.train_seconds else math.nan

    @property
    def step_clips_per_second(self) -> float:
        return self.train_clips / self.step_seconds if self.step_seconds else math.nan


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


class EpochLines(ProgressBar):
    """The progress of a run in a log (output not a terminal): one line per epoch instead of
    a bar redrawn with ``\r`` thousands of times."""

    def __init__(self) -> None:
        super().__init__()
        self._enabled = True
        self._t0 = 0.0

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not self._enabled or trainer.sanity_checking or not trainer.is_global_zero:
            return
        m = trainer.callback_metrics
        parts = [f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"]
        for key, label in (("train/loss_epoch", "train loss"), ("val/roc_auc", "val ROC-AUC"),
                           ("val/pr_auc", "val PR-AUC")):  # fmt: skip
            if key in m:
                parts.append(f"{label} {float(m[key]):.4f}")
        parts.append(f"{time.perf_counter() - self._t0:.0f} s")
        print(", ".join(parts), file=sys.stderr, flush=True)


class RunCallbacks:
    """The callbacks of one run, by role: best and last checkpoints, speed, progress, LR."""

    def __init__(self, out: Path, progress_refresh: int, log_lr: bool) -> None:
        self.best = ModelCheckpoint(
            dirpath=out / "checkpoints",
            filename="epoch{epoch:03d}-auc{val/roc_auc:.4f}",
            monitor="val/roc_auc",
            mode="max",
            auto_insert_metric_name=False,
        )
        self.speed = Throughput()
        self.last = SaveLast(out / "checkpoints" / "last.ckpt")
        self.all: list[Callback] = [
            StageSwitch(),  # before the LR monitor: an epoch logs its own stage's rate
            self.best,
            self.last,  # after `best`: see SaveLast
            self.speed,
            TQDMProgressBar(refresh_rate=progress_refresh) if is_terminal() else EpochLines(),
        ]
        if log_lr:
            self.all.append(LearningRateMonitor(logging_interval="epoch"))

    @property
    def best_path(self) -> str | None:
        return self.best.best_model_path or None

    def to_test(self, last_epoch: bool) -> str | None:
        """The checkpoint to validate and test: the best on validation ROC-AUC, or the last
        epoch's (a shuffled-label control must not pick its epoch with the real validation
        labels; it is named explicitly, as None could mean a SLURM requeue checkpoint)."""
        if not last_epoch:
            return self.best_path
        return str(self.last.path) if self.last.path.exists() else None
