"""Spectrogram normalizations compared in the seed paper (applied on the fly, one store for all)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

NORMS = ("global", "per_coeff", "per_spec", "prelog", "none")
EPS = 1e-5  # added to every std: constant (silent) spectrograms give zeros, never NaN


def norm_description(mode: str, stats: Mapping[str, Any], amin: float) -> dict[str, Any]:
    """The one saved description a :class:`Normalizer` is built from (``Normalizer(**d)``).

    ``stats`` are a store's training statistics; ``amin`` is the features' power floor
    (``prelog`` clamps to it). Training, the tagger file and the figures all use this.
    """
    if mode not in NORMS:
        raise ValueError(f"norm.mode={mode!r}: choose one of {', '.join(NORMS)}")
    return {
        "mode": mode,
        "global_mean": float(stats["global_mean"]),
        "global_std": float(stats["global_std"]),
        "eps": EPS,
        "amin": float(amin),
    }


class Normalizer(nn.Module):
    """Normalize dB mel spectrograms ``(..., n_mels, n_frames)``.

    - ``global``: one mean/std over every value of the training split (store statistics);
    - ``per_coeff``: each mel band by its own mean/std over time, within the spectrogram;
    - ``per_spec``: mean/std over all values of the single spectrogram;
    - ``prelog``: ``per_spec`` applied to the *linear* power mel, then the log (the paper's
      failing row): values below the clip's mean power are clamped to the dB floor, so most of
      the picture is lost. It stays finite, unlike a literal log of negative numbers;
    - ``none``: the dB values as stored.

    Constant (e.g. silent) spectrograms give zeros, never NaN or inf. Build one from a saved
    description: ``Normalizer(**norm_description(mode, store.stats, features.amin))``.
    """

    def __init__(
        self, mode: str, global_mean: float, global_std: float, eps: float, amin: float
    ) -> None:
        super().__init__()
        if mode not in NORMS:
            raise ValueError(f"norm.mode={mode!r}: choose one of {', '.join(NORMS)}")
        self.mode = mode
        self.eps = eps
        self.amin = amin
        self.register_buffer("global_mean", torch.tensor(float(global_mean)))
        self.register_buffer("global_std", torch.tensor(float(global_std)))

    def describe(self) -> dict[str, Any]:
        """The description this normalizer is built from (plain values, for saved files)."""
        return {
            "mode": self.mode,
            "global_mean": float(self.global_mean),
            "global_std": float(self.global_std),
            "eps": float(self.eps),
            "amin": float(self.amin),
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        if self.mode == "global":
            return (x - self.global_mean) / (self.global_std + self.eps)
        if self.mode == "per_coeff":
            return _standardize(x, dims=(-1,), eps=self.eps)
        if self.mode == "per_spec":
            return _standardize(x, dims=(-2, -1), eps=self.eps)
        if self.mode == "prelog":
            power = torch.pow(10.0, x / 10.0)
            z = _standardize(power, dims=(-2, -1), eps=self.eps)
            return 10.0 * torch.log10(torch.clamp(z, min=self.amin))
        return x

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


def _standardize(x: torch.Tensor, dims: tuple[int, ...], eps: float) -> torch.Tensor:
    mean = x.mean(dim=dims, keepdim=True)
    std = x.std(dim=dims, keepdim=True, unbiased=False)
    return (x - mean) / (std + eps)
