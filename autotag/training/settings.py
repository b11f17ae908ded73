"""The run's own settings: the top-level keys of ``conf/train.yaml``, typed.

A run's config is its groups (``data``, ``store``, ``loader``, ``features``, ``norm``, ``augment``,
``model``, ``optimizer``, ``scheduler``, ``trainer``, ``logger``), each one function's or class's keyword
arguments, plus these keys. Their defaults live in the YAML only: the fields below have none,
so a key the YAML gains or loses shows up here as an error, not as a silent default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

# The config groups and entry-only blocks beside the run's settings in a composed config.
GROUPS = ("data", "store", "loader", "features", "norm", "augment", "model", "optimizer")
GROUPS += ("scheduler", "trainer", "logger", "experiment", "sweep", "hydra")
# Written into the config by the run itself (a fine-tuned tagger's origin), never by a user.
RUN_WRITTEN = ("derived_from",)


@dataclass(frozen=True)
class Bootstrap:
    """The 95% interval of the test macro AUCs (:func:`autotag.training.bootstrap.confidence_interval`)."""

    n_resamples: int
    seed: int
    cluster: str


@dataclass(frozen=True)
class Loss:
    """The weighted BCE: ``pos_weight`` = negatives/positives per tag, capped at ``max_pos_weight``."""

    weighted: bool
    max_pos_weight: float | None


@dataclass(frozen=True)
class Finetune:
    """Few labels: only the last ``train_layers`` layers learn for ``freeze_epochs`` epochs."""

    freeze_epochs: int
    train_layers: int


@dataclass(frozen=True)
class RunSettings:
    """What ``fit`` reads besides the groups; see ``conf/train.yaml`` for each key's meaning."""

    epochs: int
    seed: int
    ckpt_path: str | None
    last_ckpt_every_s: float
    init_from: str | None
    init_new_tags: str
    finetune: Finetune
    shuffle_labels: bool
    run_name: str | None
    group: str | None
    progress_refresh: int
    channels_last: bool
    bootstrap: Bootstrap
    loss: Loss

    @classmethod
    def of(cls, cfg: Mapping[str, Any]) -> RunSettings:
        """The settings of a composed config; an unknown or missing key is an error naming it."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known - set(GROUPS) - set(RUN_WRITTEN))
        if unknown:
            raise ValueError(
                f"unknown top-level config key(s) {', '.join(unknown)}: a run takes "
                f"{', '.join(sorted(known))} and the groups {', '.join(GROUPS[:11])}"
            )
        missing = sorted(known - set(cfg))
        if missing:
            raise ValueError(f"config lacks the top-level key(s) {', '.join(missing)}")
        values = {f.name: cfg[f.name] for f in fields(cls)}
        values["bootstrap"] = _block(Bootstrap, "bootstrap", cfg["bootstrap"])
        values["loss"] = _block(Loss, "loss", cfg["loss"])
        values["finetune"] = _block(Finetune, "finetune", cfg["finetune"])
        return cls(**values)


def _block(kind: type, name: str, values: Mapping[str, Any]) -> Any:
    known = [f.name for f in fields(kind)]
    extra = sorted(set(values) - set(known))
    lacking = sorted(set(known) - set(values))
    if extra or lacking:
        raise ValueError(
            f"{name}: takes exactly {', '.join(known)}"
            + (f"; unknown: {', '.join(extra)}" if extra else "")
            + (f"; missing: {', '.join(lacking)}" if lacking else "")
        )
    return kind(**values)
