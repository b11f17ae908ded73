"""``init_from``: start a network from the weights of a tagger file (fine-tuning, evaluation).

Only the network's weights are taken. The normalizer (the new store's statistics) and the
loss's positive weights (the new training split's counts) stay those of the new run. The
classifier's rows are matched by tag name: a tag the old model lacks starts fresh (or, with
``new_tags="error"``, the run stops with the list of tags that differ).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from autotag.data.features import FeatureConfig
from autotag.pretrained import PretrainedError, resolve
from autotag.runs.tagger_file import read_tagger

log = logging.getLogger(__name__)
NEW_TAGS = ("fresh", "error")
HEAD = "classifier."  # every network's tag layer (see autotag.models.registry)
CLIP_KEYS = ("name", "clip_seconds", "n_frames", "song_windows")  # not the front end's


def warm_start(
    net: nn.Module, path: str | Path, tag_names: list[str], new_tags: str, features: FeatureConfig
) -> dict[str, str]:
    """Load the network weights of the tagger file ``path`` into ``net`` (tags by name).

    ``features`` are the new run's: weights learned on other features (another rate, other
    mel bands) still load where the shapes allow, with a warning naming what differs.
    Returns the credit and licence of a pretrained model the weights descend from (its
    ``config.pretrained``, or the ``derived_from`` of a file fine-tuned from one; else empty):
    the new tagger file carries them on.
    """
    if new_tags not in NEW_TAGS:
        raise ValueError(f"init_new_tags={new_tags!r}: choose one of {', '.join(NEW_TAGS)}")
    try:
        old = read_tagger(resolve(path))  # a tagger file, or a pretrained model's name
    except PretrainedError as e:
        raise ValueError(f"init_from={path}: {e}") from None
    before, now = old.feature_config().to_dict(), features.to_dict()
    # a converted pretrained model keeps its tagging window (3 s for musicnn) where a store
    # keeps training clips: its clip length is not a difference of front end
    ignore = CLIP_KEYS if old.pretrained_name else ("name",)
    differ = [k for k in now if k not in ignore and before[k] != now[k]]
    if differ:
        log.warning(
            "init_from=%s was trained on other features: %s",
            path,
            ", ".join(f"{k} {before[k]} → {now[k]}" for k in differ),
        )
    old_index = {t: i for i, t in enumerate(old.tag_names)}
    missing = [t for t in tag_names if t not in old_index]
    dropped = [t for t in old.tag_names if t not in set(tag_names)]
    if missing and new_tags == "error":
        raise ValueError(
            f"init_from={path}: its model lacks the tags {', '.join(missing)}"
            + (f" (and has {', '.join(dropped)}, which this run lacks)" if dropped else "")
            + "; init_new_tags=fresh starts those tags from scratch"
        )
    state = net.state_dict()
    new_state = {}
    for key, value in state.items():
        if key not in old.weights:
            raise ValueError(
                f"init_from={path}: its network ({old.model.get('arch')}) has no {key!r}: "
                f"choose the model it was trained as (model.arch={old.model.get('arch')})"
            )
        src = old.weights[key]
        if key.startswith(HEAD) and src.shape[1:] != value.shape[1:]:
            raise ValueError(
                f"init_from={path}: its classifier reads {tuple(src.shape[1:])} features, this "
                f"network's {tuple(value.shape[1:])} (another input size or width?)"
            )
        if key.startswith(HEAD):
            value = value.clone()
            for j, tag in enumerate(tag_names):
                if tag in old_index:
                    value[j] = src[old_index[tag]]
            new_state[key] = value
        elif src.shape != value.shape:
            raise ValueError(
                f"init_from={path}: {key} has shape {tuple(src.shape)} there and "
                f"{tuple(value.shape)} here (model config {old.model} differs?)"
            )
        else:
            new_state[key] = src
    with torch.no_grad():
        net.load_state_dict(new_state)
    log.info(
        "weights initialized from %s (%d of %d tags matched by name%s%s)",
        path,
        len(tag_names) - len(missing),
        len(tag_names),
        f"; fresh: {', '.join(missing)}" if missing else "",
        f"; not used: {', '.join(dropped)}" if dropped else "",
    )
    return old.origin()
