"""Fine-tuning with few labels: the last layers learn first, then everything.

The advice of the field for a small catalogue (minzwon/sota-music-tagging-models #12): starting
from a pretrained network, train only its last one or two layers for a few epochs, then unfreeze
it all. ``finetune.freeze_epochs`` epochs keep every layer but the last ``finetune.train_layers``
convolutional or linear layers (with the BatchNorms after them) as they were: their gradients are
dropped after each backward pass (so the optimizer leaves them alone, and DDP, which needs every
parameter to keep its gradient hook, is unaffected) and their BatchNorms keep their running
statistics (eval mode). "Last" is by the order in which the network registers its modules, the
order data flows through every autotag network.
"""

from __future__ import annotations

import logging

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback
from torch import nn

from autotag.training.settings import Finetune

log = logging.getLogger(__name__)
WEIGHT_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Linear)


def check_finetune(freeze_epochs: int, train_layers: int) -> None:
    """The ``finetune`` config's values (checked by ``fit`` before the store is built, too)."""
    if freeze_epochs < 0:
        raise ValueError(f"finetune.freeze_epochs must be 0 or more, got {freeze_epochs}")
    if train_layers < 1:
        raise ValueError(f"finetune.train_layers must be at least 1, got {train_layers}")


def trainable_tail(net: nn.Module, n_layers: int) -> list[str]:
    """Names of the modules with parameters from the ``n_layers``-th last conv/linear layer on."""
    check_finetune(0, n_layers)
    leaves = [
        (name, m)
        for name, m in net.named_modules()
        if name and not list(m.children()) and any(True for _ in m.parameters(recurse=False))
    ]
    weights = [i for i, (_, m) in enumerate(leaves) if isinstance(m, WEIGHT_LAYERS)]
    start = weights[-n_layers] if n_layers <= len(weights) else 0
    return [name for name, _ in leaves[start:]]


def _in_tail(name: str, tail: set[str]) -> bool:
    """Whether the module or parameter ``name`` belongs to a module of ``tail``."""
    parts = name.split(".")
    return any(".".join(parts[:i]) in tail for i in range(1, len(parts) + 1))


class FreezeBackbone(Callback):
    """For the first ``epochs`` epochs only :func:`trainable_tail` learns: every other
    parameter (whatever module owns it) has its gradient dropped, and every other BatchNorm is
    kept in eval mode (found at each batch: a SyncBatchNorm swapped in by Lightning too)."""

    def __init__(self, net: nn.Module, epochs: int, train_layers: int) -> None:
        check_finetune(epochs, train_layers)
        self.net = net
        self.epochs = epochs
        self.tail = set(trainable_tail(net, train_layers))
        self.frozen_params = [p for n, p in net.named_parameters() if not _in_tail(n, self.tail)]
        self._held = False  # the frozen BatchNorms are in eval mode
        log.info(
            "finetune: the first %d epoch(s) train %s only (%d parameter tensors frozen)",
            epochs, ", ".join(sorted(self.tail)), len(self.frozen_params),
        )  # fmt: skip

    def _frozen(self, trainer: pl.Trainer) -> bool:
        return trainer.current_epoch < self.epochs

    def _frozen_bn(self) -> list[nn.Module]:
        return [
            m
            for name, m in self.net.named_modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and not _in_tail(name, self.tail)
        ]

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *_) -> None:
        # every batch: Lightning puts the module back in train mode after each validation
        frozen = self._frozen(trainer)
        if frozen or self._held:
            for m in self._frozen_bn():
                m.train(not frozen)
            self._held = frozen

    def on_after_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._frozen(trainer):
            for p in self.frozen_params:
                p.grad = None


def finetune_callbacks(net: nn.Module, finetune: Finetune) -> list[Callback]:
    """The ``finetune`` settings' callbacks (none when ``freeze_epochs`` is 0)."""
    check_finetune(finetune.freeze_epochs, finetune.train_layers)
    if not finetune.freeze_epochs:
        return []
    return [FreezeBackbone(net, finetune.freeze_epochs, finetune.train_layers)]
