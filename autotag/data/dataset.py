"""The items of one split of a store, as the loaders read them (:class:`MelDataset`).

Offline variants (:mod:`autotag.data.variants`): a training item is read, at each draw, as the
clip itself or one of its ``k`` copies, uniformly (``np.random``, which the run seeds in every
loader worker, as for random crops). Per draw rather than per epoch: nothing to keep in step
between epochs, loader workers or crops of one clip, an epoch keeps its length (``k`` does not
multiply training time), and every version is read equally often on average. A clip without
copies (its file changed since) is read as itself.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from autotag.common.signal import random_crop
from autotag.data.crops import ragged_chunks, ragged_crop
from autotag.data.labelled import LabelledStore


class MelDataset(Dataset):
    """``(spectrogram dB float16 (n_rows, n_frames), labels float32 (K,))`` for rows of a store;
    training items are a random crop of ``crop_frames`` (new every epoch) when it is set.

    With ``in_memory`` the split is read once into ``cache`` (float16) and items are plain
    indices: the DataModule gathers whole batches from a device-resident copy (with
    ``variant_rows``, the training clips' copies after them: an index modulo the split's size
    is the clip).

    In a store of variable-length items (whole tracks, ``store.ragged``) a training item is a
    random crop of ``crop_frames`` anywhere in the track (:func:`~autotag.data.crops.ragged_crop`),
    and an evaluation item (``chunks = (length, n)``) is ``n`` chunks spread over the track, side
    by side (:func:`~autotag.data.crops.ragged_chunks`): ``(n_rows, n * length)``, which the chunk protocol
    (:class:`autotag.data.chunks.ChunkPlan` with the same length and n) cuts back into exactly
    those chunks and averages.
    """

    def __init__(
        self,
        store: LabelledStore,
        index: np.ndarray,
        tag_index: np.ndarray,
        crop_frames: int | None = None,
        labels: np.ndarray | None = None,
        in_memory: bool = False,
        chunks: tuple[int, int] | None = None,
        repeats: int = 1,
        variant_rows: np.ndarray | None = None,
    ) -> None:
        self.store = store
        self.index = np.asarray(index)
        self.labels = (store.labels[self.index][:, tag_index] if labels is None else labels).astype(
            np.float32
        )
        self.crop_frames = crop_frames
        self.chunks = chunks
        self.repeats = repeats  # items per stored item: each a new random crop
        if store.ragged and not (crop_frames or chunks):
            raise ValueError(f"{store.path.name}: whole tracks are read as crops or chunks")
        self.cache = store.mels(self.index) if in_memory else None
        # training with offline variants: each item's row in the variants file (-1: none)
        self.variant_rows = variant_rows
        self.k = 0 if variant_rows is None else store.variants.k
        if self.k and self.cache is not None:  # copy j of item i at cache[(j + 1) * n + i]
            copies = store.variants.mels(variant_rows).swapaxes(0, 1)
            self.cache = np.concatenate([self.cache, *copies])

    def __len__(self) -> int:
        return len(self.index) * self.repeats

    def draw(self, i: int) -> int:
        """Which version of item ``i`` to read: 0 the clip, ``j + 1`` its copy ``j``. Without
        variants nothing is drawn, so the random crops are those of a run without them."""
        if not self.k:
            return 0
        v = int(np.random.randint(0, self.k + 1))
        return v if self.variant_rows[i] >= 0 else 0

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor] | int:
        i = i % len(self.index)
        v = self.draw(i)
        if self.cache is not None:
            return i + v * len(self.index)
        if self.store.ragged:
            row = self.index[i]
            if self.chunks is not None:
                x = ragged_chunks(self.store, row, *self.chunks)
            else:
                x = ragged_crop(self.store, row, self.crop_frames, np.random)
            return torch.from_numpy(x), torch.from_numpy(self.labels[i])
        if v:
            x = self.store.variants.mel(self.variant_rows[i], v - 1)
        else:
            x = self.store.mel(self.index[i])
        if self.crop_frames:
            x = random_crop(x, self.crop_frames, np.random)
        # float16 as stored: half the bytes between loader processes and to the GPU; the
        # DataModule makes it float32 after the transfer (on_after_batch_transfer)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(self.labels[i])
