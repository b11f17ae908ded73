"""Tagging speed of ``autotag tag`` with the full-width FCN (random weights).

    .venv/bin/python bench/tag_speed.py                 # writes its section of bench/RESULTS.md
    .venv/bin/python bench/tag_speed.py --no-write --repeat 3

1. A 3-minute song, default hop (one 29.1 s window: 6 windows), model loaded and warm:
   end-to-end latency of ``Tagger.tag_file`` (decode + resample + log-mel + FCN + aggregation)
   for a 44.1 kHz stereo mp3 (a typical release) and a 16 kHz mono wav (the model's rate, no
   resampling), with the stages timed apart, and the FCN in eager mode vs the traced, frozen
   oneDNN graph the tagger uses by default. Best and median of ``--repeat``.
2. The first call (model load + graph optimization) and the whole ``autotag tag`` command in a
   fresh process (Python + torch import included).
3. A folder of ``--songs`` songs of 30 s (44.1 kHz stereo mp3): songs/s as ``autotag tag``
   reports them, the default (worker processes) against ``--workers 0`` (all in one process),
   alternated ``--rounds`` times, on all cores and on one (``taskset -c 0``).

Goal: a 3-minute song tagged in under 1 s on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from common import (
    REPO,
    feature_config,
    fmt,
    load_conf,
    machine_table,
    median,
    table,
    wait_for_quiet,
    write_section,
)

from autotag.data.audio import load_audio
from autotag.data.normalize import norm_description
from autotag.inference import Tagger
from autotag.models import build_model
from autotag.runs.tagger_file import TaggerFile, write_tagger

SECTION = "Tagging speed (bench/tag_speed.py)"
FCN = load_conf("model", "fcn")  # the full-width FCN: arch + every argument (no code defaults)


def make_tagger(path: Path, seed: int = 0) -> Path:
    """A ``tagger.pt`` written by ``write_tagger`` (as training writes it), untrained weights."""
    from importlib import resources

    rows = resources.files("autotag.data.resources").joinpath("tag_counts.tsv").read_text()
    tags = [line.split("\t")[0] for line in rows.splitlines()[1:51]]
    feats = feature_config("seed")  # 16 kHz, 40 mels, 29.1 s → 40 × 909
    torch.manual_seed(seed)
    net = build_model(FCN, feats.n_mels, feats.n_frames, len(tags))
    norm = norm_description("global", {"global_mean": -45.0, "global_std": 20.0}, feats.amin)
    return write_tagger(
        path,
        TaggerFile(
            model=dict(FCN),
            weights=net.state_dict(),
            features=feats.to_dict(),
            norm=norm,
            tag_names=tags,
            thresholds=[0.5] * len(tags),
            input_shape=[feats.n_mels, feats.n_frames],
            metrics={},
            config={"model": dict(FCN), "features": feats.to_dict()},
        ),
    )


def write_song(path: Path, seconds: float, sr: int, channels: int, seed: int) -> Path:
    """Noise plus a few drifting tones: something an mp3 encoder has to work on."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.05 * rng.standard_normal((len(t), channels))
    for f in rng.uniform(100, 4000, size=4):
        x += 0.1 * np.sin(2 * np.pi * f * t * (1 + 0.01 * np.sin(t)))[:, None]
    sf.write(path, x.astype(np.float32), sr)
    return path


def folder_runs(folder: Path, model: Path, rounds: int) -> dict[tuple[int, str], list[float]]:
    """Songs/s of ``autotag tag <folder>`` as it reports them, by (cores, workers setting)."""
    import re

    out: dict[tuple[int, str], list[float]] = {}
    cores = len(os.sched_getaffinity(0))
    for _ in range(rounds):
        for n_cores in sorted({cores, 1}, reverse=True):
            for how, extra in (("default", []), ("`--workers 0`", ["--workers", "0"])):
                cmd = ["taskset", "-c", ",".join(str(c) for c in sorted(os.sched_getaffinity(0))[
                    :n_cores])]  # fmt: skip
                cmd += [sys.executable, "-m", "autotag.cli", "tag", str(folder), "--model"]
                cmd += [str(model), "--csv", "--no-progress", *extra]
                p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
                m = re.search(r"tagged (\d+) of (\d+) files in ([\d.]+) s", p.stderr)
                assert p.returncode == 0 and m, p.stderr[-2000:]
                out.setdefault((n_cores, how), []).append(int(m.group(1)) / float(m.group(3)))
    return out


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--songs", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5, help="A/B rounds of the folder runs")
    ap.add_argument("--song-seconds", type=float, default=30.0)
    ap.add_argument("--long-seconds", type=float, default=180.0)
    ap.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md")
    ap.add_argument("--max-wait", type=float, default=300.0, help="seconds to wait for quiet")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="tag_speed_"))
    model = make_tagger(tmp / "tagger.pt")
    mp3 = write_song(tmp / "song_3min.mp3", args.long_seconds, 44100, 2, seed=1)
    wav = write_song(tmp / "song_3min_16k.wav", args.long_seconds, 16000, 1, seed=2)
    folder = tmp / "folder"
    folder.mkdir()
    for i in range(args.songs):
        write_song(folder / f"song_{i:03d}.mp3", args.song_seconds, 44100, 2, seed=10 + i)
    print(f"files in {tmp}", flush=True)

    note = wait_for_quiet(max_wait=args.max_wait)
    # 1. first call: load + optimize + tag
    t0 = time.perf_counter()
    tagger = Tagger.load(model)
    default_backend = tagger.backend
    t_load = time.perf_counter() - t0
    first = tagger.tag_file(mp3)
    t_first = time.perf_counter() - t0
    assert first.ok, first.error
    n_win = first.n_windows

    # 2. warm latency, both formats; stages; eager vs optimized FCN
    lat = {name: timed(lambda p=p: tagger.tag_file(p), args.repeat) for name, p in
           [("mp3 44.1 kHz stereo", mp3), ("wav 16 kHz mono", wav)]}  # fmt: skip
    sr = tagger.sample_rate
    t_dec = timed(lambda: load_audio(mp3, sr), args.repeat)
    t_dec16 = timed(lambda: load_audio(wav, sr), args.repeat)
    x = load_audio(mp3, sr)
    t_mel = timed(lambda: tagger.front.song_mels(x), args.repeat)
    mels = tagger.front.song_mels(x)
    t_fcn = {}
    for backend in ("channels_last", "jit", "eager"):
        tagger.backend = backend
        t0 = time.perf_counter()
        tagger.predict_mels(mels[:1])  # builds the jit graph
        build = time.perf_counter() - t0
        t_fcn[backend] = (timed(lambda: tagger.predict_mels(mels), args.repeat), build)
    lat_backend = {}
    for backend in ("jit", "eager"):
        tagger.backend = backend
        tagger.tag_file(mp3)
        lat_backend[backend] = timed(lambda: tagger.tag_file(mp3), args.repeat)
    tagger.backend = default_backend

    # 3. folder of songs: the command, default against --workers 0, alternated
    folder_rates = folder_runs(folder, model, args.rounds)

    # 4. the whole command in a fresh process
    cmd = [sys.executable, "-m", "autotag.cli", "tag", str(mp3), "--model", str(model)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    t_cli = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-2000:]
    note_end = wait_for_quiet(max_wait=0)

    best = min(lat["mp3 44.1 kHz stereo"])
    rows = [[f"3-min song, {k}, warm", n_win, fmt(min(v)), fmt(median(v))] for k, v in lat.items()]
    rows += [
        [f"3-min song, mp3, FCN backend `{b}`", n_win, fmt(min(v)), fmt(median(v))]
        for b, v in lat_backend.items()
    ]
    rows += [
        ["  decode + downmix + resample (mp3 44.1 kHz stereo)", "", fmt(min(t_dec)),
         fmt(median(t_dec))],
        ["  decode (wav 16 kHz mono)", "", fmt(min(t_dec16)), fmt(median(t_dec16))],
        ["  log-mel of the windows", n_win, fmt(min(t_mel)), fmt(median(t_mel))],
    ]  # fmt: skip
    for b, (ts, build) in t_fcn.items():
        extra = f" (graph built in {fmt(build)} s)" if b == "jit" else ""
        mark = " (default)" if b == default_backend else ""
        rows.append([f"  FCN, backend `{b}`{mark}{extra}", n_win, fmt(min(ts)), fmt(median(ts))])
    rows += [
        ["first call: load tagger.pt + tag", n_win, fmt(t_first), ""],
        ["  of which load tagger.pt", "", fmt(t_load), ""],
        ["`autotag tag song.mp3` in a fresh process (imports included)", n_win, fmt(t_cli), ""],
    ]
    folder_rows = [
        [cores, how, fmt(median(rates)), ", ".join(fmt(r) for r in rates)]
        for (cores, how), rates in folder_rates.items()
    ]
    ratio = {
        c: median(folder_rates[(c, "default")]) / median(folder_rates[(c, "`--workers 0`")])
        for c in {c for c, _ in folder_rates}
    }
    verdict = "met" if best < 1.0 else "missed"
    body = "\n\n".join(
        [
            "`autotag tag` with the full-width `fcn` (128-384-768-2048, seed features 40×909, "
            "50 tags, untrained weights: the speed does not depend on them), default hop "
            f"(one 29.1 s window, no overlap: a {args.long_seconds:.0f} s song is "
            f"{n_win} windows, the grid centred).",
            machine_table({"load": f"{note} (start); {note_end} (end)"}),
            f"**3-minute song (goal < 1 s on 2 cores): {fmt(best)} s warm, mp3 44.1 kHz "
            f"stereo — goal {verdict}.** Seconds, best and median of {args.repeat}:",
            table(["what", "windows", "best s", "median s"], rows),
            f"Folder of {args.songs} songs × {args.song_seconds:.0f} s (mp3 44.1 kHz stereo, "
            "one window each): songs/s as `autotag tag <folder> --csv` reports them (model "
            f"loaded; decoding, log-mel, network, output), the two settings alternated "
            f"{args.rounds} times, median. **Default / `--workers 0`: "
            + ", ".join(
                f"{ratio[c]:.2f}× on {c} core{'s' if c > 1 else ''}"
                for c in sorted(ratio, reverse=True)
            )  # fmt: skip
            + " (goal: ≥ 1.3× on 2 cores, ≥ 1.0× on 1).**",
            table(["cores", "workers", "median songs/s", "rounds"], folder_rows),
            "Notes: FCN backends (`Tagger.backend`): `channels_last` runs the eager network "
            "with NHWC tensors (oneDNN's preferred layout on CPU), `jit` traces, freezes and "
            "passes it through `torch.jit.optimize_for_inference` (prepacked oneDNN weights, BN "
            "folded; built on the first batch), `eager` is plain NCHW. Windows of consecutive "
            "songs share batches (`--batch-size`, 16) in one process. By default the command "
            "forks one worker per core (no import, no model copy); each tags groups of 4 whole "
            "songs with one torch thread, so decoding never leaves a core idle and workers × "
            "threads = cores. On one core the default is the in-process path.",
        ]
    )
    print(body)
    if not args.no_write:
        write_section(SECTION, body)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
