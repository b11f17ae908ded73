"""How the tagger's network runs: ``channels_last`` (eager, NHWC on the CPU: the default),
``jit`` (traced, frozen and optimized for inference: oneDNN convolutions with prepacked
weights, BatchNorm folded; built on the first batch) or ``eager`` (NCHW); and from which layer
the embedding comes."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import nn

BACKENDS = ("channels_last", "jit", "eager")
DEFAULT_BACKEND = "channels_last"
DEFAULT_LAYER = "penultimate"  # what `embed` gives: the layer the classifier reads


class _EmbedAndClassify(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.net.embed(x)
        return emb, self.net.head(emb)


def optimized(net: nn.Module, example: torch.Tensor) -> Callable | None:
    """The FCN traced, frozen and optimized for CPU inference (oneDNN convolutions with prepacked
    weights, BN folded); ``None`` where that fails (then eager mode is used)."""
    if example.device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(_EmbedAndClassify(net).eval(), example[:1].float())
            return torch.jit.optimize_for_inference(torch.jit.freeze(traced))
    except Exception:
        return None


def run_network(
    net: nn.Module, x: torch.Tensor, backend: str, layer: str, fast: Callable | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalized spectrograms → (probabilities, embeddings of ``layer``) in one pass; ``fast``:
    the :func:`optimized` network (the ``jit`` backend, penultimate layer), if built."""
    if backend == "jit" and layer == DEFAULT_LAYER and fast is not None:
        emb, logits = fast(x)
        return torch.sigmoid(logits), emb
    if backend == "channels_last" and x.device.type == "cpu":
        x = x.unsqueeze(1).contiguous(memory_format=torch.channels_last)
    if layer != DEFAULT_LAYER:  # another layer than the penultimate, from one pass
        layers = net.layers(x)
        return torch.sigmoid(net.head(layers[DEFAULT_LAYER])), layers[layer]
    emb = net.embed(x)
    return torch.sigmoid(net.head(emb)), emb
