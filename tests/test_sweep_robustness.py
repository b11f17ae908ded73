"""A sweep's report under ``autotag robustness``'s conditions (``sweep.robustness``): every run
scored (together, each as it would be alone), mean ± sd per configuration and condition, the
seed-averaged difference from the reference, no rescoring on a rerun, bad names refused."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from autotag.inference import Tagger
from autotag.inference.robustness import evaluate_robustness
from autotag.runs.predictions import read_predictions
from autotag.runs.results import store_of
from tests.helpers import run_cli
from tests.test_sweep import _config_dir, _rows, _sweep

CONDITIONS = "noise_0db,gain_-20db"


def _macro_roc(p) -> float:
    both = [j for j in range(p.labels.shape[1]) if 0 < p.labels[:, j].sum() < len(p.labels)]
    return float(np.mean([roc_auc_score(p.labels[:, j], p.scores[:, j]) for j in both]))


def test_sweep_rows_under_robustness_conditions(tmp_path, mini_mtat, mini_store_dir, capsys):
    grid = "sweep: {name: robust}\nhydra: {sweeper: {params: {model: fcn, epochs: '1,3'}}}\n"
    conf = _config_dir(tmp_path, mini_mtat, mini_store_dir, grid)
    sw = tmp_path / "multirun" / "robust"
    args = ("sweep.seeds=2", "sweep.reference='epochs=1'", f"sweep.robustness='{CONDITIONS}'")
    _sweep(conf, sw, *args, capsys=capsys)
    rows = _rows(sw)
    assert len(rows) == 4 and all(r["status"] == "finished" for r in rows)
    roc: dict[tuple[str, str, str], float] = {}  # (epochs, seed, condition) -> macro ROC-AUC
    for r in rows:
        job = sw / r["job"]
        with open(job / "robustness" / "robustness.csv") as f:
            saved = list(csv.DictReader(f))
        assert [s["condition"] for s in saved] == ["clean", "noise_0db", "gain_-20db"]
        # scored with the others, as `autotag robustness` scores the run alone
        tagger = Tagger.load(job / "tagger.pt")
        alone = evaluate_robustness(tagger, store_of(job), CONDITIONS)
        for s, a in zip(saved, alone):
            assert float(s["roc_auc"]) == pytest.approx(a["roc_auc"], abs=1e-6)
            p = read_predictions(job / "robustness", s["condition"])
            roc[(r["epochs"], r["seed"], s["condition"])] = _macro_roc(p)
            assert roc[(r["epochs"], r["seed"], s["condition"])] == pytest.approx(a["roc_auc"])
        # the clean condition is the tagging path on the test split: results.json's test set
        assert len(read_predictions(job / "robustness", "clean").clip_ids) == len(
            read_predictions(job, "test").clip_ids
        )
    with open(sw / "robustness.csv") as f:
        summary = {(e["config"], e["condition"]): e for e in csv.DictReader(f)}
    assert set(summary) == {
        (f"epochs={e}", c) for e in "13" for c in ("clean", *CONDITIONS.split(","))
    }
    for cond in ("clean", "noise_0db", "gain_-20db"):
        e3 = summary[("epochs=3", cond)]
        three = [roc[("3", s, cond)] for s in "01"]
        assert float(e3["roc_auc_mean"]) == pytest.approx(np.mean(three))
        assert float(e3["roc_auc_sd"]) == pytest.approx(np.std(three, ddof=1))
        diff = np.mean([roc[("3", s, cond)] - roc[("1", s, cond)] for s in "01"])
        assert float(e3["ref_diff"]) == pytest.approx(diff)
        assert float(e3["ref_lo"]) <= float(e3["ref_diff"]) <= float(e3["ref_hi"])
        assert (e3["ref_seeds"], e3["ref_unit"]) == ("2", "song")
        assert summary[("epochs=1", cond)]["ref_diff"] == ""  # the reference itself
    md = (sw / "results.md").read_text()
    assert "## Under `autotag robustness`'s conditions" in md and "Against `epochs=1`" in md
    assert (sw / "robustness.png").read_bytes()[:4] == b"\x89PNG"

    # a rerun skips the jobs and does not score them again
    def stamps():
        return {r["job"]: (sw / r["job"] / "robustness" / "predictions.npz").stat().st_mtime_ns
                for r in rows}  # fmt: skip

    before = stamps()
    _sweep(conf, sw, *args, capsys=capsys)
    assert stamps() == before
    # autotag report: a condition not scored yet is scored and merged with the others; a bad
    # name is a usage error
    code, out, err = run_cli(capsys, "report", sw, "--robustness", "clean,pitch_+1")
    assert code == 0, err
    assert "pitch_+1" in out and "pitch_+1" in (sw / "results.md").read_text()
    job = sw / rows[0]["job"]
    with open(job / "robustness" / "robustness.csv") as f:
        assert [r["condition"] for r in csv.DictReader(f)] == [
            "clean", "noise_0db", "gain_-20db", "pitch_+1"
        ]  # fmt: skip
    code, out, err = run_cli(capsys, "report", sw, "--robustness", "reverb")
    assert code == 2 and "reverb" in err and "Traceback" not in err

    # scores of other clips (autotag robustness --limit) are not taken for the run's: rescored
    code, _, err = run_cli(capsys, "robustness", "--run", job, "--limit", "5",
                           "--conditions", CONDITIONS)  # fmt: skip
    assert code == 0, err
    assert len(read_predictions(job / "robustness", "clean").clip_ids) == 5
    code, out, err = run_cli(capsys, "report", sw, "--robustness", CONDITIONS)
    assert code == 0, err
    assert len(read_predictions(job / "robustness", "clean").clip_ids) == 30
    with open(sw / "robustness.csv") as f:
        again = {(e["config"], e["condition"]): e for e in csv.DictReader(f)}
    assert (
        again[("epochs=3", "noise_0db")]["roc_auc_mean"]
        == summary[("epochs=3", "noise_0db")]["roc_auc_mean"]
    )

    # a tagger that cannot be read: that run is left out, the report is still written
    (sw / rows[0]["job"] / "tagger.pt").write_bytes(b"not a tagger")
    (sw / "results.md").unlink()
    code, out, err = run_cli(capsys, "report", sw, "--robustness", CONDITIONS)
    assert code == 0, err
    md = (sw / "results.md").read_text()
    assert "## Under `autotag robustness`'s conditions" in md and "(n=1)" in md


def test_a_bad_robustness_condition_stops_the_sweep_before_any_job(
    tmp_path, mini_mtat, mini_store_dir, capsys
):
    grid = "sweep: {name: bad}\nhydra: {sweeper: {params: {model: fcn, epochs: '1'}}}\n"
    conf = _config_dir(tmp_path, mini_mtat, mini_store_dir, grid)
    sw = tmp_path / "multirun" / "bad"
    with pytest.raises(SystemExit) as stop:
        _sweep(conf, sw, "sweep.robustness='clean,reverb'", capsys=capsys)
    assert "sweep.robustness" in str(stop.value) and "reverb" in str(stop.value)
    assert not any(sw.rglob("results.json"))  # no job ran
