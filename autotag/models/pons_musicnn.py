"""The original musicnn (Pons et al., ISMIR 2018, "End-to-end learning for music audio tagging at
scale"; Pons & Serra, ISMIR 2019 LBD, the ``musicnn`` package), layer for layer as its released
models were built, so that their weights load unchanged (:mod:`autotag.pretrained.musicnn_weights`).

It is not Won et al.'s re-implementation (:mod:`autotag.models.musicnn`): here the temporal filters
run on every mel row and are max-pooled over frequency (Won's run on the frequency mean), the
front end is conv → ReLU → BN (not conv → BN → ReLU), the mid-end is three 7-frame convolutions
over the whole front end, the pooled vector interleaves max and mean per channel, and the head is
BN → dropout → dense → ReLU → BN → dropout → linear.

Input ``(batch, n_mels, frames)`` (musicnn's ``(batch, frames, n_mels)`` transposed); any number of
frames (the released models saw 187, 3 s). Modules are registered in the order data flows through
them (fine-tuning freezes all but the last layers by that order).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from autotag.models import blocks
from autotag.models.blocks import as_image, check_dropout, check_width, scaled, too_small
from autotag.models.registry import register

TIMBRAL_WIDTH = 7  # frames of a timbral filter; the input is zero-padded 3 frames each side
MIDEND_KERNEL = 7
MIDEND_LAYERS = 3  # the first adapts the channels; the other two are residual


def same_pad(kernel: int) -> tuple[int, int]:
    """TensorFlow's "same" padding of a stride-1 axis: the odd frame goes after (an even kernel of
    128 pads 63 before and 64 after)."""
    return (kernel - 1) // 2, kernel - 1 - (kernel - 1) // 2


def relu_bn_max_over_rows(conv: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
    """``bn(relu(conv)).amax(dim=2)``: ``(B, C, F, T)`` → ``(B, C, T)``.

    In eval mode the max is taken first: ReLU and a BatchNorm with its running statistics act on
    each value alone, increasing where the channel's scale is positive and decreasing where it is
    negative, so the max over the rows of their output is their output of the max (or of the min)
    of ``conv``. The same values, computed on a tensor F times smaller (1.6x faster tagging)."""
    if bn.training:
        return bn(F.relu(conv)).amax(dim=2)
    positive = (bn.weight >= 0)[None, :, None]
    pick = torch.where(positive, conv.amax(dim=2), conv.amin(dim=2))
    return F.batch_norm(
        F.relu(pick), bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps
    )


class _Timbral(nn.Module):
    """Zero-pad 3 frames each side → conv ``rows`` x 7 (valid) → ReLU → BN → max over the rows left:
    ``(B, 1, F, T)`` → ``(B, C, T)``."""

    def __init__(self, c_out: int, rows: int, eps: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, c_out, (rows, TIMBRAL_WIDTH))
        self.bn = nn.BatchNorm2d(c_out, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (TIMBRAL_WIDTH // 2, TIMBRAL_WIDTH // 2))
        return relu_bn_max_over_rows(self.conv(x), self.bn)


class _Temporal(nn.Module):
    """Conv 1 x ``kernel`` frames on every mel row ("same" padding) → ReLU → BN → max over the
    rows: ``(B, 1, F, T)`` → ``(B, C, T)``."""

    def __init__(self, c_out: int, kernel: int, eps: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, c_out, (1, kernel))
        self.bn = nn.BatchNorm2d(c_out, eps=eps)
        self.pad = same_pad(kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return relu_bn_max_over_rows(self.conv(F.pad(x, self.pad)), self.bn)


class _MidLayer(nn.Module):
    """Conv 7 frames over all channels (zero-padded 3 each side) → ReLU → BN: ``(B, C, T)``."""

    def __init__(self, c_in: int, c_out: int, eps: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, MIDEND_KERNEL, padding=MIDEND_KERNEL // 2)
        self.bn = nn.BatchNorm1d(c_out, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(F.relu(self.conv(x)))


@register("pons_musicnn")
class PonsMusicnn(nn.Module):
    """Input BN → timbral filters (``int(h * n_mels)`` rows x 7 frames for each ``h``) and temporal
    filters (``temporal_kernels`` frames) → front end (561 channels) → mid-end of three 7-frame
    layers (``midend_channels``), dense-connected with the front end (753) → max and mean over time,
    interleaved per channel (1506) → BN → dropout → dense → ReLU → BN (the penultimate layer,
    ``dense`` wide) → dropout → linear to the tags.

    ``embed`` gives the penultimate layer (musicnn's ``penultimate`` feature); :meth:`layers` also
    gives the pooled mid-end, ``mean_pool`` and ``max_pool`` (753 each). BatchNorm uses
    TensorFlow's epsilon, ``bn_eps`` (0.001). ``width`` scales every channel count (1: the
    released models). The arguments after ``n_classes`` are
    ``conf/model/pons_musicnn.yaml``'s.
    """

    # the tagger's CPU backend: eager NCHW tags a 3-minute song's 60 windows in 1.91 s on 2 cores,
    # channels_last in 2.66 s, the traced graph in 2.00 s (convolutions of one input channel)
    cpu_backend = "eager"

    def __init__(
        self,
        n_mels: int,
        n_frames: int,
        n_classes: int,
        *,
        width: float,
        timbral_filters: int,
        timbral_heights: Sequence[float],
        temporal_filters: int,
        temporal_kernels: Sequence[int],
        midend_channels: int,
        dense: int,
        dropout: float,
        bn_eps: float,
    ) -> None:
        super().__init__()
        check_width(width)
        check_dropout(dropout)
        timbral_filters, temporal_filters = (
            scaled(timbral_filters, width),
            scaled(temporal_filters, width),
        )
        midend_channels, dense = scaled(midend_channels, width), scaled(dense, width)
        rows = [int(h * n_mels) for h in timbral_heights]  # musicnn's int(0.4 * 96) = 38, 67
        if any(not 0 < r <= n_mels for r in rows):
            raise too_small("pons_musicnn", n_mels, n_frames, f"timbral filters of {rows} rows")
        if n_frames < 1:
            raise too_small("pons_musicnn", n_mels, n_frames, "there are no frames")
        self.input_bn = nn.BatchNorm2d(1, eps=bn_eps)
        self.timbral = nn.ModuleList(_Timbral(timbral_filters, r, bn_eps) for r in rows)
        self.temporal = nn.ModuleList(
            _Temporal(temporal_filters, int(k), bn_eps) for k in temporal_kernels
        )
        front = timbral_filters * len(rows) + temporal_filters * len(temporal_kernels)
        self.midend = nn.ModuleList(
            _MidLayer(front if i == 0 else midend_channels, midend_channels, bn_eps)
            for i in range(MIDEND_LAYERS)
        )
        pooled = front + MIDEND_LAYERS * midend_channels
        self.flat_bn = nn.BatchNorm1d(2 * pooled, eps=bn_eps)
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(2 * pooled, dense)
        self.dense_bn = nn.BatchNorm1d(dense, eps=bn_eps)
        self.classifier = nn.Linear(dense, n_classes)
        self.embedding_dim = dense
        self.embedding_layers = {"penultimate": dense, "mean_pool": pooled, "max_pool": pooled}

    def layers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The named representations of :attr:`embedding_layers`, from one pass."""
        x = self.input_bn(as_image(x))  # (B, 1, F, T)
        front = torch.cat([m(x) for m in self.timbral] + [m(x) for m in self.temporal], dim=1)
        feats = blocks.dense_residual(front, self.midend)  # (B, 753, T)
        max_pool, mean_pool = feats.amax(dim=2), feats.mean(dim=2)
        flat = torch.stack([max_pool, mean_pool], dim=2).flatten(1)  # max_0, mean_0, max_1, ...
        flat = self.dropout(self.flat_bn(flat))
        penultimate = self.dense_bn(F.relu(self.dense(flat)))
        return {"penultimate": penultimate, "mean_pool": mean_pool, "max_pool": max_pool}

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer: ``(batch, dense)``."""
        return self.layers(x)["penultimate"]

    def head(self, emb: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(emb))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))
