"""``python -m autotag.catalogue``: tag and embed a catalogue, resumable and sharded over a
cluster (Hydra entry point; ``autotag catalogue`` is the one-machine command).

Examples::

    python -m autotag.catalogue tagger=run/tagger.pt input=/music out=catalogue
    python -m autotag.catalogue tagger=musicnn:MSD_musicnn input=songs.csv out=catalogue
    python -m autotag.catalogue tagger=run/tagger.pt data=mtat data.root=data/mtat out=mtat_cat
    python -m autotag.catalogue -m tagger=musicnn:MSD_musicnn input=/music out=/scratch/cat \
        hydra/launcher=slurm_prepare num_shards=16 'shard=range(16)'   # a Slurm array job
"""

from __future__ import annotations

import sys
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from autotag.common.worker import keep_freed_memory
from autotag.entry import PATH_KEYS, absolute_paths, reporting_input_errors
from autotag.inference import Tagger
from autotag.inference.catalogue import ERRORS, CatalogueRun, pick_device, run_catalogue
from autotag.inference.catalogue_input import catalogue_songs

ENTRY = "python -m autotag.catalogue"


def job(cfg: dict[str, Any]) -> CatalogueRun:
    """The job of a composed config (paths absolute)."""
    tagger = Tagger.load(cfg["tagger"], pick_device(str(cfg["device"])))
    tagger.embedding_layer = cfg["layer"]
    inputs = [cfg["input"]] if cfg.get("input") is not None else []
    paths, ids = catalogue_songs(inputs, cfg.get("data"))
    return run_catalogue(
        tagger, paths, ids, cfg["out"], unit_size=int(cfg["unit_size"]), shard=cfg["shard"],
        num_shards=int(cfg["num_shards"]), workers=cfg["workers"],
        batch_size=int(cfg["batch_size"]), hop=cfg["hop"], agg=str(cfg["agg"]),
        progress=bool(cfg["progress"]),
        on_error=lambda msg: print(f"error: {msg}", file=sys.stderr, flush=True),
    )  # fmt: skip


@hydra.main(version_base="1.3", config_path="../conf", config_name="catalogue")
def main(cfg: DictConfig) -> None:
    keep_freed_memory()  # this process is ours; its workers inherit it
    cfg = absolute_paths(cfg, (*PATH_KEYS, "tagger", "input", "out"))
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    done = reporting_input_errors(lambda: job(plain), ENTRY)
    if done.complete:
        failed = (
            f"; {done.n_failed} failed (listed in {done.out / ERRORS})" if done.n_failed else ""
        )
        print(f"catalogue ready: {done.out} ({done.n_songs} songs{failed})")
    else:
        print(
            f"shard {cfg.shard} of {cfg.num_shards} tagged ({done.tagged} songs, {done.n_failed} "
            f"failed); the task that finishes last merges {done.out}"
        )


if __name__ == "__main__":
    main()
