"""Bootstrap intervals and paired comparisons against a direct resample-and-score loop."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from autotag.common.metrics import macro_scores
from autotag.training.bootstrap import (
    confidence_interval,
    paired_difference,
    resample_counts,
)


def _example(n: int = 40, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random((n, k)) < 0.3).astype(int)
    s = np.round(np.clip(0.4 * y + rng.random((n, k)), 0, 1), 1)  # rounded: many ties
    return s, y


def _direct(s: np.ndarray, y: np.ndarray, n_resamples: int, seed: int):
    """Resample the clips and score each resample with scikit-learn."""
    idx = np.random.default_rng(seed).integers(0, len(s), size=(n_resamples, len(s)))
    roc, ap = [], []
    for rows in idx:
        ys, ss = y[rows], s[rows]
        ok = [j for j in range(y.shape[1]) if 0 < ys[:, j].sum() < len(rows)]
        roc.append(np.mean([roc_auc_score(ys[:, j], ss[:, j]) for j in ok]))
        ap.append(np.mean([average_precision_score(ys[:, j], ss[:, j]) for j in ok]))
    return np.array(roc), np.array(ap)


def test_weighted_resamples_equal_scikit_learn_on_the_resampled_clips():
    s, y = _example()
    roc, ap = macro_scores(s, y, resample_counts(len(s), 50, seed=3))
    ref_roc, ref_ap = _direct(s, y, 50, seed=3)
    np.testing.assert_allclose(roc, ref_roc, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ap, ref_ap, rtol=0, atol=1e-12)
    # unit weights: the plain metrics
    roc1, ap1 = macro_scores(s, y, np.ones((1, len(s))))
    assert roc1[0] == pytest.approx(roc_auc_score(y, s, average="macro"), abs=1e-12)
    assert ap1[0] == pytest.approx(average_precision_score(y, s, average="macro"), abs=1e-12)


def test_interval_is_the_percentile_interval_and_reproducible():
    s, y = _example(n=60)
    ci = confidence_interval(s, y, n_resamples=1000, seed=0, cluster="clip")
    ref_roc, ref_ap = _direct(s, y, 1000, seed=0)
    np.testing.assert_allclose(ci["roc_auc"], np.percentile(ref_roc, [2.5, 97.5]), atol=1e-12)
    np.testing.assert_allclose(ci["pr_auc"], np.percentile(ref_ap, [2.5, 97.5]), atol=1e-12)
    assert ci == confidence_interval(s, y, n_resamples=1000, seed=0, cluster="clip")
    assert ci["roc_auc"][0] < roc_auc_score(y, s, average="macro") < ci["roc_auc"][1]


def test_identical_runs_differ_by_exactly_zero():
    s, y = _example()
    d = paired_difference(s, s.copy(), y, n_resamples=200, seed=1)
    for metric in ("roc_auc", "pr_auc"):
        assert d[metric]["difference"] == 0.0
        assert d[metric]["interval"] == [0.0, 0.0]
        assert d[metric]["b_better_share"] == 0.0


def test_a_clearly_better_model_has_an_interval_above_zero():
    rng = np.random.default_rng(0)
    y = (rng.random((300, 5)) < 0.25).astype(int)
    weak = 0.15 * y + rng.random(y.shape)
    strong = 0.8 * y + rng.random(y.shape)
    d = paired_difference(weak, strong, y, n_resamples=1000, seed=0)
    assert d["roc_auc"]["interval"][0] > 0 and d["roc_auc"]["b_better_share"] == 1.0
    assert d["pr_auc"]["interval"][0] > 0
    back = paired_difference(strong, weak, y, n_resamples=1000, seed=0)
    assert back["roc_auc"]["interval"][1] < 0 and back["roc_auc"]["b_better_share"] == 0.0
    with pytest.raises(ValueError, match="differ"):
        paired_difference(weak, strong[:10], y, n_resamples=10, seed=0)


def test_the_share_of_resamples_missing_a_tag_is_counted_and_reported(caplog):
    rng = np.random.default_rng(0)
    y = np.zeros((50, 2), dtype=int)
    y[:20, 0] = 1  # a common tag: always drawn
    y[0, 1] = 1  # a single positive: missing from about (1 - 1/50)^50 ≈ 36% of resamples
    s = rng.random(y.shape)
    ci = confidence_interval(s, y, n_resamples=2000, seed=0, cluster="clip")
    idx = np.random.default_rng(0).integers(0, 50, size=(2000, 50))
    expected = np.mean([(y[rows, 1].sum() == 0) or (y[rows, 0].sum() in (0, 50)) for rows in idx])
    assert ci["resamples_missing_a_tag"] == pytest.approx(expected)
    assert 0.3 < expected < 0.42 and "lack every positive of some tag" in caplog.text
