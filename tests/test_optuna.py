"""An Optuna search end to end: ``python sweep.py sweep=optuna`` (hydra-optuna-sweeper, TPE)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep
from omegaconf import OmegaConf

from tests.helpers import ROOT, mini_overrides

PARAMS = ("optimizer.lr", "model.dropout", "loss.max_pos_weight")


def _search_space() -> dict[str, tuple[float, float]]:
    """``{key: (low, high)}`` of the intervals of conf/sweep/optuna.yaml."""
    params = OmegaConf.load(ROOT / "conf" / "sweep" / "optuna.yaml").hydra.sweeper.params
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    space = {}
    for o in parsed:
        assert isinstance(o.value(), IntervalSweep), o
        space[o.get_key_element()] = (o.value().start, o.value().end)
    return space


def test_optuna_search_runs_two_trials_and_reports_the_best(tmp_path, mini_mtat, mini_store_dir):
    space = _search_space()
    assert set(space) == set(PARAMS)
    sweep_dir = tmp_path / "multirun" / "optuna"
    db = tmp_path / "optuna.db"
    cmd = [
        sys.executable,
        "sweep.py",
        "sweep=optuna",
        *mini_overrides(mini_mtat, mini_store_dir),
        "epochs=1",
        "hydra.sweeper.n_trials=2",
        f"hydra.sweeper.storage=sqlite:///{db}",  # optuna 2.10's RDB storage (SQLAlchemy < 2)
        f"hydra.sweep.dir={sweep_dir}",
        # job folders 0, 1: the mini overrides would make the usual override names too long
        "hydra.sweep.subdir=${hydra.job.num}",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "Sampler: TPESampler" in log, log[-3000:]

    # each trial is a job of sweep.py that trained and wrote results.json
    jobs = sorted(p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit())
    assert [j.name for j in jobs] == ["0", "1"]
    trials = []
    for job in jobs:
        assert not (job / "failed.json").exists(), (job / "failed.json").read_text()
        val = json.loads((job / "results.json").read_text())["val"]["roc_auc"]
        assert math.isfinite(val) and 0.0 <= val <= 1.0
        overrides = OverridesParser.create().parse_overrides(
            list(OmegaConf.load(job / ".hydra" / "overrides.yaml"))
        )
        params = {o.get_key_element(): o.value() for o in overrides if o.key_or_group in PARAMS}
        cfg = OmegaConf.load(job / ".hydra" / "config.yaml")
        assert cfg.model.batch_norm is True and cfg.epochs == 1  # model fcn_bn
        # the sampled values reached the training config, inside the search space
        for key, (low, high) in space.items():
            assert low <= params[key] <= high, (key, params[key])
            assert OmegaConf.select(cfg, key) == params[key]
        trials.append((val, params))
    assert trials[0][1] != trials[1][1]  # two different points

    # Optuna's report: the best trial is the job with the highest validation ROC-AUC
    best = OmegaConf.to_container(OmegaConf.load(sweep_dir / "optimization_results.yaml"))
    assert best["name"] == "optuna"
    top = max(v for v, _ in trials)
    assert best["best_value"] == top
    assert best["best_params"] in [params for v, params in trials if v == top]  # ties: either

    # the study in the database has the same two trials
    study = optuna.load_study(study_name="autotag", storage=f"sqlite:///{db}")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert [t.value for t in study.trials] == [v for v, _ in trials]

    # and the sweep report lists both jobs as finished
    assert "2 jobs: 2 finished, 0 failed" in (sweep_dir / "results.md").read_text()
