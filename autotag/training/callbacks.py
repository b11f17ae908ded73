"""Callbacks of a training run: throughput, the best and the last checkpoints, progress."""

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

from autotag.common.console import is_terminal
from autotag.runs.folder import RunFolder
from autotag.training.module import StageSwitch


class Throughput(Callback):
    """Training clips/s two ways: over whole epochs (validation and checkpoints included: what
    a run costs) and over the training steps alone (epoch start to the last batch's end, the
    GPU's queue drained: what the model and the loader give).

    An epoch ends when the next starts, or training ends: Lightning runs the checkpoint
    callbacks after every other ``on_train_epoch_end``, so that hook would miss them."""

    def __init__(self) -> None:
        self.train_seconds = 0.0
        self.step_seconds = 0.0
        self.train_clips = 0
        self._t0: float | None = None

    def _close_epoch(self) -> None:
        if self._t0 is not None:
            self.train_seconds += time.perf_counter() - self._t0
            self._t0 = None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._close_epoch()
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.train_clips += len(batch[0]) * trainer.world_size
        if batch_idx == trainer.num_training_batches - 1 and self._t0 is not None:
            if pl_module.device.type == "cuda":
                torch.cuda.synchronize(pl_module.device)  # once per epoch
            self.step_seconds += time.perf_counter() - self._t0

    def on_train_end(self, trainer, pl_module) -> None:
        self._close_epoch()

    @property
    def clips_per_second(self) -> float:
        return self.train_clips / self.train_seconds if self.train_seconds else math.nan

    @property
    def step_clips_per_second(self) -> float:
        return self.train_clips / self.step_seconds if self.step_seconds else math.nan


class BestCheckpoint(ModelCheckpoint):
    """The checkpoint with the best validation ROC-AUC, weights only (testing it and a staged
    optimizer's reload need no optimizer state: a third of the bytes of a full checkpoint).

    A file that a new best replaces is removed only when ``last.ckpt`` no longer names it
    (:meth:`release`, called by :class:`SaveLast`), so a run resumed from any ``last.ckpt``
    finds the best checkpoint that ``last.ckpt`` knows.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(save_weights_only=True, **kwargs)
        self.replaced: list[str] = []

    @property
    def state_key(self) -> str:  # ModelCheckpoint's: last.ckpt files of either resume alike
        return super().state_key.replace(type(self).__qualname__, "ModelCheckpoint", 1)

    def _remove_checkpoint(self, trainer, filepath: str) -> None:
        self.replaced.append(filepath)

    def release(self, trainer) -> None:
        for path in self.replaced:
            super()._remove_checkpoint(trainer, path)
        self.replaced.clear()


class SaveLast(Checkpoint):
    """``last.ckpt``, the full state to resume from (``ckpt_path=.../last.ckpt``): after the
    first epoch, then at most every ``every_s`` seconds (0: every epoch), and after the last.

    Why not every epoch: on a GPU an epoch of the synthetic corpus trains in 0.35 s and writing
    the full-width FCN's 210 MB (weights and Adam's moments) took 0.44 s more. A killed run
    loses at most ``every_s`` seconds of training. Also saved once :data:`MAX_REPLACED` best
    checkpoints wait for removal (each replaced best stays on disk until then).

    Lightning 2.6's ``save_last`` only writes when a top-k checkpoint is written. As a
    ``Checkpoint`` callback listed after the best one, it runs after that one has updated its
    best path.
    """

    MAX_REPLACED = 3

    def __init__(self, path: Path, every_s: float, best: BestCheckpoint | None = None) -> None:
        self.path = Path(path)
        self.every_s = every_s
        self.best = best
        self._saved_at = -math.inf
        self._saved_step = -1

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        max_epochs = trainer.max_epochs if trainer.max_epochs is not None else -1
        last = trainer.should_stop or 0 <= max_epochs <= trainer.current_epoch + 1
        # rank 0's clock decides for every rank: save_checkpoint ends at a barrier
        due = trainer.strategy.broadcast(time.monotonic() - self._saved_at >= self.every_s, 0)
        crowded = self.best is not None and len(self.best.replaced) >= self.MAX_REPLACED
        if last or due or crowded:
            self._save(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        if trainer.global_step != self._saved_step:  # stopped otherwise (max_steps, max_time)
            self._save(trainer)

    def _save(self, trainer) -> None:
        trainer.save_checkpoint(self.path)
        self._saved_at, self._saved_step = time.monotonic(), trainer.global_step
        if self.best is not None:
            self.best.release(trainer)


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

    def __init__(
        self, out: Path, progress_refresh: int, log_lr: bool, last_every_s: float = 0.0
    ) -> None:
        self.best = BestCheckpoint(
            dirpath=RunFolder(out).checkpoints,
            filename="epoch{epoch:03d}-auc{val/roc_auc:.4f}",
            monitor="val/roc_auc",
            mode="max",
            auto_insert_metric_name=False,
        )
        self.speed = Throughput()
        self.last = SaveLast(RunFolder(out).last_checkpoint, last_every_s, self.best)
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
