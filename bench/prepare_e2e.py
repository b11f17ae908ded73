"""Prepare end to end, three whole processes from command start to exit (issue 11, part 1):

- **ours**: ``python -m autotag.prepare`` into a fresh store folder (Hydra, manifest, workers,
  shards, HDF5 assembly with training statistics, the summary);
- **librosa**: ``librosa.load(sr=16000)`` + ``melspectrogram`` + ``power_to_db`` with the seed
  features' settings in a spawn pool, results discarded (a reference pipeline as published MTAT
  code runs it, minus writing);
- **floor**: the same files decoded with soundfile in a spawn pool and nothing else.

Each with ``--workers`` processes (2) on the synthetic corpus (1,600 clips), the three
alternated ``--rounds`` times; medians. Goals: ours ≥ 1.5× librosa, ours ≤ 1.5× the floor.

    .venv/bin/python bench/prepare_e2e.py            # writes its section of bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import glob
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, fmt, load_conf, machine_table, median, table, wait_for_quiet, write_section

SECTION = "Prepare end to end: ours, librosa, the decode floor (bench/prepare_e2e.py)"
ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def _librosa_clip(path: str) -> int:
    import librosa

    f = load_conf("features", "seed")
    try:
        y, _ = librosa.load(path, sr=f["sample_rate"])
    except Exception:
        return 0
    m = librosa.feature.melspectrogram(
        y=y, sr=f["sample_rate"], n_fft=f["n_fft"], hop_length=f["hop_length"],
        n_mels=f["n_mels"], fmin=f["f_min"], fmax=f["f_max"], power=2.0,
    )  # fmt: skip
    librosa.power_to_db(m, ref=1.0, amin=f["amin"], top_db=None)
    return 1


def _floor_clip(path: str) -> int:
    import soundfile as sf

    try:
        sf.read(path, dtype="float32")
    except Exception:
        return 0
    return 1


def child(kind: str, root: str, workers: int) -> None:
    """One pipeline in this process: ``kind`` over every mp3 under ``root``."""
    paths = sorted(glob.glob(os.path.join(root, "*", "*.mp3")))
    task = _librosa_clip if kind == "librosa" else _floor_clip
    with mp.get_context("spawn").Pool(workers) as pool:
        done = sum(pool.imap_unordered(task, paths, chunksize=8))
    print(f"{kind}: {done} of {len(paths)} files", flush=True)


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    assert p.returncode == 0, p.stdout[-1500:] + p.stderr[-1500:]
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--root", default=str(REPO / "data/synthetic"), help="MTAT-format corpus")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", choices=("librosa", "floor"), help=argparse.SUPPRESS)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--max-wait", type=float, default=300.0)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.root, args.workers)
        return
    env = {**os.environ, **ONE_THREAD}
    n_files = len(glob.glob(os.path.join(args.root, "*", "*.mp3")))
    tmp = Path(tempfile.mkdtemp(prefix="prepare_e2e_"))
    py = sys.executable
    cmds = {
        "ours": lambda i: [py, "-m", "autotag.prepare", f"data.root={args.root}",
                           f"store.dir={tmp}/s{i}", f"store.workers={args.workers}",
                           f"hydra.run.dir={tmp}/h{i}"],
        "librosa": lambda i: [py, __file__, "--child", "librosa", "--root", args.root,
                              "--workers", str(args.workers)],
        "floor": lambda i: [py, __file__, "--child", "floor", "--root", args.root,
                            "--workers", str(args.workers)],
    }  # fmt: skip
    timed(cmds["librosa"](0), env)  # numba's cache and the page cache warm, not timed
    note = wait_for_quiet(max_wait=args.max_wait)
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for i in range(args.rounds):
        for name, cmd in cmds.items():
            times[name].append(timed(cmd(i), env))
            shutil.rmtree(tmp / f"s{i}", ignore_errors=True)
            print(f"round {i + 1}: {name} {times[name][-1]:.2f} s", flush=True)
    note_end = wait_for_quiet(max_wait=0)
    shutil.rmtree(tmp, ignore_errors=True)
    med = {k: median(v) for k, v in times.items()}
    vs_librosa, vs_floor = med["librosa"] / med["ours"], med["ours"] / med["floor"]
    rows = [
        [name, fmt(med[name]), fmt(n_files / med[name]), ", ".join(fmt(t) for t in times[name])]
        for name in cmds
    ]
    body = "\n\n".join(
        [
            f"{n_files} mp3 files of the synthetic corpus (16 kHz mono, 29.1 s; MTAT layout), "
            f"seed features (40 × 909), {args.workers} processes each, one thread per process, "
            f"whole commands from start to exit, alternated {args.rounds} times; medians.",
            machine_table({"load": f"{note} (start); {note_end} (end)"}),
            table(["pipeline", "median s", "files/s", "rounds s"], rows),
            f"**Ours is {vs_librosa:.2f}× librosa (goal ≥ 1.5×: "
            f"{'met' if vs_librosa >= 1.5 else 'missed'}) and {vs_floor:.2f}× the decode floor "
            f"(goal ≤ 1.5×: {'met' if vs_floor <= 1.5 else 'missed'}).**",
        ]
    )
    print(body)
    if not args.no_write:
        write_section(SECTION, body)


if __name__ == "__main__":
    main()
