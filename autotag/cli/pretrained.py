"""``autotag pretrained``: list and convert the pretrained taggers (musicnn's released models)."""

from __future__ import annotations

import argparse

from autotag.cli.common import EXIT_OK, UsageError
from autotag.pretrained import PretrainedError, musicnn, wheel
from autotag.runs.tagger_file import TaggerError, read_tagger


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pretrained",
        help="list or convert the pretrained taggers (musicnn's MTT and MSD models)",
        description="musicnn's released models (Pons et al. 2018; musicnn 0.1.0, ISC licence), "
        "converted into autotag tagger files without TensorFlow. The checkpoints are read from an "
        "installed musicnn package, from --wheel, or from musicnn's wheel downloaded once from "
        "PyPI (sha256-checked) into the cache folder (~/.cache/autotag; AUTOTAG_CACHE or "
        "XDG_CACHE_HOME move it). Every command that takes -m takes these names, converting on "
        "first use.",
    )
    p.add_argument(
        "action", choices=("list", "convert", "fetch"),
        help="list: the models and whether they are converted; convert: convert NAMEs (all "
        "without one); fetch: download the wheel only",
    )  # fmt: skip
    p.add_argument("names", nargs="*", metavar="NAME", help="musicnn:MTT_musicnn and the like")
    p.add_argument("--wheel", metavar="WHL", help=f"musicnn's wheel file ({wheel.WHEEL})")
    p.add_argument("--force", action="store_true", help="convert again even when cached")
    p.add_argument("--no-progress", action="store_true", help="no download progress bar")
    p.set_defaults(run=run)


def _models(names: list[str]) -> list[str]:
    out = []
    for name in names:
        prefix, _, model = name.partition(":")
        if prefix != "musicnn" or model not in musicnn.MODELS:
            raise UsageError(
                f"{name}: unknown pretrained model; choose from "
                + ", ".join(f"musicnn:{m}" for m in musicnn.MODELS)
            )
        out.append(model)
    return out or list(musicnn.MODELS)


def run(args: argparse.Namespace) -> int:
    models = _models(args.names)
    try:
        if args.action == "fetch":
            print(wheel.fetch_wheel(progress=not args.no_progress))
            return EXIT_OK
        for model in models:
            path = musicnn.converted_path(model)
            if args.action == "list":
                state = "not converted"
                if path.is_file():
                    try:
                        scores = read_tagger(path).metrics.get("test", {})
                        state = f"{path} (test ROC-AUC {scores.get('roc_auc', float('nan')):.4f})"
                    except TaggerError as e:
                        state = f"damaged, converted again on use ({e})"
                print(f"musicnn:{model:<12} {state}")
                continue
            out = musicnn.converted(model, args.wheel, args.force, not args.no_progress)
            print(f"musicnn:{model:<12} {out}")
    except PretrainedError as e:
        raise UsageError(str(e)) from None
    return EXIT_OK
