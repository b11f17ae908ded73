"""Files the synthetic twins write alike: mono mp3s (LAME) and JSON written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import soundfile as sf


def write_mp3(path: Path, audio: np.ndarray, sr: int, kbps: int = 32) -> None:
    """Mono mp3 at MTAT's ~32 kbps: LAME via lameenc at a fast quality setting (about 6x faster
    than libsndfile's encoder), libsndfile when lameenc is missing. LAME pads ~0.1 s at the end,
    like real MTAT clips a little longer than 29.1 s."""
    try:
        import lameenc
    except ImportError:
        sf.write(path, audio, sr, format="MP3")
        return
    enc = lameenc.Encoder()
    enc.set_bit_rate(kbps)
    enc.set_in_sample_rate(sr)
    enc.set_channels(1)
    enc.set_quality(7)  # 2 = best, 7 = fastest; the difference is inaudible to a mel spectrogram
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
    path.write_bytes(enc.encode(pcm.tobytes()) + enc.flush())


def write_json_atomic(path: Path, data: dict) -> None:
    """JSON written to a temp name first."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
