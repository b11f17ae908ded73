"""The sweep report: a grid's published numbers (the seed paper's too) beside the rows they
name, `autotag report` and its old alias `python -m autotag.sweep report`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from autotag import sweep as sweep_alias
from autotag.experiments.collect import collect
from tests.helpers import ROOT, run_cli

# Nair & Bradley, Tables II (networks) and III (baselines): AUC-ROC (validation, test) on MTAT
PAPER = {
    ("fcn", "global", 10): (0.8585, 0.8629),
    ("fcn", "prelog", 2): (0.4924, 0.4964),
    ("fcn_bn", "global", 10): (0.8655, 0.8714),
    ("rf", "global", None): (0.502, 0.506),
}


def _job(sweep: Path, model: str, norm: str, epochs: int, split: str = "folds") -> Path:
    """A finished job folder as sweep.py leaves it (Hydra's .hydra files and results.json)."""
    name = f"epochs={epochs},model={model},norm={norm}" + (
        f",data.split={split}" * (split != "folds")
    )
    job = sweep / name
    (job / ".hydra").mkdir(parents=True)
    arch = "fcn" if model.startswith("fcn") else model
    cfg = {"model": {"arch": arch}, "norm": {"mode": norm}, "epochs": epochs, "seed": 0}
    cfg["data"] = {"split": split, "reader": "mtat"}
    OmegaConf.save(OmegaConf.create(cfg), job / ".hydra" / "config.yaml")
    overrides = [f"model={model}", f"norm={norm}", f"epochs={epochs}"]
    OmegaConf.save(OmegaConf.create(overrides), job / ".hydra" / "overrides.yaml")
    hydra = {"hydra": {"runtime": {"choices": {"model": model}}}}
    hydra["hydra"]["job"] = {"config": {"override_dirname": {"exclude_keys": ["data.split"]}}}
    OmegaConf.save(OmegaConf.create(hydra), job / ".hydra" / "hydra.yaml")
    scores = {"roc_auc": 0.7, "pr_auc": 0.3}
    baseline = model in ("rf", "knn")
    results = {"model": model, "epochs": None if baseline else epochs, "fit_seconds": 1.0}
    (job / "results.json").write_text(json.dumps(results | {"val": scores, "test": scores}))
    return job


@pytest.fixture
def paper_sweep(tmp_path):
    sweep = tmp_path / "multirun" / "paper"
    for model, norm, epochs in [*PAPER, ("fcn", "per_spec", 2)]:
        _job(sweep, model, norm, epochs or 2)
    _job(sweep, "fcn", "global", 10, split="clean")  # another split: no paper number
    return sweep


def _published() -> dict:
    grid = OmegaConf.load(ROOT / "conf" / "sweep" / "paper.yaml")
    return OmegaConf.to_container(grid.sweep.published)  # type: ignore[return-value]


def test_the_seed_paper_s_numbers_come_from_its_grid_and_stand_beside_their_rows(paper_sweep):
    rows, _ = collect(paper_sweep, _published())
    assert len(rows) == 6  # no "not run" rows for the table cells this sweep did not run
    by_key = {(r["model"], r["norm"], r["epochs"], r["split"]): r for r in rows}
    for (model, norm, epochs), (val, test) in PAPER.items():
        row = by_key[(model, norm, epochs, "folds")]
        assert (row["paper_val_roc_auc"], row["paper_test_roc_auc"]) == (val, test)
        table = "III" if epochs is None else "II"
        assert row["paper_source"] == f"Nair & Bradley Table {table} (folds)"
    for key in (("fcn", "per_spec", 2, "folds"), ("fcn", "global", 10, "clean")):
        assert by_key[key]["paper_test_roc_auc"] is None and by_key[key]["paper_source"] is None
    # the seed paper's order: model, norm, epochs
    assert [(r["model"], r["norm"], r["epochs"]) for r in rows][:4] == [
        ("fcn", "global", 10),
        ("fcn", "global", 10),
        ("fcn", "per_spec", 2),
        ("fcn", "prelog", 2),
    ]


def test_autotag_report_and_its_old_alias_print_the_same_report(paper_sweep, capsys):
    saved = {"sweep": {"name": "paper", "published": _published(), "reference": None}}
    saved["bootstrap"] = {"n_resamples": 10, "seed": 0}  # saved before bootstrap.cluster
    OmegaConf.save(OmegaConf.create(saved), paper_sweep / "multirun.yaml")
    from autotag.cli.report import saved_config

    train = OmegaConf.load(ROOT / "conf" / "train.yaml").bootstrap
    assert saved_config(paper_sweep).bootstrap == {**saved["bootstrap"], "cluster": train.cluster}
    code, out, err = run_cli(capsys, "report", str(paper_sweep))
    assert code == 0, err
    assert out == (paper_sweep / "results.md").read_text()
    assert "| 0.8585 | 0.8629 | Nair & Bradley Table II (folds) |" in out
    assert "Paper: Nair & Bradley, Tables II and III" in out
    assert sweep_alias.main(["report", str(paper_sweep)]) == 0
    assert capsys.readouterr().out == out
    code, out, _ = run_cli(capsys, "report", str(paper_sweep), "--no-paper")
    assert code == 0 and "paper test" not in out and "Nair" not in out
    assert sweep_alias.main(["tag", "x.wav"]) == 2
    assert "autotag report" in capsys.readouterr().err
    code, _, err = run_cli(capsys, "report", str(paper_sweep / "nope"))
    assert (
        code == 2
        and err.strip() == f"autotag report: error: {paper_sweep / 'nope'}: no such folder"
    )


def test_an_older_paper_sweep_folder_keeps_the_paper_s_numbers(paper_sweep, capsys):
    # sweeps run before the numbers moved into conf/sweep/paper.yaml saved only a switch
    saved = {"sweep": {"name": "paper", "paper_reference": True, "published": None}}
    OmegaConf.save(OmegaConf.create(saved), paper_sweep / "multirun.yaml")
    code, out, err = run_cli(capsys, "report", str(paper_sweep), "--reference", "model=rf")
    assert code == 0, err
    assert "| 0.8655 | 0.8714 | Nair & Bradley Table II (folds) |" in out
    assert "Δ test ROC-AUC vs ref" in out  # the bootstrap settings came from conf/train.yaml
