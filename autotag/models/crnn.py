"""CRNN (Choi et al. 2017), as in Won et al. 2020's reference code: four 2-D conv blocks, then a
GRU over the remaining time steps whose last output is the embedding."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from autotag.models.blocks import (
    ConvBlock,
    as_image,
    check_dropout,
    check_width,
    pooled_map,
    scaled,
)
from autotag.models.registry import register


@register("crnn")
class CRNN(nn.Module):
    """Input BN → 3x3 conv → BN → ReLU → max-pool blocks (64, 128, 128, 128 channels at width 1)
    that pool the 96 mel rows down to 1 → a GRU (batch first) over the remaining time steps →
    the last step's output (the embedding, ``gru_hidden`` wide) → dropout → linear to the tags.

    ``gru_hidden`` is not scaled by ``width`` (it is already small). The arguments after
    ``n_classes`` are ``conf/model/crnn.yaml``'s.
    """

    def __init__(
        self,
        n_mels: int,
        n_frames: int,
        n_classes: int,
        *,
        width: float,
        dropout: float,
        channels: Sequence[int],
        pools: Sequence[Sequence[int]],
        gru_hidden: int,
        gru_layers: int,
    ) -> None:
        super().__init__()
        check_width(width)
        check_dropout(dropout)
        if len(channels) != len(pools) or not channels:
            raise ValueError(f"model: {len(channels)} channel widths but {len(pools)} pools")
        if gru_hidden < 1 or gru_layers < 1:
            raise ValueError(
                f"model.gru_hidden and model.gru_layers must be positive, got {gru_hidden}, "
                f"{gru_layers}"
            )
        self.final_map = pooled_map("crnn", n_mels, n_frames, pools)  # (1, 18) for 96 x 1819
        blocks: list[nn.Module] = []
        c_in = 1
        for c, pool in zip(channels, pools):
            c_out = scaled(c, width)
            blocks.append(ConvBlock(c_in, c_out, (int(pool[0]), int(pool[1]))))
            c_in = c_out
        self.input_bn = nn.BatchNorm2d(1)
        self.blocks = nn.Sequential(*blocks)
        self.gru = nn.GRU(c_in, gru_hidden, gru_layers, batch_first=True)
        self.head_dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(gru_hidden, n_classes)
        self.embedding_dim = gru_hidden

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The GRU's output at the last time step: ``(batch, embedding_dim)``."""
        x = self.blocks(self.input_bn(as_image(x)))  # (B, C, rows, steps)
        # The pools bring 96 rows to exactly 1; for other inputs more rows may remain, and we
        # take their max (Won's code would fail there: it squeezes a row axis of size 1).
        x = x.amax(dim=2).transpose(1, 2)  # (B, steps, C)
        out, _ = self.gru(x)
        return out[:, -1]

    def head(self, emb: torch.Tensor) -> torch.Tensor:
        """Embeddings → tag logits (dropout, then the classifier)."""
        return self.classifier(self.head_dropout(emb))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))
