"""Harmonic CNN: Won, Chun, Nieto and Serra 2020, "Data-driven harmonic filters for audio
representation learning" (ICASSP), as Won et al. 2020 compared it (reference code:
minzwon/sota-music-tagging-models, ``HarmonicSTFT`` and ``HarmonicCNN``).

Input: ``(batch, 1, n_samples)`` waveforms, 5 s = 80,000 samples at 16 kHz. The front end runs in
the forward pass, on the model's device: a power STFT (n_fft 512, hop 256, Hann), then
triangular band-pass filters at 6 harmonics × 128 centre frequencies in half-semitone steps from
C1 (32.70 Hz), of bandwidth ``(0.1079·f + 24.7) / Q`` with one trainable ``Q`` (1.0 at the start),
then dB and a BatchNorm over the 6 harmonic channels. The body is a 2-d CNN over
``(6, 128, frames)`` that reaches one row and one frame.
"""

from __future__ import annotations

import math

import torch
import torchaudio
from torch import nn

from autotag.models import blocks
from autotag.models.registry import register

N_HARMONIC = 6
LEVELS = 128  # centre frequencies per harmonic: half semitones from C1 up to 1,281 Hz
LOWEST_MIDI = 24  # C1, 32.70 Hz
BW_ALPHA, BW_BETA = 0.1079, 24.7  # equivalent rectangular bandwidth: (alpha·f + beta) / Q
N_FFT, HOP = 512, 256
POOLS = [(2, 2)] * 5 + [(2, 3)] * 2  # the seven blocks' max-pools (rows, frames)


def centre_frequencies(n_harmonic: int = N_HARMONIC, levels: int = LEVELS) -> torch.Tensor:
    """``(n_harmonic · levels,)`` Hz, harmonic by harmonic: ``h · 440 · 2^((24 + k/2 − 69)/12)``
    for h = 1..n_harmonic and k = 0..levels−1."""
    midi = LOWEST_MIDI + torch.arange(levels, dtype=torch.float64) / 2
    f0 = 440.0 * 2.0 ** ((midi - 69.0) / 12.0)
    return torch.cat([f0 * h for h in range(1, n_harmonic + 1)]).float()


def harmonic_filterbank(
    centres: torch.Tensor, q: torch.Tensor, n_bins: int, sample_rate: int
) -> torch.Tensor:
    """``(n_bins, n_bands)`` triangular filters: 1 at each centre, 0 from half a bandwidth away,
    bandwidth ``(0.1079·f + 24.7) / q``; FFT bins spaced evenly from 0 to ``sample_rate // 2``."""
    bins = torch.linspace(0, sample_rate // 2, n_bins, device=centres.device)[:, None]
    bw = (BW_ALPHA * centres + BW_BETA) / q
    distance = 2.0 * (bins - centres[None]) / bw[None]
    return torch.clamp(1.0 - distance.abs(), min=0.0)


class HarmonicSTFT(nn.Module):
    """Waveforms ``(batch, 1, samples)`` → dB harmonic spectrogram ``(batch, 6, 128, frames)``."""

    def __init__(self, sample_rate: int) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.spec = torchaudio.transforms.Spectrogram(n_fft=N_FFT, hop_length=HOP, power=2.0)
        self.register_buffer("centres", centre_frequencies(), persistent=False)
        self.q = nn.Parameter(torch.ones(1))  # the bandwidth's one trainable scale

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        spec = self.spec(wav.squeeze(1))  # (batch, bins, frames)
        fb = harmonic_filterbank(self.centres, self.q, spec.shape[1], self.sample_rate)
        bands = torch.matmul(spec.transpose(1, 2), fb.to(spec.dtype)).transpose(1, 2)
        b, _, t = bands.shape
        power = bands.reshape(b, N_HARMONIC, LEVELS, t)
        return 10.0 * torch.log10(torch.clamp(power, min=1e-10))


class _ConvPool(nn.Sequential):
    """3×3 conv → BN → ReLU → max-pool (the reference's ``Conv_2d``)."""

    def __init__(self, c_in: int, c_out: int, pool: tuple[int, int]) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.MaxPool2d(pool),
        )


class _ResPool(nn.Module):
    """conv → BN → ReLU → conv → BN, plus the input, ReLU, max-pool (``Res_2d_mp``)."""

    def __init__(self, c: int, pool: tuple[int, int]) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1),
            nn.BatchNorm2d(c),
            nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1),
            nn.BatchNorm2d(c),
        )
        self.pool = nn.MaxPool2d(pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(torch.relu(x + self.conv(x)))


@register("harmonic_cnn")
class HarmonicCNN(nn.Module):
    """:class:`HarmonicSTFT` → BatchNorm2d(6) → conv (6→128) → three residual blocks (128) →
    conv (128→256) → two residual blocks (256, pools (2, 3)) → global max over what is left of
    time → dense 256 → BN → ReLU → dropout → linear. ``embed`` is the 256 values after the ReLU.
    """

    def __init__(
        self,
        n_mels: int,
        n_frames: int,
        n_classes: int,
        *,
        width: float,
        dropout: float,
        sample_rate: int,
    ) -> None:
        super().__init__()
        blocks.check_width(width)
        blocks.check_dropout(dropout)
        blocks.check_waveform("harmonic_cnn", n_mels)
        frames = n_frames // HOP + 1
        need = math.prod(p[1] for p in POOLS)
        if frames < need:
            raise blocks.too_small(
                "harmonic_cnn", n_mels, n_frames,
                f"needs at least {(need - 1) * HOP} samples ({need} STFT frames)",
            )  # fmt: skip
        c = blocks.scaled(128, width)
        self.front = HarmonicSTFT(sample_rate)
        self.front_bn = nn.BatchNorm2d(N_HARMONIC)
        self.body = nn.Sequential(
            _ConvPool(N_HARMONIC, c, POOLS[0]),
            *(_ResPool(c, p) for p in POOLS[1:4]),
            _ConvPool(c, 2 * c, POOLS[4]),
            *(_ResPool(2 * c, p) for p in POOLS[5:]),
        )
        self.dense = nn.Sequential(nn.Linear(2 * c, 2 * c), nn.BatchNorm1d(2 * c), nn.ReLU())
        self.embedding_dim = 2 * c
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * c, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(
            self.front_bn(self.front(blocks.as_waveform(x)))
        )  # (batch, 256, 1, frames left)
        return self.dense(h.amax(dim=(2, 3)))

    def head(self, emb: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(emb))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))
