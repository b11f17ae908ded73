"""Prepare of whole tracks (issue 12): how fast `prepare` turns full-length tracks into a store
(the ``full`` excerpt policy, 2 worker processes), and what the store costs per hour of audio.

    .venv/bin/python bench/prepare_tracks.py        # writes its section of bench/RESULTS.md

Corpora (made once under ``data/bench/``):
- **Jamendo's format**: 24 tracks of 3-5 min as 44.1 kHz stereo mp3 at 320 kbps, the format of
  MTG-Jamendo's ``audio`` set: tracks of the synthetic Jamendo renderer, resampled to 44.1 kHz,
  made stereo (the right channel 0.9x and 1 ms late) and re-encoded with libsndfile's LAME.
- the **synthetic Jamendo corpus** as the generator writes it (16 kHz mono, 32 kbps): what
  ``data=jamendo_synthetic`` prepares.

Rows: the time of ``build_store`` (median of ``--rounds``), hours of audio per hour of wall time
("x real time"), tracks/s, and the store's bytes per hour of stored audio next to the arithmetic
(rows x frames/s x 2 bytes). The floor is decoding and resampling alone (``load_audio`` in a
pool of 2), the part no store format can save.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF
from common import (
    REPO,
    feature_config,
    fmt,
    machine_table,
    median,
    table,
    wait_for_quiet,
    write_section,
)

from autotag.common.worker import init_worker_process, pool_context
from autotag.data.audio import load_audio
from autotag.data.datasets.jamendo.synth import generate_jamendo
from autotag.data.excerpt import Excerpt
from autotag.data.manifest import Manifest
from autotag.data.prepare import build_store

SECTION = "Prepare of whole tracks (bench/prepare_tracks.py)"
BENCH_DATA = REPO / "data" / "bench"
FULL = Excerpt(policy="full", seconds=30.0, k=3, max_minutes=10.0, seed=0)


def jamendo_format(n_tracks: int) -> list[Path]:
    """``n_tracks`` tracks of 3-5 min as 44.1 kHz stereo 320 kbps mp3 (made once)."""
    out = BENCH_DATA / f"jamendo_format_{n_tracks}"
    done = out / "DONE"
    if done.is_file():
        return sorted(out.glob("*.mp3"))
    src = BENCH_DATA / f"jamendo_src_{n_tracks}"
    if not (src / "data" / "autotagging.tsv").is_file():
        generate_jamendo(src, n_tracks=n_tracks, min_seconds=180.0, max_seconds=300.0, seed=1,
                         broken=False, progress=False)  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    for mp3 in sorted((src / "audio").rglob("*.mp3")):
        x, sr = sf.read(mp3, dtype="float32")
        y = AF.resample(torch.from_numpy(x), sr, 44100).numpy()
        right = 0.9 * np.concatenate([np.zeros(44, np.float32), y[:-44]])
        sf.write(out / mp3.name, np.stack([y, right], axis=1), 44100, format="MP3",
                 bitrate_mode="CONSTANT", compression_level=0.0)  # fmt: skip
    done.write_text("")
    return sorted(out.glob("*.mp3"))


def synthetic_corpus() -> list[Path]:
    root = REPO / "data" / "jamendo_synthetic"
    if not (root / "data" / "autotagging.tsv").is_file():
        generate_jamendo(root)  # what data=jamendo_synthetic makes on first use
    return sorted(p for p in (root / "audio").rglob("*.mp3") if p.stat().st_size > 100_000)


def manifest_of(paths: list[Path]) -> Manifest:
    n = len(paths)
    return Manifest(
        source="bench", clip_ids=np.arange(n, dtype=np.int64), paths=[str(p) for p in paths],
        rel_paths=[p.name for p in paths], split=["train"] * n, tag_names=["x"],
        labels=np.ones((n, 1), np.uint8),
    )  # fmt: skip


def _decode(path: str) -> float:
    return len(load_audio(path, 16000)) / 16000


def decode_floor(paths: list[Path]) -> tuple[float, float]:
    """Seconds to decode + resample every file in a pool of 2, and the hours of audio."""
    t0 = time.perf_counter()
    # one torch thread per worker, as prepare's: a forked child entering an OpenMP region that
    # the parent already used (the resampling above) waits forever
    with pool_context().Pool(2, initializer=init_worker_process) as pool:
        seconds = sum(pool.map(_decode, [str(p) for p in paths], chunksize=1))
    return time.perf_counter() - t0, seconds / 3600


def prepare_once(paths: list[Path], features: str, store: Path) -> tuple[float, int]:
    shutil.rmtree(store.parent, ignore_errors=True)
    t0 = time.perf_counter()
    build_store(manifest_of(paths), feature_config(features), store, workers=2, shard_size=4,
                min_audio_seconds=1.0, progress=False, excerpt=FULL)  # fmt: skip
    return time.perf_counter() - t0, store.stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tracks", type=int, default=24)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--max-wait", type=float, default=300.0)
    args = ap.parse_args()
    corpora = {"Jamendo's format (44.1 kHz stereo 320 kbps)": jamendo_format(args.tracks),
               "synthetic Jamendo (16 kHz mono 32 kbps)": synthetic_corpus()}  # fmt: skip
    cases = [(c, f) for c in corpora for f in ("won128", "seed", "waveform")]
    cases = [c for c in cases if c[0].startswith("Jamendo") or c[1] == "won128"]
    note = wait_for_quiet(max_wait=args.max_wait)
    rows = []
    for corpus, paths in corpora.items():
        floors = [decode_floor(paths) for _ in range(args.rounds)]
        t, hours = median([f[0] for f in floors]), floors[0][1]
        rows.append([corpus, "decode + resample only", len(paths), fmt(hours * 60), fmt(t),
                     fmt(hours * 3600 / t), fmt(len(paths) / t), "", ""])  # fmt: skip
        print(rows[-1], flush=True)
        for c, features in cases:
            if c != corpus:
                continue
            store = BENCH_DATA / "prepare_tracks" / "store.h5"
            runs = [prepare_once(paths, features, store) for _ in range(args.rounds)]
            t, size = median([r[0] for r in runs]), runs[0][1]
            f = feature_config(features)
            per_second = f.sample_rate if f.kind == "waveform" else f.sample_rate / f.hop_length
            arithmetic = f.n_rows * per_second * 2 * 3600 / 1e6
            rows.append([corpus, features, len(paths), fmt(hours * 60), fmt(t),
                         fmt(hours * 3600 / t), fmt(len(paths) / t),
                         fmt(size / 1e6 / hours), fmt(arithmetic)])  # fmt: skip
            print(rows[-1], flush=True)
    shutil.rmtree(BENCH_DATA / "prepare_tracks", ignore_errors=True)
    note_end = wait_for_quiet(max_wait=0)
    body = "\n\n".join(
        [
            "`build_store` with the `full` excerpt policy (whole tracks, the centre 10 min of "
            "longer ones), 2 worker processes, units of 4 tracks, into a fresh store; median of "
            f'{args.rounds} rounds. "x real time": hours of audio per hour of wall time.',
            machine_table({"load": f"{note} (start); {note_end} (end)"}),
            table(
                [
                    "audio",
                    "features",
                    "tracks",
                    "minutes of audio",
                    "median s",
                    "x real time",
                    "tracks/s",
                    "store MB per hour",
                    "arithmetic MB/h",
                ],
                rows,
            ),  # fmt: skip
        ]
    )
    print(body)
    if not args.no_write:
        write_section(SECTION, body)


if __name__ == "__main__":
    main()
