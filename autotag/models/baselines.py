"""The paper's baselines (Table III): a random forest and k-nearest neighbours.

Each is a registered model (``arch: rf`` / ``arch: knn``) whose constructor arguments are its
YAML's keys. The classifier input is either every value of the normalized spectrogram,
flattened (``flat``, the paper), or summary statistics over time per mel band (``stats``).
Scores are ``predict_proba``'s probability of each tag, so the AUCs rank real scores.
:mod:`autotag.training.baseline` runs them on the same store, split, tags, normalization and
metric as the networks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from autotag.models.registry import register

if TYPE_CHECKING:  # scikit-learn loads when an estimator is made: `autotag tag` never pays for it
    from sklearn.base import ClassifierMixin

log = logging.getLogger(__name__)

STATS = ("mean", "std", "min", "max", "median")


def spectrogram_features(mel: torch.Tensor, kind: str, stats: Sequence[str]) -> np.ndarray:
    """Classifier inputs ``(n, dims)`` from normalized spectrograms ``(n, n_mels, n_frames)``.

    ``flat``: every value (n_mels * n_frames dims); ``stats``: the chosen statistics of each mel
    band over time, concatenated statistic by statistic (len(stats) * n_mels dims).
    """
    mel = mel.float()
    if kind == "flat":
        return mel.reshape(len(mel), -1).numpy()
    if kind != "stats":
        raise ValueError(f"model.features={kind!r}: choose flat or stats")
    unknown = [s for s in stats if s not in STATS]
    if unknown or not stats:
        raise ValueError(f"model.stats={list(stats)}: choose among {', '.join(STATS)}")
    fns = {
        "mean": lambda x: x.mean(-1),
        "std": lambda x: x.std(-1, unbiased=False),
        "min": lambda x: x.amin(-1),
        "max": lambda x: x.amax(-1),
        "median": lambda x: x.median(-1).values,
    }
    return torch.cat([fns[s](mel) for s in stats], dim=-1).numpy()


def positive_scores(clf: ClassifierMixin, x: np.ndarray) -> np.ndarray:
    """``(n, K)`` probability of the positive class of each tag from ``predict_proba``.

    scikit-learn answers a list of ``(n, n_classes)`` arrays for multi-output targets (one array
    when there is a single output). A tag with one class in the training split has one column:
    its score is then the constant 0 (never positive) or 1 (always positive).
    """
    proba = clf.predict_proba(x)
    classes = clf.classes_
    if not isinstance(proba, list):
        proba, classes = [proba], [classes]
    cols = []
    for p, c in zip(proba, classes):
        c = np.asarray(c).tolist()
        cols.append(p[:, c.index(1)] if 1 in c else np.zeros(len(x)))
    return np.stack(cols, axis=1).astype(np.float32)


class SpectrogramBaseline:
    """A scikit-learn estimator on spectrogram features: ``fit(mels, labels)``, ``scores(mels)``."""

    def __init__(self, features: str, stats: Sequence[str]) -> None:
        self.features = features
        self.stats = list(stats)
        spectrogram_features(torch.zeros(1, 1, 1), features, self.stats)  # validate early
        self.estimator: ClassifierMixin | None = None

    def inputs(self, mel: torch.Tensor) -> np.ndarray:
        """Classifier inputs of normalized spectrograms ``(n, n_mels, n_frames)``."""
        return spectrogram_features(mel, self.features, self.stats).astype(np.float32)

    def make_estimator(self, n_train: int) -> ClassifierMixin:
        raise NotImplementedError

    def fit(self, x: np.ndarray, y: np.ndarray) -> SpectrogramBaseline:
        self.estimator = self.make_estimator(len(x))
        self.estimator.fit(x, y)
        return self

    def scores(self, x: np.ndarray) -> np.ndarray:
        assert self.estimator is not None, "fit first"
        return positive_scores(self.estimator, x)

    def details(self) -> dict[str, Any]:
        """What results.json records about the fitted estimator."""
        return {
            "features": self.features,
            "stats": self.stats if self.features == "stats" else None,
        }


@register("rf")
class RandomForestTagger(SpectrogramBaseline):
    """One multi-output scikit-learn random forest for all tags (``conf/model/rf.yaml``)."""

    def __init__(
        self,
        *,
        features: str,
        stats: Sequence[str],
        n_estimators: int,
        max_features: str | int | float,
        min_samples_leaf: int,
        n_jobs: int,
        random_state: int,
    ) -> None:
        super().__init__(features, stats)
        self.kwargs = dict(
            n_estimators=n_estimators,
            max_features=max_features,
            min_samples_leaf=min_samples_leaf,
            n_jobs=n_jobs,
            random_state=random_state,
        )

    def make_estimator(self, n_train: int) -> ClassifierMixin:
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(**self.kwargs)

    def details(self) -> dict[str, Any]:
        assert self.estimator is not None
        nodes = int(sum(t.tree_.node_count for t in self.estimator.estimators_))
        return {**super().details(), "tree_nodes": nodes}


@register("knn")
class KNNTagger(SpectrogramBaseline):
    """scikit-learn k-nearest neighbours (``conf/model/knn.yaml``); the score of a tag is the
    fraction of the K neighbours carrying it."""

    def __init__(
        self,
        *,
        features: str,
        stats: Sequence[str],
        n_neighbors: int,
        weights: str,
        metric: str,
        p: int,
        clamp_neighbors: bool,
        n_jobs: int,
    ) -> None:
        super().__init__(features, stats)
        self.n_neighbors = int(n_neighbors)
        self.clamp_neighbors = bool(clamp_neighbors)
        self.kwargs = dict(weights=weights, metric=metric, p=p, n_jobs=n_jobs)

    def make_estimator(self, n_train: int) -> ClassifierMixin:
        k = self.n_neighbors
        if k > n_train:
            msg = (
                f"model.n_neighbors={k} but the training split has only {n_train} clips "
                "(K-nearest neighbours needs K <= number of training clips)"
            )
            if not self.clamp_neighbors:
                raise ValueError(msg + "; lower model.n_neighbors")
            log.warning("%s: using K=%d", msg, n_train)
            k = n_train
        from sklearn.neighbors import KNeighborsClassifier

        return KNeighborsClassifier(n_neighbors=k, **self.kwargs)

    def details(self) -> dict[str, Any]:
        assert self.estimator is not None
        return {**super().details(), "n_neighbors": int(self.estimator.n_neighbors)}
