"""The run folder's owner (autotag.runs): results.json and predictions.npz round-trip and are
refused with the file named when they are not what they should be; the logger is closed on
success and on failure; the end of a run writes its files in order."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autotag.runs.end import closing_logger, end_run
from autotag.runs.folder import RunFileError, RunFolder
from autotag.runs.predictions import read_predictions, write_predictions
from autotag.runs.results import read_results, summary, write_results


def _results() -> dict:
    interval = {"level": 0.95, "roc_auc": [0.7, 0.9], "pr_auc": [0.2, 0.4]}
    per_tag = {"rock": {"test": {"roc_auc": 0.8}}, "piano": {"test": {"roc_auc": 0.6}}}
    return {
        "run_name": "r",
        "data": "d",
        "split": "s",
        "epochs": 1,
        "epochs_run": 1,
        "val": {"roc_auc": 0.81, "pr_auc": 0.31},
        "test": {"roc_auc": 0.8, "pr_auc": 0.3, "interval": interval},
        "per_tag": per_tag,
        "train_seconds": 1.0,
        "train_clips_per_second": 10.0,
        "nan": float("nan"),
    }


def test_results_round_trip_and_bad_files_are_named(tmp_path):
    write_results(tmp_path, _results())
    back = read_results(tmp_path)
    assert back["test"] == _results()["test"] and np.isnan(back["nan"])
    assert read_results(tmp_path / "results.json")["val"] == back["val"]  # the file itself too
    assert not list(tmp_path.glob("*.tmp"))
    path = RunFolder(tmp_path).results
    for text, why in (
        ('{"val": {"roc', "cannot be read"),  # killed while writing
        ("[1, 2]", "not a run's results.json"),
        ('{"val": {}}', "not a run's results.json"),
    ):
        path.write_text(text)
        with pytest.raises(RunFileError, match=why) as e:
            read_results(tmp_path)
        assert str(e.value).startswith(f"{path}: ")
    with pytest.raises(ValueError, match="not found"):  # a RunFileError is a ValueError
        read_results(tmp_path / "elsewhere")


def test_predictions_round_trip_and_refuse_other_files(tmp_path):
    rng = np.random.default_rng(0)
    scores = {"val": rng.random((4, 2)), "test": rng.random((3, 2))}
    labels = {s: (v > 0.5).astype(int) for s, v in scores.items()}
    ids = {"val": np.arange(4), "test": np.array([7, 8, 9])}
    write_predictions(tmp_path, ["rock", "piano"], scores, labels, ids)
    assert read_predictions(tmp_path, "test").units == {}  # a run on data that names no units
    units = {"val": {"song": np.array(list("aabc"))}, "test": {"song": np.array(["s\x1f1"] * 3)}}
    units = {
        s: {**u, "artist": np.array(["x"] * len(u["song"]), dtype=object)} for s, u in units.items()
    }
    write_predictions(tmp_path, ["rock", "piano"], scores, labels, ids, units)
    p = read_predictions(tmp_path, "test")
    assert list(p.units) == ["song", "artist"]  # the natural unit stays first
    assert p.units["song"].tolist() == ["s\x1f1"] * 3 and p.units["artist"].tolist() == ["x"] * 3
    assert read_predictions(tmp_path, "val").units["song"].tolist() == list("aabc")
    assert p.tag_names == ["rock", "piano"] and p.path == RunFolder(tmp_path).predictions
    np.testing.assert_array_equal(p.clip_ids, ids["test"])
    np.testing.assert_allclose(p.scores, scores["test"].astype(np.float32))
    np.testing.assert_array_equal(p.labels, labels["test"])
    assert p.labels.dtype == np.uint8
    with pytest.raises(RunFileError, match="lacks train_clip_ids, train_labels"):
        read_predictions(tmp_path, "train")
    not_npz = tmp_path / "x.npz"
    not_npz.write_text("{}")
    with pytest.raises(RunFileError, match="not a readable predictions.npz") as e:
        read_predictions(not_npz)
    assert str(e.value).startswith(f"{not_npz}: ")
    with pytest.raises(RunFileError, match="no such run folder"):
        read_predictions(tmp_path / "nope")


class FakeLogger:
    """A logger with a started run, kept where Lightning's loggers keep it (`_experiment`)."""

    def __init__(self, started: bool = True) -> None:
        self.calls: list[tuple] = []
        self._experiment = self if started else None

    def finalize(self, status: str) -> None:
        self.calls.append(("finalize", status))

    def finish(self, exit_code: int) -> None:
        self.calls.append(("finish", exit_code))


def test_the_logger_is_closed_on_success_and_on_failure():
    ok = FakeLogger()
    with closing_logger(ok) as logger:
        assert logger is ok
    assert ok.calls == [("finalize", "success"), ("finish", 0)]
    failed = FakeLogger()
    with pytest.raises(RuntimeError, match="boom"), closing_logger(failed):
        raise RuntimeError("boom")
    assert failed.calls == [("finalize", "failed"), ("finish", 1)]
    never_started = FakeLogger(started=False)  # no run was started: none is started to close it
    with closing_logger(never_started):
        pass
    assert never_started.calls == [("finalize", "success")]
    with closing_logger(None):  # logger=none
        pass


def test_end_run_writes_predictions_then_results_then_publishes_then_prints(tmp_path, capsys):
    seen = []

    def publish() -> None:
        folder = RunFolder(tmp_path)
        seen.append((folder.predictions.exists(), folder.results.exists()))

    results = _results()
    results["test"]["interval"].update(unit="song", n_units=2)
    end_run(
        tmp_path,
        results,
        tag_names=["rock", "piano"],
        scores={"test": np.zeros((2, 2))},
        labels={"test": np.ones((2, 2))},
        clip_ids={"test": np.arange(2)},
        units={"test": {"song": np.array(["one song", "one song"])}},
        publish=publish,
    )
    assert seen == [(True, True)]
    assert read_predictions(tmp_path).units["song"].tolist() == ["one song"] * 2
    assert json.loads(RunFolder(tmp_path).results.read_text())["val"]["roc_auc"] == 0.81
    assert read_predictions(tmp_path).labels.sum() == 4
    out = capsys.readouterr().out
    assert "test 95% bootstrap interval over 2 songs: ROC-AUC 0.700–0.900, PR-AUC" in out
    write_results(tmp_path, _results())  # an older results.json: its interval drew clips
    assert "interval over clips: ROC-AUC" in summary(read_results(tmp_path), tmp_path)
    last = out.strip().splitlines()[-1]
    assert last == "test macro ROC-AUC 0.8000  PR-AUC 0.3000"
