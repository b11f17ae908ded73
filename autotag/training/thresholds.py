"""Per-tag decision thresholds chosen on the validation split."""

from __future__ import annotations

import numpy as np


def f1_thresholds(preds: np.ndarray, target: np.ndarray, default: float = 0.5) -> np.ndarray:
    """For each tag, the probability threshold maximizing F1 on (``preds``, ``target``).

    Tags without a positive keep ``default``. Thresholds sit halfway between consecutive scores.
    """
    preds, target = np.asarray(preds, dtype=np.float64), np.asarray(target).astype(bool)
    out = np.full(preds.shape[1], default)
    for j in range(preds.shape[1]):
        p, t = preds[:, j], target[:, j]
        n_pos = t.sum()
        if n_pos == 0:
            continue
        order = np.argsort(-p, kind="stable")
        ps, ts = p[order], t[order]
        tp = np.cumsum(ts)
        k = np.arange(1, len(ps) + 1)
        f1 = 2 * tp / (k + n_pos)
        # only cut where the score changes, so ties are never split
        cut = np.r_[ps[1:] < ps[:-1], True]
        best = np.flatnonzero(cut)[np.argmax(f1[cut])]
        out[j] = (ps[best] + ps[best + 1]) / 2 if best + 1 < len(ps) else ps[best] / 2
    return out
