"""Sample-level CNNs on raw waveforms (layer plans from Won et al.'s reference code): Lee et al. 2017 ("Sample-level deep convolutional neural
networks for music auto-tagging using raw waveforms") and its squeeze-and-excitation variant,
Kim et al. 2018 ("Sample-level CNN architectures for music auto-tagging using raw waveforms"),
as Won et al. 2020 compared them (reference code: minzwon/sota-music-tagging-models).

Input: ``(batch, 1, n_samples)`` (a waveform "spectrogram" of one row), 59,049 samples = 3^10
(3.69 s at 16 kHz): a stride-3 convolution and nine blocks that each end in a max-pool of 3
take it to one step. Longer inputs end in more steps, reduced by a global max.
"""

from __future__ import annotations

import torch
from torch import nn

from autotag.models import blocks
from autotag.models.registry import register

CHANNELS = (128, 128, 256, 256, 256, 256, 256, 256, 512)  # the nine blocks' outputs
FIRST = 128  # the stride-3 front convolution's channels


def _channels(
    arch: str, n_rows: int, n_samples: int, width: float, dropout: float
) -> tuple[int, list[int]]:
    """The front convolution's and the nine blocks' channels at ``width``, after checking the
    arguments and that the input is a waveform long enough for the ten stride/pool steps."""
    blocks.check_width(width)
    blocks.check_dropout(dropout)
    blocks.check_waveform(arch, n_rows)
    if n_samples < 3 ** (len(CHANNELS) + 1):
        raise blocks.too_small(
            arch, n_rows, n_samples, f"needs at least {3 ** (len(CHANNELS) + 1)} samples"
        )
    return blocks.scaled(FIRST, width), [blocks.scaled(ch, width) for ch in CHANNELS]


def _conv_bn_relu(c_in: int, c_out: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=kernel // 2),
        nn.BatchNorm1d(c_out),
        nn.ReLU(),
    ]


@register("sample_cnn")
class SampleCNN(nn.Module):
    """Lee et al. 2017: Conv1d(1→128, 3, stride 3) → BN → ReLU; nine blocks of Conv1d(3) → BN →
    ReLU → max-pool 3 (channels :data:`CHANNELS`); Conv1d(512→512, 1) → BN → ReLU; dropout;
    linear. ``embed`` is the 512 values after the 1×1 block."""

    def __init__(
        self, n_mels: int, n_frames: int, n_classes: int, *, width: float, dropout: float
    ) -> None:
        super().__init__()
        first, c = _channels("sample_cnn", n_mels, n_frames, width, dropout)
        layers: list[nn.Module] = _conv_bn_relu(1, first, 3, stride=3)
        for c_in, c_out in zip([first, *c[:-1]], c):
            layers += [*_conv_bn_relu(c_in, c_out, 3), nn.MaxPool1d(3)]
        layers += _conv_bn_relu(c[-1], c[-1], 1)
        self.body = nn.Sequential(*layers)
        self.embedding_dim = c[-1]
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(c[-1], n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(blocks.as_waveform(x)).amax(dim=-1)

    def head(self, emb: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(emb))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


class ResSEBlock(nn.Module):
    """Kim et al. 2018's block: conv → BN → ReLU → conv → BN, scaled channel by channel by a
    squeeze-and-excitation gate (global mean → linear C→C → ReLU → linear C→C → sigmoid; no
    reduction, as in the reference code), added to the input (through a conv + BN of the same
    kernel and stride when the channels or the stride change), then ReLU and a max-pool."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, pool: int = 3):
        super().__init__()
        pad = kernel // 2
        self.conv = nn.Sequential(
            nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=pad),
            nn.BatchNorm1d(c_out),
            nn.ReLU(),
            nn.Conv1d(c_out, c_out, kernel, padding=pad),
            nn.BatchNorm1d(c_out),
        )
        self.excite = nn.Sequential(
            nn.Linear(c_out, c_out), nn.ReLU(), nn.Linear(c_out, c_out), nn.Sigmoid()
        )
        self.shortcut = (
            nn.Sequential(
                nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=pad), nn.BatchNorm1d(c_out)
            )
            if c_in != c_out or stride != 1
            else nn.Identity()
        )
        self.pool = nn.MaxPool1d(pool) if pool > 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        gate = self.excite(out.mean(dim=-1)).unsqueeze(-1)
        return self.pool(torch.relu(self.shortcut(x) + out * gate))


@register("sample_cnn_se")
class SampleCNNSE(nn.Module):
    """Kim et al. 2018, as in Won et al.'s reference code: eleven :class:`ResSEBlock` with the
    layer plan of :class:`SampleCNN` (the first with kernel 3 and stride 3, no pool; nine with
    max-pool 3 and the channels :data:`CHANNELS`; the last with kernel 1, no pool), then dense
    512 → BN → ReLU → dropout → linear. ``embed`` is the dense layer's 512 values after the ReLU."""

    def __init__(
        self, n_mels: int, n_frames: int, n_classes: int, *, width: float, dropout: float
    ) -> None:
        super().__init__()
        first, c = _channels("sample_cnn_se", n_mels, n_frames, width, dropout)
        self.blocks = nn.Sequential(
            ResSEBlock(1, first, kernel=3, stride=3, pool=1),
            *(ResSEBlock(c_in, c_out) for c_in, c_out in zip([first, *c[:-1]], c)),
            ResSEBlock(c[-1], c[-1], kernel=1, pool=1),
        )
        self.dense = nn.Sequential(nn.Linear(c[-1], c[-1]), nn.BatchNorm1d(c[-1]), nn.ReLU())
        self.embedding_dim = c[-1]
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(c[-1], n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.blocks(blocks.as_waveform(x)).amax(dim=-1))

    def head(self, emb: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(emb))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))
