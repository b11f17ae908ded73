"""Run a grid of training runs as one Hydra multirun: ``python sweep.py sweep=paper``.

Grids are configs of the ``sweep`` group (conf/sweep/*.yaml); axes given on the command line
replace the grid's (``python sweep.py sweep=paper norm=global,per_spec epochs=1,2``). Each job
is an ordinary training run (``autotag.training.train``) in ``multirun/<sweep>/<overrides>``;
finished jobs are skipped on a rerun, failed ones run again. The report (results.csv/.md/.png)
is written into the sweep folder at the end. See conf/sweep.yaml.
"""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="sweep")
def main(cfg: DictConfig) -> float:
    from autotag.sweep import run_job

    return run_job(cfg)  # validation ROC-AUC: the objective of an Optuna sweep


if __name__ == "__main__":
    main()
