"""LightningDataModule over an HDF5 mel store."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from autotag.common.keywords import check_keywords
from autotag.common.signal import random_crop, random_crops
from autotag.data.crops import ragged_chunks, ragged_crop
from autotag.data.labelled import LabelledStore
from autotag.data.manifest import top_k_tags
from autotag.data.normalize import Normalizer, norm_description

log = logging.getLogger(__name__)
CALLERS = ("store", "top_k", "norm", "shuffle_labels", "seed")  # not the loader's keys


class MelDataset(Dataset):
    """``(spectrogram dB float16 (n_rows, n_frames), labels float32 (K,))`` for rows of a store;
    training items are a random crop of ``crop_frames`` (new every epoch) when it is set.

    With ``in_memory`` the split is read once into ``cache`` (float16) and items are plain
    indices: the DataModule gathers whole batches from a device-resident copy.

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

    def __len__(self) -> int:
        return len(self.index) * self.repeats

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor] | int:
        i = i % len(self.index)
        if self.cache is not None:
            return i
        if self.store.ragged:
            row = self.index[i]
            if self.chunks is not None:
                x = ragged_chunks(self.store, row, *self.chunks)
            else:
                x = ragged_crop(self.store, row, self.crop_frames, np.random)
            return torch.from_numpy(x), torch.from_numpy(self.labels[i])
        x = self.store.mel(self.index[i])
        if self.crop_frames:
            x = random_crop(x, self.crop_frames, np.random)
        # float16 as stored: half the bytes between loader processes and to the GPU; the
        # DataModule makes it float32 after the transfer (on_after_batch_transfer)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(self.labels[i])


class ShardSampler(Sampler[int]):
    """Evaluation sampler for DDP: rank r reads items r, r+W, ...; no padding, no duplicates."""

    def __init__(self, n: int, rank: int, world: int) -> None:
        self.items = list(range(rank, n, world))

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @staticmethod
    def gathered_order(n: int, world: int) -> np.ndarray:
        """Dataset item of each row of an evaluation gathered across ranks (rank 0's items, then
        rank 1's, ...): ``out[order] = gathered`` puts the rows back in dataset order."""
        return np.concatenate([np.arange(r, n, world) for r in range(world)])


def check_train_fraction(value: float) -> float:
    """``loader.train_fraction``: a share of the training split, in (0, 1]."""
    if not 0.0 < value <= 1.0:
        raise ValueError(f"loader.train_fraction must be in (0, 1], got {value}")
    return value


class TagDataModule(pl.LightningDataModule):
    """Train/val/test loaders from a store joined with its labels and split (a
    :class:`~autotag.data.labelled.LabelledStore`; a path: an old store holding its own); the
    top-K tags are chosen here. The keyword arguments are the ``loader`` config's, the data
    set's ``top_k``, the norm mode and the run's ``shuffle_labels`` and ``seed``.
    ``train_fraction`` keeps that share of the training split (drawn with ``seed``; validation
    and test stay whole): a study of training with few labels.

    ``normalizer`` (built from the store's training statistics) is handed to the model, which
    applies it on the device, so a checkpoint carries its own normalization. ``shuffle_labels``
    permutes the training labels across clips (a control: the test split must stay at chance).
    """

    def __init__(
        self,
        store: LabelledStore | str | Path,
        *,
        top_k: int | None,
        norm: str,
        batch_size: int,
        num_workers: int,
        in_memory: bool,
        random_crop: int | None,
        eval_chunks: int,
        crops_per_item: int,
        shuffle_labels: bool,
        seed: int,
        train_fraction: float,
        pin_memory: bool | None = None,  # None: pin when training on a GPU
    ) -> None:
        super().__init__()
        self.train_fraction = check_train_fraction(train_fraction)
        self.store = store if isinstance(store, LabelledStore) else LabelledStore(store)
        self.top_k = top_k
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.in_memory = in_memory
        self.random_crop = random_crop
        self.eval_chunks = eval_chunks
        self.crops_per_item = crops_per_item
        self.shuffle_labels = shuffle_labels
        self.seed = seed
        self.pin_memory = pin_memory
        self.tag_names = top_k_tags(self.store.tag_names, self.store.tag_counts, top_k)
        self.tag_index = np.array([self.store.tag_names.index(t) for t in self.tag_names])
        self.norm = norm_description(norm, self.store.stats, self.store.features.amin)
        self.normalizer = Normalizer(**self.norm)
        self.datasets: dict[str, MelDataset] = {}
        self._device_cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    @classmethod
    def from_config(
        cls,
        store: LabelledStore | str | Path,
        loader: Mapping[str, Any],
        *,
        top_k: int | None,
        norm: str,
        shuffle_labels: bool,
        seed: int,
    ) -> TagDataModule:
        """The set-up DataModule of a ``loader`` config (this class's other keyword arguments)."""
        check_keywords(cls, loader, "loader", passed=CALLERS)
        dm = cls(store, **loader, top_k=top_k, norm=norm, shuffle_labels=shuffle_labels, seed=seed)
        dm.setup()
        return dm

    @property
    def n_mels(self) -> int:
        return self.store.features.n_rows

    @property
    def n_frames(self) -> int:
        return self.random_crop or self.store.features.n_frames

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        if self.store.ragged and (self.in_memory or not self.random_crop):
            raise ValueError(
                f"{self.store.path.name} holds whole tracks: they are read as random crops and "
                "evaluation chunks, so loader.in_memory must be false and the crop length set "
                f"(loader.in_memory={self.in_memory}, random_crop={self.random_crop})"
            )
        if self.crops_per_item < 1 or (self.crops_per_item > 1 and not self.random_crop):
            raise ValueError(
                f"loader.crops_per_item={self.crops_per_item}: it must be 1, or more with a model "
                "that trains on random crops (input_seconds, or loader.random_crop)"
            )
        for split in ("train", "val", "test"):
            idx = self.store.indices(split)
            if len(idx) == 0:
                raise ValueError(f"{self.store.path}: the {split} split has no valid clip")
            if split == "train" and self.train_fraction < 1.0:  # a small-data study
                keep = max(1, int(round(self.train_fraction * len(idx))))
                pick = np.random.default_rng(self.seed).choice(len(idx), keep, replace=False)
                idx = np.sort(np.asarray(idx)[pick])
            labels = None
            if split == "train" and self.shuffle_labels:
                labels = self.store.labels[idx][:, self.tag_index]
                labels = labels[np.random.default_rng(self.seed).permutation(len(labels))]
            crop = self.random_crop if split == "train" and not self.in_memory else None
            chunks = None
            if self.store.ragged and split != "train":
                chunks = (self.random_crop, self.eval_chunks)
            repeats = self.crops_per_item if split == "train" else 1
            self.datasets[split] = MelDataset(
                self.store, idx, self.tag_index, crop, labels, self.in_memory, chunks, repeats
            )
        log.info(
            "data: %s | train %d, val %d, test %d %s | %d tags | input %dx%d", self.store.path.name,
            *(len(self.datasets[s].index) for s in ("train", "val", "test")),
            "tracks" if self.store.ragged else "clips", len(self.tag_names), self.n_mels,
            self.n_frames,
        )  # fmt: skip

    def train_label_counts(self) -> tuple[np.ndarray, int]:
        """Positives per tag and number of clips in the training split."""
        self.setup()
        labels = self.datasets["train"].labels
        return labels.sum(axis=0), len(labels)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        ds = self.datasets[split]
        trainer = self.trainer
        world = trainer.world_size if trainer is not None else 1
        rank = trainer.global_rank if trainer is not None else 0
        sampler = None
        train = shuffle
        if world > 1:
            if shuffle:
                sampler = torch.utils.data.DistributedSampler(
                    ds, world, rank, shuffle=True, seed=self.seed
                )
            else:
                sampler = ShardSampler(len(ds), rank, world)
            shuffle = False
        on_gpu = trainer is not None and trainer.strategy.root_device.type == "cuda"
        workers = 0 if self.in_memory else self.num_workers
        return DataLoader(
            ds, batch_size=self.batch_size, shuffle=shuffle, sampler=sampler,
            num_workers=workers, persistent_workers=workers > 0,
            pin_memory=on_gpu if self.pin_memory is None else self.pin_memory,
            # a last training batch of one clip would fail a model's BatchNorm1d head (short_cnn)
            drop_last=train and len(sampler or ds) % self.batch_size == 1,
        )  # fmt: skip

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if not isinstance(batch, torch.Tensor):  # streamed: (float16 spectrograms, labels)
            x, y = batch
            return x.float(), y
        # in-memory mode: the batch is item indices; gather from the device copy of the split
        split = self._split_of_current_loader()
        mels, labels = self._device_split(split, batch.device)
        x = mels[batch]
        if split == "train" and self.random_crop and self.random_crop < x.shape[-1]:
            x = random_crops(x, self.random_crop)
        return x.float(), labels[batch]

    def _split_of_current_loader(self) -> str:
        t = self.trainer
        if t is None or t.training:
            return "train"
        if t.validating or t.sanity_checking:
            return "val"
        return "test"

    def _device_split(self, split: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        key = f"{split}:{device}"
        if key not in self._device_cache:
            ds = self.datasets[split]
            self._device_cache[key] = (
                torch.from_numpy(ds.cache).to(device),
                torch.from_numpy(ds.labels).to(device),
            )
        return self._device_cache[key]
