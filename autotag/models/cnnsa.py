"""Won et al. 2019's self-attention tagger ("Toward interpretable music tagging with
self-attention"; reference code: minzwon/sota-music-tagging-models, ``training/model.py``
``CNNSA`` and ``training/attention_modules.py``).

A residual CNN front end takes 128 mel rows to 1 (time strided 8x: 938 frames → 118 steps), a
fixed [CLS] vector is prepended, two BERT-style (post-LayerNorm) encoder layers without position
embeddings mix the sequence, and BERT's pooler (linear + tanh on the [CLS] output) feeds the
dropout and the linear output.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from autotag.models import blocks
from autotag.models.registry import register

LAYER_NORM_EPS = 1e-12  # BERT's (TF-style) LayerNorm epsilon, as in the reference


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    """A stride from a YAML value: ``2`` → ``(2, 2)``, ``[2, 1]`` → ``(2, 1)`` (rows, frames)."""
    if isinstance(value, int):
        return value, value
    rows, frames = (int(v) for v in value)
    return rows, frames


class EncoderLayer(nn.Module):
    """One BERT layer (post-LN): self-attention (dropout on the attention probabilities) → dropout
    → add & LayerNorm → linear → GELU → linear → dropout → add & LayerNorm."""

    def __init__(
        self, d_model: int, heads: int, ff: int, attention_dropout: float, hidden_dropout: float
    ) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(
            d_model, heads, dropout=attention_dropout, batch_first=True
        )
        self.attention_dropout = nn.Dropout(hidden_dropout)
        self.attention_norm = nn.LayerNorm(d_model, eps=LAYER_NORM_EPS)
        self.ff = nn.Sequential(nn.Linear(d_model, ff), nn.GELU(), nn.Linear(ff, d_model))
        self.ff_dropout = nn.Dropout(hidden_dropout)
        self.ff_norm = nn.LayerNorm(d_model, eps=LAYER_NORM_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attended, _ = self.attention(x, x, x, need_weights=False)
        x = self.attention_norm(x + self.attention_dropout(attended))
        return self.ff_norm(x + self.ff_dropout(self.ff(x)))


@register("cnnsa")
class CNNSA(nn.Module):
    """Residual CNN front end → [CLS] + sequence → transformer encoder → pooler → linear.

    Input ``(batch, n_mels, n_frames)`` (or with a channel axis); output logits
    ``(batch, n_classes)``. ``embed`` is the pooled [CLS] vector (after tanh, before dropout),
    ``d_model`` (the last channel count) wide. The arguments after ``n_classes`` are
    ``conf/model/cnnsa.yaml``'s, where their defaults live.
    """

    arch = "cnnsa"

    def __init__(
        self,
        n_mels: int,
        n_frames: int,
        n_classes: int,
        *,
        width: float,
        dropout: float,
        channels: Sequence[int],
        strides: Sequence[int | Sequence[int]],
        layers: int,
        heads: int,
        ff: int,
        attention_dropout: float,
        hidden_dropout: float,
    ) -> None:
        super().__init__()
        blocks.check_width(width)
        blocks.check_dropout(dropout)
        blocks.check_dropout(attention_dropout, "model.attention_dropout")
        blocks.check_dropout(hidden_dropout, "model.hidden_dropout")
        if not channels or len(channels) != len(strides):
            raise ValueError(
                f"model {self.arch}: {len(channels)} channel counts but {len(strides)} strides"
            )
        if layers < 1 or heads < 1:
            raise ValueError(f"model {self.arch}: model.layers and model.heads must be >= 1")
        pairs = [_pair(s) for s in strides]
        self.final_map = blocks.reduce_to_one_row(
            self.arch, n_mels, n_frames, pairs, blocks.strided
        )
        widths = [blocks.scaled(c, width) for c in channels]
        d_model = widths[-1]
        if d_model % heads:
            raise ValueError(
                f"model {self.arch}: model.heads={heads} must divide the attention width "
                f"{d_model} (the last of model.channels times model.width={width}); "
                f"change model.width or model.heads"
            )
        self.input_bn = nn.BatchNorm2d(1)
        front: list[nn.Module] = []
        c_in = 1
        for c, stride in zip(widths, pairs):
            front.append(blocks.ResBlock2d(c_in, c, stride))
            c_in = c
        self.blocks = nn.Sequential(*front)
        # Won's fixed [CLS]: np.random.seed(0); np.random.random((1, 256)), the same draws here
        # (so the same vector at width 1); a buffer: saved with the weights, never trained.
        cls = np.random.RandomState(0).random_sample((1, 1, d_model))
        self.register_buffer("cls", torch.from_numpy(cls).float())
        ff_width = blocks.scaled(ff, width)
        self.encoder = nn.ModuleList(
            EncoderLayer(d_model, heads, ff_width, attention_dropout, hidden_dropout)
            for _ in range(layers)
        )
        self.pooler = nn.Linear(d_model, d_model)
        self.embedding_dim = d_model
        self.head_dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(d_model, n_classes)

    def sequence(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's output ``(batch, 1 + steps, d_model)``; position 0 is the [CLS] token."""
        x = self.blocks(self.input_bn(blocks.as_image(x)))  # (batch, d_model, 1, steps)
        x = x.squeeze(2).transpose(1, 2)  # (batch, steps, d_model)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        for layer in self.encoder:
            x = layer(x)
        return x

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled [CLS] output (BERT's pooler: linear + tanh): ``(batch, embedding_dim)``."""
        return torch.tanh(self.pooler(self.sequence(x)[:, 0]))

    def head(self, emb: torch.Tensor) -> torch.Tensor:
        """Embeddings → tag logits."""
        return self.classifier(self.head_dropout(emb))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))

    def extra_repr(self) -> str:
        return f"final_map={self.final_map}"
