"""Song embeddings (the FCN's penultimate layer) of a catalogue, in one HDF5 index.

Layout of the index (``autotag embed ... --out catalogue.h5``):

- ``embeddings`` float32 ``(n_songs, embedding_dim)``: windows aggregated like the tags;
- ``probabilities`` float32 ``(n_songs, n_tags)``: the predicted tag probabilities;
- ``paths`` (absolute) and ``ids`` (path relative to the folder given, or the file name): str;
- ``durations`` float32 seconds; ``tag_names``, ``thresholds``;
- attrs: ``format``, ``model_path``, ``model_name`` (a pretrained model's name, else empty),
  ``model_sha256``, ``hop_seconds``, ``agg``,
  ``embedding_dim``, ``embedding_layer`` (``penultimate`` unless ``--layer`` chose another; absent
  in indexes written before it: penultimate), ``features`` (JSON), ``autotag_version``, ``created``.

"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from autotag import __version__
from autotag.common.files import atomic_path
from autotag.inference.tagger import DEFAULT_AGG, SongPrediction, Tagger

INDEX_FORMAT = "autotag-index/1"
_STR = h5py.string_dtype()


class IndexFileError(RuntimeError):
    """An index file that cannot be used; the message names the file."""


def song_ids(files: Sequence[str], inputs: Sequence[str]) -> list[str]:
    """An id per file: its path relative to the input folder it came from, else its name."""
    roots = [Path(i).resolve() for i in inputs if Path(i).is_dir()]
    ids = []
    for f in files:
        p = Path(f).resolve()
        rel = next((p.relative_to(r) for r in roots if p.is_relative_to(r)), None)
        ids.append(str(rel) if rel is not None else p.name)
    return ids


def write_index(
    out: str | Path,
    tagger: Tagger,
    results: Iterator[SongPrediction],
    ids: dict[str, str] | None = None,
    hop: float | None = None,
    agg: str = DEFAULT_AGG,
    on_result: Callable[[SongPrediction], None] | None = None,
) -> int:
    """Write the songs of ``results`` that succeeded to the index ``out``; returns their number.

    The file is written next to ``out`` and renamed at the end (an interrupted run leaves the old
    index intact). ``on_result`` sees every result, failures included (progress, error lines).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    d, t = tagger.embedding_dim, len(tagger.tag_names)
    n = 0
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
        emb = f.create_dataset("embeddings", (0, d), "f4", maxshape=(None, d), chunks=(64, d))
        prob = f.create_dataset("probabilities", (0, t), "f4", maxshape=(None, t), chunks=(64, t))
        paths = f.create_dataset("paths", (0,), _STR, maxshape=(None,), chunks=(256,))
        id_ds = f.create_dataset("ids", (0,), _STR, maxshape=(None,), chunks=(256,))
        dur = f.create_dataset("durations", (0,), "f4", maxshape=(None,), chunks=(256,))
        f.create_dataset("tag_names", data=np.array(tagger.tag_names, dtype=object), dtype=_STR)
        f.create_dataset("thresholds", data=tagger.thresholds.astype(np.float32))
        f.attrs.update(
            {
                "format": INDEX_FORMAT,
                "model_path": str(tagger.path or ""),
                # a pretrained model's name (musicnn:MTT_musicnn): found again wherever
                # the cache folder is
                "model_name": tagger.pretrained_name,
                "model_sha256": tagger.sha256,
                "hop_seconds": float(hop) if hop is not None else tagger.window_seconds,
                "agg": agg,
                "embedding_dim": d,
                "embedding_layer": tagger.embedding_layer,
                "features": json.dumps(tagger.features.to_dict()),
                "autotag_version": __version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
        )
        for r in results:
            if on_result is not None:
                on_result(r)
            if not r.ok:
                continue
            for ds in (emb, prob, paths, id_ds, dur):
                ds.resize(n + 1, axis=0)
            emb[n], prob[n], dur[n] = r.embedding, r.probs, r.duration
            paths[n] = str(Path(r.path).resolve())
            id_ds[n] = (ids or {}).get(r.path, Path(r.path).name)
            n += 1
    return n


class IndexWindowing:
    """How an index's embeddings were made, read from its ``attrs`` (a query is embedded the
    same way): shared by :class:`Index` and :class:`autotag.inference.ann.AnnIndex`."""

    attrs: dict

    @property
    def hop_seconds(self) -> float:
        return float(self.attrs["hop_seconds"])

    @property
    def agg(self) -> str:
        return str(self.attrs["agg"])


@dataclass
class Index(IndexWindowing):
    """An embedding index read into memory."""

    path: Path
    embeddings: np.ndarray
    probabilities: np.ndarray
    paths: list[str]
    ids: list[str]
    durations: np.ndarray
    tag_names: list[str]
    thresholds: np.ndarray
    attrs: dict

    def __len__(self) -> int:
        return len(self.paths)

    def find(self, query: str) -> int | None:
        """Row of ``query`` given as a path (any spelling of the same file) or an id."""
        resolved = str(Path(query).resolve())
        for key in (resolved, query):
            if key in self.paths:
                return self.paths.index(key)
        if query in self.ids:
            return self.ids.index(query)
        return None


def read_index(path: str | Path) -> Index:
    """Load an index written by :func:`write_index` (``IndexFileError`` naming the file if not)."""
    p = Path(path)
    if not p.is_file():
        raise IndexFileError(f"{p}: index file not found")
    try:
        with h5py.File(p, "r") as f:
            if f.attrs.get("format") != INDEX_FORMAT:
                raise IndexFileError(
                    f"{p}: not an autotag embedding index (write one with autotag embed)"
                )
            return Index(
                path=p,
                embeddings=f["embeddings"][:],
                probabilities=f["probabilities"][:],
                paths=[s.decode() if isinstance(s, bytes) else s for s in f["paths"][:]],
                ids=[s.decode() if isinstance(s, bytes) else s for s in f["ids"][:]],
                durations=f["durations"][:],
                tag_names=[s.decode() if isinstance(s, bytes) else s for s in f["tag_names"][:]],
                thresholds=f["thresholds"][:],
                attrs=dict(f.attrs),
            )
    except IndexFileError:
        raise
    except Exception as e:
        raise IndexFileError(
            f"{p}: not a readable autotag index ({type(e).__name__}: {e})"
        ) from None
