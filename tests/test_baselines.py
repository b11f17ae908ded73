"""Random forest and KNN baselines: features, predict_proba handling, runs on the mini store."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.neighbors import KNeighborsClassifier

from autotag.models import build_baseline
from autotag.models.baselines import positive_scores, spectrogram_features
from tests.helpers import ROOT, mini_overrides, train_run


def test_features_flat_and_stats_match_numpy():
    x = torch.randn(3, 5, 7)
    flat = spectrogram_features(x, "flat", [])  # stats are for kind="stats" only
    assert flat.shape == (3, 35)
    np.testing.assert_allclose(flat, x.numpy().reshape(3, -1))
    st = spectrogram_features(x, "stats", ["mean", "std", "max", "min", "median"])
    a = x.numpy()
    ref = np.concatenate([a.mean(-1), a.std(-1), a.max(-1), a.min(-1), np.median(a, -1)], axis=-1)
    assert st.shape == (3, 25)
    np.testing.assert_allclose(st, ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="model.features"):
        spectrogram_features(x, "bogus", [])
    with pytest.raises(ValueError, match="model.stats"):
        spectrogram_features(x, "stats", ["mode"])


@pytest.mark.filterwarnings("ignore:A column-vector y was passed")
@pytest.mark.parametrize(
    "clf", [RandomForestClassifier(10, random_state=0), KNeighborsClassifier(3)]
)
def test_positive_scores_multi_output_and_single_class_tags(clf):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6))
    y = np.stack([x[:, 0] > 0, np.zeros(40), np.ones(40), rng.random(40) < 0.3], axis=1).astype(
        np.uint8
    )  # tag 1: never positive, tag 2: always positive
    clf.fit(x, y)
    s = positive_scores(clf, x)
    assert s.shape == (40, 4) and s.dtype == np.float32
    assert ((s >= 0) & (s <= 1)).all()
    assert (s[:, 1] == 0).all() and (s[:, 2] == 1).all()
    assert roc_auc_score(y[:, 0], s[:, 0]) > 0.9
    clf.fit(x, y[:, :1])  # one tag: scikit-learn answers an array, not a list
    assert positive_scores(clf, x).shape == (40, 1)


def test_knn_clamps_k_to_the_training_split_or_stops(caplog):
    model = OmegaConf.load(ROOT / "conf" / "model" / "knn.yaml")  # the shipped config
    knn = build_baseline(model)
    with caplog.at_level(logging.WARNING):
        assert knn.make_estimator(120).n_neighbors == 120
    assert "only 120 clips" in caplog.text
    model.clamp_neighbors = False
    with pytest.raises(ValueError, match="n_neighbors=125"):
        build_baseline(model).make_estimator(120)
    assert build_baseline(model).make_estimator(500).n_neighbors == 125
    with pytest.raises(TypeError, match="unknown argument.*width"):
        build_baseline({**model, "width": 0.5})


def _baseline(tmp_path, mini_mtat, store_dir, extra):
    common = [o for o in mini_overrides(mini_mtat, store_dir) if not o.startswith("model.")]
    return train_run([*common, *extra], tmp_path)  # fit() dispatches model=rf|knn to fit_baseline


@pytest.mark.parametrize(
    "extra",
    [
        ["model=rf", "model.n_estimators=50", "model.n_jobs=1"],
        ["model=knn", "model.n_neighbors=15", "norm=per_coeff"],
        ["model=rf", "model.features=stats", "model.n_jobs=1"],
    ],
    ids=["rf-flat", "knn-flat", "rf-stats"],
)
def test_baseline_on_mini_store_scores_like_sklearn_and_beats_chance(
    tmp_path, mini_mtat, mini_store_dir, extra
):
    res = _baseline(tmp_path, mini_mtat, mini_store_dir, extra)
    saved = json.loads((tmp_path / "results.json").read_text())
    for key in ("run_name", "data", "split", "features", "norm", "model", "val", "test"):
        assert key in saved, key
    assert saved["epochs"] is None and saved["n_clips"] == {"train": 120, "val": 10, "test": 30}
    assert set(saved["per_tag"]) == {"guitar", "classical", "techno", "slow"}
    z = np.load(tmp_path / "predictions.npz")
    scores, labels = z["test_scores"], z["test_labels"]
    assert scores.shape == (30, 4) and ((scores >= 0) & (scores <= 1)).all()
    assert len(np.unique(scores)) > 4  # real rankings, not hard 0/1 votes
    assert res["test"]["roc_auc"] == pytest.approx(
        roc_auc_score(labels, scores, average="macro"), abs=1e-6
    )
    assert res["test"]["pr_auc"] == pytest.approx(
        average_precision_score(labels, scores, average="macro"), abs=1e-6
    )
    assert res["test"]["roc_auc"] > 0.75  # the mini tags are audible tones
    assert (tmp_path / "figures" / "per_tag_test_roc_auc.png").exists()
