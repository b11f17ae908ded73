"""``autotag index build|add|remove``: the approximate index of ``autotag similar --ann``."""

from __future__ import annotations

import argparse
import sys
import time

from autotag.cli.common import EXIT_FAILED, EXIT_OK, UsageError, positive_int
from autotag.common.worker import usable_cores
from autotag.inference.ann import (
    DEFAULT_EF,
    DEFAULT_EF_CONSTRUCTION,
    DEFAULT_M,
    AnnIndex,
    ModelMismatchError,
    build,
    describe,
    load,
)
from autotag.inference.embed import IndexFileError, read_index


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "index",
        help="approximate nearest-neighbour index of a catalogue",
        description="An HNSW index (Voyager, cosine) of the embeddings `autotag embed` wrote, "
        "for `autotag similar --ann`: milliseconds per query on a million songs.",
    )
    cmds = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = cmds.add_parser("build", help="index an embedding file", description="Index the songs "
                        "of an embedding file (autotag embed --out).")  # fmt: skip
    b.add_argument("--from", dest="source", required=True, metavar="EMBED_H5")
    b.add_argument("--out", "-o", required=True, metavar="INDEX", help="index file to write")
    b.add_argument("--m", type=positive_int, default=DEFAULT_M, metavar="M",
                   help=f"graph links per song (default: {DEFAULT_M}; more: better recall, "
                   "more memory)")  # fmt: skip
    b.add_argument("--ef-construction", type=positive_int, default=DEFAULT_EF_CONSTRUCTION,
                   metavar="N", help=f"search breadth while building ({DEFAULT_EF_CONSTRUCTION})")  # fmt: skip
    b.add_argument("--ef", type=positive_int, default=DEFAULT_EF, metavar="N",
                   help=f"default search breadth of queries ({DEFAULT_EF})")  # fmt: skip
    b.set_defaults(run=run_build)
    a = cmds.add_parser("add", help="add or replace songs", description="Add the songs of an "
                        "embedding file to an index, in place: a song already there (same path) "
                        "gets its new vector; no rebuild.")  # fmt: skip
    a.add_argument("--index", "-i", required=True, metavar="INDEX")
    a.add_argument("--from", dest="source", required=True, metavar="EMBED_H5")
    a.set_defaults(run=run_add)
    r = cmds.add_parser("remove", help="remove songs", description="Remove songs (paths or ids) "
                        "from an index, in place.")  # fmt: skip
    r.add_argument("songs", nargs="+", metavar="SONG")
    r.add_argument("--index", "-i", required=True, metavar="INDEX")
    r.set_defaults(run=run_remove)


def _load(path: str) -> AnnIndex:
    try:
        return load(path)
    except IndexFileError as e:
        raise UsageError(str(e)) from None


def _read(path: str):
    try:
        return read_index(path)
    except IndexFileError as e:
        raise UsageError(str(e)) from None


def _save(ann: AnnIndex, out: str) -> None:
    try:
        ann.save(out)
    except OSError as e:
        raise UsageError(f"{out}: cannot write the index ({e})") from None


def run_build(args: argparse.Namespace) -> int:
    emb = _read(args.source)
    t0 = time.perf_counter()
    try:
        ann = build(emb, args.m, args.ef_construction, args.ef, usable_cores())
    except IndexFileError as e:
        raise UsageError(str(e)) from None
    _save(ann, args.out)
    took = time.perf_counter() - t0
    print(f"indexed {describe(ann)} into {args.out} in {took:.1f} s", file=sys.stderr)
    return EXIT_OK


def run_add(args: argparse.Namespace) -> int:
    ann, emb = _load(args.index), _read(args.source)
    try:
        added, replaced = ann.add(emb, usable_cores())
    except ModelMismatchError as e:
        raise UsageError(str(e)) from None
    _save(ann, args.index)
    print(f"added {added}, replaced {replaced}: {describe(ann)}", file=sys.stderr)
    return EXIT_OK


def run_remove(args: argparse.Namespace) -> int:
    ann = _load(args.index)
    missing = ann.remove(args.songs)
    for song in missing:
        print(f"error: {song}: not in the index {args.index}", file=sys.stderr)
    _save(ann, args.index)
    print(f"removed {len(args.songs) - len(missing)}: {describe(ann)}", file=sys.stderr)
    return EXIT_FAILED if missing else EXIT_OK
