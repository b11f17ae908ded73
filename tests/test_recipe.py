"""Won et al. 2020's staged recipe: stages by epoch, a reload of the best checkpoint, resume."""

from __future__ import annotations

import pytest
import torch

from autotag.training.recipe import Stage, stage_at, stages_of
from tests.helpers import compose_train, mini_overrides, train_run

STAGES = (
    "optimizer.stages=[{name: adam, lr: 3.0e-3, epochs: 2},"
    "{name: sgd, lr: 1.0e-2, momentum: 0.9, nesterov: true, epochs: 1, reload_best: true},"
    "{name: sgd, lr: 1.0e-3, momentum: 0.9, nesterov: true, epochs: null, reload_best: true}]"
)


def test_the_won2020_preset_reads_as_four_stages():
    cfg = compose_train(["experiment=won2020"])
    stages = stages_of(dict(cfg.optimizer))
    assert [s.optimizer["name"] for s in stages] == ["adam", "sgd", "sgd", "sgd"]
    assert [s.optimizer["lr"] for s in stages] == [1e-4, 1e-3, 1e-4, 1e-5]
    assert [s.epochs for s in stages] == [80, 20, 20, None]
    assert [s.reload_best for s in stages] == [False, True, True, True]
    assert cfg.loader.batch_size == 16 and cfg.epochs == 200
    # epochs 0-79 Adam, 80-99 SGD 1e-3, 100-119 1e-4, then 1e-5 to the end
    assert [stage_at(stages, e) for e in (0, 79, 80, 99, 100, 119, 120, 199)] == [
        0, 0, 1, 1, 2, 2, 3, 3,
    ]  # fmt: skip


def test_bad_stages_name_the_key():
    with pytest.raises(ValueError, match=r"optimizer.stages\[0\].epochs: only the last"):
        stages_of({"name": "staged", "stages": [{"name": "adam"}, {"name": "sgd"}]})
    with pytest.raises(ValueError, match="optimizer.stages: a staged optimizer needs"):
        stages_of({"name": "staged", "stages": []})
    assert stages_of({"name": "adam", "lr": 1e-3}) is None
    assert stages_of({"name": "staged", "stages": [{"name": "sgd", "lr": 1}]}) == [
        Stage({"name": "sgd", "lr": 1}, None, False)
    ]


def test_stages_switch_optimizer_from_the_best_checkpoint_and_survive_a_resume(
    tmp_path, mini_mtat, mini_store_dir, capsys
):
    base = [*mini_overrides(mini_mtat, mini_store_dir), "optimizer=won2020", STAGES]
    first = train_run([*base, "epochs=3"], tmp_path / "a")
    out = capsys.readouterr().out
    assert "epoch 3: optimizer stage 2/3" in out and "from the best checkpoint" in out
    last = tmp_path / "a" / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    assert ckpt["autotag_stage"] == 1
    assert "momentum_buffer" in str(ckpt["optimizer_states"][0]["state"].get(0, {}).keys())
    # resumed in stage 2 (SGD): the checkpoint's SGD state loads into an SGD, then stage 3 starts
    res = train_run([*base, "epochs=5", f"ckpt_path={last}"], tmp_path / "b")
    out = capsys.readouterr().out
    assert "optimizer stage 3/3" in out and "optimizer stage 2/3" not in out
    assert res["epochs_run"] == 5 and first["epochs_run"] == 3
    assert res["test"]["roc_auc"] > 0.7


def test_a_staged_optimizer_refuses_a_scheduler(tmp_path, mini_mtat, mini_store_dir):
    with pytest.raises(ValueError, match="scheduler=cosine with a staged optimizer"):
        train_run(
            [
                *mini_overrides(mini_mtat, mini_store_dir),
                "optimizer=won2020",
                STAGES,
                "scheduler=cosine",
                "epochs=1",
            ],
            tmp_path / "a",
        )


def test_entering_a_stage_loads_the_best_weights_and_builds_the_stage_optimizer(tmp_path):
    from types import SimpleNamespace

    from autotag.training.module import TaggingModule

    stages = [
        {"name": "adam", "lr": 1e-3, "epochs": 2},
        {"name": "sgd", "lr": 0.5, "momentum": 0.9, "nesterov": True, "epochs": None,
         "reload_best": True},
    ]  # fmt: skip
    module = TaggingModule(
        torch.nn.Linear(3, 2), torch.nn.Identity(), ["a", "b"],
        {"name": "won2020", "stages": stages}, {"name": "none"},
    )  # fmt: skip
    best = {k: v + 1.0 for k, v in module.state_dict().items()}
    torch.save({"state_dict": best}, tmp_path / "best.ckpt")
    trainer = SimpleNamespace(
        checkpoint_callback=SimpleNamespace(best_model_path=str(tmp_path / "best.ckpt")),
        strategy=SimpleNamespace(optimizers=[]),
        current_epoch=1,
        is_global_zero=True,
    )
    module._trainer = trainer
    module.enter_stage_if_due()  # epoch 2 (index 1) is still Adam's
    assert module.stage == 0 and trainer.strategy.optimizers == []
    trainer.current_epoch = 2
    module.enter_stage_if_due()
    assert module.stage == 1
    (opt,) = trainer.strategy.optimizers
    assert isinstance(opt, torch.optim.SGD)
    assert (
        opt.defaults["lr"] == 0.5 and opt.defaults["nesterov"] and opt.defaults["momentum"] == 0.9
    )
    for k, v in module.state_dict().items():
        torch.testing.assert_close(v, best[k])


def test_a_typo_in_a_later_stage_fails_before_training_and_a_control_cannot_reload():
    from autotag.training.module import TaggingModule
    from autotag.training.run import check_recipe

    bad = [{"name": "adam", "lr": 1e-3, "epochs": 2}, {"name": "sgd", "lr": 1e-3, "momentun": 0.9}]
    with pytest.raises(ValueError, match=r"optimizer.stages\[1\].*momentun"):
        TaggingModule(torch.nn.Linear(3, 2), torch.nn.Identity(), ["a", "b"],
                      {"name": "won2020", "stages": bad}, {"name": "none"})  # fmt: skip
    cfg = compose_train(["optimizer=won2020", "shuffle_labels=true"])
    with pytest.raises(ValueError, match="shuffle_labels=true with a staged optimizer"):
        check_recipe(cfg.optimizer, cfg.shuffle_labels)
