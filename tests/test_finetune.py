"""Training with few labels: a share of the training split, and the last layers first."""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from torch import nn

from autotag.data.datamodule import TagDataModule
from autotag.models import build_model
from autotag.training.finetune import FreezeBackbone, finetune_callbacks, trainable_tail
from autotag.training.settings import Finetune
from tests.helpers import compose_train


def _musicnn(n_mels: int = 24, n_frames: int = 40, width: float = 0.125) -> nn.Module:
    cfg = OmegaConf.to_container(compose_train(["model=pons_musicnn"]).model, resolve=True)
    cfg.pop("input_seconds")
    return build_model({**cfg, "width": width}, n_mels, n_frames, 5)


def test_the_trainable_tail_is_the_last_layers_in_flow_order():
    net = _musicnn()
    assert trainable_tail(net, 1) == ["classifier"]
    assert trainable_tail(net, 2) == ["dense", "dense_bn", "classifier"]
    assert trainable_tail(net, 3)[:3] == ["midend.2.conv", "midend.2.bn", "flat_bn"]
    every = trainable_tail(net, 100)  # more layers than there are: everything
    assert every[0] == "input_bn" and len(every) == sum(
        1 for _, m in net.named_modules() if not list(m.children()) and list(m.parameters())
    )
    with pytest.raises(ValueError, match="finetune.train_layers must be at least 1"):
        trainable_tail(net, 0)
    assert finetune_callbacks(net, Finetune(freeze_epochs=0, train_layers=2)) == []


class _Tiny(pl.LightningModule):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def training_step(self, batch, _):
        x, y = batch
        return nn.functional.binary_cross_entropy_with_logits(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-2)


class _Snapshots(pl.Callback):
    def __init__(self) -> None:
        self.states: list[dict[str, torch.Tensor]] = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.states.append({k: v.clone() for k, v in pl_module.net.state_dict().items()})


def test_frozen_layers_keep_weights_and_statistics_then_all_learn():
    torch.manual_seed(0)
    net = _musicnn()
    start = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = torch.randn(32, 24, 40), (torch.rand(32, 5) > 0.5).float()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    snaps = _Snapshots()
    trainer = pl.Trainer(
        max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
        callbacks=[FreezeBackbone(net, epochs=1, train_layers=2), snaps],
    )  # fmt: skip
    trainer.fit(_Tiny(net), loader)
    first, second = snaps.states
    tail = ("dense.", "dense_bn.", "classifier.")
    for key, before in start.items():
        if key.endswith("num_batches_tracked"):
            continue
        if key.startswith(tail):
            assert not torch.equal(first[key], before), f"{key} should learn in epoch 1"
        else:  # weights, and the BatchNorms' running statistics, as they were
            assert torch.equal(first[key], before), f"{key} changed while frozen"
            assert not torch.equal(second[key], before), f"{key} should learn in epoch 2"


def test_train_fraction_keeps_a_share_of_the_training_split(mini_labelled):
    common = dict(top_k=4, norm="none", batch_size=8, num_workers=0, in_memory=False,
                  random_crop=None, eval_chunks=1, crops_per_item=1, shuffle_labels=False)  # fmt: skip
    whole = TagDataModule(mini_labelled, seed=0, train_fraction=1.0, **common)
    whole.setup()
    part = TagDataModule(mini_labelled, seed=0, train_fraction=0.25, **common)
    part.setup()
    train, kept = whole.datasets["train"].index, part.datasets["train"].index
    assert len(kept) == round(0.25 * len(train)) and set(kept) <= set(train)
    for split in ("val", "test"):
        np.testing.assert_array_equal(part.datasets[split].index, whole.datasets[split].index)
    again = TagDataModule(mini_labelled, seed=0, train_fraction=0.25, **common)
    again.setup()
    np.testing.assert_array_equal(again.datasets["train"].index, kept)  # the seed draws it
    with pytest.raises(ValueError, match="loader.train_fraction must be in"):
        TagDataModule(mini_labelled, seed=0, train_fraction=0.0, **common)
