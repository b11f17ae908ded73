"""The manifest: one table of clips that every reader produces and the rest of the pipeline consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SPLITS = ("train", "val", "test")


class DataError(ValueError):
    """Bad input data; the message names the file (and line/column where known)."""


@dataclass
class Manifest:
    """Clips with their audio paths, split and labels for *all* tags of the source.

    ``split`` holds ``"train"``, ``"val"``, ``"test"`` or ``""`` (clip excluded by the split rule).
    ``tag_counts`` counts clips per tag over every row of the source (the top-K rule needs it).
    ``units`` groups the clips for the bootstrap (clips of one unit are not independent: MTAT's
    clips of one song, Jamendo's tracks of one artist): unit name -> each clip's key, the data
    set's natural unit first; a clip whose source names no unit has a key of its own.
    """

    source: str
    clip_ids: np.ndarray  # int64 (N,)
    paths: list[str]  # absolute audio paths
    rel_paths: list[str]  # paths as written in the source file
    split: list[str]
    tag_names: list[str]
    labels: np.ndarray  # uint8 (N, T)
    meta: dict[str, list[str]] = field(default_factory=dict)
    tag_counts: np.ndarray | None = None
    min_seconds: float = 0.0  # clips shorter than this are excluded once decoded (``clean`` split)
    units: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.clip_ids)
        if not (
            len(self.paths) == len(self.rel_paths) == len(self.split) == self.labels.shape[0] == n
        ):
            raise ValueError("manifest columns have different lengths")
        if any(len(keys) != n for keys in self.units.values()) or "clip" in self.units:
            raise ValueError("every unit keys every clip, and none is named 'clip' (clips alone)")
        if self.labels.shape[1] != len(self.tag_names):
            raise ValueError("labels and tag_names disagree")
        if self.tag_counts is None:
            self.tag_counts = self.labels.sum(axis=0).astype(np.int64)

    def __len__(self) -> int:
        return len(self.clip_ids)

    def included(self) -> Manifest:
        """The clips that belong to a split (drops the excluded ones)."""
        keep = [i for i, s in enumerate(self.split) if s]
        return self.subset(keep)

    def subset(self, index: list[int] | np.ndarray) -> Manifest:
        index = list(index)
        return Manifest(
            source=self.source,
            clip_ids=self.clip_ids[index],
            paths=[self.paths[i] for i in index],
            rel_paths=[self.rel_paths[i] for i in index],
            split=[self.split[i] for i in index],
            tag_names=list(self.tag_names),
            labels=self.labels[index],
            meta={k: [v[i] for i in index] for k, v in self.meta.items()},
            tag_counts=self.tag_counts,
            min_seconds=self.min_seconds,
            units={k: [v[i] for i in index] for k, v in self.units.items()},
        )

    def split_counts(self) -> dict[str, int]:
        return {s: sum(1 for x in self.split if x == s) for s in SPLITS}


def unit_keys(clip_ids: np.ndarray, *columns: list[str]) -> list[str]:
    """Each clip's unit key: its values of ``columns`` joined by the ASCII unit separator; a
    clip whose values are all empty is a unit of its own."""
    keys = []
    for cid, values in zip(clip_ids.tolist(), zip(*columns, strict=True)):
        keys.append("\x1f".join(values) if any(values) else f"\x1fclip {cid}")
    return keys


def top_k_tags(tag_names: list[str], tag_counts: np.ndarray, k: int | None) -> list[str]:
    """The ``k`` most frequent tags (None: every tag), by descending count; ties keep the
    source's column order.

    A stable sort on the negated counts gives exactly that tie rule (MTAT: "metal" and
    "female voice" have equal counts and keep their column order).
    """
    if k is None:
        k = len(tag_names)
    if k <= 0:
        raise ValueError(f"top_k must be positive, got {k}")
    if k > len(tag_names):
        raise ValueError(f"top_k={k} but the source has only {len(tag_names)} tags")
    order = np.argsort(-np.asarray(tag_counts), kind="stable")
    return [tag_names[i] for i in order[:k]]
