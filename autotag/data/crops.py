"""What a store item becomes for the network: a random crop of a whole track for training, and
evaluation chunks spread over it (side by side, as the chunk protocol :mod:`autotag.data.chunks`
cuts them back). The crops and spreads themselves are :mod:`autotag.common.signal`'s.
"""

from __future__ import annotations

import numpy as np

from autotag.common.signal import random_start, spread_starts
from autotag.data.features import fit_frames, pad_value
from autotag.data.labelled import LabelledStore


def ragged_crop(
    store: LabelledStore, row: int, length: int, rng: np.random.RandomState
) -> np.ndarray:
    """A random crop of ``length`` frames of item ``row`` of a ragged store: every start in
    every segment equally likely (a segment shorter than the crop is padded)."""
    segs = store.segments_of(row)
    j, start = random_start(segs[:, 1], length, rng)
    x = store.read(segs[j, 0], start, min(length, int(segs[j, 1])))
    return fit_frames(x, length, pad_value(store.features.kind))  # a short segment: padded


def ragged_chunks(store: LabelledStore, row: int, length: int, n: int) -> np.ndarray:
    """``n`` chunks of ``length`` frames spread evenly over item ``row`` of a ragged store (over
    each of its segments in turn, ``n`` shared out as evenly as possible; with fewer chunks than
    segments, one in each of ``n`` segments spread over the item), side by side:
    ``(n_rows, n * length)``. A segment shorter than a chunk gives its padded self, repeated."""
    segs = store.segments_of(row)
    n_segs = len(segs)
    if n < n_segs:  # fewer chunks than segments: one each in segments spread over the item
        picked = {round(i * (n_segs - 1) / (n - 1)) for i in range(n)} if n > 1 else {n_segs // 2}
        share = [int(j in picked) for j in range(n_segs)]
    else:
        share = [n // n_segs + (j < n % n_segs) for j in range(n_segs)]
    out = []
    for (col, frames), k in zip(segs, share):
        if k == 0:
            continue
        starts = spread_starts(int(frames), length, k)
        if len(starts) < k:  # a segment shorter than a chunk: its one chunk, k times
            starts = starts * k
        for s in starts:
            x = store.read(col, s, min(length, int(frames)))
            out.append(fit_frames(x, length, pad_value(store.features.kind)))
    return np.concatenate(out, axis=-1)
