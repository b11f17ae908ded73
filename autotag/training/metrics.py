"""An evaluation pass's predictions (gathered across DDP ranks) and their scores: per-tag and
macro ROC-AUC / PR-AUC (:mod:`autotag.common.metrics`), leaving out tags the set cannot score."""

from __future__ import annotations

import logging

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from autotag.common.metrics import macro_mean, per_tag_scores, scoreable

log = logging.getLogger(__name__)


class Predictions(Metric):
    """Collects probabilities and targets of an evaluation pass (gathered across DDP ranks)."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("preds", default=[], dist_reduce_fx="cat")
        self.add_state("target", default=[], dist_reduce_fx="cat")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self.preds.append(preds.detach().float())
        self.target.append(target.detach().int())

    def compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        return dim_zero_cat(self.preds), dim_zero_cat(self.target)


def tag_scores(
    preds: torch.Tensor, target: torch.Tensor, tag_names: list[str] | None = None, warn: bool = True
) -> dict:
    """Per-tag and macro ROC-AUC and PR-AUC (average precision), as plain Python numbers.

    A tag with no positive (or no negative) in ``target`` has no ROC-AUC; it is left out of the
    macro average (value ``nan``) with a warning.
    """
    preds, target = preds.float().cpu().numpy(), target.int().cpu().numpy()
    n, k = target.shape
    tag_names = tag_names or [str(i) for i in range(k)]
    pos = target.sum(0)
    defined = scoreable(target)
    roc, ap = per_tag_scores(preds, target)
    left_out = [tag_names[j] for j in range(k) if not defined[j]]
    if left_out and warn:
        log.warning(
            "left out of the macro average (no positive or no negative clip): %s",
            ", ".join(left_out),
        )
    return {
        "roc_auc": float(macro_mean(roc)),
        "pr_auc": float(macro_mean(ap)),
        "per_tag": {
            name: {"roc_auc": float(roc[j]), "pr_auc": float(ap[j]), "positives": int(pos[j])}
            for j, name in enumerate(tag_names)
        },
        "left_out": left_out,
        "n_clips": n,
    }
