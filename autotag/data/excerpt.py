"""What part of each audio file a store keeps: the excerpt policy (the ``store.excerpt`` config).

- ``window``: the centre window of the features (``features.clip_seconds``), padded when the
  file is shorter: every item has the same length (MTAT's 29 s clips; the fixed-size store).
- ``full``: the whole track, or its centre ``max_minutes`` when longer.
- ``center``: the centre ``seconds`` (the whole track when shorter).
- ``k_random``: ``k`` excerpts of ``seconds``, drawn at prepare time from ``seed`` and the
  track's id (the same excerpts on any machine, in any shard), in time order.

Every policy but ``window`` gives variable-length items: the store keeps them back to back
(:mod:`autotag.data.store`), training crops the model's input from them and evaluation averages
chunks spread over them (:mod:`autotag.data.datamodule`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from autotag.common.keywords import check_fields
from autotag.common.signal import centre_span

POLICIES = ("window", "full", "center", "k_random")


@dataclass(frozen=True)
class Excerpt:
    """The ``store.excerpt`` config, field for field."""

    policy: str
    seconds: float  # center, k_random: length of an excerpt
    k: int  # k_random: excerpts per track
    max_minutes: float  # full: longer tracks keep their centre this long
    seed: int  # k_random: the draw (with the track id)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Excerpt:
        check_fields(cls.__dataclass_fields__, d, "store.excerpt")
        e = cls(**dict(d))
        if e.policy not in POLICIES:
            raise ValueError(
                f"store.excerpt.policy={e.policy!r}: choose one of {', '.join(POLICIES)}"
            )
        if e.policy in ("center", "k_random") and not e.seconds > 0:
            raise ValueError(f"store.excerpt.seconds must be positive, got {e.seconds}")
        if e.policy == "k_random" and e.k < 1:
            raise ValueError(f"store.excerpt.k must be at least 1, got {e.k}")
        if e.policy == "full" and not e.max_minutes > 0:
            raise ValueError(f"store.excerpt.max_minutes must be positive, got {e.max_minutes}")
        return e

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def ragged(self) -> bool:
        """Whether items have their own lengths (every policy but ``window``)."""
        return self.policy != "window"

    def key(self) -> str:
        """What the stored values depend on, for the store's name ("" for ``window``: the names
        of the stores written before this policy existed stay the same)."""
        if not self.ragged:
            return ""
        used = {
            "full": ("max_minutes",),
            "center": ("seconds",),
            "k_random": ("seconds", "k", "seed"),
        }
        d = {"policy": self.policy, **{k: asdict(self)[k] for k in used[self.policy]}}
        return json.dumps(d, sort_keys=True)

    def spans(self, n_samples: int, sample_rate: int, track_id: int) -> list[tuple[int, int]]:
        """``(start, stop)`` sample ranges kept of a decoded track of ``n_samples`` (ragged
        policies; ``window`` is the front end's centre crop)."""
        if self.policy == "full":
            return [_centre(n_samples, int(round(self.max_minutes * 60 * sample_rate)))]
        length = int(round(self.seconds * sample_rate))
        if self.policy == "center" or n_samples <= length:
            return [_centre(n_samples, length)]
        if self.policy == "k_random":
            rng = np.random.default_rng([int(self.seed), int(track_id)])
            starts = np.sort(rng.integers(0, n_samples - length + 1, size=self.k))
            return [(int(s), int(s) + length) for s in starts]
        raise ValueError(f"no spans for the {self.policy!r} policy")


def _centre(n: int, length: int) -> tuple[int, int]:
    start, stop, _, _ = centre_span(n, length)  # a shorter file: all of it, never padded
    return start, stop
