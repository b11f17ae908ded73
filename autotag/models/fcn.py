"""The 4-layer fully convolutional network (Choi et al. 2016; Nair & Bradley), with optional BN."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from autotag.models.registry import register


@register("fcn")
class FCN(nn.Module):
    """3x3 conv → [BatchNorm] → ReLU → max-pool blocks, a global max-pool, a linear output.

    Input ``(batch, n_mels, n_frames)`` (or with a channel axis); output logits ``(batch, n_classes)``.
    The global pool reduces whatever map the listed pools leave (the seed preset leaves 5x1).
    The arguments after ``n_classes`` are ``conf/model/fcn.yaml``'s, where their defaults live.
    """

    def __init__(
        self,
        n_mels: int,
        n_frames: int,
        n_classes: int,
        *,
        channels: Sequence[int],
        pools: Sequence[Sequence[int]],
        batch_norm: bool,
        dropout: float,
        width: float,
    ) -> None:
        super().__init__()
        if len(channels) != len(pools):
            raise ValueError(f"model: {len(channels)} channel widths but {len(pools)} pools")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {dropout}")
        if width <= 0:
            raise ValueError(f"model.width must be positive, got {width}")
        widths = [max(1, int(round(c * width))) for c in channels]
        h, w = n_mels, n_frames
        blocks: list[nn.Module] = []
        c_in = 1
        for k, (c, pool) in enumerate(zip(widths, pools), start=1):
            ph, pw = int(pool[0]), int(pool[1])
            h, w = h // ph, w // pw
            if h < 1 or w < 1:
                raise ValueError(
                    f"input {n_mels}x{n_frames} is too small for the pools {[list(p) for p in pools]}: "
                    f"block {k} pools by ({ph},{pw}) and leaves a {h}x{w} map (use a preset for these features)"
                )
            layers: list[nn.Module] = [nn.Conv2d(c_in, c, 3, padding=1, bias=not batch_norm)]
            if batch_norm:
                layers.append(nn.BatchNorm2d(c))
            layers += [nn.ReLU(inplace=True), nn.MaxPool2d((ph, pw))]
            if dropout > 0 and k < len(widths):
                layers.append(nn.Dropout(dropout))
            blocks.append(nn.Sequential(*layers))
            c_in = c
        self.blocks = nn.Sequential(*blocks)
        self.final_map = (h, w)
        self.embedding_dim = c_in
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Linear(c_in, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer: ``(batch, embedding_dim)``."""
        if x.dim() == 3:
            x = x.unsqueeze(1)
        return self.pool(self.blocks(x)).flatten(1)

    def head(self, emb: torch.Tensor) -> torch.Tensor:
        """Embeddings → tag logits."""
        return self.classifier(self.head_dropout(emb))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))
