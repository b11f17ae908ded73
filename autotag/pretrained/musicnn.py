"""musicnn's released taggers (Pons et al. 2018; Pons & Serra 2019; the ``musicnn`` package
0.1.0 on PyPI, ISC licence) converted into autotag tagger files, without TensorFlow.

The four TensorFlow 1 checkpoints are read from an installed ``musicnn`` package or from its wheel
(downloaded once into the cache folder and checked by its sha256); their variables are mapped
onto :class:`autotag.models.pons_musicnn.PonsMusicnn` and :class:`autotag.models.pons_vgg.PonsVGG`
by the order in which musicnn's ``models.py`` creates its layers, each shape checked. The front
end (16 kHz, 512-point FFT, hop 256, 96 mel bands, ``log10(10000 · mel + 1)``, 187-frame windows
from the song's first frame) and the tag names come from the package's ``configuration.py`` and the
models' ``config.json``. musicnn's licence travels with each converted file (its ``config``) and
beside it in the cache folder.
"""

from __future__ import annotations

import ast
import fcntl
import importlib.metadata
import importlib.util
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from autotag.data.download.archive import sha256_file
from autotag.data.download.errors import DownloadError
from autotag.data.download.http import Session, download
from autotag.data.features import FeatureConfig
from autotag.data.normalize import norm_description
from autotag.models.registry import build_model
from autotag.pretrained.cache import cache_dir
from autotag.pretrained.tf_checkpoint import CheckpointError, TFCheckpoint, read_checkpoint
from autotag.runs.tagger_file import TaggerError, TaggerFile, read_tagger, write_tagger

VERSION = "0.1.0"
WHEEL = f"musicnn-{VERSION}-py3-none-any.whl"
WHEEL_URL = (
    "https://files.pythonhosted.org/packages/1b/6f/"
    f"38229e7d99c438e11114bbfa39c8c39185458c398011d0b6d7d7c7401617/{WHEEL}"
)
WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"
WHEEL_SIZE = 29_292_476
LICENSE_FILE = f"musicnn-{VERSION}.dist-info/LICENSE.md"
CONVERTER = 1  # bump when a converted file would come out different: cached files are redone

MODELS = ("MTT_musicnn", "MTT_vgg", "MSD_musicnn", "MSD_vgg")
# the network of each model, as musicnn's models.py define_model builds it
# (build_musicnn(num_filt_midend=64, num_units_backend=200), vgg(num_filters=128))
ARCHS: dict[str, dict[str, Any]] = {
    "musicnn": {
        "arch": "pons_musicnn",
        "width": 1.0,
        "timbral_filters": 204,  # int(1.6 * 128)
        "timbral_heights": [0.4, 0.7],
        "temporal_filters": 51,  # int(1.6 * 32)
        "temporal_kernels": [128, 64, 32],
        "midend_channels": 64,
        "dense": 200,
        "dropout": 0.5,
        "bn_eps": 0.001,
    },
    "vgg": {
        "arch": "pons_vgg",
        "width": 1.0,
        "filters": 128,
        "dropout": 0.25,
        "head_dropout": 0.5,
        "bn_eps": 0.001,
    },
}
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


class PretrainedError(RuntimeError):
    """A pretrained model that cannot be found, fetched or converted; the message says which
    file (and variable) and what to do."""


# ---------------------------------------------------------------------------- the package's files


class Source:
    """The files of the musicnn package, by their path inside the wheel (``musicnn/...``): from
    an installed copy or from the wheel file."""

    def __init__(self, name: str, read: Callable[[str], bytes], kind: str = "files") -> None:
        self.name = name  # where the files are: for messages
        self.kind = kind  # what they are, without a path: recorded in the converted file
        self._read = read

    def read(self, rel: str) -> bytes:
        try:
            return self._read(rel)
        except (KeyError, FileNotFoundError):
            raise PretrainedError(
                f"{self.name}: {rel} is missing (not musicnn {VERSION}?)"
            ) from None
        except (OSError, zipfile.BadZipFile, EOFError) as e:
            raise PretrainedError(f"{self.name}: cannot read {rel} ({e})") from None

    @classmethod
    def from_wheel(cls, wheel: Path) -> Source:
        """A wheel file, checked by its sha256 (the mapping below is for this release only)."""
        if not wheel.is_file():
            raise PretrainedError(f"{wheel}: no such wheel file")
        digest = sha256_file(wheel)
        if digest != WHEEL_SHA256:
            raise PretrainedError(
                f"{wheel}: sha256 {digest} is not that of {WHEEL} ({WHEEL_SHA256}): a damaged "
                f"copy or another file"
            )
        try:
            zf = zipfile.ZipFile(wheel)
        except (OSError, zipfile.BadZipFile) as e:
            raise PretrainedError(f"{wheel}: not a readable wheel ({e})") from None
        return cls(f"{wheel}", zf.read, f"wheel {WHEEL} (sha256 {WHEEL_SHA256[:12]}...)")

    @classmethod
    def installed(cls) -> Source | None:
        """The installed ``musicnn`` package, if it is version 0.1.0 (found without importing it:
        its ``__init__`` would import TensorFlow)."""
        try:
            spec = importlib.util.find_spec("musicnn")
            version = importlib.metadata.version("musicnn")
        except (ImportError, ValueError, importlib.metadata.PackageNotFoundError):
            return None
        if spec is None or not spec.submodule_search_locations or version != VERSION:
            return None
        root = Path(list(spec.submodule_search_locations)[0]).parent
        dist = importlib.metadata.distribution("musicnn")

        def read(rel: str) -> bytes:
            if rel == LICENSE_FILE:
                text = dist.read_text("LICENSE.md")
                if text is None:
                    raise FileNotFoundError(rel)
                return text.encode()
            return (root / rel).read_bytes()

        return cls(f"installed musicnn {VERSION} ({root / 'musicnn'})", read, "installed package")


@contextmanager
def _cache_lock() -> Iterator[None]:
    """One process at a time fetches or converts (a Slurm array's first jobs all start with an
    empty cache); the others wait, then find the files done."""
    lock = cache_dir() / ".musicnn.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def cached_wheel() -> Path:
    return cache_dir() / "downloads" / WHEEL


def fetch_wheel(progress: bool = True) -> Path:
    """The wheel in the cache folder, downloaded from PyPI the first time (sha256-checked)."""
    try:
        with _cache_lock():
            return _fetch_wheel(progress)
    except OSError as e:
        raise PretrainedError(
            f"cannot write {cached_wheel()} ({e}); set AUTOTAG_CACHE to a writable folder"
        ) from None


def _fetch_wheel(progress: bool) -> Path:
    path = cached_wheel()
    if path.is_file():
        if sha256_file(path) == WHEEL_SHA256:
            return path
        path.unlink()  # damaged (or another file of that name): fetched again

    def check(part: Path) -> None:
        digest = sha256_file(part)
        if digest != WHEEL_SHA256:
            part.unlink(missing_ok=True)
            raise PretrainedError(f"{WHEEL_URL}: sha256 {digest}, expected {WHEEL_SHA256}")

    try:
        return download(WHEEL_URL, path, WHEEL_SIZE, Session(), progress, check=check)
    except DownloadError as e:
        raise PretrainedError(
            f"cannot download {WHEEL} ({e}); install musicnn {VERSION} with "
            f"`pip install --no-deps musicnn=={VERSION}`, or pass the wheel file (--wheel)"
        ) from None


def find_source(wheel: str | Path | None = None, progress: bool = True) -> Source:
    """``wheel`` when given; else the installed package; else the wheel in the cache folder
    (downloaded on first use)."""
    if wheel is not None:
        return Source.from_wheel(Path(wheel))
    return Source.installed() or Source.from_wheel(_fetch_wheel(progress))


# ---------------------------------------------------------------------------- conversion


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


def _suffix(i: int) -> str:
    return "" if i == 0 else f"_{i}"


def variable_plan(arch: str, net: nn.Module) -> list[tuple[str, str]]:
    """(TensorFlow layer name, module of ``net``) in the order musicnn's models.py creates the
    layers (TensorFlow numbers unnamed layers by creation: conv2d, conv2d_1, ...)."""
    if arch == "pons_vgg":
        plan = [("batch_normalization", "input_bn")]
        for i in range(len(net.blocks)):
            plan += [
                (f"{i + 1}CNN", f"blocks.{i}.conv"),
                (f"batch_normalization_{i + 1}", f"blocks.{i}.bn"),
            ]
        return plan + [("dense", "classifier")]
    convs = [f"timbral.{i}" for i in range(len(net.timbral))]
    convs += [f"temporal.{i}" for i in range(len(net.temporal))]
    convs += [f"midend.{i}" for i in range(len(net.midend))]
    plan = [("batch_normalization", "input_bn")]
    for i, m in enumerate(convs):
        plan += [(f"conv2d{_suffix(i)}", f"{m}.conv"), (f"batch_normalization_{i + 1}", f"{m}.bn")]
    n = len(convs)
    return plan + [
        (f"batch_normalization_{n + 1}", "flat_bn"),
        ("dense", "dense"),
        (f"batch_normalization_{n + 2}", "dense_bn"),
        ("dense_1", "classifier"),
    ]


def _tf_kernel_shape(module: nn.Module) -> tuple[int, ...]:
    w = module.weight.shape
    if isinstance(module, nn.Conv2d):  # torch (out, in, rows, frames) ← tf (frames, rows, in, out)
        return (w[3], w[2], w[1], w[0])
    if isinstance(module, nn.Conv1d):  # torch (out, in, k) ← tf (k, in, 1, out): a full-height conv
        return (w[2], w[1], 1, w[0])
    return (w[1], w[0])  # Linear: torch (out, in) ← tf (in, out)


def _to_torch(module: nn.Module, kernel: np.ndarray) -> np.ndarray:
    if isinstance(module, nn.Conv2d):
        return kernel.transpose(3, 2, 1, 0)
    if isinstance(module, nn.Conv1d):
        return kernel[:, :, 0, :].transpose(2, 1, 0)
    return kernel.T


BN_VARS = {
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
}


def load_weights(
    ckpt: TFCheckpoint, arch: str, net: nn.Module, what: str
) -> dict[str, torch.Tensor]:
    """The checkpoint's variables as ``net``'s state dict; every shape is checked first."""
    state = {k: v.clone() for k, v in net.state_dict().items()}
    shapes = ckpt.shapes()
    for tf_layer, key in variable_plan(arch, net):
        module = net.get_submodule(key)
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            wanted = {f"{tf_layer}/{v}": (p, (module.num_features,)) for v, p in BN_VARS.items()}
        else:
            wanted = {
                f"{tf_layer}/kernel": ("weight", _tf_kernel_shape(module)),
                f"{tf_layer}/bias": ("bias", (module.weight.shape[0],)),
            }
        for var, (param, shape) in wanted.items():
            if var not in shapes:
                raise PretrainedError(f"{ckpt.name}: variable {var} is missing ({what})")
            if tuple(shapes[var]) != tuple(shape):
                raise PretrainedError(
                    f"{ckpt.name}: variable {var} has shape {tuple(shapes[var])}, the {arch} "
                    f"network of {what} needs {tuple(shape)}"
                )
            value = ckpt.tensor(var).astype(np.float32)
            if param == "weight" and not isinstance(module, nn.modules.batchnorm._BatchNorm):
                value = _to_torch(module, value)
            state[f"{key}.{param}"] = torch.from_numpy(np.ascontiguousarray(value))
    return state


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
    (out.parent / "LICENSE.musicnn.md").write_text(licence)
    return out


def converted_path(model: str) -> Path:
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
        with _cache_lock():
            if path.is_file() and not force and wheel is None and _is_current(path):
                return path  # another process converted it meanwhile
            return convert(model, path, find_source(wheel, progress))
    except OSError as e:
        raise PretrainedError(
            f"cannot write the converted model into {path.parent} ({e}); set AUTOTAG_CACHE to a "
            f"writable folder"
        ) from None
