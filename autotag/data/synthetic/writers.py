"""The synthetic twins' mp3 bytes: LAME (:func:`autotag.common.mp3.encode_mp3`), libsndfile when
lameenc is missing. The twins write them with :mod:`autotag.common.files`."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

from autotag.common.mp3 import encode_mp3

MP3_KBPS = 32  # MTAT's clips are ~32 kbps
LAME_QUALITY = 7  # the fastest: about 6x faster than libsndfile's encoder, inaudible to a mel


def mp3_bytes(audio: np.ndarray, sr: int, kbps: int = MP3_KBPS) -> bytes:
    """Mono mp3 of ``audio`` at ``kbps``. LAME pads ~0.1 s at the end, like real MTAT clips a
    little longer than 29.1 s."""
    try:
        return encode_mp3(audio, sr, kbps, quality=LAME_QUALITY)
    except ImportError:  # no lameenc
        buf = io.BytesIO()
        sf.write(buf, audio, sr, format="MP3")
        return buf.getvalue()
