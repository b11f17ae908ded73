"""One run: store → DataModule → network → fit → best checkpoint → test → results and files.

``fit(cfg, out_dir)`` is the library's training entry: ``train.py`` and the sweep jobs call it
with absolute paths and their run folder (the library never asks Hydra where it runs).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from autotag.data.chunks import ChunkPlan, input_frames
from autotag.data.datamodule import TagDataModule, check_train_fraction
from autotag.data.features import FeatureConfig
from autotag.data.prepare import labelled_store_of
from autotag.models import build_model, is_network
from autotag.pretrained import is_pretrained_name
from autotag.runs.end import closing_logger, end_run
from autotag.runs.folder import RunFolder
from autotag.runs.results import RunInfo, build_results
from autotag.training import artifacts
from autotag.training.augment import build_augment
from autotag.training.baseline import fit_baseline
from autotag.training.bootstrap import check_resamples, confidence_interval, unit_of
from autotag.training.callbacks import RunCallbacks
from autotag.training.finetune import check_finetune, finetune_callbacks
from autotag.training.loggers import build_logger, log_results
from autotag.training.losses import positive_weights
from autotag.training.metrics import tag_scores
from autotag.training.module import TaggingModule
from autotag.training.recipe import stages_of
from autotag.training.settings import Loss, RunSettings
from autotag.training.thresholds import f1_thresholds
from autotag.training.warm_start import warm_start

log = logging.getLogger(__name__)


def fit(
    cfg: DictConfig | Mapping[str, Any], out_dir: str | Path, run: RunInfo | None = None
) -> dict[str, Any]:
    """Run the job described by ``cfg`` in ``out_dir``; returns what results.json holds."""
    plain: dict[str, Any] = OmegaConf.to_container(OmegaConf.create(cfg), resolve=True)  # type: ignore[assignment]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = RunSettings.of(plain)  # the run's own keys, typed; an unknown one is an error
    run = run or RunInfo.of(plain)
    check_resamples(settings.bootstrap.n_resamples)  # before hours of training, not after
    check_small_data(plain, settings)  # before the store is built or a pretrained model fetched
    check_start_files(settings.ckpt_path, settings.init_from)
    features = FeatureConfig.from_dict(plain["features"])
    augment = build_augment(
        plain["augment"], settings.seed, features.kind, features.compression, plain["norm"]["mode"]
    )  # its own generators, seeded with `seed`: the global stream below is the same either way
    pl.seed_everything(settings.seed, workers=True)
    store = labelled_store_of(plain)
    unit_of(store.units, settings.bootstrap.cluster)  # a unit the data set names, before training
    if not is_network(plain["model"]["arch"]):
        if augment.on:
            log.warning("model=%s trains on no batches: augment is not applied", run.model)
        return fit_baseline(plain, settings, store, out, run)

    check_recipe(plain["optimizer"], settings.shuffle_labels)
    loader = plain["loader"]
    crop = input_frames(plain["model"], store.features, loader["random_crop"])
    if store.ragged and crop is None:  # whole tracks: a whole-clip model sees windows of them
        crop = store.features.n_frames
    chunks = ChunkPlan(crop, loader["eval_chunks"])
    dm = TagDataModule.from_config(
        store,
        {**loader, "random_crop": crop},  # the model's input length, or the user's crop
        top_k=plain["data"]["top_k"],
        norm=plain["norm"]["mode"],
        shuffle_labels=settings.shuffle_labels,
        seed=settings.seed,
    )
    net = build_model(plain["model"], dm.n_mels, dm.n_frames, len(dm.tag_names))
    if settings.init_from:
        origin = warm_start(
            net, settings.init_from, dm.tag_names, settings.init_new_tags, dm.store.features
        )
        if origin:  # the pretrained model's credit and licence travel with the new tagger file
            plain["derived_from"] = origin
    module = TaggingModule(
        net,
        dm.normalizer,
        dm.tag_names,
        optimizer=plain["optimizer"],
        scheduler=plain["scheduler"],
        pos_weight=loss_weights(settings.loss, dm),
        config=plain,
        chunks=chunks,
        eval_batch=max(16, loader["batch_size"]),
        augment=augment,
    )
    logger = build_logger(plain["logger"], out, run.name, run.tags, settings.group, plain)
    with closing_logger(logger):  # closed on success and on failure alike
        callbacks = RunCallbacks(
            out, settings.progress_refresh, logger is not None, settings.last_ckpt_every_s
        )
        trainer = pl.Trainer(
            max_epochs=settings.epochs,
            logger=logger if logger is not None else False,
            callbacks=callbacks.all + finetune_callbacks(net, settings.finetune),
            default_root_dir=str(out),
            **plain["trainer"],
        )
        if settings.channels_last and trainer.strategy.root_device.type == "cuda":
            net.to(memory_format=torch.channels_last)  # 4-d weights only; kept by .to(device)
        t0 = time.perf_counter()
        trainer.fit(module, dm, ckpt_path=settings.ckpt_path, weights_only=True)  # no code runs
        fit_seconds = time.perf_counter() - t0
        history = list(module.history)
        best = callbacks.to_test(last_epoch=settings.shuffle_labels)  # a control: its last epoch
        trainer.validate(module, dm, ckpt_path=best, verbose=False, weights_only=True)
        assert module.last_val is not None
        val_preds, val_target = module.last_val
        trainer.test(module, dm, ckpt_path=best, verbose=False, weights_only=True)
        test = module.test_results
        assert test is not None

        val = tag_scores(val_preds, val_target, dm.tag_names, warn=False)
        ordered = artifacts.in_dataset_order(
            {"val": (val_preds, val_target), "test": (test["preds"], test["target"])},
            trainer.world_size,
        )
        results = build_results(
            plain,
            run,
            val,
            test,
            dm.tag_names,
            epochs=settings.epochs,
            epochs_run=trainer.current_epoch,
            history=history,
            best_checkpoint=best,
            train_seconds=callbacks.speed.train_seconds,
            fit_seconds=fit_seconds,
            train_clips_per_second=callbacks.speed.clips_per_second,
            n_clips={s: len(dm.datasets[s].index) for s in ("train", "val", "test")},
            n_parameters=sum(p.numel() for p in net.parameters()),
            store=store.path,
            test_interval=confidence_interval(
                *ordered["test"],
                units=artifacts.split_units(dm, "test"),
                **asdict(settings.bootstrap),
            )
            if trainer.is_global_zero  # the other DDP ranks need no interval
            else {},
            extra={"train_step_clips_per_second": callbacks.speed.step_clips_per_second},
        )
        if trainer.is_global_zero:
            thresholds = f1_thresholds(val_preds.numpy(), val_target.numpy())
            metrics = {"val": results["val"], "test": results["test"]}
            artifacts.save_tagger(
                RunFolder(out).tagger,
                net,
                module.normalizer,
                dm,
                thresholds,
                plain,
                metrics,
                chunks.n,
            )
            figures = artifacts.make_figures(out, results, test, dm)
            end_run(
                out,
                results,
                **artifacts.eval_predictions(dm, ordered),
                publish=lambda: log_results(logger, results, figures),
            )
    return results


def check_start_files(ckpt_path: str | None, init_from: str | None) -> None:
    """``ckpt_path`` and ``init_from`` name usable files, checked before hours of preparing:
    a tagger file given to resume, or a best checkpoint (weights only), is refused with what
    to use instead."""
    init = init_from
    if init and not is_pretrained_name(init) and not Path(init).is_file():
        raise ValueError(f"init_from={init}: no such file (a tagger.pt, or musicnn:MTT_musicnn)")
    ckpt = ckpt_path
    if not ckpt:
        return
    if not Path(ckpt).is_file():
        raise ValueError(
            f"ckpt_path={ckpt}: no such file (resume from <run>/checkpoints/last.ckpt)"
        )
    try:
        blob = torch.load(ckpt, map_location="cpu", weights_only=True)
    except Exception:
        return  # not readable as plain tensors: Lightning's own loader says what it is
    if isinstance(blob, Mapping) and str(blob.get("format", "")).startswith("autotag-tagger/"):
        raise ValueError(
            f"ckpt_path={ckpt} is a tagger file, not a checkpoint: to start from its weights, "
            f"use init_from={ckpt}; to resume its run, use <run>/checkpoints/last.ckpt"
        )
    if isinstance(blob, Mapping) and "optimizer_states" not in blob:
        raise ValueError(
            f"ckpt_path={ckpt} holds weights only (a best checkpoint): resume from "
            f"<run>/checkpoints/last.ckpt, or start from the run's tagger.pt with init_from"
        )


def check_small_data(cfg: Mapping[str, Any], settings: RunSettings) -> None:
    """``loader.train_fraction`` and ``finetune.*`` values, and a normalization that suits the
    features (``prelog`` undoes a dB scale: it cannot read musicnn's log10(1 + C x))."""
    check_train_fraction(cfg["loader"]["train_fraction"])
    check_finetune(settings.finetune.freeze_epochs, settings.finetune.train_layers)
    compression = FeatureConfig.from_dict(cfg["features"]).compression  # its default: LATER_KEYS
    if cfg["norm"]["mode"] == "prelog" and compression != "db":
        raise ValueError(
            f"norm=prelog undoes a dB scale, but features.compression={compression}: "
            "choose another norm"
        )


def check_recipe(optimizer: Mapping[str, Any], shuffle_labels: bool) -> None:
    """A shuffled-label control must not pick weights with the real validation labels, which a
    staged optimizer's reload of the best checkpoint would do."""
    stages = stages_of(optimizer) or []
    if shuffle_labels and any(s.reload_best for s in stages):
        raise ValueError(
            "shuffle_labels=true with a staged optimizer that reloads the best checkpoint "
            "(reload_best): the control would pick weights with the real validation labels; "
            "set reload_best: false in optimizer.stages"
        )


def loss_weights(loss: Loss, dm: TagDataModule):
    """The weighted BCE's ``pos_weight`` from the training split (None: plain BCE)."""
    if not loss.weighted:
        return None
    pos, n = dm.train_label_counts()
    return positive_weights(pos, n, loss.max_pos_weight)
