"""The data sets' registry: every folder under ``autotag/data/datasets/`` whose ``entry.py``
defines ``DATASET`` is a data set, found by its folder (no list to edit).

A :class:`Dataset` names its entry points: the reader (``data.reader`` picks it), and optionally
a synthetic twin, a download command and a synth command. The ``data`` config's reader keys are
the reader's keyword arguments, checked against its signature: an unknown key is an error that
names the valid ones. Paths in ``data`` are used as given: the entry points make them absolute.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
from argparse import ArgumentParser, Namespace
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autotag.common.keywords import keywords, unknown_keyword
from autotag.data.manifest import DataError, Manifest

log = logging.getLogger(__name__)

# Keys every data set's `data` config has besides its reader's arguments: `name` and `split`
# name the store, `top_k` goes to the loaders, `reader` picks the data set, `root` is the reader's
# first argument and `generate` the synthetic twin's arguments. `split` and `top_k` go to the
# reader too when it takes them. The store's and the loaders' keys are groups of their own
# (`store`, `loader`).
DATA_KEYS = ("name", "reader", "root", "split", "top_k", "generate")
# Keys the `data` group held before the store's and the loaders' became groups of their own, by
# their new names (a YAML or command line that still sets one is told where it went).
MOVED_KEYS = {
    "store_dir": "store.dir",
    "prepare_workers": "store.workers",
    "shard_size": "store.shard_size",
    "shard": "store.shard",
    "num_shards": "store.num_shards",
    "excerpt": "store.excerpt",
    "min_audio_seconds": "store.min_audio_seconds",
    "batch_size": "loader.batch_size",
    "num_workers": "loader.num_workers",
    "in_memory": "loader.in_memory",
    "random_crop": "loader.random_crop",
    "eval_chunks": "loader.eval_chunks",
    "crops_per_item": "loader.crops_per_item",
    "train_fraction": "loader.train_fraction",
}


@dataclass(frozen=True)
class Command:
    """A subcommand of ``autotag download`` or ``autotag synth`` for one data set."""

    help: str
    add_arguments: Callable[[ArgumentParser], None]
    run: Callable[[Namespace], int]  # returns the exit code


@dataclass(frozen=True)
class Twin:
    """A data set's synthetic twin: ``generate(root, **data.generate)`` writes it in the data
    set's own layout; ``exists(root)`` tells whether ``root`` already holds a corpus."""

    generate: Callable[..., dict]
    exists: Callable[[Path], bool]


@dataclass(frozen=True)
class Dataset:
    """A data set's entry points. ``reader(root, **keys)`` returns its :class:`Manifest`."""

    name: str
    reader: Callable[..., Manifest]
    twin: Twin | None = None
    download: Command | None = None
    synth: Command | None = None


def datasets() -> dict[str, Dataset]:
    """Every data set, by name: the ``entry.DATASET`` of each folder of this package."""
    package = importlib.import_module(__package__)
    found: dict[str, Dataset] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        dataset = importlib.import_module(f"{__package__}.{info.name}.entry").DATASET
        if dataset.name in found:
            raise RuntimeError(f"two data sets are named {dataset.name!r}")
        found[dataset.name] = dataset
    return found


def get_dataset(name: str) -> Dataset:
    """The data set ``name``; a :class:`DataError` naming the others when there is none."""
    known = datasets()
    if name not in known:
        raise DataError(f"data.reader={name!r}: choose one of {', '.join(known)}")
    return known[name]


def keyword_arguments(fn: Callable[..., Any], given: Mapping[str, Any], where: str) -> dict:
    """``given`` checked against ``fn``'s keyword parameters (its first parameter excluded: the
    root). An unknown key or a missing required one is a :class:`DataError` naming the valid ones."""
    params = list(inspect.signature(fn).parameters.values())
    valid = keywords(fn, (params[0].name,))
    message = unknown_keyword(valid, given, where, owner=f"{fn.__module__}.{fn.__name__}")
    if message:
        raise DataError(message)
    missing = [p.name for p in params if p.name in valid and p.default is p.empty]
    missing = [k for k in missing if k not in given]
    if missing:
        raise DataError(f"{where}: {', '.join(missing)} missing (set {where}.{missing[0]})")
    return dict(given)


def load_manifest(data: Mapping[str, Any]) -> Manifest:
    """The manifest of ``data``: its data set's reader on ``data.root`` with the reader's keys
    (the synthetic twin is generated first when ``data.generate`` is set and root has none)."""
    moved = [k for k in data if k in MOVED_KEYS]
    if moved:
        raise DataError(f"data.{moved[0]} is now {MOVED_KEYS[moved[0]]}")
    dataset = get_dataset(data["reader"])
    root = Path(data["root"]).expanduser()
    taken = inspect.signature(dataset.reader).parameters
    reader_keys = {
        k: v for k, v in data.items() if k != "root" and (k not in DATA_KEYS or k in taken)
    }
    kwargs = keyword_arguments(dataset.reader, reader_keys, "data")
    generate = data.get("generate")  # absent or null: real data, read as it is
    if generate is not None:
        if dataset.twin is None:
            raise DataError(f"data.generate: the {dataset.name} data set has no synthetic twin")
        if not dataset.twin.exists(root):
            log.info("generating the synthetic %s corpus in %s", dataset.name, root)
            gen = keyword_arguments(dataset.twin.generate, dict(generate), "data.generate")
            failed = dataset.twin.generate(root, **gen).get("failed")
            if failed:  # a render worker died: the corpus is not whole, a re-run finishes it
                raise DataError(
                    f"the synthetic {dataset.name} corpus in {root} is incomplete: {len(failed)} "
                    f"file(s) failed to render ({', '.join(map(str, failed[:5]))}); run again"
                )
    return dataset.reader(root, **kwargs)


def signature_defaults(fn: Callable[..., Any]) -> dict[str, Any]:
    """``fn``'s parameters that have a default, with it (commands take their defaults here, so
    that a default lives once: in the signature)."""
    params = inspect.signature(fn).parameters.values()
    return {p.name: p.default for p in params if p.default is not p.empty}


def add_twin_flags(ap: ArgumentParser, generate: Callable[..., Any]) -> None:
    """The flags every ``autotag synth <data set>`` shares, defaults from ``generate``'s
    signature (a data set adds its own sizes before these)."""
    d = signature_defaults(generate)
    ap.add_argument("--sample-rate", type=int, default=d["sample_rate"])
    ap.add_argument("--seed", type=int, default=d["seed"])
    ap.add_argument(
        "--label-drop", type=float, default=d["label_drop"], help="share of true labels dropped"
    )
    ap.add_argument("--workers", type=int, default=d["workers"], help="processes (all cores)")
    ap.add_argument("--no-broken", action="store_true", help="no deliberately broken entries")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")


def twin_options(args: Namespace) -> dict[str, Any]:
    """The keyword arguments of a twin's ``generate`` that :func:`add_twin_flags` set."""
    return {
        "sample_rate": args.sample_rate,
        "seed": args.seed,
        "label_drop": args.label_drop,
        "workers": args.workers,
        "broken": not args.no_broken,
        "progress": not args.quiet,
    }
