"""Tag new audio with a trained ``tagger.pt``: load safely, window, batch, aggregate.

A song of any length, rate and channel count is decoded to mono at the model's rate, cut into
windows of the training clip length (``features.clip_seconds``) that go through log-mel →
normalization → network; window probabilities (and embeddings) are aggregated per song (``mean``
by default, or ``max``). Windowing (:meth:`autotag.data.frontend.FrontEnd.song_mels`, the store's
own decode and log-mel): windows every ``hop`` seconds (default: one window, no overlap) that
cover the whole song; a song of one window's length is tagged exactly like a training clip (centre
crop); a shorter one is padded, and a chunk model's chunks spread over the song, not the padding.
Song pool: :mod:`~autotag.inference.song_pool`; CPU backends: :mod:`~autotag.inference.backends`.

Silence: a song whose peak is below :data:`SILENCE_DBFS` gets its probabilities like any other,
but no tag is judged present (:meth:`Tagger.present_tags`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from autotag.common.signal import peak_dbfs
from autotag.common.worker import usable_cores
from autotag.data.frontend import FrontEnd
from autotag.inference.backends import (
    BACKENDS,
    DEFAULT_BACKEND,
    DEFAULT_LAYER,
    optimized,
    run_network,
)
from autotag.inference.decode import Decoded, decode, decode_files, pool_workers
from autotag.inference.prediction import SongPrediction, TagDecisions
from autotag.inference.song_pool import FORK, tag_in_song_pool
from autotag.pretrained import PretrainedError, resolve
from autotag.runs.tagger_file import TaggerError, TaggerFile, read_tagger

AGGREGATIONS = ("mean", "max")  # how window predictions make a song's
# the one default of every method's, embed's, robustness's and the CLI's aggregation and batch
DEFAULT_AGG = "mean"
DEFAULT_BATCH = 16  # windows per forward pass
EVAL_BATCH = 64  # chunks per forward pass: 16 windows of a chunk model are 256 chunks


class Tagger(TagDecisions):
    """A trained tagger: front end, normalizer and FCN rebuilt from a ``tagger.pt``.

    >>> song = (tagger := Tagger.load("run/tagger.pt")).tag_file("song.mp3")
    >>> tagger.top_k(song.probs, 5), tagger.present_tags(song)
    """

    def __init__(self, model: TaggerFile) -> None:
        where = str(model.path or "tagger")
        try:
            self.features = model.feature_config()
            self.normalizer = model.normalizer().eval()
            self.net = model.network()
            self.chunks = model.chunk_plan()
        except Exception as e:
            raise TaggerError(f"{where}: inconsistent tagger file ({type(e).__name__}: {e})") from e
        self.tag_names: list[str] = list(model.tag_names)
        self.thresholds = np.asarray(model.thresholds, dtype=np.float32)
        self.front = FrontEnd(self.features)
        self.path = model.path
        self.sha256 = model.sha256
        self.model_config = dict(model.model)
        self.metrics = dict(model.metrics)
        self.data_config = dict(model.config.get("data") or {})  # what it was trained on
        self.pretrained_name = model.pretrained_name  # musicnn:MTT_musicnn, or empty
        self.origin = model.origin()  # the credit and licence of a pretrained model, if any
        self._fast: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None
        self.device = torch.device("cpu")
        # a network may name the CPU backend it runs fastest with (``cpu_backend``)
        self.backend = getattr(self.net, "cpu_backend", DEFAULT_BACKEND)
        self._layer = DEFAULT_LAYER

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> Tagger:
        """Read a ``tagger.pt`` (``torch.load(weights_only=True)``), or a pretrained model's name
        (``musicnn:MTT_musicnn``: converted on first use, :mod:`autotag.pretrained`);
        :class:`TaggerError` if unusable."""
        try:
            path = resolve(path)
        except PretrainedError as e:
            raise TaggerError(str(e)) from None
        return cls(read_tagger(path)).to(device)

    def to(self, device: str | torch.device) -> Tagger:
        """Run the network on ``device`` (``cuda``, ``cuda:1``, ``cpu``); decoding and the log-mel
        stay on the CPU, in the decoding workers. Probabilities come back as numpy arrays."""
        try:
            dev = torch.device(device)
            if dev.type == "cuda" and not torch.cuda.is_available():
                raise RuntimeError("CUDA is not available on this machine")
            self.net.to(dev)
            self.normalizer.to(dev)
        except RuntimeError as e:
            raise TaggerError(f"device {device!r}: {e}") from e
        self.device = dev
        self._fast = None
        return self

    # ---------------------------------------------------------------- properties

    @property
    def sample_rate(self) -> int:
        return self.features.sample_rate

    @property
    def window_seconds(self) -> float:
        return self.features.clip_seconds

    @property
    def embedding_layers(self) -> dict[str, int]:
        """The layers an embedding can come from, with their widths: ``penultimate`` (the layer
        before the classifier) for every network; a network may name more (``layers(x)``)."""
        return dict(getattr(self.net, "embedding_layers", {DEFAULT_LAYER: self.net.embedding_dim}))

    @property
    def embedding_layer(self) -> str:
        return self._layer

    @embedding_layer.setter
    def embedding_layer(self, name: str) -> None:
        if name not in self.embedding_layers:
            raise ValueError(
                f"embedding layer {name!r}: this model has {', '.join(self.embedding_layers)}"
            )
        self._layer = name
        self._fast = None

    @property
    def embedding_dim(self) -> int:
        return int(self.embedding_layers[self._layer])

    # ---------------------------------------------------------------- model

    @property
    def backend(self) -> str:
        """How the FCN runs on CPU: ``channels_last`` (eager, NHWC: the default), ``jit`` (traced,
        frozen, ``optimize_for_inference``; built on the first batch) or ``eager`` (NCHW)."""
        return self._backend

    @backend.setter
    def backend(self, value: str) -> None:
        if value not in BACKENDS:
            raise ValueError(f"backend={value!r}: choose one of {', '.join(BACKENDS)}")
        self._backend = value
        self._fast = None
        fmt = torch.channels_last if value == "channels_last" else torch.contiguous_format
        self.net.to(memory_format=fmt)

    def _forward(self, mels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Window spectrograms → (probabilities, embeddings) in one pass; a chunk model's are
        the means over the chunks of each window (:mod:`autotag.data.chunks`)."""
        probs, emb = self.chunks.mean(
            lambda c: self._forward_net(self.normalizer(c)), mels, EVAL_BATCH
        )
        return probs, emb

    def _forward_net(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._backend == "jit" and self._layer == DEFAULT_LAYER and self._fast is None:
            self._fast = optimized(self.net, x)  # None where tracing fails: eager mode
        return run_network(self.net, x, self._backend, self._layer, self._fast)

    @torch.inference_mode()
    def predict_mels(
        self, mels: np.ndarray | torch.Tensor, batch_size: int = DEFAULT_BATCH
    ) -> tuple[np.ndarray, np.ndarray]:
        """Window log-mels ``(n, n_mels, n_frames)`` → probabilities ``(n, n_tags)``, embeddings."""
        x = torch.as_tensor(mels, dtype=torch.float32)
        probs, embs = [], []
        for i in range(0, len(x), batch_size):
            p, e = self._forward(x[i : i + batch_size].to(self.device))
            probs.append(p.float().cpu().numpy())
            embs.append(e.float().cpu().numpy())
        if not probs:
            return np.zeros((0, len(self.tag_names)), np.float32), np.zeros(
                (0, self.embedding_dim), np.float32
            )
        return np.concatenate(probs), np.concatenate(embs)

    @torch.inference_mode()
    def predict_windows(self, windows: np.ndarray | torch.Tensor) -> np.ndarray:
        """Waveform windows ``(n, window_samples)`` → probabilities (the exported model's contract)."""
        return self.predict_mels(self.front.mels(np.asarray(windows, dtype=np.float32)))[0]

    # ---------------------------------------------------------------- songs

    def tag_audio(
        self,
        wav: np.ndarray,
        hop: float | None = None,
        agg: str = DEFAULT_AGG,
        batch_size: int = DEFAULT_BATCH,
        path: str = "<audio>",
    ) -> SongPrediction:
        """Tag a mono waveform already at :attr:`sample_rate`."""
        mels = self.front.song_mels(wav, hop)
        decoded = Decoded(path, mels, len(wav) / self.sample_rate, peak_dbfs=peak_dbfs(wav))
        return next(self.tag_decoded([decoded], agg, batch_size))

    def tag_file(
        self,
        path: str | Path,
        hop: float | None = None,
        agg: str = DEFAULT_AGG,
        batch_size: int = DEFAULT_BATCH,
    ) -> SongPrediction:
        """Tag one file (the result's ``error`` is set when it cannot be decoded)."""
        return next(self.tag_files([str(path)], hop, agg, batch_size, workers=0))

    def tag_files(
        self,
        paths: Sequence[str | Path],
        hop: float | None = None,
        agg: str = DEFAULT_AGG,
        batch_size: int = DEFAULT_BATCH,
        workers: int | None = None,
    ) -> Iterator[SongPrediction]:
        """Tag files in order; a file that fails yields a :class:`SongPrediction` with
        ``error`` set, and the others go on.

        ``workers`` processes (default: all cores when there are :data:`POOL_MIN_FILES` files
        or more; 0 or 1: all in this process, windows of consecutive songs sharing batches).
        With the network on the CPU each worker tags whole songs, decoding and network with one
        torch thread, so the cores never wait for each other and workers × threads = cores;
        the workers are forked from this process (no import, no copy of the model) where the
        platform allows it. With the network on a GPU, ``workers`` processes (at most all
        cores but one) decode and this process batches the windows on the GPU.
        """
        if agg not in AGGREGATIONS:
            raise ValueError(f"agg={agg!r}: choose one of {', '.join(AGGREGATIONS)}")
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        self.front.hop_samples(hop)  # validate before starting workers
        paths = [str(p) for p in paths]
        n = pool_workers(workers, len(paths))
        if n > 1 and self.device.type == "cpu" and FORK:
            yield from tag_in_song_pool(self, paths, hop, agg, batch_size, n)
            return
        if self.device.type != "cpu" and workers is None:
            n = min(n, max(1, usable_cores() - 1))  # one core feeds the GPU
        pending: list[Decoded] = []
        n_windows = 0
        for d in decode_files(self.front, paths, hop, n):
            pending.append(d)
            n_windows += 0 if d.mels is None else len(d.mels)
            if n_windows >= batch_size or (d.mels is None and n_windows == 0):
                yield from self.tag_decoded(pending, agg, batch_size)
                pending, n_windows = [], 0
        if pending:
            yield from self.tag_decoded(pending, agg, batch_size)

    def _tag_songs(
        self, paths: Sequence[str], hop: float | None, agg: str, batch_size: int
    ) -> list[SongPrediction]:
        """Decode and tag files in this process, their windows sharing batches (what each
        worker of a song pool does with its task)."""
        return list(self.tag_decoded([decode(self.front, p, hop) for p in paths], agg, batch_size))

    def tag_decoded(
        self, songs: list[Decoded], agg: str = DEFAULT_AGG, batch_size: int = DEFAULT_BATCH
    ) -> Iterator[SongPrediction]:
        """Songs decoded elsewhere (workers, a service's uploads), windows sharing batches."""
        short = {id(d): c for d in songs if (c := self._heard_chunks(d)) is not None}
        ok = [d for d in songs if d.mels is not None and id(d) not in short]
        if ok:
            probs, embs = self.predict_mels(np.concatenate([d.mels for d in ok]), batch_size)
        reduce = np.mean if agg == "mean" else np.max
        i = 0
        for d in songs:
            if d.mels is None:
                yield SongPrediction(d.path, error=d.error or f"{d.path}: failed")
                continue
            if id(d) in short:  # one window, its chunks over the song: their mean
                p, e = (x.mean(axis=0) for x in self.predict_mels(short[id(d)], batch_size))
            else:
                n = len(d.mels)
                p, e = reduce(probs[i : i + n], axis=0), reduce(embs[i : i + n], axis=0)
                i += n
            yield SongPrediction(
                d.path,
                probs=p.astype(np.float32),
                embedding=e.astype(np.float32),
                duration=d.duration,
                n_windows=len(d.mels),
                peak_dbfs=d.peak_dbfs,
            )

    def _heard_chunks(self, d: Decoded) -> np.ndarray | None:
        """A chunk model's chunks of a song shorter than one window, spread over the song and
        not over the window's padding (:meth:`ChunkPlan.heard_chunks`); None otherwise."""
        if d.mels is None or len(d.mels) != 1:
            return None
        first, count = self.front.heard_frames(round(d.duration * self.sample_rate))
        chunks = self.chunks.heard_chunks(torch.from_numpy(d.mels[0]), first, count)
        return None if chunks is None else chunks.numpy()
