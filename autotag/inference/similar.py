"""Nearest songs of an embedding index by cosine similarity.

The query is a song already in the index (by path or id: its stored embedding is used and it
comes first) or an audio file, embedded with the model that made the index (the index keeps the
model's path and sha256; another model is refused).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from autotag.inference.ann import AnnIndex
from autotag.inference.backends import DEFAULT_LAYER
from autotag.inference.embed import Index
from autotag.inference.tagger import Tagger
from autotag.runs.tagger_file import TaggerError


@dataclass
class Neighbour:
    """One result row."""

    rank: int
    path: str
    id: str
    similarity: float
    top_tags: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class QueryInfo:
    """The query as used: where it came from and its top predicted tags."""

    query: str
    in_index: bool
    row: int | None
    top_tags: list[tuple[str, float]]


def _top(probs: np.ndarray, names: list[str], k: int) -> list[tuple[str, float]]:
    order = np.argsort(-probs, kind="stable")[:k]
    return [(names[j], float(probs[j])) for j in order]


def cosine_scores(embeddings: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row with ``query`` (0 for an all-zero vector)."""
    e = embeddings.astype(np.float64)
    q = np.asarray(query, dtype=np.float64)
    en = np.linalg.norm(e, axis=1)
    qn = np.linalg.norm(q)
    return (e @ q) / np.maximum(en * qn, 1e-12)


def check_model(index: Index | AnnIndex, tagger: Tagger) -> None:
    """Refuse a model other than the one that made the index (compared by sha256)."""
    want = str(index.attrs.get("model_sha256", ""))
    if want and tagger.sha256 and want != tagger.sha256:
        raise TaggerError(
            f"{tagger.path}: not the model that made {index.path} "
            f"(index: {index.attrs.get('model_path')}, sha256 {want[:12]}…; "
            f"this model: sha256 {tagger.sha256[:12]}…)"
        )


def _embed_query(
    index: Index | AnnIndex, query: str, tagger: Tagger | None, n_tags: int
) -> tuple[np.ndarray, QueryInfo]:
    """An audio file's embedding with the index's model, layer, hop and aggregation."""
    if tagger is None:
        raise LookupError(f"{query}: not in the index {index.path}, and no model to embed it")
    check_model(index, tagger)
    tagger.embedding_layer = str(index.attrs.get("embedding_layer", DEFAULT_LAYER))
    wav = tagger.front.load(query)
    song = tagger.tag_audio(wav, hop=index.hop_seconds, agg=index.agg, path=query)
    assert song.embedding is not None and song.probs is not None
    return song.embedding, QueryInfo(query, False, None, _top(song.probs, tagger.tag_names, n_tags))


def nearest(
    index: Index | AnnIndex,
    vec: np.ndarray,
    n: int = 10,
    n_tags: int = 3,
    row: int | None = None,
    ef: int | None = None,
) -> list[Neighbour]:
    """The ``n`` songs of ``index`` nearest to the embedding ``vec`` (exact cosine for an
    :class:`Index`, the graph's search for an :class:`AnnIndex`, which may find fewer); ``row``,
    the query's own row when it is in the index, comes first even when another song ties."""
    if isinstance(index, AnnIndex):
        found = index.search(vec, n + (row is not None), ef)
        if row is not None:  # the query itself first, even when the graph missed it
            found = [(row, 1.0), *[(r, s) for r, s in found if r != row]]
    else:
        scores = cosine_scores(index.embeddings, vec)
        order = np.argsort(-scores, kind="stable")
        if row is not None:
            order = np.r_[row, order[order != row]]
        found = [(int(j), float(scores[j])) for j in order[: max(0, n)]]
    out = []
    for rank, (j, sim) in enumerate(found[: max(0, n)], start=1):
        probs = np.asarray(index.probabilities[j], dtype=np.float32)
        out.append(
            Neighbour(rank, index.paths[j], index.ids[j], sim, _top(probs, index.tag_names, n_tags))
        )
    return out


def similar(
    index: Index,
    query: str,
    tagger: Tagger | None = None,
    n: int = 10,
    n_tags: int = 3,
) -> tuple[QueryInfo, list[Neighbour]]:
    """The ``n`` songs nearest to ``query``; a query from the index comes first.

    Raises :class:`LookupError` when the query is not in the index and no ``tagger`` is given,
    :class:`autotag.data.audio.AudioError` when its audio cannot be decoded.
    """
    row = index.find(query)
    if row is not None:
        vec = index.embeddings[row]
        info = QueryInfo(query, True, row, _top(index.probabilities[row], index.tag_names, n_tags))
    else:
        vec, info = _embed_query(index, query, tagger, n_tags)
    return info, nearest(index, vec, n, n_tags, row)


def similar_ann(
    ann: AnnIndex,
    query: str,
    tagger: Tagger | None = None,
    n: int = 10,
    n_tags: int = 3,
    ef: int | None = None,
) -> tuple[QueryInfo, list[Neighbour]]:
    """:func:`similar` from an approximate index: the ``n`` songs it finds nearest (fewer when
    the index holds fewer); a query from the index comes first.

    Raises as :func:`similar` does, and :class:`autotag.inference.ann.ModelMismatchError` for an
    embedding of another dimension.
    """
    row = ann.find(query)
    if row is not None:
        vec = ann.vector(row)
        probs = ann.probabilities[row].astype(np.float32)
        info = QueryInfo(query, True, row, _top(probs, ann.tag_names, n_tags))
    else:
        vec, info = _embed_query(ann, query, tagger, n_tags)
    return info, nearest(ann, vec, n, n_tags, row, ef)
