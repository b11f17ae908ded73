"""The chunk protocol of Won et al. 2020: a model that declares ``input_seconds`` trains on a
random crop of that length, and evaluates (validation, test, ``autotag tag``, the exported file)
with the mean of the sigmoid outputs of ``n`` chunks spread evenly over the clip. A whole-clip
model (``input_seconds: null``, the FCNs) sees the whole clip: one chunk.

Written once here and used by training (:mod:`autotag.training.module`), the tagger and export.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from autotag.common.signal import spread_starts
from autotag.data.features import FeatureConfig


def chunk_starts(n_frames: int, length: int, n_chunks: int) -> list[int]:
    """Starts of ``n_chunks`` windows of ``length`` spread evenly from the first frame to the
    last (the first starts at 0, the last ends at the clip's end): ``loader.eval_chunks``'s."""
    if n_chunks < 1:
        raise ValueError(f"loader.eval_chunks must be at least 1, got {n_chunks}")
    return spread_starts(n_frames, length, n_chunks)


def input_frames(
    model: Mapping[str, Any], features: FeatureConfig, random_crop: int | None = None
) -> int | None:
    """Frames of the model's input: ``loader.random_crop`` when set, else the model YAML's
    ``input_seconds`` at the features' rate and hop; ``None``: the whole clip."""
    if random_crop:
        frames = int(random_crop)
    elif model.get("input_seconds") is not None:  # chunk models only
        seconds = float(model["input_seconds"])
        if not seconds > 0:
            raise ValueError(f"model.input_seconds must be positive, got {seconds}")
        frames = features.frames_of(seconds)
    else:
        return None
    if frames > features.n_frames:
        raise ValueError(
            f"model.input_seconds / loader.random_crop: {frames} frames are longer than the stored "
            f"clips ({features.n_frames} frames of features={features.name}); use features with "
            f"longer clips or a shorter input"
        )
    return None if frames == features.n_frames else frames


@dataclass(frozen=True)
class ChunkPlan:
    """How a model sees a clip: chunks of ``length`` frames (None: whole clip), ``n`` of them."""

    length: int | None
    n: int

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """``(batch, ..., frames)`` → ``(batch * k, ..., length)`` chunks (batch-major) and k."""
        frames = int(x.shape[-1])  # a plain int also while tracing: the export fixes shapes
        if self.length is None or frames <= self.length:
            return x, 1
        starts = chunk_starts(frames, self.length, self.n)
        chunks = torch.stack([x[..., s : s + self.length] for s in starts], dim=1)
        return chunks.flatten(0, 1), len(starts)

    def heard_chunks(self, window: torch.Tensor, first: int, count: int) -> torch.Tensor | None:
        """A short song's chunks: ``window`` ``(..., frames)`` holds the song in frames
        ``[first, first + count)`` only (zero-padded around it), so the ``n`` chunks spread over
        those frames, as evaluation spreads them over a stored track, not over the padding
        (one chunk centred on them when they are fewer than a chunk's). ``(k, ..., length)``;
        None when :meth:`split` already sees only the song (a whole-clip model, a full window)."""
        frames = int(window.shape[-1])
        if self.length is None or frames <= self.length or count >= frames:
            return None
        if count <= self.length:
            starts = [min(max(0, first + (count - self.length) // 2), frames - self.length)]
        else:
            starts = [first + s for s in chunk_starts(count, self.length, self.n)]
        return torch.stack([window[..., s : s + self.length] for s in starts])

    def mean(
        self, fn: Callable[[torch.Tensor], tuple[torch.Tensor, ...]], x: torch.Tensor,
        max_items: int | None = None,
    ) -> tuple[torch.Tensor, ...]:  # fmt: skip
        """``fn`` (chunks → a tuple of ``(chunks, d)`` outputs, e.g. probabilities and
        embeddings) over the chunks of ``x``, each output averaged per item; ``max_items``
        chunks per call of ``fn`` at most (None: all at once)."""
        chunks, k = self.split(x)
        outs = fn(chunks) if max_items is None else in_pieces(fn, chunks, max_items)
        return tuple(mean_over(y, k) for y in outs)


def in_pieces(fn, x: torch.Tensor, max_items: int):
    """``fn`` over ``x`` in pieces of at most ``max_items`` rows, outputs concatenated (a tuple
    of tensors stays a tuple): a clip's 16 evaluation chunks must not multiply the memory of a
    batch by 16."""
    if len(x) <= max_items:
        return fn(x)
    outs = [fn(x[i : i + max_items]) for i in range(0, len(x), max_items)]
    if isinstance(outs[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*outs))
    return torch.cat(outs)


def mean_over(y: torch.Tensor, k: int) -> torch.Tensor:
    """``(batch * k, d)`` → ``(batch, d)``: the mean of each item's k rows."""
    return y if k == 1 else y.view(-1, k, y.shape[-1]).mean(dim=1)
