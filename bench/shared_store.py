"""One store for every split (issue 21): the disk and time that the five published top-50
splits of the synthetic Jamendo corpus cost with a store per split (the code before) and with
one store per collection (now).

    .venv/bin/python bench/shared_store.py      # writes its section of bench/RESULTS.md

``--before`` is a checkout of the code before the change (default: ``git worktree add`` of
:data:`BEFORE` under ``data/bench/``, made once); it runs with this repository's interpreter. For each version, and ``--rounds`` times
in fresh store folders, ``python -m autotag.prepare data=jamendo_synthetic data.split_index=i``
runs for i = 0..4 as a new process (what a user types), timed end to end; the stores' bytes
are summed. For the shared store, what a run adds on top (reading the manifest, checking every
file's size and time, joining the labels, the split's statistics) is timed in this process for
each split, cold (no statistics cached) and warm. The corpus (400 tracks, 14.6 h of 16 kHz mp3,
as ``data=jamendo_synthetic`` makes it) is generated once under ``data/bench/``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, fmt, machine_table, median, table, wait_for_quiet, write_section

SECTION = "One store for every split (bench/shared_store.py)"
CORPUS = REPO / "data" / "bench" / "jamendo_synthetic_400"
SPLITS = range(5)
BEFORE = "c8342f1"  # the last commit with a store per split
# MTG-Jamendo's tracks per tag set (the dataset's README: autotagging.tsv and its subsets)
SUBSET_TRACKS = {"all": 55_609, "top50tags": 54_380, "genre": 55_215, "instrument": 25_135}
SUBSET_TRACKS["moodtheme"] = 18_486
JAMENDO_GB, JAMENDO_HOURS = 219.0, 3.0  # won128, all tracks; 2 cores (README, prepare section)


def prepare(code: Path, stores: Path, index: int) -> float:
    """Seconds of ``python -m autotag.prepare`` for split ``index`` with the code in ``code``."""
    cmd = [sys.executable, "-m", "autotag.prepare", "data=jamendo_synthetic",
           f"data.root={CORPUS}", f"store.dir={stores}", f"data.split_index={index}", "features=won128",
           "hydra.run.dir=.", "hydra.output_subdir=null", "hydra/job_logging=disabled"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(code)}
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=stores, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if out.returncode:
        raise SystemExit(f"{code}: prepare of split {index} failed:\n{out.stderr[-3000:]}")
    return seconds


def join_seconds(stores: Path, index: int) -> tuple[float, float]:
    """Cold and warm seconds of what a run of the shared store adds: the manifest, the files'
    check, the join and the split's statistics (cold: none cached)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from autotag.data.prepare import labelled_store_of

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["data=jamendo_synthetic", f"data.root={CORPUS}", "features=won128",
                                          f"store.dir={stores}", f"data.split_index={index}"])  # fmt: skip
    plain = OmegaConf.to_container(cfg, resolve=True)
    for cache in stores.glob("*.stats"):
        shutil.rmtree(cache)
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        store = labelled_store_of(plain)
        store.stats  # noqa: B018 (computed, or read from the cache)
        times.append(time.perf_counter() - t0)
    return times[0], times[1]


def size_gb(stores: Path) -> float:
    return sum(p.stat().st_size for p in stores.glob("*.h5")) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path, default=None, help=f"a checkout of {BEFORE}")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--tracks", type=int, default=400)
    args = ap.parse_args()
    if args.before is None:
        args.before = REPO / "data" / "bench" / f"before-{BEFORE}"
        if not (args.before / "autotag").is_dir():
            subprocess.run(["git", "worktree", "add", "--detach", str(args.before), BEFORE],
                           cwd=REPO, check=True)  # fmt: skip
    sys.path.insert(0, str(REPO))
    from autotag.data.datasets.jamendo.synth import generate_jamendo

    if not (CORPUS / "data" / "autotagging.tsv").is_file():
        generate_jamendo(CORPUS, n_tracks=args.tracks, progress=False)
    work = REPO / "data" / "bench" / "shared_store"
    note = wait_for_quiet()
    rows, seconds, gb = [], {}, {}
    for name, code in (
        ("a store per split (before)", args.before.resolve()),
        ("one store (now)", REPO),
    ):
        per_split = [[] for _ in SPLITS]
        for r in range(args.rounds):
            stores = work / f"{'before' if 'before' in name else 'now'}-{r}"
            shutil.rmtree(stores, ignore_errors=True)
            stores.mkdir(parents=True)
            for i in SPLITS:
                per_split[i].append(prepare(code, stores, i))
                print(f"{name}, round {r}, split {i}: {per_split[i][-1]:.1f} s", flush=True)
            gb[name] = size_gb(stores)
        seconds[name] = [median(x) for x in per_split]
        rows.append([name, *(fmt(s) for s in seconds[name]), fmt(sum(seconds[name])),
                     f"{len(list(stores.glob('*.h5')))}", fmt(gb[name] * 1000)])  # fmt: skip
    joins = [join_seconds(work / "now-0", i) for i in SPLITS]
    after_note = wait_for_quiet()

    before, now = seconds["a store per split (before)"], seconds["one store (now)"]
    track_sets = sum(SUBSET_TRACKS.values())
    ratio = 5 * track_sets / SUBSET_TRACKS["all"]
    body = f"""
Corpus: the synthetic Jamendo corpus of `data=jamendo_synthetic` ({args.tracks} tracks of 40 s
to 5 min, 14.6 h of 16 kHz mono mp3), features `won128`, whole tracks (`store.excerpt.policy=full`),
2 prepare workers. Each cell: `python -m autotag.prepare data=jamendo_synthetic
data.split_index=i` as a new process, end to end (interpreter start, corpus read, prepare or
check, assembly), median of {args.rounds} rounds in fresh store folders; the before row runs the
code of c8342f1 (`--before`), the now row this checkout. {note}; after: {after_note}.

{machine_table()}

{table(["code", *(f"split {i} s" for i in SPLITS), "5 splits s", "stores", "MB on disk"], rows)}

**Top-50, five splits: {fmt(sum(before))} s and {fmt(gb["a store per split (before)"] * 1000)} MB
before, {fmt(sum(now))} s and {fmt(gb["one store (now)"] * 1000)} MB now** (the first split
prepares the collection: {fmt(now[0])} s; each other split only reads the metadata and checks
the store: {fmt(median(now[1:]))} s, most of it the interpreter and Hydra starting).

What a run of the shared store adds before training, in one process (manifest, a size and time
check of every file, the join, the split's statistics from the stored item sums): cold
{fmt(median([c for c, _ in joins]))} s, with the statistics cached {fmt(median([w for _, w in joins]))} s
(median of the 5 splits).

All of MTG-Jamendo, 5 splits × 5 tag sets, by arithmetic: a store per (tag set, split) prepares
each split's tracks again: 5 × ({" + ".join(f"{n:,}" for n in SUBSET_TRACKS.values())}) =
{5 * track_sets:,} track preparations, {fmt(ratio)}× the {SUBSET_TRACKS["all"]:,} tracks, so
about {fmt(ratio * JAMENDO_GB / 1000)} TB and {fmt(ratio * JAMENDO_HOURS)} h of 2 cores against
{fmt(JAMENDO_GB)} GB and {fmt(JAMENDO_HOURS)} h for the one store now ({JAMENDO_GB:.0f} GB of
`won128` and 3 h of 2 cores for all tracks: the README's prepare figures).
"""
    write_section(SECTION, body)
    print(body)


if __name__ == "__main__":
    main()
