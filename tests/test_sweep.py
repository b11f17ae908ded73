"""sweep.py: grids as configs, multirun jobs, skip-finished, failures, duplicates, the report."""

from __future__ import annotations

import csv
import json
import logging
import runpy
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from autotag.cli import main
from autotag.experiments.aggregate import group_rows
from autotag.experiments.collect import COLUMNS, collect
from autotag.experiments.job import identity
from autotag.experiments.render import markdown
from tests.helpers import MINI_POOLS, ROOT


def _compose_sweep(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("sweep", overrides=overrides, return_hydra_config=True)


def test_paper_grid_is_a_multirun_config_and_the_command_line_replaces_axes():
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    cfg = _compose_sweep(["sweep=paper", "experiment=synthetic_cpu"])
    h = cfg.hydra
    assert str(h.mode) == "RunMode.MULTIRUN"
    sweep = OmegaConf.to_container(h.sweep, resolve=False)
    assert sweep == {"dir": "multirun/${sweep.name}", "subdir": "${hydra.job.override_dirname}"}
    assert h.sweep.dir == "multirun/paper"
    assert h.callbacks.sweep_report._target_ == "autotag.experiments.sweep_callback.SweepReport"
    assert cfg.group == "paper" and cfg.sweep.published.split == "folds"
    params = dict(h.sweeper.params)
    assert params == {
        "norm": "global,per_coeff,per_spec,prelog",
        "model": "fcn,fcn_bn,rf,knn",
        "epochs": "2,10",
    }

    def jobs(cli: list[str]) -> list[list[str]]:
        args = [f"{k}={v}" for k, v in params.items()] + cli
        (batch,) = BasicSweeper.split_arguments(
            OverridesParser.create().parse_overrides(args), None
        )
        return batch

    cpu = _compose_sweep(["sweep=paper_cpu", "model=fcn", "epochs=2"])
    assert (cpu.model.width, cpu.loader.in_memory, cpu.epochs, cpu.trainer.accelerator) == (
        0.125,
        True,
        2,  # the grid's epochs beat experiment=synthetic_cpu's 10
        "cpu",
    )
    assert cpu.sweep.name == "paper_cpu" and dict(cpu.hydra.sweeper.params) == params

    assert len(jobs([])) == 32  # 16 network runs, 8 baselines, 8 baseline duplicates
    narrowed = jobs(["norm=global,per_spec", "epochs=1"])
    assert len(narrowed) == 8 and all("epochs=1" in j for j in narrowed)


def test_identity_and_markdown_with_paper_numbers():
    ov = ["model=rf", "epochs=10", "optimizer.lr=0.1", "data.root=/x", "norm=global"]
    assert identity(ov, ["data.root"], ("epochs", "optimizer")) == ["model=rf", "norm=global"]
    assert identity(ov, ["epochs"]) == [
        "data.root=/x",
        "model=rf",
        "norm=global",
        "optimizer.lr=0.1",
    ]
    row = dict.fromkeys(COLUMNS) | dict(
        job="x",
        other="",
        status="finished",
        model="fcn_bn",
        norm="global",
        epochs=10,
        split="folds",
        seed=0,
        val_roc_auc=0.8,
        test_roc_auc=0.81,
        test_roc_auc_lo=0.79,
        test_roc_auc_hi=0.83,
        paper_val_roc_auc=0.8655,  # Nair & Bradley, Table II
        paper_test_roc_auc=0.8714,
        paper_source="Nair & Bradley Table II (folds)",
        seconds=30.0,
    )
    md = markdown([row], "sweep paper")
    assert (
        "| fcn_bn | global | 10 | folds | 0.8000 | 0.8100 | 0.790–0.830 | – | – | – | 0.8655 | 0.8714 "
        "| Nair & Bradley Table II (folds) | 30 s | finished |" in md
    )
    assert "paper val" in md and "1 jobs: 1 finished, 0 failed" in md
    assert "95% CI: percentile bootstrap over test clips" in md  # an older results.json
    assert "over test songs (results.json)" in markdown([row | dict(ci_unit="song")])
    # several seeds of one configuration: mean ± sample sd, the seed count
    seeds = [row | dict(seed=i, test_roc_auc=v, job=f"s{i}") for i, v in enumerate((0.8, 0.9))]
    seeds.append(row | dict(seed=2, status="failed", test_roc_auc=None, job="s2"))
    md = markdown(seeds, "s", groups=group_rows(seeds))
    sd = float(np.std([0.8, 0.9], ddof=1))
    assert f"| 2 of 3 | 0.8000 ± 0.0000 | 0.8500 ± {sd:.4f} | – | 0.8714 | Nair & Bradley" in md
    assert "2 finished, 1 failed" in md
    # a paper number only beside rows of the paper's split
    (clean,) = [row | dict(split="clean", paper_val_roc_auc=None, paper_test_roc_auc=None)]
    assert "paper" not in markdown([clean], "c")


def _config_dir(tmp_path: Path, mini_mtat: Path, store_dir: Path, grid: str) -> Path:
    """A search-path folder with the mini corpus settings (an experiment) and a grid."""
    conf = tmp_path / "conf"
    (conf / "experiment").mkdir(parents=True)
    (conf / "sweep").mkdir()
    (conf / "experiment" / "mini.yaml").write_text(
        f"""# @package _global_
defaults:
  - override /data: mtat
  - override /trainer: cpu
  - override /logger: csv
data: {{root: {mini_mtat}, top_k: 4}}
store: {{dir: {store_dir}, workers: 0}}
loader: {{batch_size: 8, num_workers: 0}}
features: {{n_mels: 24, n_fft: 512, hop_length: 256, clip_seconds: 3.0, n_frames: 188}}
model: {{width: 0.0625, pools: {MINI_POOLS}, n_estimators: 30, n_jobs: 1}}
trainer: {{enable_model_summary: false}}
progress_refresh: 1000
"""
    )
    (conf / "sweep" / "tiny.yaml").write_text(f"# @package _global_\n{grid}")
    return conf


def _sweep(
    conf: Path, sweep_dir: Path, *args: str, capsys=None, subprocess_: bool = False
) -> tuple[str, float]:
    """Run sweep.py with the mini experiment and the test grid; returns (output, seconds).

    In this process (``sys.argv`` patched, as ``python sweep.py ...`` would) unless
    ``subprocess_``: no second import of torch and Lightning.
    """
    argv = [
        "sweep.py",
        f"hydra.searchpath=[file://{conf}]",
        "sweep=tiny",
        "experiment=mini",
        f"hydra.sweep.dir={sweep_dir}",
        *args,
    ]
    t0 = time.perf_counter()
    if subprocess_:
        proc = subprocess.run(
            [sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=600
        )
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
        return proc.stdout + proc.stderr, time.perf_counter() - t0
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    saved_argv = sys.argv
    GlobalHydra.instance().clear()
    try:
        sys.argv = argv
        runpy.run_path(str(ROOT / "sweep.py"), run_name="__main__")
    finally:
        sys.argv = saved_argv
        GlobalHydra.instance().clear()
        root.handlers[:] = handlers  # Hydra configured logging for its jobs
        root.setLevel(level)
    out = capsys.readouterr() if capsys is not None else None
    return (out.out + out.err if out else ""), time.perf_counter() - t0


def _rows(sweep_dir: Path) -> list[dict[str, str]]:
    with open(sweep_dir / "results.csv") as f:
        return list(csv.DictReader(f))


def test_tiny_sweep_runs_reports_and_a_rerun_skips_finished_jobs(
    tmp_path, mini_mtat, mini_store_dir, capsys
):
    grid = "sweep: {name: tiny}\nhydra: {sweeper: {params: {model: 'fcn,rf', epochs: '1,2'}}}\n"
    conf = _config_dir(tmp_path, mini_mtat, mini_store_dir, grid)
    sw = tmp_path / "multirun" / "tiny"
    log, first = _sweep(conf, sw, capsys=capsys)
    rows = _rows(sw)
    # fcn e1, fcn e2, rf (the rf job of epochs=2 is a duplicate of epochs=1 and is skipped)
    assert [(r["model"], r["epochs"], r["status"]) for r in rows] == [
        ("fcn", "1", "finished"),
        ("fcn", "2", "finished"),
        ("rf", "", "finished"),
    ]
    assert all(0.5 < float(r["test_roc_auc"]) <= 1 for r in rows)
    assert {r["job"] for r in rows} == {
        "epochs=1,experiment=mini,model=fcn",
        "epochs=2,experiment=mini,model=fcn",
        "epochs=1,experiment=mini,model=rf",
    }
    assert json.loads(
        (sw / "epochs=2,experiment=mini,model=rf" / "duplicate.json").read_text()
    ) == {
        "of": "epochs=1,experiment=mini,model=rf",
        "ignores": [
            *("epochs", "optimizer", "scheduler", "loss", "ckpt_path", "init_from", "augment"),
            *("model.pools", "model.width"),  # the mini experiment's keys for the networks
        ],
    }
    md = (sw / "results.md").read_text()
    assert "3 jobs: 3 finished, 0 failed" in md and "1 duplicate" in md
    assert {r["ci_unit"] for r in rows} == {"song"} and "bootstrap over test songs" in md
    assert (sw / "results.png").stat().st_size > 1000
    stamp = (sw / "epochs=2,experiment=mini,model=fcn" / "results.json").stat().st_mtime

    log, second = _sweep(conf, sw, capsys=capsys)
    assert log.count("finished (results.json exists)") == 3, log[-3000:]
    assert "Epoch" not in log  # nothing trained
    assert (sw / "epochs=2,experiment=mini,model=fcn" / "results.json").stat().st_mtime == stamp
    assert second < first
    assert _rows(sw) == rows

    # a job killed after training (no results.json, or half of one) resumes from its last.ckpt
    (sw / "epochs=2,experiment=mini,model=fcn" / "results.json").write_text('{"val": {"roc')
    log, _ = _sweep(conf, sw, capsys=capsys)
    assert log.count("finished (results.json exists)") == 2
    assert "resuming from" in log and "cannot be resumed" not in log and "cannot be read" in log
    resumed = json.loads((sw / "epochs=2,experiment=mini,model=fcn" / "results.json").read_text())
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]  # the history came with last.ckpt
    assert [r["status"] for r in _rows(sw)] == ["finished"] * 3

    # the report rebuilt by hand gives the same table
    (sw / "results.csv").unlink()
    assert main(["report", str(sw)]) == 0
    assert [(r["job"], r["status"]) for r in _rows(sw)] == [(r["job"], r["status"]) for r in rows]


def test_a_failing_job_is_reported_and_the_others_finish(
    tmp_path, mini_mtat, mini_store_dir, capsys
):
    grid = (
        "sweep: {name: fail}\nhydra: {sweeper: {params: {model: rf, norm.mode: 'global,bogus'}}}\n"
    )
    conf = _config_dir(tmp_path, mini_mtat, mini_store_dir, grid)
    sw = tmp_path / "multirun" / "fail"
    log, _ = _sweep(conf, sw, capsys=capsys)
    rows, _dups = collect(sw)
    status = {r["norm"]: r["status"] for r in rows}
    assert status == {"global": "finished", "bogus": "failed"}
    bad = next(r for r in rows if r["status"] == "failed")
    assert "norm.mode='bogus'" in bad["error"]
    failed = json.loads((sw / bad["job"] / "failed.json").read_text())
    assert "ValueError" in failed["error"] and "Traceback" in failed["traceback"]
    assert "failed: ValueError" in (sw / "results.md").read_text()
    # a rerun skips the finished job and runs the failed one again
    log, _ = _sweep(conf, sw, capsys=capsys)
    assert log.count("finished (results.json exists)") == 1
    assert log.count("failed (written to failed.json)") == 1


def test_resumable_needs_the_best_checkpoint_of_last_ckpt(tmp_path):
    import torch

    from autotag.experiments.job import resumable

    best = tmp_path / "epoch000.ckpt"
    state = {"ModelCheckpoint{'monitor': 'val/roc_auc'}": {"best_model_path": str(best)}}
    torch.save({"epoch": 0, "callbacks": state}, tmp_path / "last.ckpt")
    assert not resumable(tmp_path / "last.ckpt")
    best.write_bytes(b"")
    assert resumable(tmp_path / "last.ckpt")
    (tmp_path / "bad.ckpt").write_text("not a checkpoint")
    assert not resumable(tmp_path / "bad.ckpt")


@pytest.mark.slow
def test_submitit_local_launcher_runs_a_job(tmp_path, mini_mtat, mini_store_dir):
    grid = "sweep: {name: local}\nhydra: {sweeper: {params: {model: fcn, epochs: '1'}}}\n"
    conf = _config_dir(tmp_path, mini_mtat, mini_store_dir, grid)
    sw = tmp_path / "multirun" / "local"
    _sweep(conf, sw, "hydra/launcher=local", "hydra.launcher.timeout_min=10", subprocess_=True)
    (row,) = _rows(sw)
    assert row["status"] == "finished" and float(row["test_roc_auc"]) > 0.5
    assert list((sw / ".submitit").glob("*/*_result.pkl"))


def test_optuna_search_config_composes():
    cfg = _compose_sweep(["sweep=optuna"])
    assert cfg.hydra.sweeper.direction == "maximize"
    assert set(cfg.hydra.sweeper.params) == {"optimizer.lr", "model.dropout", "loss.max_pos_weight"}
    assert cfg.hydra.runtime.choices.model == "fcn_bn" and cfg.sweep.name == "optuna"


def test_seeds_give_mean_and_sd_and_rows_are_compared_with_a_reference(
    tmp_path, mini_mtat, mini_store_dir, capsys
):
    grid = "sweep: {name: seeds}\nhydra: {sweeper: {params: {model: fcn, epochs: '1,3'}}}\n"
    conf = _config_dir(tmp_path, mini_mtat, mini_store_dir, grid)
    sw = tmp_path / "multirun" / "seeds"
    args = ("sweep.seeds=2", "sweep.reference='epochs=1'")
    _sweep(conf, sw, *args, capsys=capsys)
    rows = _rows(sw)
    assert sorted(r["job"] for r in rows) == sorted(
        f"epochs={e},experiment=mini,model=fcn,seed={s}" for e in (1, 3) for s in (0, 1)
    )
    md = (sw / "results.md").read_text()
    by_epochs = {e: [float(r["test_roc_auc"]) for r in rows if r["epochs"] == e] for e in "13"}
    mean3, sd3 = np.mean(by_epochs["3"]), np.std(by_epochs["3"], ddof=1)
    assert "| 2 of 2 | " in md and f"{mean3:.4f} ± {sd3:.4f}" in md
    # Δ vs the reference row of the same seed, on the same clips
    from autotag.experiments.compare import compare_runs

    for seed in (0, 1):
        ref, row = (
            next(r for r in rows if r["epochs"] == e and r["seed"] == str(seed)) for e in "13"
        )
        res = compare_runs(sw / ref["job"], sw / row["job"], "test", 1000, 0, "auto")
        assert float(row["ref_diff"]) == pytest.approx(res["roc_auc"]["difference"])
        excludes = res["roc_auc"]["interval"][0] > 0 or res["roc_auc"]["interval"][1] < 0
        assert row["ref_excludes_zero"] == str(excludes)
        assert row["ref_unit"] == res["unit"] == "song"
    assert "paired-bootstrap 95% interval over songs excludes 0" in md
    assert "Δ test ROC-AUC vs ref" in md and "(ref)" in md
    log, _ = _sweep(conf, sw, *args, capsys=capsys)
    assert log.count("finished (results.json exists)") == 4


def test_seed_axis_from_the_command_line_and_one_job_per_seed():
    seed_axis = runpy.run_path(str(ROOT / "sweep.py"))["seed_axis"]
    assert seed_axis(["sweep.py", "sweep.seeds=3"])[-1] == "seed=0,1,2"
    assert seed_axis(["sweep.py", "++sweep.seeds=2"])[-1] == "seed=0,1"
    assert seed_axis(["sweep.py", "sweep.seeds=1"]) == ["sweep.py", "sweep.seeds=1"]
    for bad, msg in (
        (["sweep.seeds=x"], "whole number"),
        (["sweep.seeds=2", "seed=5"], "give one of them"),
        (["sweep=optuna", "sweep.seeds=2"], "Optuna"),
    ):
        with pytest.raises(SystemExit, match=msg):
            seed_axis(["sweep.py", *bad])
    # a sweep run first without seeds, then with sweep.seeds=2: seed 0 is there twice
    base = dict.fromkeys(COLUMNS) | dict(
        model="fcn", norm="global", epochs=2, other="", split="folds", status="finished"
    )
    rows = [
        base | dict(job="epochs=2", seed=0, test_roc_auc=0.70),
        base | dict(job="epochs=2,seed=0", seed=0, test_roc_auc=0.80),
        base | dict(job="epochs=2,seed=1", seed=1, test_roc_auc=0.90),
    ]
    (g,) = group_rows(rows)
    assert g["n_jobs"] == 2 and g["seeds"] == [0, 1]
    assert g["test_roc_auc_mean"] == pytest.approx(0.85)  # the job that names its seed wins


def test_a_grid_s_published_table_stands_beside_its_rows_and_lists_models_not_run(
    tmp_path, mini_mtat, mini_store_dir, capsys
):
    grid = (
        "sweep:\n  name: tiny\n  published:\n    source: Someone 2020, Table 1\n"
        "    split: folds\n    rows:\n"
        "      ghost: {name: Ghost net, roc_auc: 0.8, pr_auc: 0.3, not_run: needs raw audio}\n"
        "      fcn: {name: FCN-4, roc_auc: 0.9, pr_auc: 0.4}\n"
        "hydra: {sweeper: {params: {model: fcn, epochs: '1'}}}\n"
    )
    conf = _config_dir(tmp_path, mini_mtat, mini_store_dir, grid)
    sw = tmp_path / "multirun" / "tiny"
    _sweep(conf, sw, capsys=capsys)
    rows = _rows(sw)
    # the published table's order; the model without a job is listed, not run
    assert [(r["model"], r["status"]) for r in rows] == [("ghost", "not run"), ("fcn", "finished")]
    assert (rows[1]["paper_test_roc_auc"], rows[1]["paper_test_pr_auc"]) == ("0.9", "0.4")
    assert rows[0]["error"] == "needs raw audio" and rows[0]["test_roc_auc"] == ""
    md = (sw / "results.md").read_text()
    assert "paper test PR-AUC" in md and "Paper: Someone 2020, Table 1." in md
    assert "| 0.9000 | 0.4000 | FCN-4 |" in md and "not run: needs raw audio" in md
    assert "1 jobs: 1 finished, 0 failed, 0 incomplete; 1 published models not run" in md
