"""Spectrogram normalizations compared in the seed paper (applied on the fly, one store for all)."""

from __future__ import annotations

import torch
from torch import nn

NORMS = ("global", "per_coeff", "per_spec", "prelog", "none")


class Normalizer(nn.Module):
    """Normalize dB mel spectrograms ``(..., n_mels, n_frames)``.

    - ``global``: one mean/std over every value of the training split (store statistics);
    - ``per_coeff``: each mel band by its own mean/std over time, within the spectrogram;
    - ``per_spec``: mean/std over all values of the single spectrogram;
    - ``prelog``: ``per_spec`` applied to the *linear* power mel, then the log (the paper's
      failing row): values below the clip's mean power are clamped to the dB floor, so most of
      the picture is lost. It stays finite, unlike a literal log of negative numbers;
    - ``none``: the dB values as stored.

    Constant (e.g. silent) spectrograms give zeros, never NaN or inf.
    """

    def __init__(
        self,
        mode: str,
        global_mean: float = 0.0,
        global_std: float = 1.0,
        eps: float = 1e-5,
        amin: float = 1e-10,
    ) -> None:
        super().__init__()
        if mode not in NORMS:
            raise ValueError(f"norm.mode={mode!r}: choose one of {', '.join(NORMS)}")
        self.mode = mode
        self.eps = eps
        self.amin = amin
        self.register_buffer("global_mean", torch.tensor(float(global_mean)))
        self.register_buffer("global_std", torch.tensor(float(global_std)))

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
