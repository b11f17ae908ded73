"""Weighted binary cross-entropy: rare tags weigh more."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def positive_weights(
    pos_counts: np.ndarray | torch.Tensor, n_clips: int, cap: float | None = None
) -> torch.Tensor:
    """``pos_weight[t] = negatives / positives`` of tag ``t`` in the training split, optionally capped.

    It balances the total weight of a tag's positives against its negatives, so a tag on 2% of
    clips has its positives weigh 49x. A tag without positives gets the cap (or ``n_clips``).
    """
    pos = torch.as_tensor(np.asarray(pos_counts), dtype=torch.float64)
    w = (n_clips - pos) / pos.clamp(min=1.0)
    if cap is not None:
        w = w.clamp(max=float(cap))
    return w.clamp(min=1e-6).float()


class WeightedBCE(nn.Module):
    """Mean over clips and tags of ``-(w_t * y * log s(z) + (1 - y) * log(1 - s(z)))``.

    Without ``pos_weight`` it is the plain BCE. ``y`` may be soft (any value in [0, 1], as
    mixup's targets are): the formula holds as it is, a soft positive weighing ``w_t y``.
    """

    def __init__(self, pos_weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("pos_weight", pos_weight if pos_weight is not None else torch.empty(0))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pw = self.pos_weight if self.pos_weight.numel() else None
        return F.binary_cross_entropy_with_logits(logits, target.float(), pos_weight=pw)
