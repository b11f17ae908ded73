"""``autotag serve``: the tagger (and a song index) as an HTTP service with a web page."""

from __future__ import annotations

import argparse
import signal
import socket
import sys
from pathlib import Path

from autotag.cli.common import (
    EXIT_OK,
    UsageError,
    add_model,
    load_tagger,
    positive_float,
    positive_int,
)
from autotag.inference.embed import IndexFileError
from autotag.inference.tagger import AGGREGATIONS, DEFAULT_AGG, DEFAULT_BATCH
from autotag.runs.tagger_file import TaggerError
from autotag.serve.settings import ServeSettings

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_parser(sub: argparse._SubParsersAction) -> None:
    d = ServeSettings()
    p = sub.add_parser(
        "serve",
        help="tag uploads over HTTP, with a web page",
        description="Serve a tagger over HTTP: POST /tag (an upload's tags), POST /similar "
        "(nearest catalogue songs, with --index), GET /health, GET /model, and a web page at /. "
        "Binds to 127.0.0.1 unless --host says otherwise. SIGTERM finishes the requests in "
        "flight and exits 0; a new model file is picked up by restarting.",
    )
    add_model(p)
    p.add_argument(
        "--index",
        "-i",
        metavar="INDEX",
        help="a song index for /similar: from autotag embed (exact) or autotag index build "
        "(approximate); made with the same model",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0: any free port)")
    p.add_argument(
        "--max-upload-mb",
        type=positive_float,
        default=d.max_upload_mb,
        metavar="MB",
        help=f"largest upload accepted (default: {d.max_upload_mb:g})",
    )
    p.add_argument(
        "--max-minutes",
        type=positive_float,
        default=d.max_seconds / 60,
        metavar="MIN",
        help=f"longest song accepted (default: {d.max_seconds / 60:g})",
    )
    p.add_argument(
        "--max-batch",
        type=positive_int,
        default=d.max_batch,
        metavar="N",
        help=f"songs tagged together at most (default: {d.max_batch})",
    )
    p.add_argument(
        "--max-wait-ms",
        type=float,
        default=d.max_wait_ms,
        metavar="MS",
        help=f"how long a batch waits for more songs after its first (default: {d.max_wait_ms:g})",
    )
    p.add_argument(
        "--decoders",
        type=positive_int,
        default=None,
        metavar="N",
        help="decoding processes (default: the usable cores)",
    )
    p.add_argument(
        "--hop",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="seconds between window starts (default: one window, as autotag tag; with "
        "--index: the index's)",
    )
    p.add_argument("--agg", choices=AGGREGATIONS, default=DEFAULT_AGG, help="window aggregation")
    p.add_argument(
        "--batch-size", type=positive_int, default=DEFAULT_BATCH, metavar="N",
        help=f"windows per forward pass (default: {DEFAULT_BATCH})",
    )  # fmt: skip
    p.add_argument(
        "--max-pending",
        type=positive_int,
        default=d.max_pending,
        metavar="N",
        help=f"uploads in progress at once; more get 503 (default: {d.max_pending})",
    )
    p.add_argument(
        "--temp-dir",
        default=None,
        metavar="DIR",
        help="where the service's temporary folder for uploads goes (default: the system's)",
    )
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from autotag.serve.app import build_app
    from autotag.serve.service import Service, open_index

    try:
        settings = ServeSettings(
            max_upload_mb=args.max_upload_mb,
            max_seconds=args.max_minutes * 60,
            max_batch=args.max_batch,
            max_wait_ms=args.max_wait_ms,
            decoders=args.decoders,
            hop=args.hop,
            agg=args.agg,
            batch_size=args.batch_size,
            max_pending=args.max_pending,
            temp_dir=args.temp_dir,
        )
    except ValueError as e:
        raise UsageError(str(e)) from None
    tagger = load_tagger(args.model)
    index = None
    if args.index:
        try:
            index = open_index(args.index)
        except IndexFileError as e:
            raise UsageError(str(e)) from None
        if args.hop is not None and args.hop != index.hop_seconds:
            raise UsageError(
                f"--hop {args.hop:g}: the index {args.index} was made with hop "
                f"{index.hop_seconds:g} s; leave --hop out to use it"
            )
    try:
        service = Service(tagger, settings, index)
    except (TaggerError, ValueError) as e:
        raise UsageError(str(e)) from None
    if args.temp_dir and not Path(args.temp_dir).is_dir():
        raise UsageError(f"--temp-dir {args.temp_dir}: no such folder")
    sock = _bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    if args.host not in LOOPBACK:
        print(
            f"warning: listening on {args.host}: reachable from other machines, with no "
            "authentication; put it behind a proxy that has some",
            file=sys.stderr,
        )
    where = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    print(
        f"autotag serve: {where} (model {service.name}"
        + (f", index of {len(index)} songs" if index is not None else "")
        + ")",
        file=sys.stderr,
        flush=True,
    )
    # uvicorn finishes the requests in flight on SIGTERM or SIGINT, then raises the signal again
    # once its own handler is gone; these handlers take it, so that a clean shutdown exits 0
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    config = uvicorn.Config(
        build_app(service), log_level=args.log_level, timeout_graceful_shutdown=120
    )
    uvicorn.Server(config).run(sockets=[sock])
    return EXIT_OK


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    sock.set_inheritable(True)
    return sock
