"""The FCN family: 3x3 conv → [BN] → activation → max-pool blocks, a global max-pool, a linear
output. One class, presets in ``conf/model/``: the seed paper's FCN-4 (``fcn``, ``fcn_bn``),
Choi et al. 2016's FCN-4 for mel, STFT and MFCC input (``fcn_choi*``) and their released FCN-5
(``choi_fcn5``), and Won et al. 2020's FCN (``won_fcn``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from autotag.models.blocks import check_dropout, check_width, pooled_map, scaled
from autotag.models.registry import register

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "elu": nn.ELU}
INPUT_NORMS = ("none", "channel", "time")


class TimeBatchNorm(nn.Module):
    """BatchNorm with one mean and variance per frame (Keras' ``BatchNormalization(axis=time)``
    on the input of Choi's released FCN-5): ``(batch, 1, rows, frames)``."""

    def __init__(self, n_frames: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(n_frames)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(x.squeeze(1).transpose(1, 2)).transpose(1, 2).unsqueeze(1)


@register("fcn")
class FCN(nn.Module):
    """3x3 conv → [BatchNorm] → ReLU → max-pool blocks, a global max-pool, a linear output.

    Input ``(batch, n_mels, n_frames)`` (or with a channel axis); output logits ``(batch, n_classes)``.
    The global pool reduces whatever map the listed pools leave (the seed preset leaves 5x1).
    The arguments after ``n_classes`` are ``conf/model/fcn.yaml``'s, where their defaults live;
    those with Python defaults came later and default to the seed FCN's behaviour:
    ``input_bn`` (``none``; ``channel``: BatchNorm2d(1) as Won's models; ``time``: one per frame
    as Choi's FCN-5), ``activation`` (``relu`` | ``elu``), ``block_dropout`` (dropout after every
    block but the last; None: ``dropout``, which is also applied before the output layer),
    ``conv_bias`` (None: a bias only where no BatchNorm follows; true as the reference code of
    Choi's and Won's FCNs, whose parameter counts it then matches).
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
        input_bn: str = "none",
        activation: str = "relu",
        block_dropout: float | None = None,
        conv_bias: bool | None = None,
    ) -> None:
        super().__init__()
        if input_bn not in INPUT_NORMS:
            raise ValueError(f"model.input_bn={input_bn!r}: choose one of {', '.join(INPUT_NORMS)}")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"model.activation={activation!r}: choose one of {', '.join(ACTIVATIONS)}"
            )
        block_dropout = dropout if block_dropout is None else block_dropout
        check_dropout(block_dropout, "model.block_dropout")
        if len(channels) != len(pools):
            raise ValueError(f"model: {len(channels)} channel widths but {len(pools)} pools")
        check_dropout(dropout)
        check_width(width)
        widths = [scaled(c, width) for c in channels]
        self.final_map = pooled_map("fcn", n_mels, n_frames, pools)
        blocks: list[nn.Module] = []
        c_in = 1
        for k, (c, pool) in enumerate(zip(widths, pools), start=1):
            ph, pw = int(pool[0]), int(pool[1])
            bias = not batch_norm if conv_bias is None else conv_bias
            layers: list[nn.Module] = [nn.Conv2d(c_in, c, 3, padding=1, bias=bias)]
            if batch_norm:
                layers.append(nn.BatchNorm2d(c))
            layers += [ACTIVATIONS[activation](inplace=True), nn.MaxPool2d((ph, pw))]
            if block_dropout > 0 and k < len(widths):
                layers.append(nn.Dropout(block_dropout))
            blocks.append(nn.Sequential(*layers))
            c_in = c
        self.input_bn: nn.Module = {
            "none": nn.Identity,
            "channel": lambda: nn.BatchNorm2d(1),
            "time": lambda: TimeBatchNorm(n_frames),
        }[input_bn]()
        self.blocks = nn.Sequential(*blocks)
        self.embedding_dim = c_in
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Linear(c_in, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer: ``(batch, embedding_dim)``."""
        if x.dim() == 3:
            x = x.unsqueeze(1)
        return self.pool(self.blocks(self.input_bn(x))).flatten(1)

    def head(self, emb: torch.Tensor) -> torch.Tensor:
        """Embeddings → tag logits."""
        return self.classifier(self.head_dropout(emb))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))
