"""musicnn's two networks as autotag models, and their TensorFlow variables loaded into them.

:data:`ARCHS` gives each network as :class:`autotag.models.pons_musicnn.PonsMusicnn` and
:class:`autotag.models.pons_vgg.PonsVGG` build it; :func:`load_weights` maps a checkpoint's
variables onto their modules by the order in which musicnn's ``models.py`` creates its layers,
each shape checked before any value is read.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from autotag.pretrained.errors import PretrainedError
from autotag.pretrained.tf_checkpoint import TFCheckpoint

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
