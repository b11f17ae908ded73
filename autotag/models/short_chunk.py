"""Won et al. 2020's short-chunk CNN and short-chunk ResNet ("Evaluation of CNN-based automatic
music tagging models", SMC 2020; reference code: minzwon/sota-music-tagging-models,
``training/model.py``, ``ShortChunkCNN`` and ``ShortChunkCNN_Res``).

Seven 3x3 blocks that halve both axes take 128 mel rows x 231 frames (3.69 s at 16 kHz) down to
one row; a global max over what is left of time, then dense → BatchNorm → ReLU → dropout → linear.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn

from autotag.models import blocks
from autotag.models.registry import register


class ShortChunk(nn.Module):
    """The shared body of ``short_cnn`` and ``short_res`` (subclasses set ``arch`` and
    ``residual``): input BatchNorm, blocks that halve both axes, a global max, a dense head.

    Input ``(batch, n_mels, n_frames)`` (or with a channel axis); output logits
    ``(batch, n_classes)``. ``embed`` is the ``dense``-wide vector after the head's ReLU.
    The arguments after ``n_classes`` are the YAML's, where their defaults live.
    """

    arch: ClassVar[str]
    residual: ClassVar[bool]

    def __init__(
        self,
        n_mels: int,
        n_frames: int,
        n_classes: int,
        *,
        width: float,
        dropout: float,
        channels: Sequence[int],
        dense: int,
    ) -> None:
        super().__init__()
        blocks.check_width(width)
        blocks.check_dropout(dropout)
        if not channels:
            raise ValueError(f"model {self.arch}: model.channels is empty")
        # Conv blocks max-pool 2x2 (floor); residual blocks stride 2 (a padded 3x3 conv).
        out_size = blocks.strided if self.residual else (lambda n, f: n // f)
        self.final_map = blocks.reduce_to_one_row(
            self.arch, n_mels, n_frames, [(2, 2)] * len(channels), out_size
        )
        widths = [blocks.scaled(c, width) for c in channels]
        c_in = 1
        layers: list[nn.Module] = []
        for c in widths:
            layers.append(
                blocks.ResBlock2d(c_in, c, 2) if self.residual else blocks.ConvBlock(c_in, c, 2)
            )
            c_in = c
        self.input_bn = nn.BatchNorm2d(1)
        self.blocks = nn.Sequential(*layers)
        self.embedding_dim = blocks.scaled(dense, width)
        self.dense = nn.Linear(c_in, self.embedding_dim)
        self.dense_bn = nn.BatchNorm1d(self.embedding_dim)
        self.relu = nn.ReLU()
        self.head_dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.embedding_dim, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer (after the head's ReLU, before dropout): ``(batch, dense)``."""
        x = self.blocks(self.input_bn(blocks.as_image(x)))  # (batch, C, 1, frames left)
        x = x.amax(dim=(2, 3))  # global max over time
        return self.relu(self.dense_bn(self.dense(x)))

    def head(self, emb: torch.Tensor) -> torch.Tensor:
        """Embeddings → tag logits."""
        return self.classifier(self.head_dropout(emb))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))

    def extra_repr(self) -> str:
        return f"arch={self.arch}, final_map={self.final_map}"


@register("short_cnn")
class ShortChunkCNN(ShortChunk):
    """Won 2020's short-chunk CNN: 3x3 conv → BN → ReLU → 2x2 max-pool blocks."""

    arch = "short_cnn"
    residual = False


@register("short_res")
class ShortChunkResNet(ShortChunk):
    """Won 2020's short-chunk ResNet (the study's best model): stride-2 residual blocks."""

    arch = "short_res"
    residual = True
