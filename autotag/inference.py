"""Tag new audio with a trained ``tagger.pt``: load safely, window, batch, aggregate.

A song of any length, rate and channel count is decoded to mono at the model's rate, cut into
windows of the training clip length (``features.clip_seconds``), and every window goes through
log-mel → normalization → FCN. Window probabilities (and penultimate-layer embeddings) are then
aggregated per song (``mean`` by default, or ``max``).

Windowing: windows start every ``hop`` seconds (default: one window length, i.e. no overlap) on a
grid centred in the song, so the leftover of less than one hop is split between the start and the
end. A song of one window's length (or a little more, like MTAT's 30 s clips) is therefore tagged
exactly like a training clip (centre crop); a shorter one is zero-padded around the centre, as the
training store does (:func:`autotag.data.audio.center_crop_or_pad`).
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing as mp
import os
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from autotag.data.audio import AudioError, center_crop_or_pad, load_audio
from autotag.data.features import FeatureConfig, LogMel
from autotag.data.normalize import Normalizer
from autotag.models import build_model

FORMAT_PREFIX = "autotag-tagger/"
REQUIRED_KEYS = ("format", "state_dict", "model", "features", "norm", "tag_names", "thresholds")
AUDIO_EXTENSIONS = (".mp3", ".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff")
AGGREGATIONS = ("mean", "max")
MEL_CHUNK = 16  # windows turned into log-mel at once (bounds memory for hour-long files)
POOL_MIN_FILES = 8  # fewer files are decoded in the main process unless workers are asked for
BACKENDS = ("channels_last", "jit", "eager")
DEFAULT_BACKEND = "channels_last"


class TaggerError(RuntimeError):
    """A model file that cannot be used as a tagger; the message names the file."""


# --------------------------------------------------------------------------- inputs


def find_audio(
    inputs: Iterable[str | Path], extensions: Sequence[str] = AUDIO_EXTENSIONS
) -> tuple[list[str], list[str]]:
    """Expand files and folders (recursively, sorted) into audio file paths.

    Returns ``(files, problems)``. A named file is kept whatever its extension (decoding decides);
    a missing path is kept too, so that it is reported in order as a failed file. ``problems``
    lists folders holding no audio file.
    """
    exts = {e.lower() for e in extensions}
    files: list[str] = []
    problems: list[str] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(
                str(f)
                for f in p.rglob("*")
                if f.suffix.lower() in exts and f.is_file() and not f.name.startswith(".")
            )
            if not found:
                problems.append(f"{p}: no audio files ({' '.join(sorted(exts))}) in this folder")
            files.extend(found)
        else:
            files.append(str(item))
    return files, problems


def window_starts(n_samples: int, window: int, hop: int) -> list[int]:
    """Start samples of the windows: every ``hop`` samples, the grid centred in the signal."""
    if window <= 0 or hop <= 0:
        raise ValueError(f"window ({window}) and hop ({hop}) must be positive")
    if n_samples <= window:
        return [0]
    k = (n_samples - window) // hop + 1
    offset = (n_samples - ((k - 1) * hop + window)) // 2
    return [offset + i * hop for i in range(k)]


# --------------------------------------------------------------------------- front end


class FrontEnd:
    """Audio file → windows → log-mel, exactly as the training store computes clips."""

    def __init__(self, features: FeatureConfig) -> None:
        self.cfg = features
        self.logmel = LogMel(features).eval()

    @property
    def window_samples(self) -> int:
        return self.cfg.n_samples

    def hop_samples(self, hop_seconds: float | None) -> int:
        if hop_seconds is None:
            return self.window_samples
        if not hop_seconds > 0:
            raise ValueError(f"hop must be positive, got {hop_seconds} s")
        return max(1, int(round(hop_seconds * self.cfg.sample_rate)))

    def load(self, path: str | Path) -> np.ndarray:
        """Mono float32 at the model's sample rate (raises :class:`AudioError`)."""
        return load_audio(path, self.cfg.sample_rate)

    def _grid(self, wav: np.ndarray, hop_seconds: float | None) -> tuple[np.ndarray, list[int]]:
        """The signal (centre-padded to one window when shorter) and its window starts."""
        wav = np.asarray(wav, dtype=np.float32)
        win = self.window_samples
        if len(wav) <= win:
            return center_crop_or_pad(wav, win).astype(np.float32, copy=False), [0]
        return wav, window_starts(len(wav), win, self.hop_samples(hop_seconds))

    def windows(self, wav: np.ndarray, hop_seconds: float | None = None) -> np.ndarray:
        """``(n_windows, window_samples)`` float32 waveform windows."""
        wav, starts = self._grid(wav, hop_seconds)
        return np.stack([wav[s : s + self.window_samples] for s in starts])

    @torch.inference_mode()
    def mels(self, wav: np.ndarray, hop_seconds: float | None = None) -> np.ndarray:
        """``(n_windows, n_mels, n_frames)`` float32 dB log-mel of the song's windows."""
        wav, starts = self._grid(wav, hop_seconds)
        win = self.window_samples
        out = np.empty((len(starts), self.cfg.n_mels, self.cfg.n_frames), dtype=np.float32)
        for i in range(0, len(starts), MEL_CHUNK):
            chunk = np.stack([wav[s : s + win] for s in starts[i : i + MEL_CHUNK]])
            out[i : i + len(chunk)] = self.logmel(torch.from_numpy(chunk)).numpy()
        return out


@dataclass
class Decoded:
    """One decoded file: its window log-mels, or the reason it failed."""

    path: str
    mels: np.ndarray | None
    duration: float = 0.0
    error: str | None = None


def decode(front: FrontEnd, path: str, hop_seconds: float | None) -> Decoded:
    """Load and featurize one file; never raises for a bad file."""
    try:
        wav = front.load(path)
        return Decoded(path, front.mels(wav, hop_seconds), len(wav) / front.cfg.sample_rate)
    except AudioError as e:
        return Decoded(path, None, error=str(e))
    except Exception as e:  # a decoder crash on one file must not stop a batch
        return Decoded(path, None, error=f"{path}: cannot process ({type(e).__name__}: {e})")


_worker_front: FrontEnd | None = None
_worker_hop: float | None = None


def _init_worker(features: dict[str, Any], hop_seconds: float | None) -> None:
    global _worker_front, _worker_hop
    torch.set_num_threads(1)
    _worker_front = FrontEnd(FeatureConfig.from_dict(features))
    _worker_hop = hop_seconds


def _decode_in_worker(path: str) -> Decoded:
    assert _worker_front is not None
    return decode(_worker_front, path, _worker_hop)


def _pool_context() -> mp.context.BaseContext:
    """``forkserver`` (Linux, macOS): workers fork from a clean server process that imported
    torch once (no fork of this process, whose torch thread pools may be running; no torch import
    per worker as with ``spawn``). ``spawn`` where forkserver is missing (Windows)."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["autotag.inference"])
        return ctx
    return mp.get_context("spawn")


def decode_files(
    front: FrontEnd,
    paths: Sequence[str],
    hop_seconds: float | None = None,
    workers: int | None = None,
    prefetch: int = 4,
    task: Callable[[str], Decoded] = _decode_in_worker,
) -> Iterator[Decoded]:
    """Decode ``paths`` in order, with a process pool of ``workers`` processes.

    ``workers`` None: all cores from :data:`POOL_MIN_FILES` files on, else in this process (the
    pool's start, one torch import, costs more than it saves on a few files); 0 or 1: in this
    process. At most ``prefetch`` files per worker are decoded ahead of the consumer, so memory
    stays bounded however slow the model is.
    A worker that dies (a decoder crash on a corrupt file) fails that file only: the files that
    were in flight are retried one by one, and the pool is restarted for the rest.
    """
    if workers is None:
        workers = (os.cpu_count() or 1) if len(paths) >= POOL_MIN_FILES else 0
    workers = min(workers, len(paths))
    if workers <= 1:
        for p in paths:
            yield decode(front, p, hop_seconds)
        return
    init = (front.cfg.to_dict(), hop_seconds)

    def pool(n: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(n, _pool_context(), initializer=_init_worker, initargs=init)

    todo = deque(paths)
    ex = pool(workers)
    pending: deque[tuple[str, Future]] = deque()
    try:
        while todo or pending:
            while todo and len(pending) < workers * prefetch:
                p = todo.popleft()
                pending.append((p, ex.submit(task, p)))
            p, fut = pending.popleft()
            try:
                yield fut.result()
                continue
            except BrokenProcessPool:
                pass
            # a worker died: rerun the files in flight alone, then go on with a new pool
            ex.shutdown(wait=False, cancel_futures=True)
            retry = [p] + [q for q, _ in pending]
            pending.clear()
            head = retry.pop(0)
            yield _isolated(pool, task, head)
            todo.extendleft(reversed(retry))
            ex = pool(workers)
        ex.shutdown(wait=True)
    finally:  # the consumer stopped early (an error, ^C): do not wait for the decoding ahead
        ex.shutdown(wait=False, cancel_futures=True)


def _isolated(
    pool: Callable[[int], ProcessPoolExecutor], task: Callable[[str], Decoded], path: str
) -> Decoded:
    """Run ``task`` on ``path`` in a pool of its own; a crash fails this file only."""
    with pool(1) as ex:
        try:
            return ex.submit(task, path).result()
        except BrokenProcessPool:
            return Decoded(path, None, error=f"{path}: the decoder crashed on this file")


# --------------------------------------------------------------------------- model file


def read_tagger_file(path: str | Path) -> tuple[dict[str, Any], str]:
    """The checked contents of a ``tagger.pt`` and the file's sha256 (no code is executed)."""
    p = Path(path)
    if not p.exists():
        raise TaggerError(f"{p}: model file not found")
    if not p.is_file():
        raise TaggerError(f"{p}: not a file (expected a tagger.pt written by training)")
    data = p.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    try:
        blob = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:
        raise TaggerError(
            f"{p}: not an autotag tagger file (torch.load(weights_only=True) cannot read it: "
            f"not a PyTorch file, or it holds more than tensors and plain values; "
            f"{type(e).__name__})"
        ) from None
    if not isinstance(blob, Mapping) or not str(blob.get("format", "")).startswith(FORMAT_PREFIX):
        hint = ""
        if isinstance(blob, Mapping) and "pytorch-lightning_version" in blob:
            hint = " (this is a Lightning checkpoint: use the tagger.pt of the run folder)"
        raise TaggerError(f"{p}: not an autotag tagger file (no '{FORMAT_PREFIX}1' format){hint}")
    missing = [k for k in REQUIRED_KEYS if k not in blob]
    if missing:
        raise TaggerError(f"{p}: tagger file lacks {', '.join(missing)}")
    return dict(blob), digest


class Tagger:
    """A trained tagger: front end, normalizer and FCN rebuilt from a ``tagger.pt``.

    >>> tagger = Tagger.load("run/tagger.pt")
    >>> song = tagger.tag_file("song.mp3")
    >>> tagger.top_k(song.probs, 5), tagger.present(song.probs)
    """

    def __init__(
        self, blob: Mapping[str, Any], path: str | Path | None = None, sha256: str = ""
    ) -> None:
        where = str(path) if path is not None else "tagger"
        try:
            self.features = FeatureConfig.from_dict(blob["features"])
            self.tag_names: list[str] = [str(t) for t in blob["tag_names"]]
            self.thresholds = np.asarray(blob["thresholds"], dtype=np.float32)
            norm = blob["norm"]
            self.normalizer = Normalizer(
                norm["mode"], norm.get("global_mean", 0.0), norm.get("global_std", 1.0)
            )
            n_mels, n_frames = blob.get(
                "input_shape", [self.features.n_mels, self.features.n_frames]
            )
            self.net = build_model(blob["model"], int(n_mels), int(n_frames), len(self.tag_names))
            state = blob["state_dict"]
            self.net.load_state_dict(_sub_state(state, "net."))
            self.normalizer.load_state_dict(_sub_state(state, "normalizer."), strict=False)
        except TaggerError:
            raise
        except Exception as e:
            raise TaggerError(f"{where}: inconsistent tagger file ({type(e).__name__}: {e})") from e
        if len(self.thresholds) != len(self.tag_names):
            raise TaggerError(
                f"{where}: {len(self.thresholds)} thresholds for {len(self.tag_names)} tags"
            )
        self.net.eval()
        self.normalizer.eval()
        self.front = FrontEnd(self.features)
        self.path = Path(path).resolve() if path is not None else None
        self.sha256 = sha256
        self.model_config = dict(blob["model"])
        self.metrics = dict(blob.get("metrics") or {})
        self._fast: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None
        self.backend = DEFAULT_BACKEND

    @classmethod
    def load(cls, path: str | Path) -> Tagger:
        """Read a ``tagger.pt`` (``torch.load(weights_only=True)``); :class:`TaggerError` if unusable."""
        blob, digest = read_tagger_file(path)
        return cls(blob, path, digest)

    # ---------------------------------------------------------------- properties

    @property
    def sample_rate(self) -> int:
        return self.features.sample_rate

    @property
    def window_seconds(self) -> float:
        return self.features.clip_seconds

    @property
    def embedding_dim(self) -> int:
        return int(self.net.embedding_dim)

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
        """Log-mels → (probabilities, embeddings) in one pass."""
        x = self.normalizer(mels)
        if self._backend == "jit":
            if self._fast is None:
                self._fast = _optimized(self.net, x)
            if self._fast is not None:
                emb, logits = self._fast(x)
                return torch.sigmoid(logits), emb
        if self._backend == "channels_last" and x.device.type == "cpu":
            x = x.unsqueeze(1).contiguous(memory_format=torch.channels_last)
        emb = self.net.embed(x)
        logits = self.net.classifier(self.net.head_dropout(emb))
        return torch.sigmoid(logits), emb

    @torch.inference_mode()
    def predict_mels(
        self, mels: np.ndarray | torch.Tensor, batch_size: int = 16
    ) -> tuple[np.ndarray, np.ndarray]:
        """Window log-mels ``(n, n_mels, n_frames)`` → probabilities ``(n, n_tags)``, embeddings."""
        x = torch.as_tensor(mels, dtype=torch.float32)
        probs, embs = [], []
        for i in range(0, len(x), batch_size):
            p, e = self._forward(x[i : i + batch_size])
            probs.append(p.numpy())
            embs.append(e.numpy())
        if not probs:
            return np.zeros((0, len(self.tag_names)), np.float32), np.zeros(
                (0, self.embedding_dim), np.float32
            )
        return np.concatenate(probs), np.concatenate(embs)

    @torch.inference_mode()
    def predict_windows(self, windows: np.ndarray | torch.Tensor) -> np.ndarray:
        """Waveform windows ``(n, window_samples)`` → probabilities (the exported model's contract)."""
        mels = self.front.logmel(torch.as_tensor(windows, dtype=torch.float32))
        return self.predict_mels(mels)[0]

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
        mels = self.front.mels(wav, hop)
        decoded = Decoded(path, mels, len(wav) / self.sample_rate)
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
        """Tag files in order; windows of consecutive songs share batches.

        Decoding runs in a pool of ``workers`` processes (default: all cores when there are
        :data:`POOL_MIN_FILES` files or more; see :func:`decode_files`); a file that fails
        yields a :class:`SongPrediction` with ``error`` set, and the others go on.
        """
        if agg not in AGGREGATIONS:
            raise ValueError(f"agg={agg!r}: choose one of {', '.join(AGGREGATIONS)}")
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        self.front.hop_samples(hop)  # validate before starting workers
        pending: list[Decoded] = []
        n_windows = 0
        for d in decode_files(self.front, [str(p) for p in paths], hop, workers):
            pending.append(d)
            n_windows += 0 if d.mels is None else len(d.mels)
            if n_windows >= batch_size or (d.mels is None and n_windows == 0):
                yield from self._aggregate(pending, agg, batch_size)
                pending, n_windows = [], 0
        if pending:
            yield from self._aggregate(pending, agg, batch_size)

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


@dataclass
class SongPrediction:
    """One song's aggregated result (or its error)."""

    path: str
    probs: np.ndarray | None = None
    embedding: np.ndarray | None = None
    duration: float = 0.0
    n_windows: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _sub_state(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


class _EmbedAndClassify(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.net.embed(x)
        return emb, self.net.classifier(emb)


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
