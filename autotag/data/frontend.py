"""Audio file → spectrogram (log-mel, or the features' other kind): the one path shared by the store (``prepare``) and the tagger.

Decoding, downmixing and resampling (:func:`autotag.data.audio.load_audio`), the centre crop or
the window grid, and the log-mel (:class:`autotag.data.features.LogMel`) are written once here.
A store clip is the centre window of its file; the tagger cuts a song into windows of the same
length that cover it (:func:`autotag.data.audio.window_starts`), so a clip of one window's length
(or a little more, like MTAT's 30 s clips) gives the tagger exactly the store's features. (The store keeps them as float16, a
rounding of at most 0.016 dB at -40 dB; the tagger and the exported model use float32.)

``features.song_windows=frames`` (musicnn's front end) cuts a song differently: the spectrogram of
the whole song is computed once, and the windows are consecutive runs of ``n_frames`` of its
frames from the first frame on (every ``hop`` seconds, rounded to frames); a last run shorter than
a window is left out, as musicnn's extractor does, and a song shorter than one window is padded
around its centre with its lowest value (musicnn stops with an error there). The spectrogram is
computed in blocks of :data:`FRAME_BLOCK` frames; only the compressed mel of the whole song is
held (96 rows x 4 bytes per frame: 22 MB for an hour at hop 256).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from autotag.common.signal import centre_span, crop_or_pad
from autotag.data.audio import load_audio, window_starts
from autotag.data.features import FeatureConfig, fit_frames, spectrogram

MEL_CHUNK = 16  # windows turned into log-mel at once (bounds memory for hour-long files)
# audio a song's window grid may leave out at its ends (split between them): MTAT's 30 s clips
# against 29.1 s windows keep one centre window, like the store's clip; a longer leftover gets
# one more window and the windows spread from the song's first sample to its last
MAX_UNHEARD_SECONDS = 1.0
FRAME_BLOCK = 4096  # frames of a whole-song spectrogram computed at once (65 s at hop 256)


class FrontEnd:
    """Audio → mono waveform at the features' rate → windows → dB log-mel."""

    def __init__(self, features: FeatureConfig) -> None:
        self.cfg = features
        self.logmel = spectrogram(features).eval()

    @property
    def window_samples(self) -> int:
        return self.cfg.n_samples

    def hop_samples(self, hop_seconds: float | None) -> int:
        """Samples between window starts (``None``: one window, no overlap)."""
        if hop_seconds is None:
            return self.window_samples
        if not hop_seconds > 0:
            raise ValueError(f"hop must be positive, got {hop_seconds} s")
        return max(1, int(round(hop_seconds * self.cfg.sample_rate)))

    def load(self, path: str | Path, min_seconds: float = 0.0) -> np.ndarray:
        """Mono float32 at the features' rate (raises :class:`AudioError` naming the file)."""
        return load_audio(path, self.cfg.sample_rate, min_seconds=min_seconds)

    def centre(self, wav: np.ndarray) -> np.ndarray:
        """The centre window (zero-padded around the centre when shorter): a store clip."""
        return crop_or_pad(np.asarray(wav, dtype=np.float32), self.window_samples)

    def grid(self, wav: np.ndarray, hop_seconds: float | None) -> tuple[np.ndarray, list[int]]:
        """The song (centre-padded to one window when shorter) and its window starts."""
        wav = np.asarray(wav, dtype=np.float32)
        win = self.window_samples
        if len(wav) <= win:
            return self.centre(wav), [0]
        unheard = int(MAX_UNHEARD_SECONDS * self.cfg.sample_rate)
        return wav, window_starts(len(wav), win, self.hop_samples(hop_seconds), unheard)

    def heard_frames(self, n_samples: int) -> tuple[int, int]:
        """``(first, count)``: the frames of a song's windows that hear it. A song shorter than
        one window is padded around its centre (either ``song_windows``), so only the middle
        frames of its one window hold it; a longer song fills every frame."""
        n = self.cfg.n_frames
        hop = 1 if self.cfg.kind == "waveform" else self.cfg.hop_length
        if self.cfg.song_windows == "frames":
            total = 1 + n_samples // hop  # the song's spectrogram, padded to n frames
            return (0, n) if total >= n else (centre_span(total, n)[2], total)
        if n_samples >= self.window_samples:
            return 0, n
        left = centre_span(n_samples, self.window_samples)[2]
        first = -(-left // hop)  # the first frame centred on a sample of the song
        stop = min(n, (left + n_samples - 1) // hop + 1)
        return first, max(1, stop - first)

    def windows(self, wav: np.ndarray, hop_seconds: float | None = None) -> np.ndarray:
        """``(n_windows, window_samples)`` float32 windows covering the song."""
        wav, starts = self.grid(wav, hop_seconds)
        return np.stack([wav[s : s + self.window_samples] for s in starts])

    @torch.inference_mode()
    def mels(self, windows: np.ndarray) -> np.ndarray:
        """Waveform windows ``(n, window_samples)`` → float32 dB log-mel ``(n, n_mels, n_frames)``."""
        out = np.empty((len(windows), self.cfg.n_rows, self.cfg.n_frames), dtype=np.float32)
        for i in range(0, len(windows), MEL_CHUNK):
            chunk = torch.from_numpy(np.ascontiguousarray(windows[i : i + MEL_CHUNK]))
            out[i : i + len(chunk)] = self.logmel(chunk).numpy()
        return out

    @torch.inference_mode()
    def all_frames(self, wav: np.ndarray) -> np.ndarray:
        """Every frame of a decoded excerpt ``(samples,)`` → float32 ``(n_rows, frames)``: an
        item of a store of whole tracks (:mod:`autotag.data.excerpt`), not fitted to a window."""
        x = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))
        return self.logmel.all_frames(x).numpy()

    def clip_mel(self, wav: np.ndarray) -> np.ndarray:
        """The store's features of a decoded clip: log-mel of its centre window."""
        return self.mels(self.centre(wav)[None])[0]

    def frame_hop(self, hop_seconds: float | None) -> int:
        """Frames between window starts with ``song_windows=frames`` (``None``: one window)."""
        if hop_seconds is None:
            return self.cfg.n_frames
        # a hop of one window's length (clip_seconds) is one window's frames, whatever the rounding
        return max(
            1, int(round(self.hop_samples(hop_seconds) / self.window_samples * self.cfg.n_frames))
        )

    def song_mels(self, wav: np.ndarray, hop_seconds: float | None = None) -> np.ndarray:
        """The tagger's features of a decoded song: log-mel of every window (windows are cut
        :data:`MEL_CHUNK` at a time, so an hour-long song never holds all its windows at once)."""
        if self.cfg.song_windows == "frames":
            return self.frame_windows(wav, hop_seconds)
        wav, starts = self.grid(wav, hop_seconds)
        win = self.window_samples
        out = np.empty((len(starts), self.cfg.n_rows, self.cfg.n_frames), dtype=np.float32)
        for i in range(0, len(starts), MEL_CHUNK):
            chunk = np.stack([wav[s : s + win] for s in starts[i : i + MEL_CHUNK]])
            out[i : i + len(chunk)] = self.mels(chunk)
        return out

    def frame_windows(self, wav: np.ndarray, hop_seconds: float | None = None) -> np.ndarray:
        """``song_windows=frames``: windows of ``n_frames`` frames of the whole song's spectrogram,
        from frame 0, the last partial one left out (see the module's docstring). The
        spectrogram is computed :data:`FRAME_BLOCK` frames at a time from the padded song, so an
        hour-long song never holds its whole STFT."""
        n, hop = self.cfg.n_frames, self.frame_hop(hop_seconds)
        half, step = self.cfg.n_fft // 2, self.cfg.hop_length
        x = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))
        total = 1 + len(x) // step  # the centred STFT's frames
        mode = self.cfg.pad_mode  # reflect | constant: torch's names too
        if mode == "reflect" and len(x) <= half:  # too short to reflect: every frame at once
            spec = self.all_frames(wav)
        else:
            padded = torch.nn.functional.pad(x[None, None], (half, half), mode=mode)[0, 0]
            blocks = []
            with torch.inference_mode():
                for f0 in range(0, total, FRAME_BLOCK):
                    f1 = min(total, f0 + FRAME_BLOCK)
                    piece = padded[f0 * step : (f1 - 1) * step + self.cfg.n_fft]
                    blocks.append(self.logmel.padded_frames(piece).numpy())
            spec = np.concatenate(blocks, axis=-1)
        if total < n:
            return fit_frames(spec, n)[None]
        starts = range(0, total - n + 1, hop)
        return np.stack([spec[:, s : s + n] for s in starts])
