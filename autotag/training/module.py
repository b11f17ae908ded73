"""The LightningModule: a tagging network with weighted BCE and macro ROC-AUC / PR-AUC."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from torch import nn

from autotag.data.chunks import ChunkPlan, in_pieces, mean_over
from autotag.training.augment import Augment
from autotag.training.losses import WeightedBCE
from autotag.training.metrics import Predictions, tag_scores
from autotag.training.optim import build_optimizer, build_scheduler
from autotag.training.recipe import stage_at, stages_of


class TaggingModule(pl.LightningModule):
    """Wraps any ``nn.Module`` that maps a normalized spectrogram batch to tag logits.

    ``normalizer`` runs first inside ``forward`` (so checkpoints carry it). Validation, test and
    prediction follow ``chunks`` (:mod:`autotag.data.chunks`): the mean of the sigmoid outputs
    of chunks spread over each clip, or the whole clip. ``augment`` changes training batches only
    (:mod:`autotag.training.augment`; the config's ``augment`` block records it). ``hparams`` hold
    only plain Python values (lists, dicts, numbers): checkpoints load with ``weights_only=True``.
    """

    def __init__(
        self,
        net: nn.Module,
        normalizer: nn.Module,
        tag_names: list[str],
        optimizer: dict[str, Any],
        scheduler: dict[str, Any],
        pos_weight: torch.Tensor | None = None,
        config: dict[str, Any] | None = None,
        chunks: ChunkPlan | None = None,
        eval_batch: int = 64,
        augment: Augment | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net", "normalizer", "pos_weight", "chunks", "augment"])
        self.augment = augment if augment is not None and augment.on else None  # None: untouched
        self.chunks = chunks or ChunkPlan(None, 1)
        self.eval_batch = eval_batch  # chunks per forward pass in evaluation
        self.net = net
        self.normalizer = normalizer
        self.loss_fn = WeightedBCE(pos_weight)
        self.tag_names = list(tag_names)
        self.optimizer_cfg = dict(optimizer)
        self.scheduler_cfg = dict(scheduler)
        self.val_preds = Predictions()
        self.test_preds = Predictions()
        self.test_results: dict[str, Any] | None = None
        self.last_val: tuple[torch.Tensor, torch.Tensor] | None = None
        self.history: list[dict[str, float]] = []  # one row per epoch; kept in checkpoints
        self.stages = stages_of(self.optimizer_cfg)  # None: one optimizer for the whole run
        self.stage = 0  # kept in checkpoints: a resumed run builds its stage's optimizer
        if self.stages is not None and str(self.scheduler_cfg["name"]) != "none":
            raise ValueError(
                f"scheduler={self.scheduler_cfg.get('name')} with a staged optimizer: the stages "
                f"set the learning rates (use scheduler=none)"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalizer(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.embed(self.normalizer(x))

    def evaluate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Probabilities of whole clips (the chunk mean) and the logits they correspond to."""
        chunks, k = self.chunks.split(x)
        logits = in_pieces(self, chunks, self.eval_batch).float()  # fp32 even under bf16-mixed
        if k == 1:
            return torch.sigmoid(logits), logits
        probs = mean_over(torch.sigmoid(logits), k)
        return probs, torch.logit(probs.clamp(1e-7, 1 - 1e-7))

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        if self.augment is None:
            logits = self(x)
        else:  # gain and tilt on the dB features; mixup and masks on the normalized ones
            step = (self.global_rank, self.current_epoch, batch_idx)
            z, y = self.augment.after_norm(
                self.normalizer(self.augment.before_norm(x, step)), y, step
            )
            logits = self.net(z)
        loss = self.loss_fn(logits, y)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(x))
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        probs, logits = self.evaluate(x)
        self.log(
            "val/loss", self.loss_fn(logits, y), on_epoch=True, sync_dist=True, batch_size=len(x)
        )
        self.val_preds.update(probs, y)

    def on_validation_epoch_end(self) -> None:
        preds, target = self.val_preds.compute()
        self.val_preds.reset()
        self.last_val = (preds.cpu(), target.cpu())
        scores = tag_scores(preds, target, self.tag_names, warn=self.current_epoch == 0)
        self.log("val/roc_auc", scores["roc_auc"], prog_bar=True)
        self.log("val/pr_auc", scores["pr_auc"], prog_bar=True)
        if self.trainer.state.fn == "fit" and not self.trainer.sanity_checking:
            loss = self.trainer.callback_metrics.get("train/loss_epoch")
            self.history.append(
                {
                    "epoch": self.current_epoch + 1,
                    "val_roc_auc": scores["roc_auc"],
                    "val_pr_auc": scores["pr_auc"],
                    "train_loss": float(loss) if loss is not None else float("nan"),
                }
            )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["autotag_history"] = list(self.history)
        checkpoint["autotag_stage"] = self.stage

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.history = list(checkpoint.get("autotag_history", []))
        self.stage = int(checkpoint.get("autotag_stage", 0))

    def enter_stage_if_due(self) -> None:
        """At a stage boundary of a staged optimizer: reload the best checkpoint if the stage
        says so, and swap in the stage's optimizer (called by :class:`StageSwitch` before the
        learning-rate monitor reads the optimizer)."""
        if self.stages is None:
            return
        stage = stage_at(self.stages, self.current_epoch)
        if stage == self.stage:
            return
        ckpt = self.trainer.checkpoint_callback
        best = ckpt.best_model_path if ckpt is not None else ""
        reload = self.stages[stage].reload_best and bool(best)
        if reload:
            state = torch.load(best, map_location=self.device, weights_only=True)["state_dict"]
            self.load_state_dict(state)
        self.stage = stage
        self.trainer.strategy.optimizers = [self._stage_optimizer()]
        if self.trainer.is_global_zero:
            print(
                f"epoch {self.current_epoch + 1}: optimizer stage {stage + 1}/{len(self.stages)} "
                f"({self.stages[stage].optimizer}"
                + (f", from the best checkpoint {best}" if reload else "")
                + ")",
                flush=True,
            )

    def _stage_optimizer(self) -> torch.optim.Optimizer:
        assert self.stages is not None
        return build_optimizer(self.parameters(), self.stages[self.stage].optimizer)

    def test_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        self.test_preds.update(self.evaluate(x)[0], y)

    def on_test_epoch_end(self) -> None:
        preds, target = self.test_preds.compute()
        self.test_preds.reset()
        self.test_results = tag_scores(preds, target, self.tag_names)
        self.test_results["preds"], self.test_results["target"] = preds.cpu(), target.cpu()
        self.log("test/roc_auc", self.test_results["roc_auc"])
        self.log("test/pr_auc", self.test_results["pr_auc"])

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        return self.evaluate(x)[0]

    def configure_optimizers(self):
        if self.stages is not None:
            return self._stage_optimizer()
        opt = build_optimizer(self.parameters(), self.optimizer_cfg)
        trainer = self.trainer
        sched = build_scheduler(
            opt,
            self.scheduler_cfg,
            trainer.max_epochs,
            lambda: int(trainer.estimated_stepping_batches),
        )
        return opt if sched is None else {"optimizer": opt, "lr_scheduler": sched}


class StageSwitch(Callback):
    """Enters the next stage of a staged optimizer at the start of its first epoch; listed
    before the learning-rate monitor, so the epoch's logged rate is the new stage's."""

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        pl_module.enter_stage_if_due()
