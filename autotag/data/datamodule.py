"""LightningDataModule over an HDF5 mel store."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Sampler

from autotag.common.keywords import check_keywords
from autotag.common.signal import random_crops
from autotag.data.dataset import MelDataset
from autotag.data.labelled import LabelledStore
from autotag.data.manifest import top_k_tags
from autotag.data.normalize import Normalizer, norm_description

log = logging.getLogger(__name__)
CALLERS = ("store", "top_k", "norm", "shuffle_labels", "seed")  # not the loader's keys


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
    A store with offline variants (``store.variants``) has training clips read as themselves or
    one of their copies (:mod:`autotag.data.dataset`); validation and test read the clips only.
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
            variants = self.store.variant_rows(idx) if split == "train" else None  # train only
            self.datasets[split] = MelDataset(
                self.store, idx, self.tag_index, crop, labels, self.in_memory, chunks, repeats,
                variants,
            )  # fmt: skip
        log.info(
            "data: %s | train %d, val %d, test %d %s | %d tags | input %dx%d%s",
            self.store.path.name, *(len(self.datasets[s].index) for s in ("train", "val", "test")),
            "tracks" if self.store.ragged else "clips", len(self.tag_names), self.n_mels,
            self.n_frames, self._variants_note(),
        )  # fmt: skip

    def _variants_note(self) -> str:
        rows = self.datasets["train"].variant_rows
        if rows is None:
            return ""
        k, name = self.store.variants.k, self.store.variants.path.name
        return f" | {k} offline variants of {int((rows >= 0).sum())} training clips ({name})"

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
        return x.float(), labels[batch % len(labels)]  # training variants: after the clips

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
