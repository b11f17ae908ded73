"""Decode audio files to mono float32 at a target rate."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from autotag.common.signal import spread_starts


class AudioError(RuntimeError):
    """An audio file that cannot be used; the message starts with the file's path."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Mute what native libraries print on file descriptor 2 (libmpg123's "Note: Illegal
    Audio-MPEG-Header..." on a corrupt mp3): the caller reports the failure in one line of its
    own. Python-level errors still arrive as exceptions."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (an embedded interpreter): nothing to mute
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def decode_error(e: Exception) -> str:
    """What a soundfile error says of a file, in words a user can act on."""
    detail = str(e)
    if "does not exist or is not a regular file" in detail:  # libsndfile on data it cannot read
        return "not audio in a format soundfile reads (mp3, wav, flac, ogg, aiff...)"
    return f"not a valid audio file or unsupported format ({detail})"


def downmix(data: np.ndarray) -> np.ndarray:
    """Mono of ``(samples, channels)``: the channels summed one by one, times 1/channels.

    Not ``mean(axis=1)`` (a reduction over the short axis, ~15x slower) and not a mat-vec
    product (BLAS threads that keep spinning after the call take the cores of the other
    decoding workers: 2 workers decoded at half speed). For stereo the result is the same
    float32 bits as ``(a + b) * 0.5`` computed any other way."""
    ch = data.shape[1]
    if ch == 1:
        return data[:, 0]
    x = data[:, 0].copy()
    for c in range(1, ch):
        x += data[:, c]
    x *= np.float32(1.0 / ch)
    return x


def load_audio(path: str | Path, sample_rate: int, min_seconds: float = 0.0) -> np.ndarray:
    """Read ``path`` with soundfile (mp3, wav, flac, ogg...), downmix to mono, resample.

    Raises :class:`AudioError` naming the file for missing, empty, undecodable, truncated
    (shorter than ``min_seconds``) or non-finite audio.
    """
    p = Path(path)
    if not p.is_file():
        raise AudioError(p, "file not found")
    if p.stat().st_size == 0:
        raise AudioError(p, "empty file (0 bytes)")
    try:
        with native_stderr_silenced():
            data, sr = sf.read(str(p), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError/RuntimeError/TypeError by format
        raise AudioError(p, f"cannot decode audio: {decode_error(e)}") from None
    if data.shape[0] == 0:
        raise AudioError(p, "decodes to no samples")
    x = downmix(data)
    if not np.isfinite(x).all():
        raise AudioError(p, "audio contains NaN or infinite samples")
    if sr != sample_rate:
        x = AF.resample(torch.from_numpy(np.ascontiguousarray(x)), sr, sample_rate).numpy()
    if len(x) < min_seconds * sample_rate:
        raise AudioError(p, f"only {len(x) / sample_rate:.2f} s of audio decoded (truncated file?)")
    return np.ascontiguousarray(x, dtype=np.float32)


def window_starts(n_samples: int, window: int, hop: int, max_unheard: int) -> list[int]:
    """Start samples of the windows that cover a signal.

    Every ``hop`` samples on a grid centred in the signal, when that grid leaves at most
    ``max_unheard`` samples unheard at its two ends together: with ``hop == window``, a clip a
    little longer than one window (MTAT's 30 s clips against 29.1 s windows) gets one window at
    :func:`autotag.common.signal.crop_or_pad`'s centre crop, like a store clip. Otherwise one window more, all spread
    evenly from the first sample to the last (as evaluation spreads its chunks), so that no part
    of a song goes unheard: the grid of a 58 s song and 29.1 s windows would leave 28.9 s out.
    """
    if window <= 0 or hop <= 0:
        raise ValueError(f"window ({window}) and hop ({hop}) must be positive")
    if n_samples <= window:
        return [0]
    k = (n_samples - window) // hop + 1
    unheard = n_samples - ((k - 1) * hop + window)
    if unheard <= max_unheard:
        return [unheard // 2 + i * hop for i in range(k)]
    return spread_starts(n_samples, window, k + 1)  # spaced (n - window) / k < hop: no gap
