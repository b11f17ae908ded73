"""The tagger file (``tagger.pt``): the one module that writes and reads it.

A tagger file is everything needed to tag audio, as tensors and plain values only, so it loads
with ``torch.load(weights_only=True)`` and never runs code::

    format          "autotag-tagger/2"
    model           the model config: arch + constructor arguments
    weights         the network's state_dict
    features        the FeatureConfig (front end) as a dict
    norm            the Normalizer description (mode, global_mean, global_std, eps, amin)
    tag_names, thresholds (per-tag, chosen on validation), input_shape (the network's rows and
    frames), eval_chunks (chunks averaged per window when the network's frames are fewer than the
    features'; absent in files written before the chunk protocol: whole windows), metrics,
    config, autotag_version

Files of format ``autotag-tagger/1`` (whole LightningModule state, no ``amin`` in ``norm``)
still load: they are upgraded when read.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from autotag import __version__
from autotag.common.files import atomic_path
from autotag.data.chunks import ChunkPlan
from autotag.data.features import FeatureConfig
from autotag.data.normalize import Normalizer
from autotag.models.registry import MODELS, build_model, model_arguments

FORMAT = "autotag-tagger/2"
FORMAT_PREFIX = "autotag-tagger/"
READABLE = ("autotag-tagger/1", FORMAT)
REQUIRED = ("model", "weights", "features", "norm", "tag_names", "thresholds")
V1_EPS, V1_AMIN = 1e-5, 1e-10  # format 1's fixed normalizer eps and its features' default amin


class TaggerError(RuntimeError):
    """A model file that cannot be used as a tagger; the message names the file."""


@dataclass
class TaggerFile:
    """The contents of a tagger file."""

    model: dict[str, Any]
    weights: dict[str, torch.Tensor]
    features: dict[str, Any]
    norm: dict[str, Any]
    tag_names: list[str]
    thresholds: list[float]
    input_shape: list[int]
    eval_chunks: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    autotag_version: str = __version__
    path: Path | None = None  # where it was read from
    sha256: str = ""

    def feature_config(self) -> FeatureConfig:
        return FeatureConfig.from_dict(self.features)

    def chunk_plan(self) -> ChunkPlan:
        """How the network sees a window: chunks of its input frames, or the whole window."""
        frames, n = int(self.input_shape[1]), self.eval_chunks
        if n is None or frames >= int(self.features["n_frames"]):
            return ChunkPlan(None, 1)
        return ChunkPlan(frames, int(n))

    def normalizer(self) -> Normalizer:
        return Normalizer(**self.norm)

    @property
    def pretrained_name(self) -> str:
        """``musicnn:MTT_musicnn`` for a converted pretrained model (:mod:`autotag.pretrained`),
        else empty."""
        return str(dict(self.config.get("pretrained") or {}).get("name", ""))

    def origin(self) -> dict[str, str]:
        """The name, credit and licence of the pretrained model these weights descend from: the
        file's own (a converted model) or the one it was fine-tuned from (``derived_from``,
        written by training); empty for a model trained from scratch."""
        record = dict(self.config.get("pretrained") or self.config.get("derived_from") or {})
        return {k: str(record[k]) for k in ("name", "credit", "license") if k in record}

    def network(self) -> nn.Module:
        """The network with its trained weights (in eval mode)."""
        n_mels, n_frames = self.input_shape
        net = build_model(self.model, int(n_mels), int(n_frames), len(self.tag_names))
        net.load_state_dict(self.weights)
        return net.eval()


def write_tagger(path: str | Path, tagger: TaggerFile) -> Path:
    """Write ``tagger`` to ``path`` (atomically: a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "format": FORMAT,
        "autotag_version": tagger.autotag_version,
        "model": dict(tagger.model),
        "weights": {k: v.detach().cpu() for k, v in tagger.weights.items()},
        "features": dict(tagger.features),
        "norm": dict(tagger.norm),
        "tag_names": [str(t) for t in tagger.tag_names],
        "thresholds": [float(t) for t in tagger.thresholds],
        "input_shape": [int(n) for n in tagger.input_shape],
        "eval_chunks": tagger.eval_chunks,
        "metrics": dict(tagger.metrics),
        "config": dict(tagger.config),
    }
    with atomic_path(path) as tmp:  # of this host and process: two writers never share one
        torch.save(blob, tmp)
    return path


def read_tagger(path: str | Path) -> TaggerFile:
    """Read and check a tagger file (``torch.load(weights_only=True)``: no code is executed)."""
    p = Path(path)
    if not p.exists():
        raise TaggerError(f"{p}: model file not found")
    if not p.is_file():
        raise TaggerError(f"{p}: not a file (expected a tagger.pt written by training)")
    data = p.read_bytes()
    try:
        blob = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:
        raise TaggerError(
            f"{p}: not an autotag tagger file (torch.load(weights_only=True) cannot read it: "
            f"not a PyTorch file, or it holds more than tensors and plain values; "
            f"{type(e).__name__})"
        ) from None
    fmt = str(blob.get("format", "")) if isinstance(blob, Mapping) else ""
    if not fmt.startswith(FORMAT_PREFIX):
        hint = ""
        if isinstance(blob, Mapping) and "pytorch-lightning_version" in blob:
            hint = " (this is a Lightning checkpoint: use the tagger.pt of the run folder)"
        raise TaggerError(f"{p}: not an autotag tagger file (no '{FORMAT_PREFIX}' format){hint}")
    if fmt not in READABLE:
        raise TaggerError(
            f"{p}: tagger format {fmt!r} is newer than this autotag ({__version__}) reads "
            f"({', '.join(READABLE)}): update autotag"
        )
    blob = dict(blob)
    if fmt == "autotag-tagger/1":
        blob = _upgrade_v1(blob)
    missing = [k for k in REQUIRED if k not in blob]
    if missing:
        raise TaggerError(f"{p}: tagger file lacks {', '.join(missing)}")
    try:
        features = dict(blob["features"])
        # the .get()s: keys that tagger files written before them lack (saved configs, not YAML)
        tagger = TaggerFile(
            model=dict(blob["model"]),
            weights=dict(blob["weights"]),
            features=features,
            norm=dict(blob["norm"]),
            tag_names=[str(t) for t in blob["tag_names"]],
            thresholds=[float(t) for t in blob["thresholds"]],
            input_shape=[int(n) for n in blob.get("input_shape") or _shape(features)],
            eval_chunks=None if blob.get("eval_chunks") is None else int(blob["eval_chunks"]),
            metrics=dict(blob.get("metrics") or {}),
            config=dict(blob.get("config") or {}),
            autotag_version=str(blob.get("autotag_version", "?")),
            path=p.resolve(),
            sha256=hashlib.sha256(data).hexdigest(),
        )
    except (TypeError, ValueError) as e:
        raise TaggerError(f"{p}: inconsistent tagger file ({e})") from None
    if len(tagger.thresholds) != len(tagger.tag_names):
        raise TaggerError(
            f"{p}: {len(tagger.thresholds)} thresholds for {len(tagger.tag_names)} tags"
        )
    return tagger


def _shape(features: Mapping[str, Any]) -> list[int]:
    return [FeatureConfig.from_dict(features).n_rows, int(features["n_frames"])]


def _upgrade_v1(blob: dict[str, Any]) -> dict[str, Any]:
    """Format 1 kept the LightningModule's whole state (``net.``, ``normalizer.``, ``loss_fn.``)
    and a norm without ``eps``/``amin`` (then always 1e-5 and the features' ``amin``)."""
    state = blob.pop("state_dict", {})
    blob["weights"] = {k[len("net.") :]: v for k, v in state.items() if k.startswith("net.")}
    # format 1's model builder ignored keys that were not the arch's (`name`, `ignores`, a
    # grid's `features` for the baselines...): keep the arch's arguments only
    model = dict(blob.get("model", {}))
    if model.get("arch") in MODELS:
        keep = {"arch", *model_arguments(model["arch"])}
        blob["model"] = {k: v for k, v in model.items() if k in keep}
    norm = dict(blob.get("norm", {}))
    blob["norm"] = {
        "mode": norm.get("mode"),
        "global_mean": float(norm.get("global_mean", 0.0)),
        "global_std": float(norm.get("global_std", 1.0)),
        "eps": V1_EPS,
        "amin": float(dict(blob.get("features", {})).get("amin", V1_AMIN)),
    }
    return blob
