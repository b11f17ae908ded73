"""The ``autotag`` command: tag, embed, similar, export.

Exit codes: 0 when every file went through, 1 when at least one file failed (each failure gets
one ``error: <path>: <reason>`` line on stderr and the others go on), 2 for usage errors (bad
arguments, a model or index file that cannot be used).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from tqdm import tqdm

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Reported as ``autotag <cmd>: error: ...`` with exit code 2."""


# --------------------------------------------------------------------------- argument types


def _positive_int(s: str) -> int:
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {s}")
    return v


def _non_negative_int(s: str) -> int:
    v = int(s)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {s}")
    return v


def _positive_float(s: str) -> float:
    v = float(s)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {s}")
    return v


def _probability(s: str) -> float:
    v = float(s)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {s}")
    return v


def _add_model(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument(
        "--model",
        "-m",
        required=required,
        metavar="TAGGER_PT",
        help="tagger.pt written by training (in the run folder)",
    )


def _add_windowing(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--hop",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="seconds between window starts; windows are the model's clip length "
        "(features.clip_seconds, 29.1 s for the seed features). Default: one window (no overlap)",
    )
    p.add_argument(
        "--agg",
        choices=("mean", "max"),
        default="mean",
        help="how window predictions make the song's (default: mean)",
    )
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=16,
        metavar="N",
        help="windows per forward pass (default: 16)",
    )
    p.add_argument(
        "--workers",
        type=_non_negative_int,
        default=None,
        metavar="N",
        help=f"decoding processes (default: all cores, {os.cpu_count()}, from 8 files on; "
        "0: decode in the main process)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autotag",
        description="Tag songs with a trained FCN, embed a catalogue, find similar songs, export.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "tag",
        help="tag audio files or folders",
        description="Tag audio files (mp3 wav flac ogg; any rate, mono or stereo, any length) "
        "and folders (recursive). Prints the top-k tags with probabilities and the tags judged "
        "present (per-tag thresholds chosen on validation, or --threshold).",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files and/or folders")
    _add_model(p)
    p.add_argument("--top-k", "-k", type=_positive_int, default=5, help="tags listed (default: 5)")
    p.add_argument(
        "--threshold",
        type=_probability,
        default=None,
        help="one probability threshold for every tag (default: the per-tag thresholds saved "
        "with the model)",
    )
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="a JSON list of objects on stdout")
    fmt.add_argument("--csv", action="store_true", help="CSV on stdout (one column per tag)")
    _add_windowing(p)

    p = sub.add_parser(
        "embed",
        help="embed a catalogue into an HDF5 index",
        description="Penultimate-layer embeddings (and tag probabilities) of every song, "
        "into an HDF5 index for `autotag similar`.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files and/or folders")
    _add_model(p)
    p.add_argument("--out", "-o", required=True, metavar="INDEX_H5", help="index file to write")
    _add_windowing(p)

    p = sub.add_parser(
        "similar",
        help="nearest songs of an index",
        description="Songs of the index nearest to QUERY by cosine similarity of embeddings. "
        "QUERY is a song of the index (path or id; it comes first) or an audio file, embedded "
        "with the index's model (--model, else the model path stored in the index).",
    )
    p.add_argument("query", metavar="QUERY", help="audio file, or a path/id in the index")
    p.add_argument("--index", "-i", required=True, metavar="INDEX_H5", help="from autotag embed")
    _add_model(p, required=False)
    p.add_argument("-n", type=_positive_int, default=10, help="songs listed (default: 10)")
    p.add_argument("--tags", type=_positive_int, default=3, help="tags shown per song (3)")
    p.add_argument("--json", action="store_true", help="JSON on stdout")

    p = sub.add_parser(
        "export",
        help="export to TorchScript (and ONNX)",
        description="TorchScript module: mono waveform window(s) at the model's rate → tag "
        "probabilities, mel front end and normalization included (needs only torch to run).",
    )
    _add_model(p)
    p.add_argument("--out", "-o", required=True, metavar="FILE_TS", help="TorchScript file")
    p.add_argument(
        "--onnx", metavar="FILE_ONNX", default=None, help="also write ONNX (needs `onnx`)"
    )
    return parser


# --------------------------------------------------------------------------- helpers


def _load_tagger(path: str):
    from autotag.inference import Tagger, TaggerError

    try:
        return Tagger.load(path)
    except TaggerError as e:
        raise UsageError(str(e)) from None


def _collect(paths: Sequence[str], err: TextIO) -> tuple[list[str], int]:
    from autotag.inference import find_audio

    files, problems = find_audio(paths)
    for msg in problems:
        print(f"error: {msg}", file=err)
    return files, len(problems)


def _bar(total: int, desc: str, disabled: bool) -> tqdm:
    return tqdm(
        total=total,
        desc=desc,
        unit="song",
        file=sys.stderr,
        disable=True if disabled or total <= 1 else None,  # None: only on a terminal
        dynamic_ncols=True,
    )


def _report_error(message: str) -> None:
    tqdm.write(f"error: {message}", file=sys.stderr)  # above the progress bar, if any


def _fmt_tags(pairs: list[tuple[str, float]]) -> str:
    return ", ".join(f"{t} {p:.2f}" for t, p in pairs)


# --------------------------------------------------------------------------- tag


def cmd_tag(args: argparse.Namespace) -> int:
    tagger = _load_tagger(args.model)
    files, failed = _collect(args.paths, sys.stderr)
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
        writer.writerow(["path", "duration_s", "windows", "top_tags", "present_tags", *names])
    elif fmt == "table":
        top_w = k * (name_w + 5) + 2 * (k - 1)  # cells "tag 0.97" joined by two spaces
        print(f"{'file':<{path_w}}  {'length':>8}  {f'top {k} tags':<{top_w}}  present", file=out)
    t0 = time.perf_counter()
    n_ok = 0
    bar = _bar(len(files), "tag", args.no_progress)
    with bar:
        for song in tagger.tag_files(files, args.hop, args.agg, args.batch_size, args.workers):
            bar.update(1)
            if not song.ok:
                failed += 1
                _report_error(song.error or song.path)
                continue
            n_ok += 1
            top = tagger.top_k(song.probs, k)
            present = tagger.present(song.probs, args.threshold)
            if fmt == "json":
                rows.append(
                    {
                        "path": song.path,
                        "duration_s": round(song.duration, 3),
                        "windows": song.n_windows,
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
            f"tagged {n_ok} of {len(files)} files in {dt:.1f} s"
            + (f"; {failed} failed" if failed else ""),
            file=sys.stderr,
        )
    return EXIT_FAILED if failed else EXIT_OK


# --------------------------------------------------------------------------- embed


def cmd_embed(args: argparse.Namespace) -> int:
    from autotag.embed import song_ids, write_index

    tagger = _load_tagger(args.model)
    files, failed = _collect(args.paths, sys.stderr)
    if not files:
        return EXIT_FAILED
    ids = dict(zip(files, song_ids(files, args.paths)))
    bar = _bar(len(files), "embed", args.no_progress)
    n_failed = [failed]

    def on_result(song) -> None:
        bar.update(1)
        if not song.ok:
            n_failed[0] += 1
            _report_error(song.error or song.path)

    with bar:
        results = tagger.tag_files(files, args.hop, args.agg, args.batch_size, args.workers)
        try:
            n = write_index(args.out, tagger, results, ids, args.hop, args.agg, on_result)
        except OSError as e:
            raise UsageError(f"{args.out}: cannot write the index ({e})") from None
    print(
        f"embedded {n} of {len(files)} files ({tagger.embedding_dim}-d) into {args.out}"
        + (f"; {n_failed[0]} failed" if n_failed[0] else ""),
        file=sys.stderr,
    )
    return EXIT_FAILED if n_failed[0] else EXIT_OK


# --------------------------------------------------------------------------- similar


def cmd_similar(args: argparse.Namespace) -> int:
    from pathlib import Path

    from autotag.data.audio import AudioError
    from autotag.embed import IndexFileError, read_index
    from autotag.inference import TaggerError
    from autotag.similar import similar

    try:
        index = read_index(args.index)
    except IndexFileError as e:
        raise UsageError(str(e)) from None
    tagger = None
    if index.find(args.query) is None:
        if not Path(args.query).exists():
            print(
                f"error: {args.query}: not in the index {args.index} and no such file",
                file=sys.stderr,
            )
            return EXIT_FAILED
        model = args.model or str(index.attrs.get("model_path") or "")
        if not model or not Path(model).is_file():
            raise UsageError(
                f"{args.query} is not in the index: give --model (the index was made with "
                f"{index.attrs.get('model_path') or 'an unknown model'}, which is not found)"
            )
        tagger = _load_tagger(model)
    try:
        info, rows = similar(index, args.query, tagger, args.n, args.tags)
    except TaggerError as e:
        raise UsageError(str(e)) from None
    except AudioError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        json.dump(
            {
                "query": info.query,
                "in_index": info.in_index,
                "query_tags": [{"tag": t, "probability": round(p, 4)} for t, p in info.top_tags],
                "results": [
                    {
                        "rank": r.rank,
                        "id": r.id,
                        "path": r.path,
                        "similarity": round(r.similarity, 5),
                        "tags": [{"tag": t, "probability": round(p, 4)} for t, p in r.top_tags],
                    }
                    for r in rows
                ],
            },
            sys.stdout,
            indent=2,
        )
        print()
        return EXIT_OK
    where = "in the index" if info.in_index else "embedded now"
    print(f"query: {info.query} ({where}; {_fmt_tags(info.top_tags)})")
    id_w = max([4, *(len(r.id) for r in rows)])
    print(f"{'rank':>4}  {'cosine':>6}  {'song':<{id_w}}  top tags")
    for r in rows:
        print(f"{r.rank:>4}  {r.similarity:>6.3f}  {r.id:<{id_w}}  {_fmt_tags(r.top_tags)}")
    return EXIT_OK


# --------------------------------------------------------------------------- export


def cmd_export(args: argparse.Namespace) -> int:
    from autotag.export import export_onnx, export_torchscript, onnx_available

    if args.onnx and not onnx_available():
        raise UsageError(
            "--onnx needs the `onnx` package (install the extra: uv sync --extra onnx); "
            "nothing was written"
        )
    tagger = _load_tagger(args.model)
    try:
        path = export_torchscript(tagger, args.out)
    except OSError as e:
        raise UsageError(f"{args.out}: cannot write ({e})") from None
    print(
        f"TorchScript: {path} (input: mono float32 waveform, {tagger.front.window_samples} "
        f"samples at {tagger.sample_rate} Hz, or a batch of them; output: "
        f"{len(tagger.tag_names)} probabilities)"
    )
    if args.onnx:
        try:
            onnx_path, kind = export_onnx(tagger, args.onnx)
        except Exception as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_FAILED
        print(f"ONNX: {onnx_path} (input: {kind}; tags and thresholds in {onnx_path}.json)")
    return EXIT_OK


COMMANDS = {"tag": cmd_tag, "embed": cmd_embed, "similar": cmd_similar, "export": cmd_export}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``autotag``; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return int(e.code or 0)
    try:
        return COMMANDS[args.command](args)
    except UsageError as e:
        print(f"autotag {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `autotag tag ... | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
