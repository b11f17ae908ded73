"""Mono mp3 encoding with LAME (``lameenc``): the robustness test's mp3 condition re-encodes
with it, and the synthetic corpus writes its clips with it."""

from __future__ import annotations

import numpy as np


def encode_mp3(wav: np.ndarray, sample_rate: int, kbps: int, quality: int = 2) -> bytes:
    """A mono waveform (float, full scale ±1, clipped beyond) as CBR mp3 bytes at ``kbps``.

    ``quality``: LAME's algorithm quality, 2 = "high quality" (``-h``) to 7 = fastest; the
    difference is inaudible to a mel spectrogram. Raises ``ImportError`` without ``lameenc``.
    """
    import lameenc  # an optional dependency: imported where it is used

    enc = lameenc.Encoder()
    enc.set_bit_rate(int(kbps))
    enc.set_in_sample_rate(int(sample_rate))
    enc.set_channels(1)
    enc.set_quality(int(quality))
    pcm = (np.clip(wav, -1.0, 1.0) * 32767.0).astype(np.int16)
    return bytes(enc.encode(pcm.tobytes())) + bytes(enc.flush())
