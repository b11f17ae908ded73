"""The synthetic MTG-Jamendo's audio: a track rendered as cross-faded 30-s sections of
:func:`autotag.data.synthetic.render.synthesize`, and every track's mp3 written atomically in
worker processes (longest first; existing files are kept)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from autotag.common.files import write_bytes
from autotag.data.datasets.jamendo.layout import AUDIO_DIR
from autotag.data.datasets.jamendo.synth_plan import ENCODER_PAD, SECTION_SECONDS, JamendoTrack
from autotag.data.synthetic.render import synthesize
from autotag.data.synthetic.writers import mp3_bytes, render_all

CROSSFADE_SECONDS = 0.5


def render_jamendo_track(track: JamendoTrack, sr: int, seed: int, limit: int = 0) -> np.ndarray:
    """A track's audio (float32 mono): its sections cross-faded, a fade-out at the end. Memory
    is the track's float32 samples plus one section's intermediates. ``limit``: at most that
    many samples."""
    n = max(round(track.seconds * sr) - ENCODER_PAD, sr // 10)
    n = min(n, limit) if limit else n
    section = min(round(SECTION_SECONDS * sr), n)
    xf = round(CROSSFADE_SECONDS * sr)
    fade_in = np.sin(np.linspace(0.0, np.pi / 2, xf, dtype=np.float32)) ** 2
    out = np.zeros(n + xf, np.float32)
    for k, start in enumerate(range(0, n, section)):
        plan = track.sections[min(k, len(track.sections) - 1)]
        x = synthesize(plan, section + xf, sr, seed)[: len(out) - start]
        if k:
            x[:xf] *= fade_in
            out[start : start + xf] *= 1.0 - fade_in
        out[start : start + len(x)] += x
    out = out[:n]
    tail = min(n // 4, 2 * sr)
    out[n - tail :] *= np.linspace(1.0, 0.0, tail, dtype=np.float32)
    return out


def _render_task(task: tuple[JamendoTrack, str, int, int]) -> tuple[int, int | None]:
    """Worker: write one track's mp3 atomically unless it exists; returns (track id, decoded
    frames of a good file)."""
    track, root, sr, seed = task
    path = Path(root) / AUDIO_DIR / track.path
    if not path.exists():
        if track.kind == "empty":
            data = b""
        elif track.kind == "not_audio":
            data = b"This is not an MP3 file: synthetic MTG-Jamendo broken entry.\n"
        else:
            limit = 4 * sr if track.kind == "truncated" else 0  # 1 kB survives: render 4 s
            data = mp3_bytes(render_jamendo_track(track, sr, seed, limit), sr)
            data = data[:1024] if track.kind == "truncated" else data
        write_bytes(path, data)
    frames = sf.info(path).frames if track.kind == "ok" else None
    return track.track_id, frames


def render_tracks(
    tasks: list, workers: int | None, progress: bool
) -> tuple[dict[int, int | None], int, list[int]]:
    """Render the tasks, longest first (in a crash-safe worker pool unless workers == 1);
    returns decoded frames per track id (None for a track not written), how many were rendered
    and the track ids whose worker died (those tracks are not written)."""
    tasks = sorted(tasks, key=lambda t: -t[0].seconds)
    # absent before this call: a task rerun after a crash beside it may find its track written
    new = {t[0].track_id for t in tasks if not (Path(t[1]) / AUDIO_DIR / t[0].path).exists()}
    frames, rendered, failed = {}, 0, []
    run = render_all(_render_task, tasks, workers, unit="track", name=lambda t: t[0].track_id,
                     desc="synthetic jamendo", progress=progress)  # fmt: skip
    for (plan, *_), res in run:
        if res is None:
            frames[plan.track_id] = None
            failed.append(plan.track_id)
        else:
            frames[plan.track_id] = res[1]
            rendered += plan.track_id in new
    return frames, rendered, sorted(failed)
