"""Train and evaluate a tagger: ``python train.py norm=per_coeff model=fcn_bn``."""

import sys

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    from autotag.common.worker import keep_freed_memory
    from autotag.entry import (
        absolute_paths,
        check_group_names,
        reporting_input_errors,
        run_dir,
        run_info,
    )  # after argument parsing
    from autotag.training.run import fit

    keep_freed_memory()  # this process is ours: 2x faster CPU training (bench/RESULTS.md)

    def job() -> dict:
        return fit(absolute_paths(check_group_names(cfg)), out_dir=run_dir(), run=run_info(cfg))

    # a bad value or file: one line naming it, exit code 2 (not Hydra's traceback)
    results = reporting_input_errors(job, "train.py")
    return results["val"]["roc_auc"]  # the objective a Hydra sweeper (Optuna) maximizes


if __name__ == "__main__":
    if any("data." in a for a in sys.argv[1:]):  # a key's old name: say its new one (not Hydra's
        from autotag.entry import exit_on_renamed_keys  # "not in struct"); torch loads only then

        exit_on_renamed_keys(sys.argv[1:], "train.py")
    main()
