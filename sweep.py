"""Run a grid of training runs as one Hydra multirun: ``python sweep.py sweep=paper``.

Grids are configs of the ``sweep`` group (conf/sweep/*.yaml); axes given on the command line
replace the grid's (``python sweep.py sweep=paper norm=global,per_spec epochs=1,2``). Each job
is an ordinary training run in ``multirun/<sweep>/<overrides>``; finished jobs are skipped on a
rerun, failed ones run again. The report (results.csv/.md/.png) is written into the sweep
folder at the end. See conf/sweep.yaml.
"""

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="sweep")
def main(cfg: DictConfig) -> float:
    from autotag.common.worker import keep_freed_memory
    from autotag.entry import absolute_paths, check_group_names, launch_dir, run_dir, run_info
    from autotag.experiments.job import Job, run_job

    keep_freed_memory()  # the job's process is ours (see train.py)

    hc = HydraConfig.get()
    job = Job(
        out=run_dir(),
        sweep_dir=launch_dir() / hc.sweep.dir,
        overrides=list(hc.overrides.task),
        excluded=list(hc.job.config.override_dirname.exclude_keys),
        run=run_info(cfg),
    )
    return run_job(
        absolute_paths(check_group_names(cfg)), job
    )  # validation ROC-AUC: the objective of Optuna


def seed_axis(argv: list[str]) -> list[str]:
    """``sweep.seeds=N`` (N > 1) on the command line adds the axis ``seed=0,...,N-1`` (unless
    the command line already sweeps ``seed``): a job folder per seed, found again on a rerun.
    Grids in YAML list their seed axis themselves (conf/sweep/control.yaml)."""
    given = [a.split("=", 1)[1] for a in argv if a.lstrip("+").startswith("sweep.seeds=")]
    if not given:
        return argv
    try:
        n = int(given[-1])
    except ValueError:
        raise SystemExit(f"sweep.seeds={given[-1]}: give a whole number of seeds") from None
    if n > 1 and any(a.lstrip("+").startswith("seed=") for a in argv):
        raise SystemExit("sweep.seeds and a seed= axis on one command line: give one of them")
    if n > 1 and "sweep=optuna" in argv:
        raise SystemExit("sweep.seeds with sweep=optuna would make Optuna tune the seed")
    return [*argv, "seed=" + ",".join(str(i) for i in range(n))] if n > 1 else argv


if __name__ == "__main__":
    if any("data." in a for a in sys.argv[1:]):  # a key's old name: say its new one (train.py)
        from autotag.entry import exit_on_renamed_keys

        exit_on_renamed_keys(sys.argv[1:], "sweep.py")
    sys.argv = seed_axis(sys.argv)
    main()
