"""`autotag compare`: two runs' saved predictions, matched by clip, compared with a paired bootstrap."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from autotag.experiments.compare import CompareError, compare_runs
from autotag.runs.predictions import write_predictions
from autotag.training.bootstrap import paired_difference
from tests.helpers import run_cli

TAGS = ["rock", "piano", "quiet"]


def _run(folder, scores, labels, clip_ids, tags=TAGS):
    folder.mkdir(parents=True)
    write_predictions(folder, tags, {"test": scores}, {"test": labels}, {"test": clip_ids})
    return folder


@pytest.fixture
def runs(tmp_path):
    rng = np.random.default_rng(0)
    labels = (rng.random((200, 3)) < 0.3).astype(np.uint8)
    weak = 0.2 * labels + rng.random(labels.shape)
    strong = 0.9 * labels + rng.random(labels.shape)
    ids = np.arange(1000, 1200)
    a = _run(tmp_path / "a", weak, labels, ids)
    perm = rng.permutation(200)  # B saved its clips in another order
    b = _run(tmp_path / "b", strong[perm], labels[perm], ids[perm])
    return a, b, (weak, strong, labels)


def test_compare_matches_clips_by_id_and_finds_the_better_run(runs, capsys):
    a, b, (weak, strong, labels) = runs
    res = compare_runs(a, b, "test", n_resamples=500, seed=0, cluster="auto")
    assert res == {
        **paired_difference(weak, strong, labels, 500, 0),
        "a": str(a / "predictions.npz"),
        "b": str(b / "predictions.npz"),
        "split": "test",
        "n_clips": 200,
    }
    # the same, written out: each resample draws clips with replacement (the same rows for A
    # and B), both runs are scored on them with scikit-learn (macro over the tags that have
    # both classes in that resample), and the interval is the 2.5th-97.5th percentile of B - A
    rows = np.random.default_rng(0).integers(0, 200, size=(500, 200))

    def macro(scores, y, metric):
        ok = [j for j in range(y.shape[1]) if 0 < y[:, j].sum() < len(y)]
        return np.mean([metric(y[:, j], scores[:, j]) for j in ok])

    for key, metric in (("roc_auc", roc_auc_score), ("pr_auc", average_precision_score)):
        diffs = np.array(
            [macro(strong[r], labels[r], metric) - macro(weak[r], labels[r], metric) for r in rows]
        )
        want = macro(strong, labels, metric) - macro(weak, labels, metric)
        assert res[key]["difference"] == pytest.approx(want, abs=1e-12)
        assert res[key]["interval"] == pytest.approx(np.percentile(diffs, [2.5, 97.5]), abs=1e-9)
        assert res[key]["b_better_share"] == pytest.approx(np.mean(diffs > 0))
    assert res["roc_auc"]["interval"][0] > 0 and res["roc_auc"]["b_better_share"] == 1.0
    code, out, _ = run_cli(capsys, "compare", a, b, "--resamples", "500")
    assert code == 0 and "ROC-AUC: B is better" in out and "200 test clips" in out
    code, out, _ = run_cli(capsys, "compare", a, a, "--json")
    same = json.loads(out)
    assert code == 0 and same["roc_auc"]["difference"] == 0.0
    assert same["roc_auc"]["interval"] == [0.0, 0.0]


def test_runs_on_other_clips_or_tags_are_refused(runs, tmp_path, capsys):
    a, _, (weak, _, labels) = runs
    other_clips = _run(tmp_path / "c", weak, labels, np.arange(1010, 1210))
    with pytest.raises(CompareError, match="10 only in A, 10 only in B, 190 shared"):
        compare_runs(a, other_clips, "test", 100, 0, "auto")
    other_tags = _run(
        tmp_path / "d", weak, labels, np.arange(1000, 1200), ["rock", "jazz", "quiet"]
    )
    with pytest.raises(CompareError, match="only in A: piano; only in B: jazz"):
        compare_runs(a, other_tags, "test", 100, 0, "auto")
    code, _, err = run_cli(capsys, "compare", a, other_tags)
    assert code == 2 and "only in A: piano" in err
    code, _, err = run_cli(capsys, "compare", a, tmp_path / "nowhere")
    assert code == 2 and "nowhere: no such run folder" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(capsys, "compare", a, tmp_path / "empty")
    assert code == 2 and "empty/predictions.npz: not found" in err
