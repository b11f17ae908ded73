"""Augmentation of the training batch (``conf/augment``): mixup, time and frequency masks, random
gain and a random EQ tilt. Validation, test and prediction never see it.

Where each option runs (:meth:`TaggingModule.training_step`): gain and tilt on the dB features,
*before* the normalizer, since they are offsets in dB (and a per-spectrogram normalization run
first would have nothing left to offset); mixup and then the masks on the normalized batch, *after*
it: mixed items then weigh by their lambda whatever their level, the masked cells do not enter a
per-spectrogram normalizer's mean and spread, and the masks come last so that no partner fills them.
A masked cell takes the batch mean of the normalized batch: 0 under ``norm`` global, per_spec and
per_coeff (SpecAugment's choice, the mean after normalization), the batch's average dB level
under ``norm=none`` (where 0 dB would be a loud tone, not a blank).

Random numbers: each option draws from its own NumPy generator seeded with (the run's ``seed``,
the option, rank, epoch, batch). Runs repeat exactly, a resumed run draws what the uninterrupted one
did, the draws are the same on a CPU and a GPU, and torch's global stream (dropout, shuffling) stays
the one an un-augmented run uses. An option that is off draws nothing. The draws (a few numbers per
clip) go to the batch's device, where the batch itself is changed.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

Step = tuple[int, int, int]  # (rank, epoch, batch index): with the seed, it fixes every draw
SPECTRA = ("mel", "stft")  # kinds whose rows are frequency bands (mfcc rows are not; waveform: one)


def _on(device: torch.device, a: np.ndarray, dtype: torch.dtype | None = None) -> torch.Tensor:
    """A draw on the batch's device (one copy); floats as float32, integers as int64."""
    dtype = dtype or (torch.long if np.issubdtype(a.dtype, np.integer) else torch.float32)
    return torch.as_tensor(a, dtype=dtype, device=device)


def _rows(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``v`` of shape ``(clips, rows)`` shaped to broadcast over ``x`` ``(clips, ..., rows, frames)``."""
    return v.reshape(len(x), *[1] * (x.dim() - 3), v.shape[1], 1)


class Mixup:
    """``x' = lam x + (1 - lam) x[perm]`` and ``y' = lam y + (1 - lam) y[perm]`` with one
    ``lam ~ Beta(alpha, alpha)`` per clip and partners from a permutation of the batch (Zhang et
    al. 2018); the targets become soft, which the weighted BCE takes as they are. ``alpha`` 0: off."""

    def __init__(self, alpha: float) -> None:
        if not alpha >= 0:
            raise ValueError(f"augment.mixup.alpha={alpha}: give a value >= 0 (0: off)")
        self.alpha = float(alpha)
        self.on = self.alpha > 0

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Each clip's ``lam`` and partner."""
        return rng.beta(self.alpha, self.alpha, size=n), rng.permutation(n)

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        lam, perm = self.draw(rng, len(x))
        lam_t, perm_t = _on(x.device, lam), _on(x.device, perm, torch.long)
        lx = lam_t.reshape(-1, *[1] * (x.dim() - 1))
        ly = lam_t.reshape(-1, *[1] * (y.dim() - 1))
        y = y.float()
        return lx * x + (1 - lx) * x[perm_t], ly * y + (1 - ly) * y[perm_t]


@dataclass(frozen=True)
class MaskDraw:
    """Starts and widths of each clip's masks, ``(clips, masks)`` each: frames and bins."""

    time_start: np.ndarray
    time_width: np.ndarray
    freq_start: np.ndarray
    freq_width: np.ndarray


class Masks:
    """SpecAugment's masks (Park et al. 2019): per clip, ``time_masks`` runs of ``w ~ U{0..time_width}``
    frames and ``freq_masks`` runs of ``w ~ U{0..freq_width}`` bins (mel bands), each starting
    uniformly where it fits; masks may overlap. A count or a width of 0 turns its axis off."""

    def __init__(self, time_masks: int, time_width: int, freq_masks: int, freq_width: int) -> None:
        given = dict(time_masks=time_masks, time_width=time_width)
        given |= dict(freq_masks=freq_masks, freq_width=freq_width)
        for key, v in given.items():
            if int(v) != v or v < 0:
                raise ValueError(f"augment.mask.{key}={v}: give a whole number >= 0")
        self.time = (int(time_masks), int(time_width)) if time_masks and time_width else (0, 0)
        self.freq = (int(freq_masks), int(freq_width)) if freq_masks and freq_width else (0, 0)
        self.on = self.time != (0, 0) or self.freq != (0, 0)

    def draw(self, rng: np.random.Generator, n: int, n_bins: int, n_frames: int) -> MaskDraw:
        def runs(count: int, width: int, length: int) -> tuple[np.ndarray, np.ndarray]:
            w = rng.integers(0, min(width, length) + 1, size=(n, count))
            return rng.integers(0, length - w + 1), w  # a start where the whole run fits

        return MaskDraw(*runs(*self.time, n_frames), *runs(*self.freq, n_bins))

    def __call__(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        d = self.draw(rng, len(x), x.shape[-2], x.shape[-1])
        kt, kf = d.time_start.shape[1], d.freq_start.shape[1]
        drawn = np.concatenate([d.time_start, d.time_width, d.freq_start, d.freq_width], axis=1)
        t0, tw, f0, fw = _on(x.device, drawn).split([kt, kt, kf, kf], dim=1)
        time = _covered(t0, tw, x.shape[-1]).reshape(len(x), *[1] * (x.dim() - 2), -1)
        cells = _rows(_covered(f0, fw, x.shape[-2]), x) | time
        return torch.where(cells, x.mean(), x)  # the batch mean, drawn before any cell is masked


def _covered(start: torch.Tensor, width: torch.Tensor, length: int) -> torch.Tensor:
    """``(clips, length)``: whether a position lies in one of a clip's runs ``[start, start + width)``."""
    i = torch.arange(length, device=start.device)
    return ((i >= start[..., None]) & (i < (start + width)[..., None])).any(dim=1)


class _DbRange:
    """An option drawing one dB value per clip, uniform in ``±max_db`` (0: off)."""

    name = ""  # its key under augment

    def __init__(self, max_db: float) -> None:
        if not max_db >= 0:
            raise ValueError(f"augment.{self.name}.max_db={max_db}: give a value >= 0 (0: off)")
        self.max_db = float(max_db)
        self.on = self.max_db > 0

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(-self.max_db, self.max_db, size=n)


class Gain(_DbRange):
    """A level change of ``g ~ U(-max_db, max_db)`` dB per clip: ``x + g`` on dB features."""

    name = "gain"

    def __call__(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        return x.float() + _on(x.device, self.draw(rng, len(x))).reshape(-1, *[1] * (x.dim() - 1))


class Tilt(_DbRange):
    """An EQ tilt per clip: a dB slope linear in the band index, ``s ~ U(-max_db, max_db)`` from
    the lowest band to the highest and 0 at the middle: band ``k`` of ``K`` gets
    ``s (k / (K - 1) - 1/2)`` (on mel bands a slope in mels). The level stays the gain's job."""

    name = "tilt"

    def __call__(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        k = x.shape[-2]
        shape = torch.linspace(-0.5, 0.5, k, device=x.device) if k > 1 else x.new_zeros(1)
        slope = _on(x.device, self.draw(rng, len(x)))
        return x.float() + _rows(slope[:, None] * shape, x)


OPTIONS: dict[str, type] = {"mixup": Mixup, "mask": Masks, "gain": Gain, "tilt": Tilt}
NORM_REMOVES = {  # normalizations that undo an option exactly: a row that changes nothing
    "gain": ("per_spec", "per_coeff", "prelog"),  # each spectrogram's level is divided out
    "tilt": ("per_coeff",),  # each band's own mean is subtracted
}


class Augment:
    """The options of the ``augment`` group (each a block of its class's arguments) with the
    run's ``seed``: :meth:`before_norm` (gain, tilt) and :meth:`after_norm` (mixup, masks)."""

    def __init__(
        self,
        mixup: Mapping[str, Any],
        mask: Mapping[str, Any],
        gain: Mapping[str, Any],
        tilt: Mapping[str, Any],
        seed: int,
    ) -> None:
        blocks = {"mixup": mixup, "mask": mask, "gain": gain, "tilt": tilt}
        self.options = {name: _build(name, blocks[name]) for name in OPTIONS}
        self.seed = int(seed)
        self.on = any(o.on for o in self.options.values())

    def check(self, kind: str, compression: str, norm: str) -> None:
        """Refuse an option that the features or the normalization make meaningless."""
        for name in ("gain", "tilt"):
            if not self.options[name].on:
                continue
            key = f"augment.{name}.max_db={self.options[name].max_db:g}"
            if kind not in SPECTRA or compression != "db":
                raise ValueError(
                    f"{key}: a {name} is an offset in dB only on dB spectrograms (features.kind "
                    f"mel or stft with features.compression=db), not features.kind={kind} "
                    f"with features.compression={compression}; set it to 0"
                )
            if norm in NORM_REMOVES[name]:
                raise ValueError(
                    f"{key}: norm={norm} removes a {name} exactly (the run would equal one "
                    f"without it); use norm=global or none, or set it to 0"
                )
        if self.options["mask"].on and kind not in SPECTRA:
            raise ValueError(
                f"augment.mask: masks of frames and frequency bins need a spectrogram "
                f"(features.kind mel or stft), not features.kind={kind}"
            )

    def rng(self, name: str, step: Step) -> np.random.Generator:
        """Option ``name``'s generator at ``step``: its own stream, so that turning another
        option on leaves its draws as they were."""
        return np.random.default_rng([self.seed, list(OPTIONS).index(name), *step])

    def before_norm(self, x: torch.Tensor, step: Step) -> torch.Tensor:
        """Gain and tilt, on the dB features as the loader gives them."""
        for name in ("gain", "tilt"):
            if self.options[name].on:
                x = self.options[name](x, self.rng(name, step))
        return x

    def after_norm(
        self, x: torch.Tensor, y: torch.Tensor, step: Step
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixup, then the masks, on the normalized batch."""
        if self.options["mixup"].on:
            x, y = self.options["mixup"](x, y, self.rng("mixup", step))
        if self.options["mask"].on:
            x = self.options["mask"](x, self.rng("mask", step))
        return x, y


def _build(name: str, values: Mapping[str, Any]) -> Any:
    try:
        return OPTIONS[name](**values)
    except TypeError:  # an unknown or missing key: name them all, not Python's first complaint
        keys = list(inspect.signature(OPTIONS[name]).parameters)
        raise ValueError(
            f"augment.{name}: takes exactly {', '.join(keys)}; given {', '.join(values) or 'none'}"
        ) from None


def build_augment(
    block: Mapping[str, Any], seed: int, kind: str, compression: str, norm: str
) -> Augment:
    """The ``augment`` group's :class:`Augment`, checked against the features' ``kind`` and
    ``compression`` and the ``norm`` mode (before any store is built)."""
    if set(block) != set(OPTIONS):
        raise ValueError(
            f"augment: takes exactly {', '.join(OPTIONS)}; given {', '.join(block) or 'none'}"
        )
    augment = Augment(**block, seed=seed)
    augment.check(kind, compression, norm)
    return augment
