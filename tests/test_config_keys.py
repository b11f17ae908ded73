"""No default lives in two places, and no YAML key is read by nobody: every key of every config
YAML is an argument of the function or class that takes it, read from that signature.

data → the data set's reader (the registry; plus the keys every data set has), store →
``ensure_store``, loader → ``TagDataModule``, model → its arch's class, features →
``FeatureConfig``, optimizer and scheduler → their builders, norm → ``norm_description``, logger →
``build_logger``'s builders, trainer → Lightning's ``Trainer``, augment → ``Augment`` (each block its
option's class), top level → ``RunSettings``. The
experiment and sweep presets' blocks are checked the same way (for any data set, model, ...).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import fields
from typing import Any

import pytest
import pytorch_lightning as pl
from omegaconf import OmegaConf

from autotag.data.datamodule import TagDataModule
from autotag.data.datasets import datasets
from autotag.data.datasets.registry import DATA_KEYS
from autotag.data.excerpt import Excerpt
from autotag.data.features import FeatureConfig
from autotag.data.normalize import norm_description
from autotag.data.prepare import ensure_store
from autotag.data.variants import Variants
from autotag.models.registry import MODELS, PROTOCOL_KEYS, model_arguments
from autotag.training.augment import OPTIONS, Augment
from autotag.training.loggers import LOGGERS
from autotag.training.optim import OPTIMIZERS, SCHEDULERS
from autotag.training.settings import GROUPS, RUN_WRITTEN, Bootstrap, Finetune, Loss, RunSettings
from tests.helpers import ROOT, compose_train

CONF = ROOT / "conf"
CHECKED = ("data", "store", "loader", "features", "model", "optimizer", "scheduler", "norm")
CHECKED += ("logger", "trainer", "augment")
STAGE_KEYS = ("epochs", "reload_best")  # a stage of a staged optimizer (training/recipe.py)


def keywords(fn: Callable[..., Any], skip: int = 0) -> set[str]:
    """The names ``fn`` takes by keyword, its first ``skip`` parameters left out."""
    params = list(inspect.signature(fn).parameters.values())[skip:]
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return {p.name for p in params if p.kind in kinds and p.name != "self"}


def load(group: str, name: str) -> dict[str, Any]:
    raw = OmegaConf.to_container(OmegaConf.load(CONF / group / f"{name}.yaml"), resolve=False)
    assert isinstance(raw, dict)
    return raw


def merged(group: str, name: str) -> dict[str, Any]:
    """``conf/<group>/<name>.yaml`` with the group's own defaults chain merged in."""
    raw = load(group, name)
    out = OmegaConf.create()
    # an absolute entry (/augment/none@augment, in a global file) is another group's: not merged
    chain = [d for d in raw.pop("defaults", []) if isinstance(d, str) and not d.startswith("/")]
    for entry in chain if "_self_" in chain else [*chain, "_self_"]:
        out = OmegaConf.merge(out, raw if entry == "_self_" else merged(group, entry))
    return OmegaConf.to_container(out, resolve=False)  # type: ignore[return-value]


def stray(block: Mapping[str, Any], allowed: set[str], where: str) -> list[str]:
    return [f"{where}.{k}" for k in block if k not in allowed]


# --- what each group's block may hold; `hint` is the merged YAML (None: a preset's block, which
# --- is merged into whichever data set, model, ... a run picks)


def data_keys(block: Mapping[str, Any], hint: Mapping[str, Any] | None) -> list[str]:
    sets = datasets()
    picked = [sets[hint["reader"]]] if hint else list(sets.values())
    allowed = set(DATA_KEYS).union(*(keywords(d.reader, skip=1) for d in picked))
    out = stray(block, allowed, "data")
    twins = [d.twin.generate for d in picked if d.twin is not None]
    if isinstance(block.get("generate"), Mapping):
        gen = set().union(*(keywords(g, skip=1) for g in twins))
        out += stray(block["generate"], gen, "data.generate")
    return out


def store_keys(block: Mapping[str, Any], hint: Any = None) -> list[str]:
    out = stray(block, keywords(ensure_store, skip=2) - {"progress"}, "store")
    if isinstance(block.get("excerpt"), Mapping):
        out += stray(block["excerpt"], {f.name for f in fields(Excerpt)}, "store.excerpt")
    if isinstance(block.get("variants"), Mapping):
        out += stray(block["variants"], {f.name for f in fields(Variants)}, "store.variants")
    return out


def loader_keys(block: Mapping[str, Any], hint: Any = None) -> list[str]:
    given_by_others = keywords(TagDataModule.from_config, skip=2)  # top_k, norm, seed, ...
    allowed = keywords(TagDataModule.__init__, skip=2) - given_by_others - {"pin_memory"}
    return stray(block, allowed, "loader")


def features_keys(block: Mapping[str, Any], hint: Any = None) -> list[str]:
    return stray(block, {f.name for f in fields(FeatureConfig)}, "features")


def model_keys(block: Mapping[str, Any], hint: Mapping[str, Any] | None) -> list[str]:
    archs = [hint["arch"]] if hint else list(MODELS)
    allowed = set(PROTOCOL_KEYS).union(*(model_arguments(a) for a in archs))
    return stray(block, allowed, "model")


def optimizer_keys(block: Mapping[str, Any], hint: Mapping[str, Any] | None) -> list[str]:
    if "stages" in block:  # a staged recipe: name + stages, each an optimizer of its own
        out = stray(block, {"name", "stages"}, "optimizer")
        for i, stage in enumerate(block["stages"]):
            allowed = keywords(OPTIMIZERS[stage["name"]], skip=1) | {"name", *STAGE_KEYS}
            out += stray(stage, allowed, f"optimizer.stages[{i}]")
        return out
    names = [hint["name"]] if hint else list(OPTIMIZERS)
    allowed = {"name"}.union(*(keywords(OPTIMIZERS[n], skip=1) for n in names))
    return stray(block, allowed, "optimizer")


def scheduler_keys(block: Mapping[str, Any], hint: Mapping[str, Any] | None) -> list[str]:
    names = [hint["name"]] if hint else list(SCHEDULERS)
    allowed = {"name"}.union(*(keywords(SCHEDULERS[n], skip=3) for n in names))
    return stray(block, allowed, "scheduler")


def norm_keys(block: Mapping[str, Any], hint: Any = None) -> list[str]:
    return stray(block, keywords(norm_description) - {"stats", "amin"}, "norm")


def logger_keys(block: Mapping[str, Any], hint: Mapping[str, Any] | None) -> list[str]:
    names = [hint["name"]] if hint else list(LOGGERS)
    allowed = {"name"}.union(*(keywords(LOGGERS[n], skip=5) for n in names))
    return stray(block, allowed, "logger")


def trainer_keys(block: Mapping[str, Any], hint: Any = None) -> list[str]:
    return stray(block, keywords(pl.Trainer.__init__) - {"max_epochs"}, "trainer")


def augment_keys(block: Mapping[str, Any], hint: Any = None) -> list[str]:
    out = stray(block, keywords(Augment) - {"seed"}, "augment")  # the run gives the seed
    for name, option in OPTIONS.items():
        if isinstance(block.get(name), Mapping):
            out += stray(block[name], keywords(option), f"augment.{name}")
    return out


CHECKS: dict[str, Callable[[Mapping[str, Any], Any], list[str]]] = {
    "data": data_keys,
    "store": store_keys,
    "loader": loader_keys,
    "features": features_keys,
    "model": model_keys,
    "optimizer": optimizer_keys,
    "scheduler": scheduler_keys,
    "norm": norm_keys,
    "logger": logger_keys,
    "trainer": trainer_keys,
    "augment": augment_keys,
}
BLOCKS = {"bootstrap": Bootstrap, "loss": Loss, "finetune": Finetune}


def top_level_keys(cfg: Mapping[str, Any], extra: tuple[str, ...] = ()) -> list[str]:
    """A config's top level: the run's settings (:class:`RunSettings`) and the groups."""
    out = stray(cfg, {f.name for f in fields(RunSettings)} | set(GROUPS) | {"defaults", *extra}, "")
    for name, kind in BLOCKS.items():
        if isinstance(cfg.get(name), Mapping):
            out += stray(cfg[name], {f.name for f in fields(kind)}, name)
    for group, check in CHECKS.items():
        if isinstance(cfg.get(group), Mapping):
            out += check(cfg[group], None)
    return [k.lstrip(".") for k in out]


def problems() -> Iterator[str]:
    for group in CHECKED:
        for path in sorted((CONF / group).glob("*.yaml")):
            name = path.stem
            if group == "data":  # global: its data:, store: and loader: blocks
                raw, full = load(group, name), merged(group, name)
                found = data_keys(raw.get("data", {}), full["data"])
                found += stray(raw, {"defaults", "data", "store", "loader"}, "")
                found += store_keys(raw.get("store", {})) + loader_keys(raw.get("loader", {}))
            elif path.read_text().startswith("# @package _global_"):  # augment/variants.yaml
                found = top_level_keys(load(group, name))  # its blocks are other groups'
            else:
                found = CHECKS[group](load(group, name), merged(group, name))
                found = [k for k in found if k != f"{group}.defaults"]
            yield from (f"conf/{group}/{name}.yaml: {k.lstrip('.')}" for k in found)
    train = load(".", "train")
    train.pop("hydra")
    yield from (f"conf/train.yaml: {k}" for k in top_level_keys(train))
    for group in ("experiment", "sweep"):  # presets: their blocks go into any data set, model...
        for path in sorted((CONF / group).glob("*.yaml")):
            found = top_level_keys(load(group, path.stem), extra=("hydra", "sweep"))
            yield from (f"conf/{group}/{path.stem}.yaml: {k}" for k in found)


def test_every_yaml_key_is_an_argument_of_what_takes_it():
    found = list(problems())
    assert not found, "keys no signature takes:\n" + "\n".join(found)


def test_the_check_sees_a_stray_key_in_each_kind_of_block():
    """A key that nothing reads is found in a data set's, the store's, a model's and the top
    level's YAML alike (the check is not vacuous)."""
    assert data_keys({"root": "x", "batch_size": 8}, {"reader": "mtat"}) == ["data.batch_size"]
    assert store_keys({"dir": "s", "excerpt": {"policy": "full", "sekonds": 3}}) == [
        "store.excerpt.sekonds"
    ]
    assert store_keys({"variants": {"k": 2, "pitch": 2}}) == ["store.variants.pitch"]
    assert loader_keys({"batch_size": 8, "top_k": 5}) == ["loader.top_k"]  # the data set's
    assert model_keys({"arch": "fcn", "width": 1, "n_jobs": 2}, {"arch": "fcn"}) == ["model.n_jobs"]
    assert optimizer_keys({"name": "adam", "lr": 1, "momentum": 0.9}, {"name": "adam"}) == [
        "optimizer.momentum"
    ]
    assert top_level_keys({"epochs": 1, "epoch": 2, "loss": {"weigthed": True}}) == [
        "epoch",
        "loss.weigthed",
    ]
    assert trainer_keys({"devices": 1, "max_epochs": 3}) == ["trainer.max_epochs"]  # `epochs`
    assert augment_keys({"mixup": {"alpha": 1, "beta": 2}, "cutmix": {}}) == [
        "augment.cutmix",
        "augment.mixup.beta",
    ]
    assert keywords(Augment) - {"seed"} == set(OPTIONS)  # the group's blocks are the options
    assert set(RUN_WRITTEN) <= {"derived_from"}


def test_the_bootstrap_block_is_the_interval_s_keywords():
    """``bootstrap`` (``conf/train.yaml``) is what ``confidence_interval`` takes from a run's
    config: its keywords less the test set's scores, labels and units and the fixed level,
    with no default in the signature (the YAML holds them)."""
    from autotag.training.bootstrap import confidence_interval

    params = inspect.signature(confidence_interval).parameters
    taken = keywords(confidence_interval) - {"scores", "labels", "units", "level"}
    assert {f.name for f in fields(Bootstrap)} == taken == set(load(".", "train")["bootstrap"])
    assert all(params[k].default is inspect.Parameter.empty for k in taken)


def test_fit_refuses_a_top_level_key_it_does_not_take(tmp_path):
    """Before any store is built: an extra top-level key names the keys a run takes."""
    from autotag.training.run import fit
    from tests.helpers import compose_train

    cfg = compose_train(["+epoch=3", f"store.dir={tmp_path}"])
    with pytest.raises(ValueError, match=r"unknown top-level config key\(s\) epoch: .*epochs"):
        fit(cfg, tmp_path / "run")
    assert not any(tmp_path.glob("*.h5"))


def test_an_old_data_key_is_told_its_new_name():
    """Every key the data group gave away exists under its new name in the composed config, and
    a command line that spells it the old way ends with one line naming the new one (Hydra
    alone would say "Key 'batch_size' is not in struct")."""
    import subprocess
    import sys

    from autotag.entry import RENAMED
    from tests.helpers import compose_train

    cfg = compose_train([])
    for old, new in RENAMED.items():
        group, key = new.split(".")
        assert key in cfg[group] and key not in cfg.data, (old, new)
    proc = subprocess.run(
        [sys.executable, "train.py", "data.batch_size=64", "epochs=1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == (
        "train.py: error: data.batch_size is now loader.batch_size: use loader.batch_size=64\n"
    )


def test_a_stray_store_or_loader_key_is_one_clear_error_before_anything_runs(tmp_path):
    """Not Python's TypeError from deep inside a run: the key, and the group's valid keys."""
    from autotag.data.prepare import store_of

    cfg = compose_train(["+store.foo=1", f"data.root={tmp_path / 'absent'}"])
    plain = OmegaConf.to_container(cfg, resolve=True)
    with pytest.raises(ValueError, match=r"store\.foo: not a key of store \(its keys: dir, work"):
        store_of(plain)  # before the manifest: the absent root is never read
    with pytest.raises(ValueError, match=r"loader\.foo: .*batch_size.*train_fraction"):
        TagDataModule.from_config(
            tmp_path / "no.h5", {"foo": 1}, top_k=2, norm="global", shuffle_labels=False, seed=0
        )
