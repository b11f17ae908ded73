"""Speed of the catalogue job (``autotag catalogue``) against plain tagging, full-width FCN
(random weights), on a folder of 30 s songs (44.1 kHz stereo mp3).

    .venv/bin/python bench/catalogue.py                # writes its section of bench/RESULTS.md
    .venv/bin/python bench/catalogue.py --no-write --songs 64 --rounds 1

In one process, model loaded, default workers (the CPU song pool): songs/s of
``run_catalogue`` (tag + embed, parts of ``--unit-size``, the merge into catalogue.h5, index.h5
and errors.csv) and of ``Tagger.tag_files`` over the same songs (what ``autotag tag`` does
before printing), alternated ``--rounds`` times; then the whole ``autotag catalogue`` command in
a fresh process (imports and model load included), and its rerun with every part written.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, machine_table, median, table, wait_for_quiet, write_section
from tag_speed import make_tagger, write_song

from autotag.inference import Tagger
from autotag.inference.catalogue import run_catalogue
from autotag.inference.catalogue_input import catalogue_songs

SECTION = "Catalogue job (bench/catalogue.py)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--songs", type=int, default=128)
    ap.add_argument("--song-seconds", type=float, default=30.0)
    ap.add_argument("--unit-size", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_catalogue_"))
    try:
        model = make_tagger(tmp / "tagger.pt")
        folder = tmp / "songs"
        folder.mkdir()
        for i in range(args.songs):
            write_song(folder / f"song_{i:04d}.mp3", args.song_seconds, 44100, 2, seed=10 + i)
        tagger = Tagger.load(model)
        paths, ids = catalogue_songs([folder])
        rates: dict[str, list[float]] = {"catalogue": [], "tag": []}
        notes = []
        for r in range(args.rounds):
            notes.append(wait_for_quiet(max_wait=120.0))
            t0 = time.perf_counter()
            run_catalogue(tagger, paths, ids, tmp / f"out{r}", unit_size=args.unit_size,
                          progress=False)  # fmt: skip
            rates["catalogue"].append(len(paths) / (time.perf_counter() - t0))
            t0 = time.perf_counter()
            n = sum(1 for _ in tagger.tag_files(paths))
            rates["tag"].append(n / (time.perf_counter() - t0))
            print(f"round {r}: catalogue {rates['catalogue'][-1]:.1f}, tag {rates['tag'][-1]:.1f}")
        cmd = [sys.executable, "-m", "autotag.cli", "catalogue", str(folder), "--model",
               str(model), "--out", str(tmp / "cli"), "--no-progress"]  # fmt: skip
        walls = []
        for _ in range(2):  # the job, then its rerun with everything written
            t0 = time.perf_counter()
            p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
            walls.append(time.perf_counter() - t0)
            assert p.returncode == 0, p.stderr[-2000:]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    cat, tag = median(rates["catalogue"]), median(rates["tag"])
    rows = [
        ["`run_catalogue` (tag + embed, parts, merge)", f"{cat:.1f}", args.rounds],
        ["`Tagger.tag_files` (what `autotag tag` runs)", f"{tag:.1f}", args.rounds],
    ]
    body = "\n\n".join(
        [
            f"{args.songs} songs × {args.song_seconds:.0f} s (mp3 44.1 kHz stereo), full-width "
            f"FCN (random weights), parts of {args.unit_size} songs, default workers (the CPU "
            f"song pool), model loaded, median of {args.rounds} alternated rounds. "
            f"**The catalogue job: {cat:.1f} songs/s, {cat / tag:.2f}× plain tagging.**",
            table(["what", "median songs/s", "rounds"], rows),
            f"`autotag catalogue <folder>` in a fresh process (imports and model load included): "
            f"{walls[0]:.1f} s for {args.songs} songs ({args.songs / walls[0]:.1f} songs/s); "
            f"rerun with every part written: {walls[1]:.1f} s.",
            machine_table({"load": "; ".join(notes)}),
        ]
    )
    print(body)
    if not args.no_write:
        write_section(SECTION, body)


if __name__ == "__main__":
    main()
