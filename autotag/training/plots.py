"""Figures of a run: AUC through training, per-tag AUC, ROC curves, normalizations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_curve

from autotag.common.figures import pyplot, save_figure

plt = pyplot()


def auc_through_training(history: list[dict], path: str | Path, title: str = "") -> Path:
    """Validation ROC-AUC and PR-AUC per epoch (the seed paper's Fig. 6)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["val_roc_auc"] for h in history], "o-", label="val ROC-AUC")
    ax.plot(epochs, [h["val_pr_auc"] for h in history], "s--", label="val PR-AUC")
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set(xlabel="epoch", ylabel="macro AUC", ylim=(0, 1), title=title or "AUC through training")
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


def per_tag_bars(per_tag: dict[str, dict], path: str | Path, key: str = "roc_auc") -> Path:
    """Per-tag test ROC-AUC, sorted, one bar a tag."""
    items = sorted(
        ((t, v[key]) for t, v in per_tag.items() if np.isfinite(v[key])), key=lambda x: -x[1]
    )
    fig, ax = plt.subplots(figsize=(max(8, 0.22 * len(items)), 4.5))
    ax.bar(range(len(items)), [v for _, v in items], color="tab:blue")
    ax.set_xticks(range(len(items)), [t for t, _ in items], rotation=90, fontsize=7)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set(ylabel=f"test {key.replace('_', '-').upper()}", ylim=(0, 1), title="per-tag test score")
    return save_figure(fig, path)


def roc_curves(
    preds: torch.Tensor, target: torch.Tensor, tag_names: list[str], path: str | Path, n: int = 6
) -> Path:
    """ROC curves of the ``n`` most frequent tags in the evaluation set."""
    p, t = np.asarray(preds), np.asarray(target)
    order = [j for j in np.argsort(-t.sum(0), kind="stable") if 0 < t[:, j].sum() < len(t)][:n]
    fig, ax = plt.subplots(figsize=(5, 5))
    for j in order:
        fpr, tpr, _ = roc_curve(t[:, j], p[:, j])
        ax.plot(fpr, tpr, label=tag_names[j])
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curves (test)")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def normalizations(
    mel_db: np.ndarray, normalized: dict[str, np.ndarray], path: str | Path, title: str = ""
) -> Path:
    """One spectrogram as stored (dB) and under each normalization (the paper's Figs. 1-3)."""
    panels = {"dB (stored)": mel_db, **normalized}
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 1.7 * len(panels)), sharex=True)
    for ax, (name, img) in zip(np.atleast_1d(axes), panels.items()):
        im = ax.imshow(img, origin="lower", aspect="auto", cmap="magma")
        ax.set_ylabel("mel band", fontsize=8)
        ax.set_title(name, fontsize=9)
        fig.colorbar(im, ax=ax, pad=0.01)
    np.atleast_1d(axes)[-1].set_xlabel("frame")
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
