"""``autotag tag``."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from typing import Any

from tqdm import tqdm

from autotag.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_model,
    add_windowing,
    collect,
    load_tagger,
    positive_int,
    probability,
    progress_bar,
    report_error,
)
from autotag.inference.prediction import SILENCE_DBFS, SongPrediction, json_level


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tag",
        help="tag audio files or folders",
        description="Tag audio files (mp3 wav flac ogg; any rate, mono or stereo, any length) "
        "and folders (recursive). Prints the top-k tags with probabilities and the tags judged "
        "present (per-tag thresholds chosen on validation, or --threshold). A silent file "
        f"(peak below {SILENCE_DBFS:g} dBFS) gets a warning and no tag marked present.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files and/or folders")
    add_model(p)
    p.add_argument("--top-k", "-k", type=positive_int, default=5, help="tags listed (default: 5)")
    p.add_argument(
        "--threshold",
        type=probability,
        default=None,
        help="one probability threshold for every tag (default: the per-tag thresholds saved "
        "with the model)",
    )
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="a JSON list of objects on stdout")
    fmt.add_argument("--csv", action="store_true", help="CSV on stdout (one column per tag)")
    add_windowing(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    tagger = load_tagger(args.model, args.device)
    files, failed = collect(args.paths, sys.stderr)
    if not files:
        return EXIT_FAILED
    fmt = "json" if args.json else "csv" if args.csv else "table"
    out = sys.stdout
    names = tagger.tag_names
    name_w = max(len(t) for t in names)
    path_w = max(4, *(len(f) for f in files))
    k = min(args.top_k, len(names))
    rows: list[dict[str, Any]] = []
    writer = None
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            [
                "path",
                "duration_s",
                "windows",
                "peak_dbfs",
                "silent",
                "top_tags",
                "present_tags",
                *names,
            ]
        )
    elif fmt == "table":
        top_w = k * (name_w + 5) + 2 * (k - 1)  # cells "tag 0.97" joined by two spaces
        print(f"{'file':<{path_w}}  {'length':>8}  {f'top {k} tags':<{top_w}}  present", file=out)
    t0 = time.perf_counter()
    n_ok = n_silent = 0
    bar = progress_bar(len(files), "tag", args.no_progress)
    with bar:
        for song in tagger.tag_files(files, args.hop, args.agg, args.batch_size, args.workers):
            bar.update(1)
            if not song.ok:
                failed += 1
                report_error(song.error or song.path)
                continue
            n_ok += 1
            if song.silent:
                n_silent += 1
                report_silence(song)
            top = tagger.top_k(song.probs, k)
            present = tagger.present_tags(song, args.threshold)
            if fmt == "json":
                rows.append(
                    {
                        "path": song.path,
                        "duration_s": round(song.duration, 3),
                        "windows": song.n_windows,
                        "peak_dbfs": json_level(song.peak_dbfs),
                        "silent": song.silent,
                        "top": [{"tag": t, "probability": round(p, 4)} for t, p in top],
                        "present": [t for t, _ in present],
                        "probabilities": {t: round(float(p), 4) for t, p in zip(names, song.probs)},
                    }
                )
            elif fmt == "csv":
                assert writer is not None
                writer.writerow(
                    [
                        song.path,
                        f"{song.duration:.3f}",
                        song.n_windows,
                        f"{song.peak_dbfs:.2f}",
                        int(song.silent),
                        ";".join(t for t, _ in top),
                        ";".join(t for t, _ in present),
                        *(f"{p:.4f}" for p in song.probs),
                    ]
                )
            else:
                cells = "  ".join(f"{t:<{name_w}} {p:.2f}" for t, p in top)
                line = (
                    f"{song.path:<{path_w}}  {song.duration:>6.1f} s  {cells:<{top_w}}  "
                    f"{', '.join(t for t, _ in present) or '-'}"
                )
                tqdm.write(line, file=out)
    if fmt == "json":
        json.dump(rows, out, indent=2)
        out.write("\n")
    out.flush()
    if failed or len(files) > 1:
        dt = time.perf_counter() - t0
        print(
            f"tagged {n_ok} of {len(files)} files in {dt:.2f} s ({len(files) / dt:.1f} files/s)"
            + (f"; {n_silent} silent" if n_silent else "")
            + (f"; {failed} failed" if failed else ""),
            file=sys.stderr,
        )
    return EXIT_FAILED if failed else EXIT_OK


def report_silence(song: SongPrediction) -> None:
    tqdm.write(
        f"warning: {song.path}: the audio is silent (peak {song.peak_dbfs:.1f} dBFS below "
        f"{SILENCE_DBFS:g} dBFS): no tag is marked present",
        file=sys.stderr,
    )  # above the progress bar, if any
