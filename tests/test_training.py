"""Normalizations, FCN shapes, weighted BCE, metrics, and tiny end-to-end training runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from autotag.data.normalize import Normalizer
from autotag.losses import WeightedBCE, positive_weights
from autotag.metrics import tag_scores
from autotag.models import FCN
from tests.conftest import compose_train, mini_overrides


def test_normalizations_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(-40, 12, size=(3, 8, 20)).astype(np.float32)
    t = torch.from_numpy(x)
    eps = 1e-5
    np.testing.assert_allclose(
        Normalizer("global", -30.0, 10.0)(t).numpy(), (x + 30) / (10 + eps), rtol=1e-5
    )
    ref = (x - x.mean(axis=2, keepdims=True)) / (x.std(axis=2, keepdims=True) + eps)
    np.testing.assert_allclose(Normalizer("per_coeff")(t).numpy(), ref, rtol=1e-4, atol=1e-5)
    ref = (x - x.mean(axis=(1, 2), keepdims=True)) / (x.std(axis=(1, 2), keepdims=True) + eps)
    np.testing.assert_allclose(Normalizer("per_spec")(t).numpy(), ref, rtol=1e-4, atol=1e-5)
    p = 10 ** (x.astype(np.float64) / 10)
    z = (p - p.mean(axis=(1, 2), keepdims=True)) / (p.std(axis=(1, 2), keepdims=True) + eps)
    ref = 10 * np.log10(np.maximum(z, 1e-10))
    np.testing.assert_allclose(Normalizer("prelog")(t).numpy(), ref, rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(Normalizer("none")(t).numpy(), x)
    with pytest.raises(ValueError, match="norm.mode"):
        Normalizer("bogus")


@pytest.mark.parametrize("mode", ["global", "per_coeff", "per_spec", "prelog", "none"])
def test_silence_gives_no_nan(mode):
    silent = torch.full((2, 40, 50), -100.0)
    out = Normalizer(mode, -30.0, 0.0)(silent)
    assert torch.isfinite(out).all()


def test_fcn_shapes_for_both_presets_and_too_small_input():
    m = FCN(40, 909, n_classes=50, width=0.0625)
    assert m.final_map == (5, 1)
    assert m(torch.randn(2, 40, 909)).shape == (2, 50)
    assert m.embed(torch.randn(2, 40, 909)).shape == (2, 128)
    c = FCN(
        96, 1366, pools=((2, 4), (4, 5), (3, 8), (4, 8)), width=0.0625, batch_norm=True, dropout=0.1
    )
    assert c.final_map == (1, 1) and c(torch.randn(2, 1, 96, 1366)).shape == (2, 50)
    full = FCN(40, 909)
    assert [b[0].out_channels for b in full.blocks] == [128, 384, 768, 2048]
    with pytest.raises(ValueError, match=r"input 40x200 is too small"):
        FCN(40, 200)


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
    from autotag.training import train

    cfg = compose_train([*mini_overrides(mini_mtat, store_dir), *extra], tmp_path)
    return train(cfg)


def test_tiny_run_learns_and_writes_results(tmp_path, mini_mtat, mini_store_dir):
    res = _train(tmp_path, mini_mtat, mini_store_dir, ["epochs=8", "optimizer.lr=3e-3"])
    assert res["val"]["roc_auc"] > 0.8, res["history"]
    assert res["test"]["roc_auc"] > 0.75
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["test"]["roc_auc"] == pytest.approx(res["test"]["roc_auc"])
    assert set(saved["per_tag"]) == {"guitar", "classical", "techno", "slow"}
    assert len(saved["history"]) == 8 and saved["epochs_run"] == 8
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


def test_in_memory_loading_trains_too(tmp_path, mini_mtat, mini_store_dir):
    res = _train(
        tmp_path,
        mini_mtat,
        mini_store_dir,
        ["epochs=2", "data.in_memory=true", "norm=per_coeff", "model=fcn"],
    )
    assert np.isfinite(res["test"]["roc_auc"])


def test_wandb_offline_run_folder_holds_metrics(tmp_path, mini_mtat, mini_store_dir):
    _train(tmp_path, mini_mtat, mini_store_dir, ["epochs=2", "logger=wandb"])
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    data = next(runs[0].glob("*.wandb")).read_bytes()
    assert b"val/roc_auc" in data and b"test/roc_auc" in data


@pytest.mark.slow
def test_ddp_on_cpu_trains_and_its_test_metrics_match_a_single_process(
    tmp_path, mini_mtat, mini_store_dir
):
    import subprocess
    import sys

    from tests.conftest import ROOT

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
