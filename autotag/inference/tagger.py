"""Tag new audio with a trained ``tagger.pt``: load safely, window, batch, aggregate.

A song of any length, rate and channel count is decoded to mono at the model's rate, cut into
windows of the training clip length (``features.clip_seconds``), and every window goes through
log-mel → normalization → FCN. Window probabilities (and penultimate-layer embeddings) are then
aggregated per song (``mean`` by default, or ``max``).

Windowing: windows start every ``hop`` seconds (default: one window length, i.e. no overlap) on a
grid centred in the song when it leaves at most 1 s of the song out
(:data:`autotag.data.frontend.MAX_UNHEARD_SECONDS`); else one more window, and the windows are
spread evenly from the song's first sample to its last, so every part of the song is heard. A
song of one window's length (or a little more, like MTAT's 30 s clips) is therefore tagged
exactly like a training clip (centre crop); a shorter one is zero-padded around the centre, as the
training store does. Decoding and log-mel are :class:`autotag.data.frontend.FrontEnd`'s, the
store's own path; the model file is read by :mod:`autotag.models.tagger_file`.

Silence: a song whose peak is below :data:`SILENCE_DBFS` gets its probabilities like any other,
but no tag is judged present (:meth:`Tagger.present_tags`).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from autotag.data.frontend import FrontEnd
from autotag.data.worker import init_worker_process, pool_context, usable_cores
from autotag.inference.decode import (
    Decoded,
    crash_error,
    decode,
    decode_files,
    map_files,
    peak_dbfs,
    pool_workers,
)
from autotag.pretrained import PretrainedError, resolve
from autotag.runs.tagger_file import TaggerError, TaggerFile, read_tagger

AGGREGATIONS = ("mean", "max")
BACKENDS = ("channels_last", "jit", "eager")
DEFAULT_BACKEND = "channels_last"

# A song whose peak (decoded mono waveform at the model's rate, before padding) is below this
# level is silent: no tag is marked present. Why: the FCN learnt from music only; fed silence or
# a faint noise floor, its normalized log-mels are unlike any training clip and several tags still
# cross their thresholds (about 6 of 50 for a silent file), which would be pure invention.
# -60 dBFS (max |x| < 0.001 of full scale) sits far below the peak of recorded music and above the
# dither/noise floor of a blank 16-bit track (about -90 to -84 dBFS): only files with nothing to
# hear are caught. The probabilities are still computed and reported.
SILENCE_DBFS = -60.0
# Song-parallel workers are forked (pool_context): they start in milliseconds with the model
# already loaded. Linux only: elsewhere the decoding pool serves.
_FORK = pool_context().get_start_method() == "fork"
SONGS_PER_TASK = 4
EVAL_BATCH = 64  # chunks per forward pass: 16 windows of a chunk model are 256 chunks
DEFAULT_LAYER = "penultimate"  # what `embed` gives: the layer the classifier reads


class Tagger:
    """A trained tagger: front end, normalizer and FCN rebuilt from a ``tagger.pt``.

    >>> tagger = Tagger.load("run/tagger.pt")
    >>> song = tagger.tag_file("song.mp3")
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
        the means over the chunks of each window (:mod:`autotag.models.chunks`)."""
        probs, emb = self.chunks.mean(
            lambda c: self._forward_net(self.normalizer(c)), mels, EVAL_BATCH
        )
        return probs, emb

    def _forward_net(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._backend == "jit" and self._layer == DEFAULT_LAYER:
            if self._fast is None:
                self._fast = _optimized(self.net, x)
            if self._fast is not None:
                emb, logits = self._fast(x)
                return torch.sigmoid(logits), emb
        if self._backend == "channels_last" and x.device.type == "cpu":
            x = x.unsqueeze(1).contiguous(memory_format=torch.channels_last)
        if self._layer != DEFAULT_LAYER:  # another layer than the penultimate, from one pass
            layers = self.net.layers(x)
            return torch.sigmoid(self.net.head(layers[DEFAULT_LAYER])), layers[self._layer]
        emb = self.net.embed(x)
        logits = self.net.head(emb)
        return torch.sigmoid(logits), emb

    @torch.inference_mode()
    def predict_mels(
        self, mels: np.ndarray | torch.Tensor, batch_size: int = 16
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
        agg: str = "mean",
        batch_size: int = 16,
        path: str = "<audio>",
    ) -> SongPrediction:
        """Tag a mono waveform already at :attr:`sample_rate`."""
        mels = self.front.song_mels(wav, hop)
        decoded = Decoded(path, mels, len(wav) / self.sample_rate, peak_dbfs=peak_dbfs(wav))
        return next(self._aggregate([decoded], agg, batch_size))

    def tag_file(
        self, path: str | Path, hop: float | None = None, agg: str = "mean", batch_size: int = 16
    ) -> SongPrediction:
        """Tag one file (the result's ``error`` is set when it cannot be decoded)."""
        return next(self.tag_files([str(path)], hop, agg, batch_size, workers=0))

    def tag_files(
        self,
        paths: Sequence[str | Path],
        hop: float | None = None,
        agg: str = "mean",
        batch_size: int = 16,
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
        if n > 1 and self.device.type == "cpu" and _FORK:
            yield from self._tag_in_song_pool(paths, hop, agg, batch_size, n)
            return
        if self.device.type != "cpu" and workers is None:
            n = min(n, max(1, usable_cores() - 1))  # one core feeds the GPU
        pending: list[Decoded] = []
        n_windows = 0
        for d in decode_files(self.front, paths, hop, n):
            pending.append(d)
            n_windows += 0 if d.mels is None else len(d.mels)
            if n_windows >= batch_size or (d.mels is None and n_windows == 0):
                yield from self._aggregate(pending, agg, batch_size)
                pending, n_windows = [], 0
        if pending:
            yield from self._aggregate(pending, agg, batch_size)

    def _tag_in_song_pool(
        self, paths: list[str], hop: float | None, agg: str, batch_size: int, workers: int
    ) -> Iterator[SongPrediction]:
        key = next(_job_keys)
        _pool_jobs[key] = (self, hop, agg, batch_size)  # inherited by the forked workers
        # a few songs per task: the network runs 1.35x faster per window on batches of 4
        # windows than of 1 (one thread); few enough that every worker gets several tasks
        size = min(SONGS_PER_TASK, max(1, len(paths) // (2 * workers)))
        tasks = [(key, tuple(paths[i : i + size])) for i in range(0, len(paths), size)]

        def pool(n: int) -> ProcessPoolExecutor:
            return ProcessPoolExecutor(n, pool_context(), initializer=init_worker_process)

        try:
            for songs in map_files(tasks, _tag_in_worker, pool, workers, 2, _songs_crashed,
                                   _one_by_one):  # fmt: skip
                yield from songs
        finally:
            del _pool_jobs[key]

    def _tag_songs(
        self, paths: Sequence[str], hop: float | None, agg: str, batch_size: int
    ) -> list[SongPrediction]:
        """Decode and tag files in this process, their windows sharing batches (what each
        worker of a song pool does with its task)."""
        return list(self._aggregate([decode(self.front, p, hop) for p in paths], agg, batch_size))

    def _aggregate(
        self, songs: list[Decoded], agg: str, batch_size: int
    ) -> Iterator[SongPrediction]:
        ok = [d for d in songs if d.mels is not None]
        if ok:
            probs, embs = self.predict_mels(np.concatenate([d.mels for d in ok]), batch_size)
        reduce = np.mean if agg == "mean" else np.max
        i = 0
        for d in songs:
            if d.mels is None:
                yield SongPrediction(d.path, error=d.error or f"{d.path}: failed")
                continue
            n = len(d.mels)
            yield SongPrediction(
                d.path,
                probs=reduce(probs[i : i + n], axis=0).astype(np.float32),
                embedding=reduce(embs[i : i + n], axis=0).astype(np.float32),
                duration=d.duration,
                n_windows=n,
                peak_dbfs=d.peak_dbfs,
            )
            i += n

    # ---------------------------------------------------------------- decisions

    def top_k(self, probs: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most probable tags, most probable first."""
        order = np.argsort(-np.asarray(probs), kind="stable")[: max(0, k)]
        return [(self.tag_names[j], float(probs[j])) for j in order]

    def present(self, probs: np.ndarray, threshold: float | None = None) -> list[tuple[str, float]]:
        """Tags judged present: probability ≥ the tag's validation-F1 threshold (or ``threshold``)."""
        probs = np.asarray(probs)
        cut = self.thresholds if threshold is None else np.full_like(self.thresholds, threshold)
        idx = [j for j in np.argsort(-probs, kind="stable") if probs[j] >= cut[j]]
        return [(self.tag_names[j], float(probs[j])) for j in idx]

    def present_tags(
        self, song: SongPrediction, threshold: float | None = None
    ) -> list[tuple[str, float]]:
        """Tags judged present in a song's result: :meth:`present` of its probabilities, except
        that a silent song (peak below :data:`SILENCE_DBFS`) has none."""
        if not song.ok or song.probs is None:
            raise ValueError(f"{song.path}: no prediction ({song.error or 'no probabilities'})")
        if song.silent:
            return []
        return self.present(song.probs, threshold)


@dataclass
class SongPrediction:
    """One song's aggregated result (or its error).

    ``peak_dbfs``: the peak level of the decoded mono waveform, ``20·log10(max |x|)`` (``-inf``
    for digital silence, NaN where not measured).
    """

    path: str
    probs: np.ndarray | None = None
    embedding: np.ndarray | None = None
    duration: float = 0.0
    n_windows: int = 0
    error: str | None = None
    peak_dbfs: float = math.nan

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def silent(self) -> bool:
        """Decoded and peaking below :data:`SILENCE_DBFS`: no tag is judged present."""
        return self.ok and self.peak_dbfs < SILENCE_DBFS


class _EmbedAndClassify(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.net.embed(x)
        return emb, self.net.head(emb)


def _optimized(net: nn.Module, example: torch.Tensor) -> Callable | None:
    """The FCN traced, frozen and optimized for CPU inference (oneDNN convolutions with prepacked
    weights, BN folded); ``None`` where that fails (then eager mode is used)."""
    if example.device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(_EmbedAndClassify(net).eval(), example[:1].float())
            return torch.jit.optimize_for_inference(torch.jit.freeze(traced))
    except Exception:
        return None


# the jobs of the song pools running in this process, by key; a worker forked while a job is
# here finds it (a second pool started meanwhile, or a restarted one, has its own key)
_pool_jobs: dict[int, tuple[Tagger, float | None, str, int]] = {}
_job_keys = itertools.count()
SongTask = tuple[int, tuple[str, ...]]


def _tag_in_worker(task: SongTask) -> list[SongPrediction]:
    key, paths = task
    tagger, hop, agg, batch_size = _pool_jobs[key]
    return tagger._tag_songs(paths, hop, agg, batch_size)


def _one_by_one(task: SongTask) -> list[SongTask]:
    key, paths = task
    return [(key, (p,)) for p in paths]


def _songs_crashed(task: SongTask) -> list[SongPrediction]:
    return [SongPrediction(p, error=crash_error(p)) for p in task[1]]
