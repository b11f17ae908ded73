"""``autotag export``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autotag.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    add_model,
    load_tagger,
)
from autotag.inference.export import export_onnx, export_torchscript, onnx_available


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export to TorchScript (and ONNX)",
        description="TorchScript module: mono waveform window(s) at the model's rate → tag "
        "probabilities, mel front end and normalization included (needs only torch to run).",
    )
    add_model(p)
    p.add_argument("--out", "-o", required=True, metavar="FILE_TS", help="TorchScript file")
    p.add_argument(
        "--onnx", metavar="FILE_ONNX", default=None, help="also write ONNX (needs `onnx`)"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.onnx and not onnx_available():
        raise UsageError(
            "--onnx needs the `onnx` package (install the extra: uv sync --extra onnx); "
            "nothing was written"
        )
    if Path(args.out).is_dir():
        raise UsageError(
            f"{args.out}: is a folder; give the file to write, e.g. {args.out}/tagger.ts"
        )
    tagger = load_tagger(args.model)
    try:
        path = export_torchscript(tagger, args.out)
    except (OSError, RuntimeError) as e:  # torch.jit.save reports an unwritable path so
        raise UsageError(f"{args.out}: cannot write ({str(e).splitlines()[0]})") from None
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
