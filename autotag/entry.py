"""What the Hydra entry points (``train.py``, ``sweep.py``, ``python -m autotag.prepare``) do
before calling the library: make paths absolute and name the run. The library below never
asks Hydra where it runs; this module is the only one that reads Hydra's runtime."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from autotag.data.audio import AudioError
from autotag.data.datasets.registry import MOVED_KEYS
from autotag.pretrained import PretrainedError, is_pretrained_name
from autotag.runs.results import RunInfo
from autotag.runs.tagger_file import TaggerError

# Config keys holding paths: relative ones mean "relative to where the command was started".
PATH_KEYS = ("data.root", "store.dir", "data.audio_root", "ckpt_path", "init_from")


def launch_dir() -> Path:
    """The folder the command was started from (Hydra may run the job elsewhere)."""
    return Path(HydraConfig.get().runtime.cwd) if HydraConfig.initialized() else Path.cwd()


def absolute_paths(cfg: DictConfig, keys: tuple[str, ...] = PATH_KEYS) -> DictConfig:
    """``cfg`` with the relative paths under ``keys`` joined to :func:`launch_dir` (in place)."""
    base = launch_dir()
    with open_dict(cfg):
        for key in keys:
            value = OmegaConf.select(cfg, key, default=None)
            if value is None:
                continue
            if is_pretrained_name(str(value)):  # init_from=musicnn:MSD_musicnn: a name
                continue
            path = Path(str(value)).expanduser()
            OmegaConf.update(cfg, key, str(path if path.is_absolute() else base / path))
    return cfg


def run_dir() -> Path:
    """The Hydra run (or multirun job) folder."""
    return Path(HydraConfig.get().runtime.output_dir)


GROUPS_BY_NAME = ("optimizer", "scheduler", "logger")  # groups whose YAML carries a `name`


def check_group_names(cfg: DictConfig) -> DictConfig:
    """Refuse ``optimizer.name=sgd`` and the like: changing a ``name`` keeps the arguments of the
    chosen YAML (Adam's, say), so the run would not be what was asked for."""
    choices = dict(HydraConfig.get().runtime.choices)
    for group in GROUPS_BY_NAME:
        chosen, name = choices.get(group), OmegaConf.select(cfg, f"{group}.name", default=None)
        if chosen is not None and name is not None and str(name) != str(chosen):
            raise ValueError(
                f"{group}.name={name} does not switch the {group} (the arguments stay those of "
                f"conf/{group}/{chosen}.yaml): use {group}={name}"
            )
    return cfg


def run_info(cfg: DictConfig) -> RunInfo:
    """The run's name, model preset, overrides and tags from Hydra's choices."""
    hc = HydraConfig.get()
    choices = dict(hc.runtime.choices)
    model = choices.get("model") or str(cfg.model.arch)
    info = RunInfo.of(cfg, model=model)
    info.overrides = list(hc.overrides.task)
    return info


# Keys of the `data` group that moved to groups of their own (one function's arguments each): the
# store's (autotag/data/prepare.py ensure_store) and the loaders' (TagDataModule).
RENAMED = {f"data.{old}": new for old, new in MOVED_KEYS.items()}


def renamed_keys(overrides: list[str]) -> list[str]:
    """A line for each command-line override that uses a key's old name (``data.batch_size=64``
    is now ``loader.batch_size=64``). Hydra refuses such a key while composing the config, before
    any of autotag's code runs, with "Key 'batch_size' is not in struct": the entry points call
    this first to say what the key is called now."""
    lines = []
    for arg in overrides:
        key, eq, value = arg.lstrip("~+").partition("=")
        sign = arg[: len(arg) - len(arg.lstrip("~+"))]  # +, ++ or ~ stay as they were
        for old, new in RENAMED.items():
            if key == old or key.startswith(old + "."):
                spelled = new + key[len(old) :]
                lines.append(f"{key} is now {spelled}: use {sign}{spelled}{eq}{value}")
    return lines


def exit_on_renamed_keys(overrides: list[str], entry: str) -> None:
    """End the command with one line per renamed key (exit code 2), before Hydra composes."""
    lines = renamed_keys(overrides)
    if lines:
        print("\n".join(f"{entry}: error: {line}" for line in lines), file=sys.stderr)
        raise SystemExit(2)


# the errors autotag raises for bad input (a config value, a missing file, a data set that is not
# what it should be): their messages name the key or file and say what to do
INPUT_ERRORS = (ValueError, FileNotFoundError, AudioError, TaggerError, PretrainedError)
PACKAGE = Path(__file__).resolve().parent
T = TypeVar("T")


def raised_by_autotag(e: BaseException) -> bool:
    """Whether the innermost frame of ``e``'s traceback is autotag's own code (a ValueError
    from inside torch or numpy is a bug to show whole, not an input error)."""
    tb = e.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(PACKAGE)


def reporting_input_errors(job: Callable[[], T], entry: str) -> T:
    """Run a Hydra entry's job; an input error autotag raised ends it with one line
    (``<entry>: error: ...``, exit code 2) instead of Hydra's "Error executing job" and a
    traceback. ``AUTOTAG_DEBUG=1`` shows the traceback; other exceptions always do."""
    try:
        return job()
    except INPUT_ERRORS as e:
        if os.environ.get("AUTOTAG_DEBUG") or not raised_by_autotag(e):
            raise
        print(f"{entry}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
