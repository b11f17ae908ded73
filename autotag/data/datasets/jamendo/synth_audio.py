"""The synthetic MTG-Jamendo's audio: a track rendered as cross-faded 30-s sections of
:func:`autotag.data.synthetic.render.synthesize`, and every track's mp3 written atomically in
worker processes (longest first; existing files are kept)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from autotag.common.console import progress as progress_bar
from autotag.data.datasets.jamendo.layout import AUDIO_DIR
from autotag.data.datasets.jamendo.synth_plan import ENCODER_PAD, SECTION_SECONDS, JamendoTrack
from autotag.data.synthetic.render import synthesize
from autotag.data.synthetic.writers import write_mp3

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


def _render_task(task: tuple[JamendoTrack, str, int, int]) -> tuple[int, int | None, bool]:
    """Worker: write one track's mp3 atomically unless it exists; returns (track id, decoded
    frames of a good file, rendered?)."""
    track, root, sr, seed = task
    path = Path(root) / AUDIO_DIR / track.path
    rendered = not path.exists()
    if rendered:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        if track.kind == "empty":
            tmp.write_bytes(b"")
        elif track.kind == "not_audio":
            tmp.write_text("This is not an MP3 file: synthetic MTG-Jamendo broken entry.\n")
        else:
            limit = 4 * sr if track.kind == "truncated" else 0  # 1 kB survives: render 4 s
            write_mp3(tmp, render_jamendo_track(track, sr, seed, limit), sr)
            if track.kind == "truncated":
                tmp.write_bytes(tmp.read_bytes()[:1024])
        os.replace(tmp, path)
    frames = sf.info(path).frames if track.kind == "ok" else None
    return track.track_id, frames, rendered


def render_tracks(
    tasks: list, workers: int | None, progress: bool
) -> tuple[dict[int, int | None], int]:
    """Render the tasks, longest first (in a worker pool unless workers == 1); returns decoded
    frames per track id and how many were rendered."""
    from autotag.common.worker import init_worker_process, pool_context, usable_cores  # torch

    tasks = sorted(tasks, key=lambda t: -t[0].seconds)
    workers = max(1, workers or usable_cores())
    bar = progress_bar(len(tasks), "synthetic jamendo", "track", disable=not progress)
    frames, rendered = {}, 0
    if workers == 1 or len(tasks) <= 1:
        for track_id, n, done in map(_render_task, tasks):
            frames[track_id], rendered = n, rendered + done
            bar.update()
    else:
        with pool_context().Pool(workers, initializer=init_worker_process) as pool:
            for track_id, n, done in pool.imap_unordered(_render_task, tasks):
                frames[track_id], rendered = n, rendered + done
                bar.update()
    bar.close()
    return frames, rendered
