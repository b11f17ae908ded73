"""Spectral front ends: waveform → dB power spectrogram (mel, linear STFT, or MFCC + deltas), as
torch modules and their config (the ``features`` config group)."""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torchaudio
from torch import nn

from autotag.common.signal import A, crop_or_pad

KINDS = ("mel", "stft", "mfcc", "waveform")
COMPRESSIONS = ("db", "logc")
PAD_MODES = ("reflect", "constant")
SONG_WINDOWS = ("samples", "frames")
# Keys that do not change what a store holds: they stay out of its digest (and name)
NOT_STORED = ("name", "song_windows")
# Keys added after stores and tagger files of the first format were written: a features dict
# without them is read with these values, and they stay out of the digest while they have them
# (so the store names of the seed and choi features did not change).
LATER_KEYS: dict[str, Any] = {
    "kind": "mel",
    "n_mfcc": 0,
    "delta_width": 0,
    "compression": "db",
    "log_c": 0.0,
    "power_float16": False,
    "pad_mode": "reflect",
    "song_windows": "samples",
}


@dataclass(frozen=True)
class FeatureConfig:
    """Parameters of the features: the ``features`` config group, field for field (the values
    live in ``conf/features/*.yaml``).

    ``kind``: ``mel`` (dB of a power mel spectrogram: ``n_mels`` rows), ``stft`` (dB of the power
    STFT without its DC bin: ``n_fft // 2`` rows), ``mfcc`` (``n_mfcc`` DCT-II coefficients of
    the dB mel, plus their deltas and delta-deltas over ``delta_width`` frames: ``3 * n_mfcc``
    rows), ``waveform`` (the samples themselves: one row of ``n_frames`` = clip samples; the
    STFT and mel keys are unused). :attr:`n_rows` is the height of what is stored, whatever the
    kind.
    """

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
    kind: str = "mel"  # mel | stft | mfcc (default only for files written before it existed)
    n_mfcc: int = 0  # mfcc: coefficients kept
    delta_width: int = 0  # mfcc: frames of the delta regression (odd, >= 3)
    compression: str = "db"  # db: 10 log10(max(power, amin)) | logc: log10(1 + log_c * power)
    log_c: float = 0.0  # logc: the power's multiplier (musicnn: 10,000)
    power_float16: bool = False  # round the power to float16 before compressing (musicnn does)
    pad_mode: str = "reflect"  # the centred STFT's padding: reflect (torchaudio) | constant (zeros)
    song_windows: str = "samples"  # how the tagger cuts a song: see :mod:`autotag.data.frontend`

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureConfig:
        known = set(cls.__dataclass_fields__)
        d = {**LATER_KEYS, **d}
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
        if self.kind not in KINDS:
            raise ValueError(f"features.kind={self.kind!r}: choose one of {', '.join(KINDS)}")
        if self.kind == "waveform" and self.n_frames != self.n_samples:
            raise ValueError(
                f"features.n_frames must be the clip's samples for kind waveform: "
                f"clip_seconds x sample_rate = {self.n_samples}, got {self.n_frames}"
            )
        for key, allowed in (
            ("compression", COMPRESSIONS),
            ("pad_mode", PAD_MODES),
            ("song_windows", SONG_WINDOWS),
        ):
            if getattr(self, key) not in allowed:
                raise ValueError(
                    f"features.{key}={getattr(self, key)!r}: choose one of {', '.join(allowed)}"
                )
        if self.compression == "logc" and not self.log_c > 0:
            raise ValueError(
                f"features.log_c must be positive with compression logc, got {self.log_c}"
            )
        if self.song_windows == "frames" and self.kind == "waveform":
            raise ValueError("features.song_windows=frames needs a spectrogram, not kind waveform")
        if self.kind == "mfcc":
            if not 0 < self.n_mfcc <= self.n_mels:
                raise ValueError(
                    f"features.n_mfcc must be in 1..n_mels ({self.n_mels}), got {self.n_mfcc}"
                )
            if self.delta_width < 3 or self.delta_width % 2 == 0:
                raise ValueError(
                    f"features.delta_width must be odd and >= 3, got {self.delta_width}"
                )

    @property
    def n_rows(self) -> int:
        """Rows of one stored spectrogram (the model's input height)."""
        if self.kind == "stft":
            return self.n_fft // 2
        if self.kind == "mfcc":
            return 3 * self.n_mfcc
        if self.kind == "waveform":
            return 1
        return self.n_mels

    def frames_of(self, seconds: float) -> int:
        """Frames of a window of ``seconds``: centred STFT frames, or samples for a waveform."""
        if self.kind == "waveform":
            return int(round(seconds * self.sample_rate))
        return 1 + int(round(seconds * self.sample_rate)) // self.hop_length

    @property
    def n_samples(self) -> int:
        return int(round(self.clip_seconds * self.sample_rate))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def digest(self) -> str:
        """Hash of every parameter that changes the stored values (not the name)."""
        d = {
            k: v
            for k, v in self.to_dict().items()
            if k not in NOT_STORED and not (k in LATER_KEYS and v == LATER_KEYS[k])
        }
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]


class LogMel(nn.Module):
    """Waveform ``(..., samples)`` → compressed mel ``(..., n_mels, n_frames)``: centred frames
    (``pad_mode`` padding), then :func:`compress` (dB with no top_db floor, only ``amin``; or
    musicnn's ``log10(1 + C · power)``)."""

    def __init__(self, cfg: FeatureConfig) -> None:
        super().__init__()
        self.cfg = cfg
        with warnings.catch_warnings():
            # won128 has an all-zero filter 0, as the reference code: conf/features/won128.yaml
            warnings.filterwarnings("ignore", "At least one mel filterbank has all zero values")
            self.mel = torchaudio.transforms.MelSpectrogram(
                sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                f_min=cfg.f_min, f_max=cfg.f_max, n_mels=cfg.n_mels, power=2.0,
                norm=cfg.mel_norm, mel_scale=cfg.mel_scale, center=True, pad_mode=cfg.pad_mode,
            )  # fmt: skip

    def db(self, wav: torch.Tensor) -> torch.Tensor:
        """The compressed mel of every frame of ``wav`` (before the frames are fitted)."""
        return compress(self.mel(wav), self.cfg)

    def padded_frames(self, padded: torch.Tensor) -> torch.Tensor:
        """The compressed mel of a waveform already padded at its ends (``n_fft // 2`` samples
        each side, as :meth:`db` pads): frame ``i`` is ``padded[i * hop : i * hop + n_fft]``.
        Cutting the padded song into overlapping pieces gives the frames of :meth:`db` piece
        by piece (the tagger's whole-song spectrogram, in bounded memory)."""
        spec = self.mel.spectrogram
        z = torch.stft(
            padded, spec.n_fft, spec.hop_length, spec.win_length, spec.window,
            center=False, return_complex=True,
        )  # fmt: skip
        power = z.real.square() + z.imag.square()
        mel = torch.matmul(power.transpose(-1, -2), self.mel.mel_scale.fb).transpose(-1, -2)
        return compress(mel, self.cfg)

    all_frames = db

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return fit_frames(self.db(wav), self.cfg.n_frames)


def power_to_db(power: torch.Tensor, amin: float) -> torch.Tensor:
    """``10 log10(max(power, amin))``: no reference and no top_db floor."""
    return 10.0 * torch.log10(torch.clamp(power, min=amin))


def compress(power: torch.Tensor, cfg: FeatureConfig) -> torch.Tensor:
    """A power spectrogram → what is stored: :func:`power_to_db`, or ``log10(1 + log_c · power)``
    (musicnn's "logC"); with ``power_float16`` the power is first rounded to float16 (musicnn's
    extractor casts librosa's mel to float16 before its log, and its training data was stored so)."""
    if cfg.power_float16:
        power = power.half().float()
    if cfg.compression == "logc":
        return torch.log10(cfg.log_c * power + 1.0)
    return power_to_db(power, cfg.amin)


def pad_value(kind: str) -> float | None:
    """What :func:`fit_frames` pads ``kind`` with: silence (0) for a waveform, else the item's
    minimum (the dB floor)."""
    return 0.0 if kind == "waveform" else None


def fit_frames(spec: A, n_frames: int, pad: float | None = None) -> A:
    """Centre-crop or pad the last axis (a tensor's or an array's) to ``n_frames``
    (:func:`autotag.common.signal.crop_or_pad`);
    padding with ``pad``, or by default with the minimum value (a spectrogram's dB floor)."""
    if pad is None and spec.shape[-1] < n_frames:
        pad = float(spec.min())
    return crop_or_pad(spec, n_frames, 0.0 if pad is None else pad)


class LogStft(nn.Module):
    """Waveform → dB power STFT without the DC bin ``(..., n_fft // 2, n_frames)``: Choi et al.
    2016's linear-frequency input (Hann window, centred, reflect padding)."""

    def __init__(self, cfg: FeatureConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.spectrogram = torchaudio.transforms.Spectrogram(
            n_fft=cfg.n_fft, hop_length=cfg.hop_length, power=2.0, center=True,
            pad_mode=cfg.pad_mode,
        )  # fmt: skip

    def all_frames(self, wav: torch.Tensor) -> torch.Tensor:
        return compress(self.spectrogram(wav)[..., 1:, :], self.cfg)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return fit_frames(self.all_frames(wav), self.cfg.n_frames)


class Mfcc(nn.Module):
    """Waveform → ``n_mfcc`` MFCCs of the dB mel (DCT-II, orthonormal) stacked with their deltas
    and delta-deltas: ``(..., 3 * n_mfcc, n_frames)`` (Choi et al. 2016's MFCC row). Deltas are
    the regression over ``delta_width`` frames (``torchaudio.functional.compute_deltas``, edges
    replicated), taken over the whole clip before the frames are fitted."""

    def __init__(self, cfg: FeatureConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.logmel = LogMel(cfg)
        dct = torchaudio.functional.create_dct(cfg.n_mfcc, cfg.n_mels, norm="ortho")
        self.register_buffer("dct", dct.T.contiguous())  # (n_mfcc, n_mels)

    def all_frames(self, wav: torch.Tensor) -> torch.Tensor:
        mfcc = torch.matmul(self.dct, self.logmel.db(wav))
        d1 = torchaudio.functional.compute_deltas(mfcc, win_length=self.cfg.delta_width)
        d2 = torchaudio.functional.compute_deltas(d1, win_length=self.cfg.delta_width)
        return torch.cat([mfcc, d1, d2], dim=-2)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return fit_frames(self.all_frames(wav), self.cfg.n_frames)


class Waveform(nn.Module):
    """Waveform ``(..., samples)`` → itself as one row ``(..., 1, n_frames)``, centre-cropped or
    zero-padded to ``n_frames`` samples: the raw-audio models' input (their own front ends, an
    STFT or learned filters, run inside the model)."""

    def __init__(self, cfg: FeatureConfig) -> None:
        super().__init__()
        self.cfg = cfg

    def all_frames(self, wav: torch.Tensor) -> torch.Tensor:
        return wav.unsqueeze(-2)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return fit_frames(wav, self.cfg.n_frames, pad=0.0).unsqueeze(-2)


def spectrogram(cfg: FeatureConfig) -> nn.Module:
    """The front-end module of ``cfg.kind``: waveform ``(..., samples)`` → ``(..., n_rows, n_frames)``;
    its ``all_frames`` gives every frame of the waveform (a whole track) instead."""
    return {"mel": LogMel, "stft": LogStft, "mfcc": Mfcc, "waveform": Waveform}[cfg.kind](cfg)
