"""``autotag similar``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from autotag.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    add_model,
    fmt_tags,
    load_tagger,
    positive_int,
)
from autotag.data.audio import AudioError
from autotag.inference import TaggerError
from autotag.inference.ann import AnnIndex
from autotag.inference.ann import load as load_ann
from autotag.inference.embed import IndexFileError, read_index
from autotag.inference.similar import similar, similar_ann
from autotag.pretrained import is_pretrained_name


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "similar",
        help="nearest songs of an index",
        description="Songs of the index nearest to QUERY by cosine similarity of embeddings. "
        "QUERY is a song of the index (path or id; it comes first) or an audio file, embedded "
        "with the index's model (--model, else the model path stored in the index).",
    )
    p.add_argument("query", metavar="QUERY", help="audio file, or a path/id in the index")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--index", "-i", metavar="INDEX_H5", help="from autotag embed (exact search)"
    )
    where.add_argument(
        "--ann", metavar="INDEX", help="from autotag index build (approximate search, fast)"
    )
    add_model(p, required=False)
    p.add_argument("-n", type=positive_int, default=10, help="songs listed (default: 10)")
    p.add_argument("--tags", type=positive_int, default=3, help="tags shown per song (3)")
    p.add_argument(
        "--ef",
        type=positive_int,
        default=None,
        metavar="N",
        help="with --ann: search breadth (default: the index's; more: better recall, slower)",
    )
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        index = read_index(args.index) if args.index else load_ann(args.ann)
    except IndexFileError as e:
        raise UsageError(str(e)) from None
    where_given = args.index or args.ann
    tagger = None
    if Path(args.query).is_dir():
        raise UsageError(f"{args.query}: is a folder; give one audio file (or an id of the index)")
    if index.find(args.query) is None:
        if not Path(args.query).exists():
            print(
                f"error: {args.query}: not in the index {where_given} and no such file",
                file=sys.stderr,
            )
            return EXIT_FAILED
        model = (
            args.model
            or str(index.attrs.get("model_name") or "")
            or str(index.attrs.get("model_path") or "")
        )
        if not model or not (Path(model).is_file() or is_pretrained_name(model)):
            raise UsageError(
                f"{args.query} is not in the index: give --model (the index was made with "
                f"{index.attrs.get('model_path') or 'an unknown model'}, which is not found)"
            )
        tagger = load_tagger(model)
    try:
        if isinstance(index, AnnIndex):
            info, rows = similar_ann(index, args.query, tagger, args.n, args.tags, args.ef)
        else:
            info, rows = similar(index, args.query, tagger, args.n, args.tags)
    except (TaggerError, ValueError) as e:  # ValueError: a layer the model lacks, a dimension
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
    print(f"query: {info.query} ({where}; {fmt_tags(info.top_tags)})")
    id_w = max([4, *(len(r.id) for r in rows)])
    print(f"{'rank':>4}  {'cosine':>6}  {'song':<{id_w}}  top tags")
    for r in rows:
        print(f"{r.rank:>4}  {r.similarity:>6.3f}  {r.id:<{id_w}}  {fmt_tags(r.top_tags)}")
    return EXIT_OK
