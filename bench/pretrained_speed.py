"""Tagging speed of musicnn's MTT_musicnn: the converted tagger (autotag) against the original
(musicnn 0.1.0 with TensorFlow), on the same 3-minute 44.1 kHz stereo mp3 songs, in one run.

    .venv/bin/python bench/pretrained_speed.py --original /path/to/venv/bin/python [--songs DIR]

``--original``: the Python of a scratch venv holding the original, made once with
``python3.11 -m venv v && v/bin/pip install tensorflow-cpu==2.15.1 librosa && v/bin/pip install
--no-deps musicnn==0.1.0`` (never a dependency of autotag). ``--songs``: a folder of mp3 songs
(default: six 3-minute 44.1 kHz stereo mp3s made here from tones and noise; speed does not depend
on the music).

Each side tags every song once as a warm-up, then ``--rounds`` times, alternating:
- original: ``musicnn.extractor.extractor(song, model="MTT_musicnn", extract_features=False)``
  per song in one process (as ``musicnn.tagger.top_tags`` does: the graph is built and the
  checkpoint restored for each song; TensorFlow uses every core; librosa decodes and resamples);
- autotag, ``autotag tag``'s path: ``Tagger.tag_files`` with its defaults (worker processes that
  each tag whole songs on one core), and ``--workers 0`` (one process, torch's threads).
The taggrams of both are compared on every song (the mp3 decoders and resamplers differ, so the
probabilities agree closely but not to 1e-4; the 1e-4 equality is tested on 16 kHz wav in
tests/test_pretrained_musicnn.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from common import fmt, load_warning, machine_table, median, table, wait_for_quiet, write_section

from autotag.inference import Tagger

SECTION = "Pretrained musicnn: converted against the original (bench/pretrained_speed.py)"

ORIGINAL = r"""
import json, sys, time, os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
from musicnn.extractor import extractor
songs, rounds = json.loads(sys.argv[1]), int(sys.argv[2])
def once():
    out = {}
    t0 = time.perf_counter()
    for s in songs:
        taggram, _ = extractor(s, model="MTT_musicnn", extract_features=False)
        out[s] = taggram.mean(axis=0).tolist()
    return time.perf_counter() - t0, out
once()  # warm-up: imports, caches
times = []
for _ in range(rounds):
    t, out = once()
    times.append(t)
print("RESULT " + json.dumps({"times": times, "probs": out}))
"""


def make_songs(folder: Path, n: int = 6, seconds: float = 180.0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    sr = 44100
    t = np.arange(int(seconds * sr)) / sr
    out = []
    for i in range(n):
        f = 110.0 * (i + 1)
        x = 0.3 * np.sin(2 * np.pi * f * t) + 0.05 * rng.standard_normal(len(t))
        stereo = np.stack([x, np.roll(x, 100)], axis=1).astype(np.float32)
        path = folder / f"song_{i}.mp3"
        sf.write(path, stereo, sr, format="MP3")
        out.append(path)
    return out


def run_original(python: str, songs: list[Path], rounds: int) -> dict:
    proc = subprocess.run(
        [python, "-c", ORIGINAL, json.dumps([str(s) for s in songs]), str(rounds)],
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        sys.exit(f"the original failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[len("RESULT ") :])


def time_autotag(tagger: Tagger, songs: list[Path], workers: int | None) -> tuple[float, dict]:
    t0 = time.perf_counter()
    out = {}
    for song in tagger.tag_files([str(s) for s in songs], workers=workers):
        assert song.ok, song.error
        out[song.path] = song.probs
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--original", required=True, help="python of a venv with the original")
    ap.add_argument("--songs", type=Path, help="folder of mp3 songs (default: made here)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.songs:
            songs = sorted(args.songs.glob("*.mp3"))
            where = f"{len(songs)} songs of {args.songs}"
        else:
            songs = make_songs(Path(tmp))
            where = f"{len(songs)} songs made of tones and noise"
        durations = [sf.info(s).duration for s in songs]
        audio_min = sum(durations) / 60
        tagger = Tagger.load("musicnn:MTT_musicnn")
        notes = [wait_for_quiet()]
        time_autotag(tagger, songs, None)  # warm-up
        t_pool, t_one, t_orig, probs_orig = [], [], [], {}
        for _ in range(args.rounds):
            notes.append(wait_for_quiet())
            orig = run_original(args.original, songs, 1)
            t_orig += orig["times"]
            probs_orig = orig["probs"]
            t, probs_pool = time_autotag(tagger, songs, None)
            t_pool.append(t)
            t, _ = time_autotag(tagger, songs, 0)
            t_one.append(t)
        diff = max(
            float(np.abs(np.asarray(probs_orig[str(s)]) - probs_pool[str(s)]).max()) for s in songs
        )
        rows = []
        base = median(t_orig)
        for name, ts in (
            ("original musicnn 0.1.0 (TensorFlow 2.15.1, librosa)", t_orig),
            ("autotag, default (`autotag tag`: worker processes)", t_pool),
            ("autotag, `--workers 0` (one process)", t_one),
        ):
            m = median(ts)
            rows.append(
                [
                    name,
                    fmt(m, 2),
                    fmt(len(songs) / m, 2),
                    fmt(audio_min * 60 / m, 0),
                    f"{base / m:.1f}x",
                ]
            )
        body = "\n\n".join(
            [
                f"{where}: {audio_min:.1f} minutes of 44.1 kHz stereo mp3 ("
                f"{min(durations):.0f}–{max(durations):.0f} s each), model MTT_musicnn, default "
                f"windows (3 s, no overlap); median of {args.rounds} alternated rounds after a warm-up.",
                table(
                    ["tagger", "seconds for all", "songs/s", "x real time", "speed vs original"],
                    rows,
                ),
                f"Largest difference of a song's mean probability between the two: {diff:.2e} "
                "(different mp3 decoders and resamplers: libsndfile/mpg123 + soxr in librosa, "
                "libsndfile + torchaudio's sinc resampler in autotag).",
                "Load: " + "; ".join(notes),
                load_warning(notes),
                machine_table(),
            ]
        )
        print(body)
        if not args.no_write:
            write_section(SECTION, body)


if __name__ == "__main__":
    main()
