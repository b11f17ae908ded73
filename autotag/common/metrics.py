"""ROC-AUC and PR-AUC (average precision) per tag, and their macro average over the tags a set
can score: training's evaluation, the bootstrap intervals and comparisons, and the robustness
test all score with these.

A tag without a positive or without a negative clip has no ROC-AUC (and no useful PR-AUC): it
is left out of the macro average (value NaN) rather than scored 0, which would drag the average
down. Every metric is computed under weights, one row per resample (how often each clip was
drawn), vectorized over the rows: with no weights, the plain metrics, equal to scikit-learn's
``roc_auc_score`` and ``average_precision_score`` (``tests/test_bootstrap.py`` checks both).
"""

from __future__ import annotations

import warnings

import numpy as np

CHUNK = 100  # weight rows scored at once: a few (CHUNK x clips) arrays in memory


def scoreable(labels: np.ndarray) -> np.ndarray:
    """The tags ``(K,)`` with at least one positive and one negative among the rows of
    ``labels`` ``(n, K)``."""
    pos = np.asarray(labels).sum(axis=0)
    return (pos > 0) & (pos < len(labels))


def _tag_metrics(s: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC-AUC and average precision of one tag under each weight row of ``w`` (B, n)."""
    order = np.argsort(-s, kind="stable")
    s, y, w = s[order], y[order].astype(bool), w[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # groups of tied scores, descending
    pos = np.add.reduceat(w * y, starts, axis=1)  # (B, G) positive weight per score group
    neg = np.add.reduceat(w * ~y, starts, axis=1)
    w_pos, w_neg = pos.sum(1), neg.sum(1)
    # ROC-AUC: each positive beats the negatives below its score; ties count one half
    neg_below = w_neg[:, None] - np.cumsum(neg, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        roc = (pos * (neg_below + 0.5 * neg)).sum(1) / (w_pos * w_neg)
        tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
        precision = np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1.0), 0.0)
        ap = (pos * precision).sum(1) / w_pos
    undefined = (w_pos == 0) | (w_neg == 0)
    roc[undefined], ap[undefined] = np.nan, np.nan
    return roc, ap


def per_tag_scores(
    scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """ROC-AUC and PR-AUC of every tag of ``scores``/``labels`` ``(n, K)``: ``(B, K)`` under
    each weight row of ``weights`` ``(B, n)``, or ``(K,)`` without weights; NaN where a tag has
    no positive or no negative (weight)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    w = np.ones((1, len(s))) if weights is None else np.asarray(weights, dtype=np.float64)
    k = s.shape[1]
    roc = np.full((len(w), k), np.nan)
    ap = np.full((len(w), k), np.nan)
    if len(s):
        for lo in range(0, len(w), CHUNK):  # bounded memory for large test sets
            rows = w[lo : lo + CHUNK]
            for j in range(k):
                roc[lo : lo + len(rows), j], ap[lo : lo + len(rows), j] = _tag_metrics(
                    s[:, j], y[:, j], rows
                )
    return (roc[0], ap[0]) if weights is None else (roc, ap)


def macro_scores(
    scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Macro ROC-AUC and PR-AUC over the tags scoreable in each weight row: ``(B,)`` arrays, or
    0-d arrays (``float()`` them) without weights; NaN where no tag is scoreable."""
    roc, ap = per_tag_scores(scores, labels, weights)
    return macro_mean(roc), macro_mean(ap)


def macro_mean(per_tag: np.ndarray) -> np.ndarray:
    """The mean over the last axis of the tags that have a value (not NaN); NaN if none has."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a row where no tag is defined
        return np.nanmean(per_tag, axis=-1)
