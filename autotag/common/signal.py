"""Crops, pads and levels of signals (waveforms, spectrograms: always along the last axis), for
numpy arrays and torch tensors alike: the store's centre window, the tagger's windows, the
chunks of evaluation, the random crops of training, the export's fixed frames and the peak
level that tells silence from music.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import torch

A = TypeVar("A", np.ndarray, torch.Tensor)


def centre_span(size: int, n: int) -> tuple[int, int, int, int]:
    """``(start, stop, left, right)`` that fit ``size`` samples to ``n`` around the centre:
    keep ``[start, stop)``, then pad ``left`` and ``right``. A longer signal loses
    ``(size - n) // 2`` at its start; a shorter one gets ``(n - size) // 2`` before it."""
    if size >= n:
        start = (size - n) // 2
        return start, start + n, 0, 0
    left = (n - size) // 2
    return 0, size, left, n - size - left


def crop_or_pad(x: A, n: int, value: float = 0.0, centre: bool = True) -> A:
    """The last axis of ``x`` cropped or padded with ``value`` to ``n``: around the centre
    (:func:`centre_span`), or with ``centre=False`` from the start (trimmed or padded at the
    end). ``x`` itself when it already has ``n``."""
    size = int(x.shape[-1])
    if size == n:
        return x
    if centre:
        start, stop, left, right = centre_span(size, n)
    else:
        start, stop, left, right = 0, min(size, n), 0, max(0, n - size)
    x = x[..., start:stop]
    if not (left or right):
        return x
    if isinstance(x, torch.Tensor):
        return torch.nn.functional.pad(x, (left, right), value=value)
    return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(left, right)], constant_values=value)


def spread_starts(size: int, length: int, n: int) -> list[int]:
    """Starts of ``n`` windows of ``length`` spread evenly from the first sample to the last
    (the first starts at 0, the last ends at ``size``); one window: the centre one; a signal
    no longer than a window: ``[0]``."""
    if n < 1:
        raise ValueError(f"windows to spread: at least 1, got {n}")
    span = size - length
    if span <= 0:
        return [0]
    if n == 1:
        return [span // 2]
    return [round(i * span / (n - 1)) for i in range(n)]


def random_start(sizes: Sequence[int], length: int, rng: Any = np.random) -> tuple[int, int]:
    """``(piece, start)`` of a random crop of ``length`` in a signal cut in pieces of ``sizes``
    (one piece: a plain signal): every start in every piece equally likely, one draw of
    ``rng.randint`` (a piece shorter than the crop counts as one start, 0)."""
    room = np.maximum(np.asarray(sizes, dtype=np.int64) - length + 1, 1)  # starts per piece
    k = int(rng.randint(0, int(room.sum())))
    j = int(np.searchsorted(np.cumsum(room), k, side="right"))
    return j, k - int(room[:j].sum())


def random_crop(x: np.ndarray, length: int, rng: Any = np.random) -> np.ndarray:
    """A random crop of ``length`` of the last axis of ``x`` (:func:`random_start`); ``x``
    itself when it is not longer."""
    if length >= x.shape[-1]:
        return x
    _, start = random_start([x.shape[-1]], length, rng)
    return x[..., start : start + length]


def random_crops(x: torch.Tensor, length: int) -> torch.Tensor:
    """A random crop of ``length`` frames of each item of ``(batch, rows, frames)``, each from its
    own start (drawn from torch's generator, seeded with the run): a batch on the device."""
    b, rows, frames = x.shape
    starts = torch.randint(0, frames - length + 1, (b,), device=x.device)
    idx = starts[:, None] + torch.arange(length, device=x.device)[None]
    return x.gather(-1, idx[:, None, :].expand(b, rows, length))


def peak_dbfs(wav: np.ndarray) -> float:
    """Peak level of a waveform in dB relative to full scale (1.0): ``20·log10(max |x|)``.

    ``-inf`` for digital silence (every sample 0) or no samples at all.
    """
    x = np.asarray(wav)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return 20.0 * math.log10(peak) if peak > 0.0 else -math.inf
