"""The VGG-like baseline of the ``musicnn`` package (Pons et al. 2018; Pons & Serra 2019), layer
for layer as its released ``MTT_vgg`` and ``MSD_vgg`` models were built, so that their weights
load unchanged (:mod:`autotag.pretrained.musicnn_weights`).

Input BN, then five blocks of conv 3x3 ("same") → ReLU → BN → max pool → dropout; the pools are
4x1 frames x rows with stride 2x2 (TensorFlow's pool of the time axis by 4 and frequency by 1,
both strided by 2), then 2x2, 2x2, 2x2 and 4x4; the last pool is flattened in TensorFlow's order
(time, frequency, channel) and a linear layer gives the tags. The flattened size depends on the
input: 187 frames x 96 mel rows (3 s) give 2 x 1 x 128 = 256, the released models' size.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from autotag.models.blocks import as_image, check_dropout, check_width, scaled, too_small
from autotag.models.registry import register

# (rows, frames) kernel and stride of the five pools, in the layout (batch, C, rows, frames)
POOLS = (((1, 4), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4)))


def _pooled(size: int, kernel: int, stride: int) -> int:
    return (size - kernel) // stride + 1


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, pool: tuple, dropout: float, eps: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.bn = nn.BatchNorm2d(c_out, eps=eps)
        self.pool = nn.MaxPool2d(pool[0], pool[1])
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.pool(self.bn(F.relu(self.conv(x)))))


@register("pons_vgg")
class PonsVGG(nn.Module):
    """The musicnn package's VGG: ``filters`` channels in every block, ``dropout`` after the first
    four pools, ``head_dropout`` before the linear layer; ``embed`` is the flattened last pool.
    ``width`` scales the channels (1: the released models).
    The arguments after ``n_classes`` are ``conf/model/pons_vgg.yaml``'s."""

    # the tagger's CPU backend: the traced, frozen oneDNN graph tags a 3-minute song's 60 windows
    # in 0.86 s on 2 cores, channels_last in 1.10 s, eager NCHW in 1.65 s
    cpu_backend = "jit"

    def __init__(
        self,
        n_mels: int,
        n_frames: int,
        n_classes: int,
        *,
        width: float,
        filters: int,
        dropout: float,
        head_dropout: float,
        bn_eps: float,
    ) -> None:
        super().__init__()
        check_width(width)
        check_dropout(dropout)
        check_dropout(head_dropout, "model.head_dropout")
        filters = scaled(filters, width)
        rows, frames = n_mels, n_frames
        for (kr, kt), (sr, st) in POOLS:
            rows, frames = _pooled(rows, kr, sr), _pooled(frames, kt, st)
            if rows < 1 or frames < 1:
                raise too_small("pons_vgg", n_mels, n_frames, "the five pools leave nothing")
        self.input_bn = nn.BatchNorm2d(1, eps=bn_eps)
        self.blocks = nn.ModuleList(
            _Block(1 if i == 0 else filters, filters, pool, dropout if i < 4 else 0.0, bn_eps)
            for i, pool in enumerate(POOLS)
        )
        self.head_dropout = nn.Dropout(head_dropout)
        self.embedding_dim = rows * frames * filters
        self.classifier = nn.Linear(self.embedding_dim, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The last pool flattened in TensorFlow's (time, frequency, channel) order."""
        x = self.input_bn(as_image(x))
        for block in self.blocks:
            x = block(x)
        return x.permute(0, 3, 2, 1).flatten(1)

    def head(self, emb: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head_dropout(emb))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))
