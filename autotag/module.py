"""The LightningModule: a tagging network with weighted BCE and macro ROC-AUC / PR-AUC."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from autotag.losses import WeightedBCE
from autotag.metrics import Predictions, tag_scores


class TaggingModule(pl.LightningModule):
    """Wraps any ``nn.Module`` that maps a normalized spectrogram batch to tag logits.

    ``normalizer`` runs first inside ``forward`` (so checkpoints carry it). ``hparams`` hold
    only plain Python values (lists, dicts, numbers): checkpoints load with ``weights_only=True``.
    """

    def __init__(
        self,
        net: nn.Module,
        normalizer: nn.Module,
        tag_names: list[str],
        pos_weight: torch.Tensor | None = None,
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net", "normalizer", "pos_weight"])
        self.net = net
        self.normalizer = normalizer
        self.loss_fn = WeightedBCE(pos_weight)
        self.tag_names = list(tag_names)
        self.optimizer_cfg = dict(optimizer or {"name": "adam", "lr": 1e-3})
        self.scheduler_cfg = dict(scheduler or {"name": "none"})
        self.val_preds = Predictions()
        self.test_preds = Predictions()
        self.test_results: dict[str, Any] | None = None
        self.last_val: tuple[torch.Tensor, torch.Tensor] | None = None
        self.history: list[dict[str, float]] = []  # one row per epoch; kept in checkpoints

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalizer(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.embed(self.normalizer(x))

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = self.loss_fn(self(x), y)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(x))
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.log(
            "val/loss", self.loss_fn(logits, y), on_epoch=True, sync_dist=True, batch_size=len(x)
        )
        self.val_preds.update(torch.sigmoid(logits), y)

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

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.history = list(checkpoint.get("autotag_history", []))

    def test_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        self.test_preds.update(torch.sigmoid(self(x)), y)

    def on_test_epoch_end(self) -> None:
        preds, target = self.test_preds.compute()
        self.test_preds.reset()
        self.test_results = tag_scores(preds, target, self.tag_names)
        self.test_results["preds"], self.test_results["target"] = preds.cpu(), target.cpu()
        self.log("test/roc_auc", self.test_results["roc_auc"])
        self.log("test/pr_auc", self.test_results["pr_auc"])

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        return torch.sigmoid(self(x))

    def configure_optimizers(self):
        cfg = self.optimizer_cfg
        name = cfg.get("name", "adam").lower()
        lr, wd = float(cfg.get("lr", 1e-3)), float(cfg.get("weight_decay", 0.0))
        if name == "adam":
            opt = torch.optim.Adam(self.parameters(), lr=lr, weight_decay=wd)
        elif name == "adamw":
            opt = torch.optim.AdamW(self.parameters(), lr=lr, weight_decay=wd)
        elif name == "sgd":
            opt = torch.optim.SGD(
                self.parameters(),
                lr=lr,
                momentum=float(cfg.get("momentum", 0.9)),
                weight_decay=wd,
                nesterov=True,
            )
        else:
            raise ValueError(f"optimizer.name={name!r}: choose adam, adamw or sgd")
        sched = self.scheduler_cfg.get("name", "none").lower()
        if sched == "none":
            return opt
        if sched == "cosine":
            s = torch.optim.lr_scheduler.CosineAnnealingLR(
                opt, T_max=max(1, self.trainer.max_epochs)
            )
            return {"optimizer": opt, "lr_scheduler": {"scheduler": s, "interval": "epoch"}}
        if sched == "onecycle":
            s = torch.optim.lr_scheduler.OneCycleLR(
                opt,
                max_lr=lr,
                total_steps=self.trainer.estimated_stepping_batches,
                pct_start=float(self.scheduler_cfg.get("pct_start", 0.3)),
            )
            return {"optimizer": opt, "lr_scheduler": {"scheduler": s, "interval": "step"}}
        if sched == "plateau":
            s = torch.optim.lr_scheduler.ReduceLROnPlateau(
                opt,
                mode="max",
                factor=float(self.scheduler_cfg.get("factor", 0.2)),
                patience=int(self.scheduler_cfg.get("patience", 2)),
            )
            return {"optimizer": opt, "lr_scheduler": {"scheduler": s, "monitor": "val/roc_auc"}}
        raise ValueError(f"scheduler.name={sched!r}: choose none, cosine, onecycle or plateau")
