"""Approximate nearest songs: an HNSW index (Spotify's Voyager) over a catalogue's embeddings.

Why Voyager: on this project's 2-core machine, at 100,000 vectors of 200 dimensions (the
musicnn penultimate layer), Voyager, hnswlib and FAISS (HNSW and IVF) reached the same recall@10
at sub-millisecond single-query latency; Voyager is maintained (hnswlib has had no release since
2023), deletes and replaces vectors in place (FAISS's HNSW cannot remove one), needs no training
step (FAISS's IVF does, and retrains as a catalogue drifts), and loads from bytes that it checks,
raising an error on a truncated or foreign blob (no pickle). bench/ann.py measures it at 1M.

Layout of an index file (``autotag index build --from catalogue.h5 --out songs.ann``), HDF5:

- ``voyager`` uint8 ``(n_bytes,)``: the serialized Voyager index (``Index.as_bytes``), cosine
  space, float32 vectors; its integer ids are the rows of the datasets below;
- ``paths`` (absolute), ``ids``: str ``(n_rows,)``, as in the embedding index they came from;
- ``removed`` uint8 ``(n_rows,)``: 1 for a song removed (its row stays, marked deleted);
- ``probabilities`` float16 ``(n_rows, n_tags)`` and ``tag_names``: for the tags shown per song;
- attrs: ``format`` (``autotag-ann/1``), ``library``, ``library_version``, ``space``, ``M``,
  ``ef_construction``, ``ef`` (the default search breadth), and from the embedding index:
  ``model_sha256``, ``model_name``, ``model_path``, ``embedding_layer``, ``embedding_dim``,
  ``hop_seconds``, ``agg``, ``features``; ``autotag_version``, ``created``.

A song is identified by its absolute path: adding an embedding index replaces the vector of every
song already there (re-tagged, re-encoded) and appends the others, without a rebuild. Loading
reads arrays and Voyager's own format only; no code is executed.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import h5py
import numpy as np
import voyager

from autotag import __version__
from autotag.common.files import atomic_path
from autotag.inference.backends import DEFAULT_LAYER
from autotag.inference.embed import Index, IndexFileError, IndexWindowing, read_index

ANN_FORMAT = "autotag-ann/1"
DEFAULT_M, DEFAULT_EF_CONSTRUCTION, DEFAULT_EF = 16, 200, 100
MODEL_ATTRS = ("model_sha256", "model_name", "model_path", "embedding_layer", "embedding_dim")
_COPIED = (*MODEL_ATTRS, "hop_seconds", "agg", "features")
_STR = h5py.string_dtype()


class ModelMismatchError(ValueError):
    """Embeddings of another model, layer or dimension than the index's."""


def _model(attrs: dict) -> tuple[str, str, int]:
    layer = str(attrs.get("embedding_layer", DEFAULT_LAYER))
    return str(attrs.get("model_sha256", "")), layer, int(attrs.get("embedding_dim", -1))


def _describe(attrs: dict, where: object) -> str:
    sha, layer, dim = _model(attrs)
    name = attrs.get("model_name") or attrs.get("model_path") or "unknown model"
    return f"{where}: {name}, sha256 {sha[:12]}…, {layer} layer, {dim}-d"


def check_same_model(attrs: dict, where: object, other: dict, other_where: object) -> None:
    """Refuse embeddings (``other``) of another model, layer or dimension, naming both."""
    if _model(attrs) != _model(other):
        raise ModelMismatchError(
            "embeddings of another model: "
            f"{_describe(attrs, where)}; {_describe(other, other_where)}"
        )


@dataclass
class AnnIndex(IndexWindowing):
    """An approximate index in memory; ``attrs`` and ``path`` as :class:`Index` has them."""

    path: Path
    index: voyager.Index
    paths: list[str]
    ids: list[str]
    removed: np.ndarray
    probabilities: np.ndarray
    tag_names: list[str]
    attrs: dict

    def __len__(self) -> int:
        """The songs searchable (removed ones not counted)."""
        return int(len(self.paths) - self.removed.sum())

    @property
    def dim(self) -> int:
        return int(self.attrs["embedding_dim"])

    def find(self, query: str) -> int | None:
        """Row of a song not removed, given as a path (any spelling) or an id."""
        resolved = str(Path(query).resolve())
        for key, keys in ((resolved, self.paths), (query, self.paths), (query, self.ids)):
            i = -1
            while True:
                try:
                    i = keys.index(key, i + 1)
                except ValueError:
                    break
                if not self.removed[i]:
                    return i
        return None

    def vector(self, row: int) -> np.ndarray:
        return np.asarray(self.index.get_vector(row), dtype=np.float32)

    def search(self, vec: np.ndarray, k: int, ef: int | None = None) -> list[tuple[int, float]]:
        """The ``min(k, len(self))`` rows nearest to ``vec``: (row, cosine similarity), best
        first. Raises :class:`ModelMismatchError` for a vector of another dimension."""
        vec = np.asarray(vec, dtype=np.float32).reshape(-1)
        if vec.shape[0] != self.dim:
            raise ModelMismatchError(
                f"a {vec.shape[0]}-d query against {self.path}, whose embeddings are {self.dim}-d"
            )
        k = min(k, len(self))
        if k <= 0:
            return []
        ef = max(ef or int(self.attrs.get("ef", DEFAULT_EF)), k)
        try:
            rows, dist = self.index.query(vec, k=k, query_ef=ef)
        except voyager.RecallError:  # the graph, thinned by removals, gave fewer than k
            return self._exact(vec, k)
        return [(int(r), 1.0 - float(d)) for r, d in zip(rows, dist)]

    def _exact(self, vec: np.ndarray, k: int) -> list[tuple[int, float]]:
        live = np.flatnonzero(self.removed == 0)
        emb = np.asarray(self.index.get_vectors(live.tolist()), dtype=np.float64)
        q = vec / max(float(np.linalg.norm(vec)), 1e-12)
        sims = emb @ q / np.maximum(np.linalg.norm(emb, axis=1), 1e-12)
        order = np.argsort(-sims, kind="stable")[:k]
        return [(int(live[j]), float(sims[j])) for j in order]

    def add(self, emb: Index, threads: int = -1) -> tuple[int, int]:
        """Add the songs of an embedding index: a path already here gets its new vector (and
        id, tags; a removed one comes back), others are appended. Returns (added, replaced)."""
        check_same_model(self.attrs, self.path, emb.attrs, emb.path)
        if emb.tag_names != self.tag_names:
            raise ModelMismatchError(f"{emb.path}: other tags than {self.path}")
        where = {p: i for i, p in enumerate(self.paths)}
        source = {}  # row -> the new song's position (a path given twice: its last vector)
        for j, p in enumerate(emb.paths):
            row = where.get(p)
            if row is None:
                row = where[p] = len(self.paths)
                self.paths.append(p)
                self.ids.append("")
            self.ids[row] = emb.ids[j]
            source[row] = j
        rows, picked = list(source), list(source.values())
        n_old = len(self.removed)
        self.removed = np.concatenate([self.removed, np.zeros(len(self.paths) - n_old, np.uint8)])
        probs = np.zeros((len(self.paths), len(self.tag_names)), np.float16)
        probs[:n_old] = self.probabilities
        probs[rows] = emb.probabilities[picked]
        self.probabilities = probs
        if rows:
            # voyager replaces the vector of an id it holds; it cannot take a removed id back
            for r in (r for r in rows if r < n_old and self.removed[r]):
                self.index.unmark_deleted(r)
            self.removed[rows] = 0
            vecs = emb.embeddings[picked].astype(np.float32)
            self.index.add_items(vecs, rows, num_threads=threads)
        replaced = sum(r < n_old for r in rows)
        return len(rows) - replaced, replaced

    def remove(self, songs: list[str]) -> list[str]:
        """Mark songs (paths or ids) removed; returns those not found."""
        missing = []
        for s in songs:
            row = self.find(s)
            if row is None:
                missing.append(s)
                continue
            self.index.mark_deleted(row)
            self.removed[row] = 1
        return missing

    def save(self, out: str | Path) -> None:
        """Write the index to ``out`` (renamed into place at the end)."""
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        blob = np.frombuffer(self.index.as_bytes(), dtype=np.uint8)
        with atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
            f.create_dataset("voyager", data=blob)
            f.create_dataset("paths", data=np.array(self.paths, dtype=object), dtype=_STR)
            f.create_dataset("ids", data=np.array(self.ids, dtype=object), dtype=_STR)
            f.create_dataset("removed", data=self.removed)
            f.create_dataset("probabilities", data=self.probabilities)
            f.create_dataset("tag_names", data=np.array(self.tag_names, dtype=object), dtype=_STR)
            attrs = {**self.attrs, "autotag_version": __version__}
            attrs["library_version"] = version("voyager")
            f.attrs.update(attrs)
        self.path = out


def build(
    emb: Index, m: int = DEFAULT_M, ef_construction: int = DEFAULT_EF_CONSTRUCTION,
    ef: int = DEFAULT_EF, threads: int = -1,
) -> AnnIndex:  # fmt: skip
    """An approximate index of an embedding index's songs (cosine similarity)."""
    if len(emb) == 0:
        raise IndexFileError(f"{emb.path}: no songs in this embedding index")
    attrs = {k: emb.attrs[k] for k in _COPIED if k in emb.attrs}
    attrs["embedding_dim"] = int(emb.embeddings.shape[1])
    attrs.setdefault("embedding_layer", DEFAULT_LAYER)
    attrs |= {"format": ANN_FORMAT, "library": "voyager", "space": "cosine", "M": m}
    attrs |= {"ef_construction": ef_construction, "ef": ef}
    attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    index = voyager.Index(
        voyager.Space.Cosine, num_dimensions=attrs["embedding_dim"], M=m,
        ef_construction=ef_construction,
    )  # fmt: skip
    ann = AnnIndex(
        emb.path, index, [], [], np.zeros(0, np.uint8), np.zeros((0, len(emb.tag_names)),
        np.float16), list(emb.tag_names), attrs,
    )  # fmt: skip
    ann.add(emb, threads)
    return ann


def build_from(path: str | Path, **kw) -> AnnIndex:
    """:func:`build` from an embedding index file."""
    return build(read_index(path), **kw)


def load(path: str | Path) -> AnnIndex:
    """Read an index written by :meth:`AnnIndex.save` (``IndexFileError`` naming the file if not)."""
    p = Path(path)
    if not p.is_file():
        raise IndexFileError(f"{p}: index file not found")
    try:
        with h5py.File(p, "r") as f:
            if f.attrs.get("format") != ANN_FORMAT:
                raise IndexFileError(
                    f"{p}: not an autotag ANN index (build one with autotag index build)"
                )
            attrs = dict(f.attrs)
            blob = f["voyager"][:].tobytes()
            strs = [[s.decode() if isinstance(s, bytes) else s for s in f[k][:]] for k in
                    ("paths", "ids", "tag_names")]  # fmt: skip
            removed, probs = f["removed"][:].astype(np.uint8), f["probabilities"][:]
        index = voyager.Index.load(io.BytesIO(blob))
    except IndexFileError:
        raise
    except Exception as e:
        raise IndexFileError(
            f"{p}: not a readable autotag ANN index ({type(e).__name__}: {str(e)[:200]})"
        ) from None
    paths, ids, tag_names = strs
    n = len(paths)
    if not (len(ids) == len(removed) == len(probs) == n == index.num_elements) or (
        index.num_dimensions != int(attrs.get("embedding_dim", -1))
    ):
        raise IndexFileError(f"{p}: inconsistent ANN index (its parts disagree; rebuild it)")
    return AnnIndex(p, index, paths, ids, removed, probs, tag_names, attrs)


def describe(ann: AnnIndex) -> str:
    """One line: songs, dimension, model."""
    a = ann.attrs
    return (
        f"{len(ann)} songs, {ann.dim}-d {a.get('embedding_layer', DEFAULT_LAYER)} embeddings of "
        f"{a.get('model_name') or a.get('model_path')} (M={a.get('M')}, ef={a.get('ef')})"
    )
