"""``python -m autotag.prepare``: manifest → HDF5 log-mel store (Hydra entry point).

Examples::

    python -m autotag.prepare                                   # built-in synthetic corpus
    python -m autotag.prepare data=mtat data.root=/data/mtat features=choi
    python -m autotag.prepare data=csv data.root=my_catalogue.csv
    python -m autotag.prepare data=jamendo features=won128              # whole tracks
    python -m autotag.prepare -m data=jamendo features=won128 hydra/launcher=slurm_prepare \
        store.num_shards=16 'store.shard=range(16)'                      # a Slurm array job
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from autotag.common.worker import keep_freed_memory
from autotag.data.prepare import store_of
from autotag.data.store import is_complete
from autotag.data.variants import Variants, variants_path
from autotag.entry import absolute_paths, exit_on_renamed_keys, reporting_input_errors


@hydra.main(version_base="1.3", config_path="../conf", config_name="prepare")
def main(cfg: DictConfig) -> None:
    keep_freed_memory()  # this process is ours; its workers inherit it
    cfg = absolute_paths(cfg)  # the keys it lacks (ckpt_path, init_from) are skipped
    plain = OmegaConf.to_container(cfg, resolve=True)
    path = reporting_input_errors(
        lambda: store_of(plain),
        "python -m autotag.prepare",
    )
    if is_complete(path) and not path.with_suffix(".parts").exists():
        print(f"store ready: {path}")
        spec = Variants.from_dict(plain["store"]["variants"])
        if spec.k:
            print(f"variants ready: {variants_path(path, spec)} ({spec.k} per training clip)")
    else:
        shard, n = plain["store"]["shard"], plain["store"]["num_shards"]
        print(f"shard {shard} of {n} prepared; the task that finishes last assembles {path}")


if __name__ == "__main__":
    exit_on_renamed_keys(
        sys.argv[1:], "python -m autotag.prepare"
    )  # Hydra would say "not in struct"
    main()
