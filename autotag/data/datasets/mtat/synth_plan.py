"""The MTAT twin's corpus plan: the concept model's clips spread over MTAT's 16 folders, and the
deliberately broken entries placed among the training folders' clips."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from autotag.data.datasets.mtat.layout import BROKEN_KINDS, FOLDERS, TRAIN_FOLDERS
from autotag.data.synthetic.plan import ClipPlan, plan_clips


def corpus_plan(n_clips: int, seed: int, broken: bool = True) -> tuple[list[ClipPlan], dict]:
    """The full plan of a corpus (names, layout, sources) and its broken entries."""
    plans = plan_clips(n_clips, np.random.default_rng([seed, 0]), True, FOLDERS)
    broken_ids: dict[str, int] = {}
    if broken:
        rng = np.random.default_rng([seed, 4])
        train = [p.index for p in plans if p.path[0] in TRAIN_FOLDERS]
        if len(train) < len(BROKEN_KINDS):
            raise ValueError(f"too few clips ({n_clips}) to place the broken entries")
        picks = rng.choice(train, size=len(BROKEN_KINDS), replace=False)
        for kind, i in zip(BROKEN_KINDS, picks, strict=True):
            p = plans[int(i)]
            plans[int(i)] = replace(p, kind=kind)
            broken_ids[kind] = p.clip_id
    return plans, broken_ids
