"""The GPU path, measured in one call on a lent GPU machine (issue 11, part 6).

    PYTHONPATH=$PWD python bench/gpu.py --out $OUT          # on the GPU machine
    .venv/bin/python bench/gpu.py --apply <out>/gpu_section.md   # here: into bench/RESULTS.md

1. The synthetic corpus and its seed store, generated and prepared there (all cores, timed).
2. Training steps of the full-width FCN-4 and FCN-4+BN in a plain loop (data on the GPU):
   fp32 and bf16-mixed, NCHW and channels_last: the ceiling of the step itself.
3. The same steps through Lightning as ``run.fit`` builds them (``loader.in_memory=true``: the
   split on the GPU, batches gathered there), with the run's callbacks (validation, best and
   last checkpoints every epoch) and without any: the epoch split into steps, validation and
   the rest (checkpoints).
4. ``python train.py trainer=gpu loader.in_memory=true epochs=10`` at full width, as a user runs it.
5. ``autotag tag`` on a folder of 30 s 44.1 kHz stereo mp3s, the network on the GPU and on the CPU.

Prints the section last and writes ``gpu_section.md`` and ``gpu.json`` under ``--out``. Each
part is skipped, and says so, when ``--budget`` seconds have gone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from common import REPO, feature_config, fmt, load_conf, machine_table, median, table, write_section

from autotag.data.chunks import ChunkPlan
from autotag.data.datamodule import TagDataModule
from autotag.models import build_model
from autotag.runs.folder import RunFolder
from autotag.runs.results import read_results
from autotag.training.callbacks import RunCallbacks
from autotag.training.losses import WeightedBCE, positive_weights
from autotag.training.module import TaggingModule

SECTION = "GPU (bench/gpu.py)"
T0 = time.perf_counter()
DEV = "cuda"  # --smoke: cpu, at a small width (checks the script, not the speed)
WIDTH = 1.0
SMOKE = False


def elapsed() -> float:
    return time.perf_counter() - T0


def sh(cmd: list[str], log: Path, env: dict | None = None) -> tuple[float, str]:
    """Run ``cmd`` in the repository; (seconds, its output); the output also goes to ``log``."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    out = p.stdout + p.stderr
    log.write_text(out)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{out[-3000:]}")
    return dt, out


def sync() -> None:
    if DEV == "cuda":
        torch.cuda.synchronize()


def load_conf_train(key: str):
    from omegaconf import OmegaConf

    return OmegaConf.load(REPO / "conf/train.yaml")[key]


def model_conf(name: str) -> dict:
    return {**load_conf("model", name), "width": WIDTH}


# --------------------------------------------------------------------------- 2. plain loop


def plain_loop(model: str, bf16: bool, channels_last: bool, batch: int, steps: int) -> float:
    """Training clips/s of ``model`` (full width, seed features) in a plain loop: median of 3
    timed rounds of ``steps`` steps after 10 warm-up steps; 4 input batches in rotation."""
    dev = torch.device(DEV)
    feats = feature_config("seed")
    torch.manual_seed(0)
    net = build_model(model_conf(model), feats.n_mels, feats.n_frames, 50).to(dev)
    if channels_last:
        net.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    loss_fn = WeightedBCE(torch.full((50,), 5.0, device=dev))
    xs = [torch.randn(batch, feats.n_mels, feats.n_frames, device=dev) for _ in range(4)]
    ys = [(torch.rand(batch, 50, device=dev) < 0.1).float() for _ in range(4)]
    ctx = torch.autocast(DEV, dtype=torch.bfloat16) if bf16 else nullcontext()

    def run(n: int) -> None:
        for i in range(n):
            with ctx:
                loss = loss_fn(net(xs[i % 4]), ys[i % 4])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    steps = 1 if SMOKE else steps
    run(1 if SMOKE else 10)
    sync()
    rates = []
    for _ in range(3):
        t0 = time.perf_counter()
        run(steps)
        sync()
        rates.append(batch * steps / (time.perf_counter() - t0))
    return median(rates)


# --------------------------------------------------------------------------- 3. Lightning


class EpochParts(pl.Callback):
    """Per epoch: seconds of the training steps (queue drained), of validation, and in all
    (epoch start to the next epoch's start or the end of training: Lightning runs the
    checkpoint callbacks after every other ``on_train_epoch_end``)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []
        self.cur: dict[str, float] | None = None

    def _now(self) -> float:
        sync()
        return time.perf_counter()

    def _close(self) -> None:
        if self.cur is not None:
            self.cur["total"] = self._now() - self.cur["start"]
            self.rows.append(self.cur)
            self.cur = None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._close()
        self.cur = {"start": self._now(), "val": 0.0, "clips": 0}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.cur["clips"] += len(batch[0])
        if batch_idx == trainer.num_training_batches - 1:
            self.cur["steps"] = self._now() - self.cur["start"]

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        if self.cur is not None:
            self.cur["val_start"] = self._now()

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if self.cur is not None:
            self.cur["val"] = self._now() - self.cur["val_start"]

    def on_train_end(self, trainer, pl_module) -> None:
        self._close()


def lightning_epochs(
    store: Path,
    model: str,
    precision: str,
    channels_last: bool,
    full: bool,
    batch: int,
    epochs: int,
    out: Path,
    in_memory: bool = True,
    workers: int = 0,
) -> dict[str, float]:
    """``run.fit``'s DataModule and LightningModule on the GPU for ``epochs`` epochs; medians of
    the epochs after the first (cuDNN's autotuning and the copy of the split to the GPU)."""
    loader = {**load_conf("loader", "default"), "in_memory": in_memory, "random_crop": None}
    loader["batch_size"], loader["num_workers"] = batch, workers
    top_k = load_conf("data", "synthetic")["data"]["top_k"]
    dm = TagDataModule.from_config(
        store, loader, top_k=top_k, norm="global", shuffle_labels=False, seed=0
    )
    feats = dm.store.features
    torch.manual_seed(0)
    net = build_model(model_conf(model), feats.n_rows, feats.n_frames, len(dm.tag_names))
    if channels_last:
        net.to(memory_format=torch.channels_last)
    pos, n = dm.train_label_counts()
    module = TaggingModule(
        net,
        dm.normalizer,
        dm.tag_names,
        optimizer=load_conf("optimizer", "adam"),
        scheduler=load_conf("scheduler", "none"),
        pos_weight=positive_weights(pos, n, None),
        config={},
        chunks=ChunkPlan(None, 1),
        eval_batch=max(16, loader["batch_size"]),
    )
    parts = EpochParts()
    run_dir = out / "lightning" / f"{model}-{precision}-{int(channels_last)}-{int(full)}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_callbacks = RunCallbacks(run_dir, 5, False, load_conf_train("last_ckpt_every_s"))
    callbacks = [*run_callbacks.all, parts] if full else [parts]
    trainer = pl.Trainer(
        accelerator="gpu" if DEV == "cuda" else "cpu",
        devices=1,
        precision=precision,
        benchmark=True,
        max_epochs=epochs,
        logger=False,
        callbacks=callbacks,
        enable_checkpointing=full,
        limit_val_batches=1.0 if full else 0,
        limit_train_batches=3 if SMOKE else 1.0,
        num_sanity_val_steps=0,
        enable_model_summary=False,
        enable_progress_bar=full,
        default_root_dir=str(run_dir),
    )
    trainer.fit(module, dm)
    rows = parts.rows[1:] or parts.rows
    clips = rows[0]["clips"]
    steps = median([r["steps"] for r in rows])
    total = median([r["total"] for r in rows])
    val = median([r["val"] for r in rows])
    shutil.rmtree(run_dir, ignore_errors=True)
    return {
        "clips": clips,
        "steps_s": steps,
        "val_s": val,
        "rest_s": total - steps - val,
        "total_s": total,
        "step_rate": clips / steps,
        "epoch_rate": clips / total,
        "first_epoch_s": parts.rows[0]["total"],
    }


# --------------------------------------------------------------------------- 5. tagging


def write_songs(folder: Path, n: int, seconds: float) -> list[Path]:
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        rng = np.random.default_rng(10 + i)
        t = np.arange(int(seconds * 44100)) / 44100
        x = 0.05 * rng.standard_normal((len(t), 2))
        for f in rng.uniform(100, 4000, size=4):
            x += 0.1 * np.sin(2 * np.pi * f * t)[:, None]
        p = folder / f"song_{i:03d}.mp3"
        sf.write(p, x.astype(np.float32), 44100)
        paths.append(p)
    return paths


def tag_folder(folder: Path, model: Path, device: str, workers: int | None, log: Path) -> float:
    """Songs/s of ``autotag tag <folder>`` as the command reports it ("tagged N of M files in
    X s": model loaded, decoding and tagging)."""
    cmd = [sys.executable, "-m", "autotag.cli", "tag", str(folder), "--model", str(model)]
    cmd += ["--device", device, "--no-progress", "--csv"]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    _, out = sh(cmd, log)
    m = re.search(r"tagged (\d+) of (\d+) files in ([\d.]+) s", out)
    assert m, out[-2000:]
    return int(m.group(1)) / float(m.group(3))


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "bench/out/gpu")
    ap.add_argument("--budget", type=float, default=480.0, help="seconds; later parts skipped")
    ap.add_argument("--apply", type=Path, help="write this gpu_section.md into RESULTS.md")
    ap.add_argument("--smoke", action="store_true", help="CPU, width 1/16: checks the script")
    ap.add_argument("--only", default="plain,lightning,streamed,train,tag", help="parts to run")
    ap.add_argument(
        "--profile", action="store_true", help="Lightning's simple profiler in train.py"
    )
    args = ap.parse_args()
    only = set(args.only.split(","))
    if args.apply:
        write_section(SECTION, args.apply.read_text())
        return
    global DEV, WIDTH, SMOKE
    if args.smoke:
        DEV, WIDTH, SMOKE = "cpu", 0.0625, True
    else:
        assert torch.cuda.is_available(), "no GPU"
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="autotag-gpu-"))  # run folders, songs: not under --out
    res: dict = {"gpu": torch.cuda.get_device_name(0) if DEV == "cuda" else "none (smoke)"}
    notes: list[str] = []

    def save() -> None:
        (out / "gpu.json").write_text(json.dumps(res, indent=1))

    # 1. corpus and store
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    t_gen, _ = sh([sys.executable, "-m", "autotag.data.synthetic", "--quiet"], out / "gen.log", env)
    t_prep, prep = sh([sys.executable, "-m", "autotag.prepare"], out / "prepare.log", env)
    store = Path(re.findall(r"(\S+\.h5)", prep)[-1])
    store = store if store.is_absolute() else REPO / store
    res["generate_s"], res["prepare_s"] = t_gen, t_prep
    print(f"[{elapsed():.0f} s] corpus {t_gen:.1f} s, prepare {t_prep:.1f} s: {store}", flush=True)
    save()

    # 2. plain loop
    torch.backends.cudnn.benchmark = True
    plain = {}
    for model in ("fcn", "fcn_bn") if "plain" in only else ():
        for bf16 in (False, True):
            for cl in (False, True):
                key = f"{model} {'bf16-mixed' if bf16 else 'fp32'} {'NHWC' if cl else 'NCHW'}"
                plain[key] = plain_loop(model, bf16, cl, 32, 30)
                print(f"[{elapsed():.0f} s] plain {key}: {plain[key]:.0f} clips/s", flush=True)
    for batch in () if SMOKE or "plain" not in only else (64, 128):
        key = f"fcn_bn bf16-mixed NHWC batch {batch}"
        plain[key] = plain_loop("fcn_bn", True, True, batch, 20)
        print(f"[{elapsed():.0f} s] plain {key}: {plain[key]:.0f} clips/s", flush=True)
    res["plain"] = plain
    save()

    # 3. Lightning
    light = {}
    for model, prec, cl, full, batch in [
        ("fcn_bn", "bf16-mixed", True, False, 32),
        ("fcn_bn", "bf16-mixed", True, True, 32),
        ("fcn", "bf16-mixed", True, True, 32),
        ("fcn_bn", "bf16-mixed", False, True, 32),
        ("fcn_bn", "32-true", True, True, 32),
        ("fcn_bn", "bf16-mixed", True, False, 128),
    ]:
        one = full and model == "fcn_bn" and prec == "bf16-mixed" and cl and batch == 32
        if "lightning" not in only and not ("lightning_run" in only and one):
            continue
        if elapsed() > args.budget * 0.5:
            notes.append(f"Lightning {model} {prec} skipped (time)")
            continue
        key = f"{model} {prec} {'NHWC' if cl else 'NCHW'} {'run callbacks' if full else 'bare'}"
        key += f", batch {batch}"
        light[key] = lightning_epochs(store, model, prec, cl, full, batch, 4, work)
        print(f"[{elapsed():.0f} s] lightning {key}: {light[key]}", flush=True)
    res["lightning"] = light
    streamed = {}
    for workers in (2, 4, 8) if "streamed" in only else ():
        key = f"fcn_bn bf16-mixed NHWC bare, batch 32, streamed from HDF5, {workers} workers"
        streamed[key] = lightning_epochs(store, "fcn_bn", "bf16-mixed", True, False, 32, 4, work,
                                         in_memory=False, workers=workers)  # fmt: skip
        print(f"[{elapsed():.0f} s] {key}: {streamed[key]}", flush=True)
    res["streamed"] = streamed
    save()

    # 4. train.py as a user runs it
    runs = {}
    for model in ("fcn_bn", "fcn") if "train" in only else ():
        if elapsed() > args.budget * 0.75:
            notes.append(f"train.py {model} skipped (time)")
            continue
        run_dir = work / f"train-{model}"
        trainer = "trainer=gpu" if DEV == "cuda" else "trainer=cpu"
        cmd = [sys.executable, "train.py", trainer, f"model={model}", "loader.in_memory=true"]
        cmd += ["logger=csv", f"epochs={10 if DEV == 'cuda' else 1}", f"hydra.run.dir={run_dir}"]
        cmd += [] if WIDTH == 1.0 else [f"model.width={WIDTH}"]
        cmd += ["+trainer.profiler=simple"] if args.profile and model == "fcn_bn" else []
        wall, _ = sh(cmd, out / f"train-{model}.log", env)
        r = read_results(run_dir)
        runs[model] = {
            "wall_s": wall,
            "fit_s": r["fit_seconds"],
            "epoch_rate": r["train_clips_per_second"],
            "step_rate": r["train_step_clips_per_second"],
            "test_roc_auc": r["test"]["roc_auc"],
            "test_pr_auc": r["test"]["pr_auc"],
            "tagger": str(RunFolder(run_dir).tagger),
        }
        print(f"[{elapsed():.0f} s] train.py {model}: {runs[model]}", flush=True)
    res["train"] = runs
    save()

    # 5. tagging
    tag = {}
    if runs and "tag" in only and elapsed() < args.budget * 0.9:
        model = Path(next(iter(runs.values()))["tagger"])
        folder = work / "songs"
        songs = write_songs(folder, 32, 30.0)
        big = work / "songs128"
        big.mkdir()
        for k in range(4):
            for p in songs:
                shutil.copy(p, big / f"{k}_{p.name}")
        for where, n in ((folder, 32), (big, 128)):
            for device, workers in ((DEV, None), (DEV, 0), ("cpu", None), ("cpu", 0)):
                key = f"{n} songs, network on {device}, workers "
                key += "default" if workers is None else str(workers)
                tag[key] = tag_folder(where, model, device, workers, out / f"tag-{device}.log")
                print(f"[{elapsed():.0f} s] tag {key}: {tag[key]:.1f} songs/s", flush=True)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(big, ignore_errors=True)
    else:
        notes.append("tagging skipped (time)")
    res["tag"] = tag
    res["notes"] = notes
    save()
    body = render(res, store)
    (out / "gpu_section.md").write_text(body)
    print(body)


def render(res: dict, store: Path) -> str:
    gpu = res["gpu"]
    parts = [
        f"One NVIDIA GPU lent through the device tool: **{gpu}** (all rows). Full-width networks, "
        "seed features (40 × 909), 50 tags, training batch 32 (`loader.batch_size`) unless a row says otherwise, Adam.",
        machine_table(),
        f"Synthetic corpus (1,600 clips) generated in {res['generate_s']:.1f} s and its seed "
        f"store prepared in {res['prepare_s']:.1f} s (`python -m autotag.prepare`, "
        f"{os.cpu_count()} processes, end to end: {1600 / res['prepare_s']:.0f} clips/s).",
        "**Plain loop** (the ceiling: forward, weighted BCE, backward, Adam step; inputs on "
        "the GPU; median of 3 rounds):",
        table(
            ["model, precision, layout", "train clips/s"],
            [[k, fmt(v)] for k, v in res["plain"].items()],
        ),  # fmt: skip
    ]
    if res["lightning"]:
        rows = [
            [k, fmt(v["step_rate"]), fmt(v["epoch_rate"]), fmt(v["steps_s"]), fmt(v["val_s"]),
             fmt(v["rest_s"]), fmt(v["first_epoch_s"])]
            for k, v in res["lightning"].items()
        ]  # fmt: skip
        parts += [
            "**Through Lightning** as `run.fit` builds it, `loader.in_memory=true` (the split "
            f"held on the GPU); {next(iter(res['lightning'].values()))['clips']} training "
            "clips per epoch; medians of epochs 2–4. *bare*: no validation, no checkpoint; "
            "*run callbacks*: validation, best and last checkpoints, as `train.py` runs "
            "(the epoch ends when the next starts, its checkpoints included):",
            table(
                [
                    "run",
                    "steps clips/s",
                    "epoch clips/s",
                    "steps s",
                    "validation s",
                    "rest (checkpoints) s",
                    "first epoch s",
                ],
                rows,
            ),  # fmt: skip
        ]
    if res.get("streamed"):
        parts += [
            "**Streamed from the HDF5 store** (`loader.in_memory=false`, loader workers read "
            "float16 rows; float32 on the GPU):",
            table(
                ["run", "steps clips/s", "first epoch s"],
                [
                    [k, fmt(v["step_rate"]), fmt(v["first_epoch_s"])]
                    for k, v in res["streamed"].items()
                ],
            ),  # fmt: skip
        ]
    if res["train"]:
        rows = [
            [f"`python train.py trainer=gpu model={m} loader.in_memory=true epochs=10`",
             fmt(v["wall_s"]), fmt(v["fit_s"]), fmt(v["step_rate"]), fmt(v["epoch_rate"]),
             f"{v['test_roc_auc']:.4f} / {v['test_pr_auc']:.4f}"]
            for m, v in res["train"].items()
        ]  # fmt: skip
        parts += [
            "**A 10-epoch full-width run** as a user starts it (bf16-mixed, NHWC, the defaults "
            "of `trainer=gpu`):",
            table(
                [
                    "command",
                    "wall s",
                    "fit s",
                    "steps clips/s",
                    "epoch clips/s",
                    "test ROC-AUC / PR-AUC",
                ],
                rows,
            ),  # fmt: skip
        ]
    if res["tag"]:
        parts += [
            "**Tagging** a folder of 32 songs × 30 s (mp3 44.1 kHz stereo), songs/s as "
            "`autotag tag` reports them (decoding and the log-mel on the CPU cores):",
            table(
                ["network on, decoding", "songs/s"], [[k, fmt(v)] for k, v in res["tag"].items()]
            ),  # fmt: skip
        ]
    if res["notes"]:
        parts.append("Skipped: " + "; ".join(res["notes"]))
    return "\n\n".join(parts)


if __name__ == "__main__":
    main()
