"""What ``autotag serve`` can be told: one dataclass, the keywords of :func:`autotag.serve.app.build_app`'s
service (the CLI's flags mirror it)."""

from __future__ import annotations

import math
from dataclasses import dataclass

MB = 1 << 20


@dataclass(frozen=True)
class ServeSettings:
    """Limits and batching of the service.

    ``max_upload_mb``: an upload over this is refused (413) before it is read whole.
    ``max_seconds``: a song longer than this is refused (413) after a header probe, before it
    is decoded: a 2-hour upload would hold a decoding worker for a minute and 460 MB.
    ``max_batch`` / ``max_wait_ms``: songs that arrive within ``max_wait_ms`` of the first of a
    batch share the network's forward passes, up to ``max_batch`` songs.
    ``decoders``: decoding processes (None: the usable cores); each takes one upload at a time,
    and one that crashes fails only that upload.
    ``hop`` / ``agg``: the windowing of ``autotag tag`` (an index's own, when one is served).
    ``max_pending``: uploads in progress at once; one more is refused (503) rather than queued
    without bound. ``temp_dir``: where the service's temporary folder goes (the system's).
    """

    max_upload_mb: float = 100.0
    max_seconds: float = 1800.0
    max_batch: int = 8
    max_wait_ms: float = 5.0
    decoders: int | None = None
    hop: float | None = None
    agg: str = "mean"
    batch_size: int = 16
    max_pending: int = 64
    temp_dir: str | None = None

    def __post_init__(self) -> None:
        for key in ("max_upload_mb", "max_seconds", "max_wait_ms"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value >= 0 and (value > 0 or key == "max_wait_ms")):
                raise ValueError(f"{key} must be a positive number, got {value}")
        for key in ("max_batch", "batch_size", "max_pending"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be at least 1, got {getattr(self, key)}")
        if self.decoders is not None and self.decoders < 1:
            raise ValueError(f"decoders must be at least 1, got {self.decoders}")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * MB)
