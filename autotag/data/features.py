"""Log-mel front end: waveform → dB of power mel spectrogram, as torch module and config."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torchaudio
from torch import nn


@dataclass(frozen=True)
class FeatureConfig:
    """Parameters of the log-mel features: the ``features`` config group, field for field
    (the defaults live in ``conf/features/*.yaml``)."""

    name: str
    sample_rate: int
    n_fft: int
    hop_length: int
    n_mels: int
    f_min: float
    f_max: float
    clip_seconds: float
    n_frames: int
    mel_scale: str  # "slaney" (librosa's default) or "htk"
    mel_norm: str | None  # "slaney" (area-normalized filters) or None
    amin: float  # power floor before dB: silence maps to 10*log10(amin) dB

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureConfig:
        known = set(cls.__dataclass_fields__)
        unknown, missing = set(d) - known, known - set(d)
        if unknown:
            raise ValueError(f"features: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
        if missing:
            raise ValueError(f"features: missing key(s) {sorted(missing)}")
        cfg = cls(**dict(d))
        cfg.validate()
        return cfg

    def validate(self) -> None:
        for key in ("sample_rate", "n_fft", "hop_length", "n_mels", "n_frames"):
            if int(getattr(self, key)) <= 0:
                raise ValueError(f"features.{key} must be positive, got {getattr(self, key)}")
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError(
                f"features.f_min/f_max must satisfy 0 <= f_min < f_max <= sample_rate/2 "
                f"(got {self.f_min}, {self.f_max}, sample_rate {self.sample_rate})"
            )
        if self.clip_seconds <= 0:
            raise ValueError(f"features.clip_seconds must be positive, got {self.clip_seconds}")

    @property
    def n_samples(self) -> int:
        return int(round(self.clip_seconds * self.sample_rate))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def digest(self) -> str:
        """Hash of every parameter that changes the stored values (not the name)."""
        d = {k: v for k, v in self.to_dict().items() if k != "name"}
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]


class LogMel(nn.Module):
    """Waveform ``(..., samples)`` → dB mel ``(..., n_mels, n_frames)``."""

    def __init__(self, cfg: FeatureConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=cfg.sample_rate,
            n_fft=cfg.n_fft,
            hop_length=cfg.hop_length,
            f_min=cfg.f_min,
            f_max=cfg.f_max,
            n_mels=cfg.n_mels,
            power=2.0,
            norm=cfg.mel_norm,
            mel_scale=cfg.mel_scale,
            center=True,
        )

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        power = self.mel(wav)
        db = 10.0 * torch.log10(torch.clamp(power, min=self.cfg.amin))
        return fit_frames(db, self.cfg.n_frames)


def fit_frames(spec: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Centre-crop or pad (with the minimum value) the last axis to ``n_frames``."""
    t = spec.shape[-1]
    if t == n_frames:
        return spec
    if t > n_frames:
        start = (t - n_frames) // 2
        return spec[..., start : start + n_frames]
    left = (n_frames - t) // 2
    return nn.functional.pad(spec, (left, n_frames - t - left), value=float(spec.min()))
