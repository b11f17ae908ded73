"""Normalizations, FCN shapes, weighted BCE, metrics, and tiny end-to-end training runs."""

from __future__ import annotations

import json
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from sklearn.metrics import average_precision_score, roc_auc_score

from autotag.data.normalize import Normalizer, norm_description
from autotag.training.losses import WeightedBCE, positive_weights
from autotag.training.metrics import tag_scores
from tests.helpers import ROOT, mini_overrides, train_run


def _norm(mode: str, mean: float = 0.0, std: float = 1.0) -> Normalizer:
    return Normalizer(mode, global_mean=mean, global_std=std, eps=1e-5, amin=1e-10)


def test_normalizations_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(-40, 12, size=(3, 8, 20)).astype(np.float32)
    t = torch.from_numpy(x)
    eps = 1e-5
    np.testing.assert_allclose(
        _norm("global", -30.0, 10.0)(t).numpy(), (x + 30) / (10 + eps), rtol=1e-5
    )
    ref = (x - x.mean(axis=2, keepdims=True)) / (x.std(axis=2, keepdims=True) + eps)
    np.testing.assert_allclose(_norm("per_coeff")(t).numpy(), ref, rtol=1e-4, atol=1e-5)
    ref = (x - x.mean(axis=(1, 2), keepdims=True)) / (x.std(axis=(1, 2), keepdims=True) + eps)
    np.testing.assert_allclose(_norm("per_spec")(t).numpy(), ref, rtol=1e-4, atol=1e-5)
    p = 10 ** (x.astype(np.float64) / 10)
    z = (p - p.mean(axis=(1, 2), keepdims=True)) / (p.std(axis=(1, 2), keepdims=True) + eps)
    ref = 10 * np.log10(np.maximum(z, 1e-10))
    np.testing.assert_allclose(_norm("prelog")(t).numpy(), ref, rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(_norm("none")(t).numpy(), x)
    with pytest.raises(ValueError, match="norm.mode"):
        _norm("bogus")
    # the saved description rebuilds the same normalizer
    n = Normalizer(**norm_description("global", {"global_mean": -30.0, "global_std": 10.0}, 1e-8))
    assert n.describe() == {
        "mode": "global", "global_mean": -30.0, "global_std": 10.0, "eps": 1e-5, "amin": 1e-8
    }  # fmt: skip
    torch.testing.assert_close(Normalizer(**n.describe())(t), n(t))


def test_silence_gives_zeros_per_spectrogram_and_finite_global_values():
    silent = torch.full((2, 40, 50), -100.0)
    for mode in ("per_coeff", "per_spec", "prelog"):
        out = _norm(mode)(silent)
        assert torch.equal(out, torch.zeros_like(out)) or mode == "prelog", mode
    # prelog: the constant power minus its mean is 0 → clamped to amin → 10*log10(amin)
    torch.testing.assert_close(_norm("prelog")(silent), torch.full_like(silent, -100.0))
    out = _norm("global", -30.0, 12.0)(silent)
    torch.testing.assert_close(out, torch.full_like(silent, -70.0 / (12.0 + 1e-5)))
    assert torch.isfinite(_norm("global", -30.0, 0.0)(silent)).all()  # eps guards a zero std


def test_optimizer_and_scheduler_configs_build_the_named_classes():
    from autotag.training.optim import build_optimizer, build_scheduler

    params = [torch.nn.Parameter(torch.zeros(3))]
    for name, cls in (
        ("adam", torch.optim.Adam),
        ("adamw", torch.optim.AdamW),
        ("sgd", torch.optim.SGD),
    ):
        cfg = OmegaConf.load(ROOT / f"conf/optimizer/{name}.yaml")
        opt = build_optimizer(params, cfg)
        assert type(opt) is cls and opt.defaults["lr"] == cfg.lr
    assert opt.defaults["momentum"] == 0.9 and opt.defaults["nesterov"] is True
    kinds = {"none": None, "cosine": "CosineAnnealingLR", "onecycle": "OneCycleLR",
             "plateau": "ReduceLROnPlateau"}  # fmt: skip
    for name, kind in kinds.items():
        cfg = OmegaConf.load(ROOT / f"conf/scheduler/{name}.yaml")
        s = build_scheduler(
            build_optimizer(params, {"name": "adam", "lr": 0.1}), cfg, 10, lambda: 50
        )
        assert (s and type(s["scheduler"]).__name__) == kind
    with pytest.raises(ValueError, match="optimizer.name='lion'"):
        build_optimizer(params, {"name": "lion", "lr": 1.0})


def test_weighted_bce_matches_the_formula():
    logits = torch.tensor([[2.0, -1.0, 0.5], [-0.3, 0.7, -2.0]])
    y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    pos = np.array([1, 3, 9])
    w = positive_weights(pos, 10)
    np.testing.assert_allclose(w.numpy(), [9.0, 7 / 3, 1 / 9], rtol=1e-6)
    s = torch.sigmoid(logits)
    by_hand = -(w * y * torch.log(s) + (1 - y) * torch.log(1 - s)).mean()
    torch.testing.assert_close(WeightedBCE(w)(logits, y), by_hand)
    plain = -(y * torch.log(s) + (1 - y) * torch.log(1 - s)).mean()
    torch.testing.assert_close(WeightedBCE()(logits, y), plain)
    assert positive_weights(pos, 10, cap=5.0).max() == 5.0


def test_macro_auc_equals_sklearn_and_skips_tags_without_positives(caplog):
    rng = np.random.default_rng(0)
    y = (rng.random((200, 6)) < 0.2).astype(int)
    y[:, 4] = 0  # no positive: undefined ROC-AUC
    p = np.clip(y * 0.3 + rng.random((200, 6)) * 0.8, 0, 1)
    s = tag_scores(torch.tensor(p), torch.tensor(y), list("abcdef"))
    keep = [0, 1, 2, 3, 5]
    assert s["roc_auc"] == pytest.approx(
        roc_auc_score(y[:, keep], p[:, keep], average="macro"), abs=1e-6
    )
    assert s["pr_auc"] == pytest.approx(
        average_precision_score(y[:, keep], p[:, keep], average="macro"), abs=1e-6
    )
    assert s["left_out"] == ["e"] and np.isnan(s["per_tag"]["e"]["roc_auc"])
    assert s["per_tag"]["a"]["roc_auc"] == pytest.approx(roc_auc_score(y[:, 0], p[:, 0]), abs=1e-6)
    assert "left out of the macro average" in caplog.text and "e" in caplog.text


def _train(tmp_path, mini_mtat, store_dir, extra):
    return train_run([*mini_overrides(mini_mtat, store_dir), *extra], tmp_path)


def test_tiny_run_learns_and_writes_results(tmp_path, mini_mtat, mini_store_dir):
    res = _train(tmp_path, mini_mtat, mini_store_dir, ["epochs=8", "optimizer.lr=3e-3"])
    assert res["val"]["roc_auc"] > 0.8, res["history"]
    assert res["test"]["roc_auc"] > 0.75
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["test"]["roc_auc"] == pytest.approx(res["test"]["roc_auc"])
    # the 95% bootstrap interval is the one of the saved test predictions, around the value,
    # drawing MTAT's unit: songs (the mini corpus has one clip per song, each in clip_info)
    from autotag.training.bootstrap import confidence_interval

    z = np.load(tmp_path / "predictions.npz")
    ci = saved["test"]["interval"]
    songs = {"song": z["test_unit_song"]}
    want = confidence_interval(z["test_scores"], z["test_labels"], 1000, 0, "song", songs)
    assert ci == want and ci["unit"] == "song" and ci["n_units"] == len(z["test_scores"])
    assert ci["roc_auc"][0] <= saved["test"]["roc_auc"] <= ci["roc_auc"][1]
    assert ci["pr_auc"][0] <= saved["test"]["pr_auc"] <= ci["pr_auc"][1]
    assert set(saved["per_tag"]) == {"guitar", "classical", "techno", "slow"}
    assert len(saved["history"]) == 8 and saved["epochs_run"] == 8
    # the steps are part of each epoch: their rate is at least the whole epochs'
    assert saved["train_step_clips_per_second"] >= saved["train_clips_per_second"] > 0
    for fig in ("auc_through_training", "per_tag_test_roc_auc", "roc_curves", "normalizations"):
        assert (tmp_path / "figures" / f"{fig}.png").stat().st_size > 1000
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()
    blob = torch.load(tmp_path / "tagger.pt", weights_only=True)
    assert (
        blob["tag_names"] == ["guitar", "classical", "techno", "slow"]
        and len(blob["thresholds"]) == 4
    )
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["epoch"] == 7 and isinstance(ckpt["hyper_parameters"]["config"], dict)
    # last.ckpt is written after the best-checkpoint callback: the best path it names exists
    best_paths = [
        v["best_model_path"] for k, v in ckpt["callbacks"].items() if "ModelCheckpoint" in k
    ]
    assert best_paths and all(Path(p).exists() for p in best_paths)


def test_resume_continues_the_epoch_count(tmp_path, mini_mtat, mini_store_dir):
    first = _train(tmp_path / "a", mini_mtat, mini_store_dir, ["epochs=2"])
    assert first["epochs_run"] == 2
    last = tmp_path / "a" / "checkpoints" / "last.ckpt"
    res = _train(tmp_path / "b", mini_mtat, mini_store_dir, ["epochs=4", f"ckpt_path={last}"])
    assert res["epochs_run"] == 4
    assert [h["epoch"] for h in res["history"]] == [1, 2, 3, 4]  # history came with the checkpoint


def _batches(dm, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (x, y) of a split's loader, as the Trainer would see them after the transfer."""
    xs, ys = [], []
    for batch in getattr(dm, f"{split}_dataloader")():
        x, y = dm.on_after_batch_transfer(batch, 0)
        xs.append(x)
        ys.append(y)
    return torch.cat(xs), torch.cat(ys)


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_in_memory_and_streamed_loaders_give_the_same_items(mini_labelled, split):
    from autotag.data.datamodule import TagDataModule

    common = dict(
        top_k=4, norm="global", batch_size=7, num_workers=0, random_crop=None, train_fraction=1.0
    )
    common |= dict(eval_chunks=16, crops_per_item=1)
    common |= dict(shuffle_labels=False, seed=0)
    streamed = TagDataModule(mini_labelled, in_memory=False, **common)
    in_mem = TagDataModule(mini_labelled, in_memory=True, **common)
    for dm in (streamed, in_mem):
        dm.setup()
    # the in-memory gather asks the Trainer which loop runs; a stand-in answers for `split`
    in_mem.trainer = types.SimpleNamespace(
        training=split == "train", validating=split == "val", sanity_checking=False,
        world_size=1, global_rank=0, strategy=types.SimpleNamespace(root_device=torch.device("cpu")),
    )  # fmt: skip
    streamed.trainer = None
    torch.manual_seed(0)
    xs, ys = _batches(streamed, split) if split != "train" else _unshuffled(streamed, split)
    torch.manual_seed(0)
    xm, ym = _batches(in_mem, split) if split != "train" else _unshuffled(in_mem, split)
    assert len(xs) == len(streamed.datasets[split]) > 0
    torch.testing.assert_close(xm, xs, rtol=0, atol=0)
    torch.testing.assert_close(ym, ys, rtol=0, atol=0)


def _unshuffled(dm, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The training loader shuffles: read it with shuffling off to compare item by item."""
    loader = dm._loader(split, shuffle=False)
    xs, ys = [], []
    for batch in loader:
        x, y = dm.on_after_batch_transfer(batch, 0)
        xs.append(x)
        ys.append(y)
    return torch.cat(xs), torch.cat(ys)


def test_a_shuffled_label_control_is_tested_at_its_last_epoch(
    tmp_path, mini_mtat, mini_store_dir, capsys
):
    res = _train(tmp_path, mini_mtat, mini_store_dir, ["epochs=3", "shuffle_labels=true"])
    # output that is not a terminal gets one progress line per epoch, no bar redrawn with \r
    err = capsys.readouterr().err
    assert "\r" not in err
    epochs = [line for line in err.splitlines() if line.startswith("epoch ")]
    assert [line.split(",")[0] for line in epochs] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all("val ROC-AUC" in line for line in epochs)
    assert res["best_checkpoint"] == str(tmp_path / "checkpoints" / "last.ckpt")
    assert res["shuffle_labels"] and res["epochs_run"] == 3
    # the test scores are the last epoch's: the ones last.ckpt's weights give
    from autotag.models import build_model
    from autotag.runs.tagger_file import read_tagger
    from tests.helpers import labelled

    tf = read_tagger(tmp_path / "tagger.pt")
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    net = build_model(tf.model, *tf.input_shape, len(tf.tag_names))
    net.load_state_dict({k[4:]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")})
    store = labelled(res["store"], mini_mtat)
    x = torch.from_numpy(store.mels(store.indices("test")).astype(np.float32))
    with torch.no_grad():
        probs = torch.sigmoid(net.eval()(tf.normalizer()(x))).numpy()
    np.testing.assert_allclose(
        np.load(tmp_path / "predictions.npz")["test_scores"], probs, atol=1e-5
    )


def test_wandb_offline_run_folder_holds_metrics(tmp_path, mini_mtat, mini_store_dir):
    _train(tmp_path, mini_mtat, mini_store_dir, ["epochs=2", "logger=wandb"])
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    # wandb's service process may still be writing its log when finish() returns: wait for it
    deadline, data = time.monotonic() + 30, b""
    while time.monotonic() < deadline and not (b"val/roc_auc" in data and b"test/roc_auc" in data):
        data = next(runs[0].glob("*.wandb")).read_bytes()
        time.sleep(0.2)
    assert b"val/roc_auc" in data and b"test/roc_auc" in data


@pytest.mark.slow
def test_ddp_on_cpu_trains_and_its_test_metrics_match_a_single_process(
    tmp_path, mini_mtat, mini_store_dir
):
    import subprocess
    import sys

    from tests.helpers import ROOT

    common = mini_overrides(mini_mtat, mini_store_dir)
    proc = subprocess.run(
        [
            sys.executable,
            "train.py",
            *common,
            "trainer=ddp",
            "epochs=2",
            f"hydra.run.dir={tmp_path}/ddp",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = json.loads((tmp_path / "ddp" / "results.json").read_text())
    assert ddp["epochs_run"] == 2 and len(ddp["history"]) == 2
    # the DDP-trained weights evaluated in one process give the same test metrics
    one = _train(
        tmp_path / "one",
        mini_mtat,
        mini_store_dir,
        ["epochs=0", f"init_from={tmp_path}/ddp/tagger.pt"],
    )
    assert one["test"]["roc_auc"] == pytest.approx(ddp["test"]["roc_auc"], abs=1e-6)
    assert one["test"]["pr_auc"] == pytest.approx(ddp["test"]["pr_auc"], abs=1e-6)
    assert one["n_clips"] == ddp["n_clips"]
    # predictions.npz of the DDP run is in dataset order: each row is its clip's
    a, b = (
        np.load(tmp_path / "ddp" / "predictions.npz"),
        np.load(tmp_path / "one" / "predictions.npz"),
    )
    for split in ("val", "test"):
        np.testing.assert_array_equal(a[f"{split}_clip_ids"], b[f"{split}_clip_ids"])
        np.testing.assert_array_equal(a[f"{split}_labels"], b[f"{split}_labels"])
        np.testing.assert_allclose(a[f"{split}_scores"], b[f"{split}_scores"], atol=1e-6)


def test_init_from_takes_network_weights_only_and_matches_tags_by_name(
    tmp_path, mini_mtat, mini_store_dir, caplog
):
    from autotag.data.features import FeatureConfig
    from autotag.models import build_model
    from autotag.runs.tagger_file import read_tagger
    from autotag.training.warm_start import warm_start
    from tests.helpers import labelled, write_mini_mtat

    _train(tmp_path / "a", mini_mtat, mini_store_dir, ["epochs=2"])
    old = read_tagger(tmp_path / "a" / "tagger.pt")
    assert old.tag_names == ["guitar", "classical", "techno", "slow"]

    # another corpus: other clips (so other statistics) and a fifth tag the old model lacks
    other = write_mini_mtat(tmp_path / "other", n_clips=96, seconds=3.0, seed=7)
    over = [o for o in mini_overrides(other, tmp_path / "stores") if not o.startswith("data.top_k")]
    res = train_run(
        [*over, "data.top_k=5", "epochs=0", f"init_from={tmp_path / 'a' / 'tagger.pt'}"],
        tmp_path / "b",
    )
    new = read_tagger(tmp_path / "b" / "tagger.pt")
    assert new.tag_names == [*old.tag_names, "rock"]
    store = labelled(res["store"], other)
    assert new.norm["global_mean"] == pytest.approx(store.stats["global_mean"])
    assert new.norm["global_mean"] != pytest.approx(old.norm["global_mean"])
    for key, w in old.weights.items():
        if key.startswith("classifier."):
            torch.testing.assert_close(new.weights[key][:4], w)
            assert not any(torch.equal(new.weights[key][4], row) for row in w)  # rock: fresh
        else:
            torch.testing.assert_close(new.weights[key], w)

    # rows follow the names, whatever the order; unknown tags can be refused by name
    net = build_model(old.model, 24, 188, 4)
    order = ["slow", "guitar", "techno", "classical"]
    other_rate = FeatureConfig.from_dict({**old.features, "sample_rate": 22050})
    with caplog.at_level("WARNING"):
        warm_start(net, tmp_path / "a" / "tagger.pt", order, "fresh", other_rate)
    assert "trained on other features: sample_rate 16000 → 22050" in caplog.text
    idx = [old.tag_names.index(t) for t in order]
    torch.testing.assert_close(net.classifier.weight, old.weights["classifier.weight"][idx])
    torch.testing.assert_close(net.classifier.bias, old.weights["classifier.bias"][idx])
    with pytest.raises(ValueError, match="lacks the tags rock.*has techno"):
        warm_start(
            build_model(old.model, 24, 188, 4),
            tmp_path / "a" / "tagger.pt",
            ["slow", "guitar", "rock", "classical"],
            "error",
            old.feature_config(),
        )


def test_last_ckpt_is_throttled_and_never_names_a_removed_best(tmp_path, monkeypatch):
    """last.ckpt after the first epoch, when `every_s` has passed, when 3 replaced best files
    wait, and after the last epoch; a replaced best file is removed only after a last.ckpt."""
    import time

    from pytorch_lightning.callbacks import ModelCheckpoint

    from autotag.training.callbacks import BestCheckpoint, SaveLast

    clock = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    removed: list[str] = []
    monkeypatch.setattr(ModelCheckpoint, "_remove_checkpoint", lambda s, t, f: removed.append(f))

    def run(every_s: float, replaced_at: dict[int, str]) -> list[tuple[int, list[str]]]:
        removed.clear()
        best = BestCheckpoint(dirpath=tmp_path)
        last = SaveLast(tmp_path / "last.ckpt", every_s, best)
        saves: list[tuple[int, list[str]]] = []
        trainer = types.SimpleNamespace(sanity_checking=False, should_stop=False, max_epochs=8)
        trainer.strategy = types.SimpleNamespace(broadcast=lambda obj, src: obj)
        trainer.save_checkpoint = lambda path: saves.append((trainer.current_epoch, list(removed)))
        for epoch in range(8):
            trainer.current_epoch, clock[0] = epoch, 3.0 * epoch  # 3 s per epoch
            trainer.global_step = 10 * (epoch + 1)
            if epoch in replaced_at:
                best._remove_checkpoint(trainer, replaced_at[epoch])
            last.on_train_epoch_end(trainer, None)
        last.on_train_end(trainer, None)  # the last epoch is saved already: no second save
        return saves

    # every 10 s: epochs 0, 4 (12 s), 7 (the last); best files removed only after a save
    assert run(10.0, {1: "b1", 2: "b2"}) == [(0, []), (4, []), (7, ["b1", "b2"])]
    assert removed == ["b1", "b2"]
    # never due by time: 3 replaced files force a save, which then removes them
    saves = run(1e9, {1: "b1", 2: "b2", 3: "b3"})
    assert [e for e, _ in saves] == [0, 3, 7] and removed == ["b1", "b2", "b3"]
    assert run(0.0, {}) == [(e, []) for e in range(8)]  # 0: every epoch
    # training stopped by max_steps within the time limit: saved when training ends
    last = SaveLast(tmp_path / "last.ckpt", 1e9)
    steps: list[int] = []
    trainer = types.SimpleNamespace(sanity_checking=False, should_stop=False, max_epochs=8,
                                    current_epoch=0, global_step=10)  # fmt: skip
    trainer.strategy = types.SimpleNamespace(broadcast=lambda obj, src: obj)
    trainer.save_checkpoint = lambda path: steps.append(trainer.global_step)
    last.on_train_epoch_end(trainer, None)
    trainer.current_epoch, trainer.global_step = 1, 15
    last.on_train_end(trainer, None)
    assert steps == [10, 15]
