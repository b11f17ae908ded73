"""Bootstrap confidence intervals and paired comparisons of macro ROC-AUC and PR-AUC.

The test set is resampled with replacement (``n_resamples`` times, a fixed seed: the same
interval on every rerun). What is drawn is the data set's *unit* (``cluster``): clips that share
a song (MTAT), an artist (MTG-Jamendo) or an album (a catalogue) are not independent, so whole
units are drawn and each drawn unit brings all its clips (a cluster bootstrap); ``clip`` draws
clips one by one. Resampling clips of such data gives intervals that are too narrow: ten clips
of one song count as ten pieces of evidence where they are little more than one.

A resample is a vector of multiplicities (how often each clip was drawn), so every metric is
computed as a weighted metric, vectorized over all resamples at once: exactly what scikit-learn
gives on the resampled clips (:mod:`autotag.common.metrics`). A tag without a positive or a
negative in a resample has no AUC there and is left out of that resample's macro average, as
:func:`autotag.common.metrics.macro_scores` does for a whole set.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from autotag.common.metrics import macro_scores

log = logging.getLogger(__name__)
LEVEL = 0.95
DROPOUT_WARN = 0.05  # above this share of resamples missing a tag, say so
METRICS = ("roc_auc", "pr_auc")
AUTO, CLIP = "auto", "clip"  # the data set's natural unit (its first); clips one by one


def check_resamples(n_resamples: int) -> None:
    """Refuse a number of resamples that cannot give an interval (before any training)."""
    if int(n_resamples) < 1:
        raise ValueError(f"bootstrap.n_resamples={n_resamples}: it must be at least 1")


def unit_of(units: Mapping[str, Any], cluster: str) -> str:
    """The unit that ``bootstrap.cluster`` names among a data set's ``units`` (their names, the
    natural one first): ``auto`` is that first one (``clip`` when the data set names none)."""
    if cluster == AUTO:
        return next(iter(units), CLIP)
    if cluster == CLIP or cluster in units:
        return cluster
    raise ValueError(
        f"bootstrap.cluster={cluster!r}: choose {', '.join([AUTO, CLIP, *units])} (the units "
        "this data set names)"
    )


def units_of(units: Mapping[str, Any] | None, cluster: str) -> tuple[str, np.ndarray | None]:
    """The unit ``cluster`` names (:func:`unit_of`) and each clip's key of it (None: clips)."""
    units = units or {}
    unit = unit_of(units, cluster)
    return unit, None if unit == CLIP else np.asarray(units[unit])


def n_units(n_clips: int, clusters: np.ndarray | None) -> int:
    """How many units ``n_clips`` clips with these keys (None: one per clip) form."""
    return n_clips if clusters is None else len(np.unique(clusters))


def resample_counts(
    n_clips: int, n_resamples: int, seed: int, clusters: np.ndarray | None = None
) -> np.ndarray:
    """``(n_resamples, n_clips)`` multiplicities of ``rng.integers(0, G, (B, G))`` draws of the
    ``G`` units: each clip counts as often as its unit was drawn. ``clusters`` gives each clip's
    unit key (the units are numbered in sorted key order, so the clips' order does not matter);
    None: every clip is a unit (numbered in the clips' order)."""
    if clusters is None:
        codes, n = np.arange(n_clips), n_clips
    else:
        keys, codes = np.unique(np.asarray(clusters), return_inverse=True)
        n = len(keys)
        if len(codes) != n_clips:
            raise ValueError(f"{len(codes)} unit keys for {n_clips} clips")
    idx = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    counts = np.zeros((n_resamples, n), dtype=np.float64)
    np.add.at(counts, (np.arange(n_resamples)[:, None], idx), 1.0)
    return counts[:, codes.ravel()]


def _interval(values: np.ndarray, level: float) -> list[float]:
    tail = (1 - level) / 2 * 100
    lo, hi = np.nanpercentile(values, [tail, 100 - tail])
    return [float(lo), float(hi)]


def confidence_interval(
    scores: np.ndarray,
    labels: np.ndarray,
    n_resamples: int,
    seed: int,
    cluster: str,
    units: Mapping[str, np.ndarray] | None = None,
    level: float = LEVEL,
) -> dict[str, Any]:
    """Percentile bootstrap interval of test macro ROC-AUC and PR-AUC, resampling the unit
    that ``cluster`` names (``auto``, ``clip`` or one of ``units``: each clip's key per unit
    name, the data set's natural unit first)."""
    check_resamples(n_resamples)
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels)
    unit, clusters = units_of(units, cluster)
    counts = resample_counts(len(scores), n_resamples, seed, clusters)
    roc, ap = macro_scores(scores, labels, counts)
    share = tag_dropout_share(labels, counts)
    if share > DROPOUT_WARN:
        log.warning(
            "%.0f%% of the bootstrap resamples lack every positive of some tag (tags with few "
            "test positives): the interval averages over a changing set of tags",
            100 * share,
        )
    return {
        "roc_auc": _interval(roc, level),
        "pr_auc": _interval(ap, level),
        "level": level,
        "n_resamples": n_resamples,
        "seed": seed,
        "unit": unit,
        "n_units": n_units(len(scores), clusters),
        "resamples_missing_a_tag": share,
    }


def tag_dropout_share(labels: np.ndarray, counts: np.ndarray) -> float:
    """Share of resamples in which a tag scored on all clips (a positive and a negative) has
    no positive or no negative left, and so drops out of that resample's macro average."""
    y = np.asarray(labels, dtype=np.float64)
    n_pos = y.sum(0)
    defined = (n_pos > 0) & (n_pos < len(y))
    if not defined.any():
        return 0.0
    pos = counts @ y[:, defined]  # (B, tags) positives drawn
    neg = counts @ (1 - y[:, defined])
    return float(np.mean(((pos == 0) | (neg == 0)).any(axis=1)))


class PairedBootstrap:
    """Run A's scores on every resample of its clips, computed once: any number of runs B on
    the same clips are then compared with it (a sweep report compares every row with one
    reference row). ``clusters``: each clip's key of ``unit`` (None: clips are resampled)."""

    def __init__(
        self, scores_a: np.ndarray, labels: np.ndarray, n_resamples: int, seed: int,
        clusters: np.ndarray | None = None, unit: str = CLIP, level: float = LEVEL,
    ) -> None:  # fmt: skip
        check_resamples(n_resamples)
        self.a, self.labels = np.asarray(scores_a, np.float64), np.asarray(labels)
        self.n_resamples, self.seed, self.level = n_resamples, seed, level
        self.unit, self.n_units = unit, n_units(len(self.a), clusters)
        self.ones = np.ones((1, len(self.a)))
        self.counts = resample_counts(len(self.a), n_resamples, seed, clusters)
        self.full_a = macro_scores(self.a, self.labels, self.ones)
        self.boot_a = macro_scores(self.a, self.labels, self.counts)

    def differences(self, scores_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """B's macro ROC-AUC and PR-AUC on all clips ``(2,)``, and B − A on all clips ``(2,)``
        and on each resample ``(2, n_resamples)``."""
        b = np.asarray(scores_b, np.float64)
        if b.shape != self.a.shape or self.a.shape != self.labels.shape:
            raise ValueError(
                f"scores {self.a.shape} and {b.shape} and labels {self.labels.shape} differ"
            )
        full_b = np.asarray(macro_scores(b, self.labels, self.ones))[:, 0]
        boot_b = np.asarray(macro_scores(b, self.labels, self.counts))
        return full_b, full_b - np.asarray(self.full_a)[:, 0], boot_b - np.asarray(self.boot_a)

    def against(self, scores_b: np.ndarray) -> dict[str, Any]:
        """B − A in macro ROC-AUC and PR-AUC: the difference on all clips, its paired-bootstrap
        interval (both runs scored on each resample) and the share of resamples B wins."""
        full_b, full, boot = self.differences(scores_b)
        out = _summary(full, boot, self.level, self.n_resamples, self.seed, self.unit, self.n_units)
        for m, metric in enumerate(METRICS):
            out[metric] = {"a": float(self.full_a[m][0]), "b": float(full_b[m]), **out[metric]}
        return out


def _summary(
    full: np.ndarray, boot: np.ndarray, level: float, n_resamples: int, seed: int, unit: str,
    n_units: int,
) -> dict[str, Any]:  # fmt: skip
    """Differences on all clips ``(2,)`` and per resample ``(2, B)`` as a comparison's dict."""
    out: dict[str, Any] = {
        "level": level, "n_resamples": n_resamples, "seed": seed, "unit": unit, "n_units": n_units,
    }  # fmt: skip
    for m, metric in enumerate(METRICS):
        out[metric] = {
            "difference": float(full[m]),
            "interval": _interval(boot[m], level),
            "b_better_share": float(np.mean(boot[m] > 0)),
        }
    return out


def paired_difference(
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    labels: np.ndarray,
    n_resamples: int,
    seed: int,
    clusters: np.ndarray | None = None,
    unit: str = CLIP,
    level: float = LEVEL,
) -> dict[str, Any]:
    """B − A in macro ROC-AUC and PR-AUC on the same clips (see :class:`PairedBootstrap`)."""
    boot = PairedBootstrap(scores_a, labels, n_resamples, seed, clusters, unit, level)
    return boot.against(scores_b)


def mean_paired_difference(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    labels: np.ndarray,
    n_resamples: int,
    seed: int,
    clusters: np.ndarray | None = None,
    unit: str = CLIP,
    level: float = LEVEL,
) -> dict[str, Any]:
    """The mean over ``pairs`` ``(A_s, B_s)`` of B_s − A_s in macro ROC-AUC and PR-AUC (a
    sweep's row against its reference row, one pair per seed, all on the same clips) with its
    paired-bootstrap interval: every run is scored on the same resamples of the units (one
    ``seed``), so the interval is the test data's sampling error of the seed-averaged
    difference (the seeds' own spread is their sd; each pair's difference is under ``pairs``).
    One pair: :func:`paired_difference`'s."""
    if not pairs:
        raise ValueError("no pair of runs to compare")
    diffs = [
        PairedBootstrap(a, labels, n_resamples, seed, clusters, unit, level).differences(b)
        for a, b in pairs
    ]
    full, boot = np.mean([d[1] for d in diffs], 0), np.mean([d[2] for d in diffs], 0)
    head = (level, n_resamples, seed, unit, n_units(len(labels), clusters))
    out = {**_summary(full, boot, *head), "n_pairs": len(pairs)}
    for m, metric in enumerate(METRICS):  # each pair's own difference on all clips
        out[metric]["pairs"] = [float(d[1][m]) for d in diffs]
    return out
