"""Building blocks shared by the model families (Won et al. 2020's reference code calls them
Conv_2d and Res_2d): a conv block, a residual block, musicnn's dense-connected residual chain, and
the shape checks."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


def as_image(x: torch.Tensor) -> torch.Tensor:
    """``(batch, rows, frames)`` → ``(batch, 1, rows, frames)``; 4-D input is returned as is."""
    return x.unsqueeze(1) if x.dim() == 3 else x


def as_waveform(x: torch.Tensor) -> torch.Tensor:
    """``(batch, samples)``, ``(batch, 1, samples)`` or ``(batch, 1, 1, samples)`` →
    ``(batch, 1, samples)``: the raw-audio models' input, however the caller shaped it."""
    if x.dim() == 2:
        return x.unsqueeze(1)
    if x.dim() == 4:
        x = x.squeeze(1)
    if x.dim() != 3 or x.shape[1] != 1:
        raise ValueError(f"a waveform model takes (batch, 1, samples); got {tuple(x.shape)}")
    return x


def check_waveform(arch: str, n_rows: int) -> None:
    """A raw-audio model's input is one row (``features=waveform``)."""
    if n_rows != 1:
        raise ValueError(
            f"{arch} takes a waveform (one row), got {n_rows} rows: use features=waveform"
        )


def scaled(channels: int, width: float) -> int:
    """A channel count times the model's ``width`` (at least 1)."""
    return max(1, int(round(channels * width)))


def check_width(width: float) -> None:
    if not width > 0:
        raise ValueError(f"model.width must be positive, got {width}")


def check_dropout(dropout: float, key: str = "model.dropout") -> None:
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"{key} must be in [0, 1), got {dropout}")


def too_small(arch: str, n_rows: int, n_frames: int, why: str) -> ValueError:
    """The error of an input too small for a model's pools or strides; it names the keys that set
    the input size (``features.n_mels`` for the rows, ``model.input_seconds`` for the frames)."""
    return ValueError(
        f"model {arch}: input {n_rows}x{n_frames} is too small (features.n_mels x frames of "
        f"model.input_seconds or features.n_frames): {why}"
    )


def pooled_map(
    arch: str, n_rows: int, n_frames: int, pools: Sequence[Sequence[int]]
) -> tuple[int, int]:
    """The ``(rows, frames)`` left after blocks that max-pool by ``pools`` (floor), checked at
    construction: every block must leave at least one row and one frame."""
    h, w = n_rows, n_frames
    for k, pool in enumerate(pools, start=1):
        ph, pw = int(pool[0]), int(pool[1])
        h, w = h // ph, w // pw
        if h < 1 or w < 1:
            raise too_small(
                arch,
                n_rows,
                n_frames,
                f"block {k} pools by ({ph},{pw}) and leaves a {h}x{w} map "
                f"(model.pools {[[int(p) for p in q] for q in pools]}: a preset for these "
                f"features may fit)",
            )
    return h, w


def reduce_to_one_row(
    arch: str,
    n_rows: int,
    n_frames: int,
    factors: Sequence[tuple[int, int]],
    out_size: Callable[[int, int], int],
) -> tuple[int, int]:
    """The ``(rows, frames)`` left after blocks that downsample by ``factors`` (``out_size(n, f)``
    is one block's output length), checked at construction: every block needs at least ``f``
    rows and frames to downsample, and the blocks must take the frequency axis to exactly 1 row."""
    h, w = n_rows, n_frames
    for k, (fh, fw) in enumerate(factors, start=1):
        if h < fh:
            raise too_small(
                arch, n_rows, n_frames, f"block {k} downsamples the rows by {fh} but gets {h}"
            )
        if w < fw:
            raise too_small(
                arch, n_rows, n_frames, f"block {k} downsamples the frames by {fw} but gets {w}"
            )
        h, w = out_size(h, fh), out_size(w, fw)
    if h != 1:
        raise ValueError(
            f"model {arch}: features.n_mels={n_rows} leaves {h} rows after its {len(factors)} "
            f"blocks, but they must reduce the frequency axis to 1 row (the plan is made for "
            f"128 rows: features=won128)"
        )
    return h, w


class ConvBlock(nn.Sequential):
    """3x3 conv (padding 1) → BatchNorm → activation → max-pool (Won's ``Conv_2d``)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        pool: int | Sequence[int],
        activation: type[nn.Module] = nn.ReLU,
        bias: bool = True,
    ) -> None:
        pool = (pool, pool) if isinstance(pool, int) else tuple(int(p) for p in pool)
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias),
            nn.BatchNorm2d(c_out),
            activation(),
            nn.MaxPool2d(pool),
        )


class ResBlock2d(nn.Module):
    """Won's ``Res_2d``: 3x3 conv (stride) → BN → ReLU → 3x3 conv → BN, plus a shortcut (a 3x3
    conv with the same stride → BN, when the stride or the channels change), add, ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int | Sequence[int] = 2) -> None:
        super().__init__()
        stride = (stride, stride) if isinstance(stride, int) else tuple(int(s) for s in stride)
        self.conv_1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)
        self.bn_1 = nn.BatchNorm2d(c_out)
        self.conv_2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.bn_2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != (1, 1) or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), nn.BatchNorm2d(c_out)
            )
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn_2(self.conv_2(self.relu(self.bn_1(self.conv_1(x)))))
        return self.relu(out + self.shortcut(x))


def dense_residual(x: torch.Tensor, layers: Sequence[nn.Module]) -> torch.Tensor:
    """``x`` and the outputs of ``layers`` in a chain, concatenated on the channel axis: the first
    layer adapts the channels, each later one adds its input back (musicnn's dense-connected
    mid-end, in Pons' original and in Won's back end alike)."""
    outs = [x]
    res = layers[0](x)
    outs.append(res)
    for layer in layers[1:]:
        res = layer(res) + res
        outs.append(res)
    return torch.cat(outs, dim=1)


def strided(size: int, stride: int) -> int:
    """Output length of a kernel-3, padding-1 conv with this stride."""
    return (size - 1) // stride + 1
