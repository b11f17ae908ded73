"""The service without HTTP: a tagger, an optional song index, the decoding processes and the
model's batcher; each request's answer as a plain dict (the JSON the routes send).

``/tag``'s answer mirrors ``autotag tag --json`` and ``/similar``'s ``autotag similar --json``:
the same model, windowing and rounding give the same numbers.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from autotag import __version__
from autotag.common.worker import usable_cores
from autotag.inference.ann import ANN_FORMAT, AnnIndex
from autotag.inference.ann import load as load_ann
from autotag.inference.backends import DEFAULT_LAYER
from autotag.inference.embed import Index, read_index
from autotag.inference.prediction import SongPrediction, json_level
from autotag.inference.similar import check_model, nearest
from autotag.inference.tagger import Tagger
from autotag.serve.batcher import Batcher
from autotag.serve.decoders import DecoderPool
from autotag.serve.errors import Rejected
from autotag.serve.settings import ServeSettings
from autotag.serve.uploads import Upload

ROUND = 4  # decimals of a probability, as autotag tag --json gives them


def open_index(path: str | Path) -> Index | AnnIndex:
    """An exact index (``autotag embed``) or an approximate one (``autotag index build``), told
    apart by the format their file names; :class:`IndexFileError` naming the file otherwise."""
    p = Path(path)
    try:
        with h5py.File(p, "r") as f:
            kind = f.attrs.get("format")
    except OSError:
        kind = None  # not HDF5 (or missing): read_index says which
    return load_ann(p) if kind == ANN_FORMAT else read_index(p)


class Service:
    """What ``autotag serve`` runs; :meth:`start` and :meth:`close` bracket its life."""

    def __init__(
        self, tagger: Tagger, settings: ServeSettings, index: Index | AnnIndex | None = None
    ) -> None:
        self.tagger, self.settings, self.index = tagger, settings, index
        self.hop, self.agg = settings.hop, settings.agg
        if index is not None:  # its songs' embeddings came from this model, layer and windowing
            check_model(index, tagger)
            tagger.embedding_layer = str(index.attrs.get("embedding_layer", DEFAULT_LAYER))
            self.hop, self.agg = index.hop_seconds, index.agg
            self._rows = self._index_rows(index)
        self.decoders = DecoderPool(tagger.features, settings.decoders or usable_cores())
        self.batcher = Batcher(
            tagger, settings.max_batch, settings.max_wait_ms / 1000, self.agg, settings.batch_size
        )
        self.temp_dir: Path | None = None
        self.started = time.time()
        self.served = self.rejected = self.in_flight = self.pending = 0

    @staticmethod
    def _index_rows(index: Index | AnnIndex) -> dict[str, int]:
        """Catalogue ids and stored paths → rows (not resolved on this machine: a client's
        string is only ever compared, never opened); removed songs left out."""
        removed = getattr(index, "removed", np.zeros(len(index.paths), np.uint8))
        rows: dict[str, int] = {}
        for keys in (index.paths, index.ids):
            for i, key in enumerate(keys):
                if not removed[i]:
                    rows.setdefault(key, i)
        return rows

    async def start(self) -> None:
        base = self.settings.temp_dir
        self.temp_dir = Path(tempfile.mkdtemp(prefix="autotag-serve-", dir=base))
        await self.decoders.start()
        self.batcher.start()

    def close(self) -> None:
        self.batcher.close()
        self.decoders.close()
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    # ---------------------------------------------------------------- requests

    async def predict(self, upload: Upload) -> SongPrediction:
        self.in_flight += 1
        try:
            song = await self.decoders.decode(
                upload.path, upload.name, self.hop, self.settings.max_seconds
            )
            result = await asyncio.wrap_future(self.batcher.submit(song))
        finally:
            self.in_flight -= 1
        if not result.ok:  # decoded but not taggable: the decoder's own words
            raise Rejected(415, "not_audio", str(result.error).replace(upload.path, upload.name))
        return result

    def tag_json(self, name: str, song: SongPrediction, embedding: bool = False) -> dict[str, Any]:
        t = self.tagger
        assert song.probs is not None
        present = [tag for tag, _ in t.present_tags(song)]
        threshold = dict(zip(t.tag_names, t.thresholds.tolist()))
        out: dict[str, Any] = {
            "file": name,
            "duration_s": round(song.duration, 3),
            "windows": song.n_windows,
            "peak_dbfs": json_level(song.peak_dbfs),
            "silent": song.silent,
            "tags": [
                {
                    "tag": tag,
                    "probability": round(p, ROUND),
                    "threshold": round(threshold[tag], ROUND),
                    "present": tag in present,
                }
                for tag, p in t.top_k(song.probs, len(t.tag_names))
            ],
            "present": present,
        }
        if embedding:
            assert song.embedding is not None
            out["embedding"] = [float(x) for x in song.embedding]
            out["embedding_layer"] = t.embedding_layer
        return out

    def find(self, song_id: str) -> int:
        row = self._rows.get(song_id) if self.index is not None else None
        if row is None:
            raise Rejected(404, "unknown_id", f"{song_id!r}: no song of that id in the catalogue")
        return row

    def neighbours(self, vec: np.ndarray, n: int, row: int | None = None) -> list[dict[str, Any]]:
        assert self.index is not None
        return [
            {
                "rank": r.rank,
                "id": r.id,
                "path": r.path,
                "similarity": round(r.similarity, 5),
                "tags": [{"tag": t, "probability": round(p, ROUND)} for t, p in r.top_tags],
            }
            for r in nearest(self.index, vec, n, 3, row)
        ]

    def vector(self, row: int) -> np.ndarray:
        index = self.index
        if isinstance(index, AnnIndex):
            return index.vector(row)
        assert index is not None
        return np.asarray(index.embeddings[row])

    # ---------------------------------------------------------------- descriptions

    @property
    def name(self) -> str:
        """A pretrained model's name (``musicnn:MTT_musicnn``), else its file's."""
        t = self.tagger
        return t.pretrained_name or (t.path.name if t.path else "tagger")

    def model_json(self) -> dict[str, Any]:
        t = self.tagger
        index = None
        if self.index is not None:
            a = self.index.attrs
            index = {
                "path": str(self.index.path),
                "kind": "approximate" if isinstance(self.index, AnnIndex) else "exact",
                "songs": len(self.index),
                "embedding_layer": str(a.get("embedding_layer", DEFAULT_LAYER)),
                "embedding_dim": int(a.get("embedding_dim", t.embedding_dim)),
            }
        return {
            "name": self.name,
            "path": str(t.path) if t.path else None,
            "sha256": t.sha256,
            "origin": t.origin,
            "tags": list(t.tag_names),
            "thresholds": [round(float(x), ROUND) for x in t.thresholds],
            "features": t.features.to_dict(),
            "window_seconds": t.window_seconds,
            "hop_seconds": self.hop,
            "agg": self.agg,
            "embedding_layer": t.embedding_layer,
            "embedding_dim": t.embedding_dim,
            "index": index,
            "limits": {
                "max_upload_mb": self.settings.max_upload_mb,
                "max_seconds": self.settings.max_seconds,
                "max_batch": self.settings.max_batch,
                "max_wait_ms": self.settings.max_wait_ms,
            },
            "autotag_version": __version__,
        }

    def health_json(self) -> dict[str, Any]:
        t = self.tagger
        return {
            "status": "ok",
            "model": self.name,
            "sha256": t.sha256,
            "tags": list(t.tag_names),
            "features": t.features.name,
            "index_songs": len(self.index) if self.index is not None else None,
            "uptime_s": round(time.time() - self.started, 1),
            "in_flight": self.in_flight,
            "pending": self.pending,
            "served": self.served,
            "rejected": self.rejected,
            "decoder_crashes": self.decoders.crashes,
            "batches": self.batcher.batches,
            "songs_batched": self.batcher.songs,
        }
