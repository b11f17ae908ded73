"""Musicnn (Pons et al. 2018), as in Won et al. 2020's reference code: a musically motivated
front end (vertical "timbral" and horizontal "temporal" filters), a residual 1-D back end, and
global max + mean pooling before a dense layer."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from autotag.models import blocks
from autotag.models.blocks import as_image, check_dropout, check_width, scaled, too_small
from autotag.models.registry import register

TIMBRAL_WIDTH = 7  # frames covered by a timbral filter (Pons; Won's Conv_V)
BACKEND_KERNEL = 7  # the back end's 1-D kernel (frames)
BACKEND_LAYERS = 3  # layer1, then two residual layers


class _Timbral(nn.Module):
    """Vertical conv (``height`` rows x 7 frames, time padding 3) → BN → ReLU → max over the
    remaining rows: ``(B, 1, F, T)`` → ``(B, C, T)`` (Won's ``Conv_V``)."""

    def __init__(self, c_out: int, height: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, c_out, (height, TIMBRAL_WIDTH), padding=(0, TIMBRAL_WIDTH // 2))
        self.bn = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x))).amax(dim=2)


class _Temporal(nn.Module):
    """1-D conv over the frequency-averaged input (``kernel`` frames, padding ``kernel // 2``)
    → BN → ReLU: ``(B, 1, T)`` → ``(B, C, T)`` (Won's ``Conv_H``, after its average pool)."""

    def __init__(self, c_out: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, c_out, kernel, padding=kernel // 2)
        self.bn = nn.BatchNorm1d(c_out)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


def _conv1d_block(c_in: int, c_out: int) -> nn.Sequential:
    """Conv1d (kernel 7, padding 3) → BN → ReLU (Won's ``Conv_1d`` with pooling 1)."""
    return nn.Sequential(
        nn.Conv1d(c_in, c_out, BACKEND_KERNEL, padding=BACKEND_KERNEL // 2),
        nn.BatchNorm1d(c_out),
        nn.ReLU(),
    )


@register("musicnn")
class Musicnn(nn.Module):
    """Input BN → timbral + temporal front end (concatenated, 561 channels at width 1) → three
    1-D conv layers (the last two residual), concatenated with the front end (753) → global max
    and mean over time (1506) → dense 200 → BN → ReLU → dropout → linear to the tags.

    ``embed`` returns the 200-wide dense layer after its ReLU and before the dropout (not the
    1506-wide pooled vector), so ``embedding_dim`` is ``dense`` (times ``width``).
    Timbral filter heights are ``floor(h * n_mels)`` for each ``h`` in ``timbral_heights``
    (67 and 38 rows for 96). The arguments after ``n_classes`` are ``conf/model/musicnn.yaml``'s.
    """

    def __init__(
        self,
        n_mels: int,
        n_frames: int,
        n_classes: int,
        *,
        width: float,
        dropout: float,
        timbral_filters: int,
        timbral_heights: Sequence[float],
        temporal_filters: int,
        temporal_kernels: Sequence[int],
        backend_channels: int,
        dense: int,
    ) -> None:
        super().__init__()
        check_width(width)
        check_dropout(dropout)
        if not timbral_heights and not temporal_kernels:
            raise ValueError("model: musicnn needs timbral_heights or temporal_kernels")
        for h in timbral_heights:
            if not 0.0 < h <= 1.0:
                raise ValueError(f"model.timbral_heights: each must be in (0, 1], got {h}")
        for k in temporal_kernels:
            # an even kernel with padding k // 2 would give T + 1 frames, not T
            if int(k) < 1 or int(k) % 2 == 0:
                raise ValueError(f"model.temporal_kernels: each must be odd and positive, got {k}")
        # floor(h * n_mels), with a tolerance so that e.g. 0.29 * 100 is 29 rows, not 28
        heights = [math.floor(h * n_mels + 1e-9) for h in timbral_heights]
        for h, rows in zip(timbral_heights, heights):
            if rows < 1:
                raise too_small(
                    "musicnn",
                    n_mels,
                    n_frames,
                    f"a timbral filter {h} x {n_mels} rows high rounds down to {rows} rows "
                    f"(it needs at least {math.ceil(1 / h)} mel rows)",
                )
        if n_frames < 1:
            raise too_small("musicnn", n_mels, n_frames, "there are no frames")
        tf = scaled(timbral_filters, width)
        pf = scaled(temporal_filters, width)
        bc = scaled(backend_channels, width)
        dc = scaled(dense, width)

        self.input_bn = nn.BatchNorm2d(1)
        self.timbral = nn.ModuleList(_Timbral(tf, rows) for rows in heights)
        self.temporal = nn.ModuleList(_Temporal(pf, int(k)) for k in temporal_kernels)
        front = tf * len(heights) + pf * len(temporal_kernels)
        self.backend = nn.ModuleList(
            _conv1d_block(front if i == 0 else bc, bc) for i in range(BACKEND_LAYERS)
        )
        pooled = 2 * (front + BACKEND_LAYERS * bc)  # max and mean of [front, res1, res2, res3]
        self.dense = nn.Linear(pooled, dc)
        self.dense_bn = nn.BatchNorm1d(dc)
        self.relu = nn.ReLU()
        self.head_dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(dc, n_classes)
        self.timbral_heights = heights
        self.front_channels = front
        self.pooled_dim = pooled
        self.embedding_dim = dc

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The dense layer after BN and ReLU: ``(batch, embedding_dim)``."""
        x = self.input_bn(as_image(x))  # (B, 1, F, T)
        mean_rows = x.mean(dim=2)  # (B, 1, T): the temporal branches' input
        front = torch.cat(
            [m(x) for m in self.timbral] + [m(mean_rows) for m in self.temporal], dim=1
        )
        out = blocks.dense_residual(front, self.backend)  # (B, front + 3 * backend, T)
        pooled = torch.cat([out.amax(dim=2), out.mean(dim=2)], dim=1)
        return self.relu(self.dense_bn(self.dense(pooled)))

    def head(self, emb: torch.Tensor) -> torch.Tensor:
        """Embeddings → tag logits (dropout, then the classifier)."""
        return self.classifier(self.head_dropout(emb))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))
