"""musicnn's released taggers (Pons et al. 2018; Pons & Serra 2019; the ``musicnn`` package
0.1.0 on PyPI, ISC licence) converted into autotag tagger files, without TensorFlow, and kept
converted in the cache folder.

The four TensorFlow 1 checkpoints come from the package's files (:mod:`.wheel`); their variables
become the weights of autotag's ``pons_musicnn`` and ``pons_vgg`` networks (:mod:`.musicnn_weights`).
The front end (16 kHz, 512-point FFT, hop 256, 96 mel bands, ``log10(10000 · mel + 1)``, 187-frame
windows from the song's first frame) and the tag names come from the package's
``configuration.py`` and the models' ``config.json``. musicnn's licence travels with each
converted file (its ``config``) and beside it in the cache folder.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

from autotag.common.files import write_text
from autotag.data.features import FeatureConfig
from autotag.data.normalize import norm_description
from autotag.models.registry import build_model
from autotag.pretrained.cache import cache_dir, cache_lock
from autotag.pretrained.errors import PretrainedError
from autotag.pretrained.musicnn_weights import ARCHS, load_weights
from autotag.pretrained.tf_checkpoint import CheckpointError, read_checkpoint
from autotag.pretrained.wheel import LICENSE_FILE, LOCK, VERSION, WHEEL_SHA256, Source, find_source
from autotag.runs.tagger_file import TaggerError, TaggerFile, read_tagger, write_tagger

CONVERTER = 1  # bump when a converted file would come out different: cached files are redone

MODELS = ("MTT_musicnn", "MTT_vgg", "MSD_musicnn", "MSD_vgg")
DATASETS = {
    "MTT": "MagnaTagATune, its 50 most frequent tags; the test set of musicnn's split",
    "MSD": "Million Song Dataset, its 50 most frequent last.fm tags; the test set of musicnn's split",
}
# what `present` means for these models: no validation split of theirs is at hand to choose
# per-tag thresholds, so a tag is present when its mean probability over the song reaches 0.5
PRESENT_THRESHOLD = 0.5
CREDIT = (
    "musicnn (Pons, Nieto, Prockup, Schmidt, Ehmann & Serra, 'End-to-end learning for music audio "
    "tagging at scale', ISMIR 2018; Pons & Serra, 'musicnn: pre-trained convolutional neural "
    "networks for music audio tagging', ISMIR 2019 LBD), converted from the musicnn package "
    f"{VERSION} by autotag"
)


def package_constants(source: Source) -> dict[str, Any]:
    """The literal assignments of musicnn's ``configuration.py`` (SR, FFT_HOP, ..., the tag
    lists), read without running it."""
    rel = "musicnn/configuration.py"
    try:
        tree = ast.parse(source.read(rel).decode())
        return {
            t.id: ast.literal_eval(node.value)
            for node in tree.body
            if isinstance(node, ast.Assign)
            for t in node.targets
            if isinstance(t, ast.Name)
        }
    except (SyntaxError, ValueError, UnicodeDecodeError) as e:
        raise PretrainedError(f"{source.name}: {rel} cannot be read ({e})") from None


def front_end(constants: dict[str, Any], n_frames: int) -> dict[str, Any]:
    """musicnn's front end as autotag features (``conf/features/musicnn.yaml``, whose clips are
    training clips instead of ``n_frames`` windows): librosa's mel defaults (Slaney scale and
    norm, 0 to sr/2, zero end padding since librosa 0.10), float16 power, log10(10000 x + 1)."""
    sr, hop = int(constants["SR"]), int(constants["FFT_HOP"])
    return FeatureConfig(
        name="musicnn",
        sample_rate=sr,
        n_fft=int(constants["FFT_SIZE"]),
        hop_length=hop,
        n_mels=int(constants["N_MELS"]),
        f_min=0.0,
        f_max=sr / 2,
        clip_seconds=(n_frames - 1) * hop / sr,  # 187 frames: 2.976 s
        n_frames=n_frames,
        mel_scale="slaney",
        mel_norm="slaney",
        amin=1e-10,
        compression="logc",
        log_c=10000.0,
        power_float16=True,
        pad_mode="constant",
        song_windows="frames",
    ).to_dict()


def _result(text: str) -> dict[str, float]:
    """The test ROC-AUC and PR-AUC of a model's ``experiment.result`` (two numbers, in order)."""
    numbers = [float(x) for x in re.findall(r"AUC:\s*([0-9.]+)", text)]
    return {"roc_auc": numbers[0], "pr_auc": numbers[1]} if len(numbers) == 2 else {}


def convert(model: str, out: str | Path, source: Source) -> Path:
    """Convert musicnn's ``model`` from ``source`` into the tagger file ``out``."""
    if model not in MODELS:
        raise PretrainedError(f"musicnn model {model!r}: choose one of {', '.join(MODELS)}")
    data_set, kind = model.split("_")
    folder = f"musicnn/{model}/"
    try:
        ckpt = read_checkpoint(
            source.read(folder + ".index"),
            source.read(folder + ".data-00000-of-00001"),
            name=f"{source.name}:{folder}",
        )
        config = json.loads(source.read(folder + "config.json"))
        constants = package_constants(source)
        tags = [str(t) for t in constants[f"{data_set}_LABELS"]]
        n_frames, n_mels = int(config["xInput"]), int(config["yInput"])
        features = front_end(constants, n_frames)
        spec = dict(ARCHS[kind])
        net = build_model(spec, n_mels, n_frames, len(tags))
        weights = load_weights(ckpt, spec["arch"], net, f"musicnn {model}")
        scores = _result(source.read(folder + "experiment.result").decode(errors="replace"))
        licence = source.read(LICENSE_FILE).decode()
    except CheckpointError as e:
        raise PretrainedError(str(e)) from None
    except (KeyError, ValueError, json.JSONDecodeError) as e:
        raise PretrainedError(f"{source.name}: {folder} is not musicnn {VERSION}'s ({e})") from None
    net.load_state_dict(weights)  # the shapes were checked: this cannot fail
    tagger = TaggerFile(
        model=spec,
        weights=weights,
        features=features,
        # the network normalizes its own input (its first layer is a BatchNorm)
        norm=norm_description("none", {"global_mean": 0.0, "global_std": 1.0}, features["amin"]),
        tag_names=tags,
        thresholds=[PRESENT_THRESHOLD] * len(tags),
        input_shape=[n_mels, n_frames],
        eval_chunks=None,
        metrics={
            "test": scores,
            "test_set": DATASETS[data_set],
            "source": "musicnn's experiment.result",
        },
        config={
            "pretrained": {
                "name": f"musicnn:{model}",
                "package": f"musicnn {VERSION}",
                "wheel_sha256": WHEEL_SHA256,
                "source": source.kind,
                "converter": CONVERTER,
                "credit": CREDIT,
                "license": licence,
                "thresholds": f"{PRESENT_THRESHOLD} for every tag (no validation split to choose them)",
            }
        },
    )
    out = write_tagger(out, tagger)
    write_text(out.parent / "LICENSE.musicnn.md", licence)
    return out


def converted_path(model: str) -> Path:
    """Where the converted tagger file of ``model`` is cached."""
    return cache_dir() / f"musicnn-{VERSION}" / f"{model}.pt"


def _is_current(path: Path) -> bool:
    try:
        return read_tagger(path).config.get("pretrained", {}).get("converter") == CONVERTER
    except TaggerError:
        return False  # damaged: convert again


def converted(
    model: str, wheel: str | Path | None = None, force: bool = False, progress: bool = True
) -> Path:
    """The cached tagger file of musicnn's ``model``, converted first when missing (or made by an
    older converter, or ``force``, or from an explicit ``wheel``)."""
    path = converted_path(model)
    if path.is_file() and not force and wheel is None and _is_current(path):
        return path
    try:
        with cache_lock(LOCK):
            if path.is_file() and not force and wheel is None and _is_current(path):
                return path  # another process converted it meanwhile
            return convert(model, path, find_source(wheel, progress))
    except OSError as e:
        raise PretrainedError(
            f"cannot write the converted model into {path.parent} ({e}); set AUTOTAG_CACHE to a "
            f"writable folder"
        ) from None
