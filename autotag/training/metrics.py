"""Macro ROC-AUC / PR-AUC over tags, leaving out tags an evaluation set cannot score."""

from __future__ import annotations

import logging
import math

import torch
from torchmetrics import Metric
from torchmetrics.functional.classification import multilabel_auroc, multilabel_average_precision
from torchmetrics.utilities import dim_zero_cat

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

    A tag with no positive (or no negative) in ``target`` has no ROC-AUC; torchmetrics would
    score it 0 and drag the macro average down, so it is left out (value ``nan``) with a warning.
    """
    preds, target = preds.float().cpu(), target.int().cpu()
    n, k = target.shape
    tag_names = tag_names or [str(i) for i in range(k)]
    pos = target.sum(0)
    defined = (pos > 0) & (pos < n)
    roc = torch.full((k,), float("nan"))
    ap = torch.full((k,), float("nan"))
    if defined.any():
        cols = defined.nonzero().flatten()
        p, t = preds[:, cols], target[:, cols]
        roc[cols] = multilabel_auroc(
            p, t, num_labels=len(cols), average="none", thresholds=None
        ).float()
        ap[cols] = multilabel_average_precision(
            p, t, num_labels=len(cols), average="none", thresholds=None
        ).float()
    left_out = [tag_names[j] for j in range(k) if not defined[j]]
    if left_out and warn:
        log.warning(
            "left out of the macro average (no positive or no negative clip): %s",
            ", ".join(left_out),
        )
    macro = lambda v: float(v[defined].mean()) if defined.any() else math.nan  # noqa: E731
    return {
        "roc_auc": macro(roc),
        "pr_auc": macro(ap),
        "per_tag": {
            name: {"roc_auc": float(roc[j]), "pr_auc": float(ap[j]), "positives": int(pos[j])}
            for j, name in enumerate(tag_names)
        },
        "left_out": left_out,
        "n_clips": n,
    }
