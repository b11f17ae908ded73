"""Training and inference throughput of the FCN, Lightning's overhead, and an MTAT epoch estimate.

    .venv/bin/python bench/train_step.py                       # CPU, the defaults below
    .venv/bin/python bench/train_step.py --device cuda --precision bf16 --channels-last

1. For each model (``conf/model``) × preset (``seed`` 40×909, ``choi`` 96×1366 with Choi's
   pools) × width: training clips/s (forward + weighted BCE + backward + Adam step) and
   inference clips/s (eval, no grad) on random batches, warm-up steps excluded. Width 1.0 runs
   ``--steps`` timed steps; a narrower width ``w`` runs ``ceil(--steps / w)``.
2. Lightning overhead: ``TaggingModule`` (fcn_bn, width 0.25, seed) over the same in-memory
   random data, N steps in a plain PyTorch loop vs ``pl.Trainer.fit``; median of repeats.
3. One epoch over MTAT's training split (``folds``: folders 0-b, ~19.4k clips): the store read
   rate (seed rows) and the training rate combined as a sum (CPU: reading competes with
   training for the same cores) and as a max (perfect overlap, as with loader workers on
   spare cores feeding a GPU).
"""

from __future__ import annotations

import argparse
import copy
import logging
import math
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import (
    BENCH_DIR,
    RESULTS,
    fmt,
    load_conf,
    load_warning,
    machine_table,
    median,
    table,
    wait_for_quiet,
    write_section,
)
from torch import nn

N_CLASSES = 50
MTAT_TRAIN_CLIPS = 19397  # 12/16 folders of MTAT's 25,863 clips (the `folds` split)
# preset -> (features config, model config whose pools fit those features)
PRESETS = {"seed": ("seed", "fcn"), "choi": ("choi", "fcn_choi")}


def model_config(model: str, preset: str, width: float) -> tuple[dict[str, Any], int, int]:
    """(model config, n_mels, n_frames) of ``model`` at a feature ``preset`` and ``width``."""
    feature_name, pools_from = PRESETS[preset]
    features = load_conf("features", feature_name)
    cfg = load_conf("model", model)  # arch + every FCN argument (the code has no defaults)
    cfg["pools"] = load_conf("model", pools_from)["pools"]
    cfg["width"] = width
    return cfg, int(features["n_mels"]), int(features["n_frames"])


def build(cfg: dict[str, Any], n_mels: int, n_frames: int, args: argparse.Namespace) -> nn.Module:
    from autotag.models import build_model

    torch.manual_seed(0)
    net = build_model(cfg, n_mels, n_frames, N_CLASSES).to(args.device)
    if args.channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net


def autocast(args: argparse.Namespace) -> AbstractContextManager[Any]:
    if args.precision == "bf16":
        return torch.autocast(device_type=torch.device(args.device).type, dtype=torch.bfloat16)
    return nullcontext()


def sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def random_batch(n: int, n_mels: int, n_frames: int, device: str) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, n_mels, n_frames, generator=g)
    y = (torch.rand(n, N_CLASSES, generator=g) < 0.05).float()
    return x.to(device), y.to(device)


def timed(step: Callable[[], None], warmup: int, steps: int, device: str) -> float:
    """Seconds of ``steps`` calls of ``step`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- 1. step rates


def step_rates(
    cfg: dict[str, Any], n_mels: int, n_frames: int, steps: int, args: argparse.Namespace
) -> tuple[float, float]:
    """(training clips/s, inference clips/s) of one model on random batches."""
    from autotag.training.losses import WeightedBCE

    net = build(cfg, n_mels, n_frames, args)
    x, y = random_batch(args.batch, n_mels, n_frames, args.device)
    loss_fn = WeightedBCE(torch.full((N_CLASSES,), 19.0)).to(args.device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        with autocast(args):
            loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()

    def infer_step() -> None:
        with torch.inference_mode(), autocast(args):
            net(x)

    net.train()
    t_train = timed(train_step, args.warmup, steps, args.device)
    net.eval()
    t_infer = timed(infer_step, args.warmup, steps, args.device)
    return args.batch * steps / t_train, args.batch * steps / t_infer


# --------------------------------------------------------------------------- 2. Lightning


class StepClock:
    """Wall-clock times at the end of each training step (a Lightning callback when needed)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.times: list[float] = []

    def tick(self) -> None:
        sync(self.device)
        self.times.append(time.perf_counter())

    def steady(self, skip: int) -> float:
        """Median seconds per step after ``skip`` steps."""
        return median(np.diff(self.times[skip:]).tolist())


def lightning_overhead(args: argparse.Namespace) -> dict[str, float]:
    """Median total and per-step times of the plain loop and of ``Trainer.fit``."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader, TensorDataset

    from autotag.data.normalize import Normalizer, norm_description
    from autotag.training.module import TaggingModule
    from autotag.training.optim import build_optimizer

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="pytorch_lightning")
    warnings.filterwarnings("ignore", module="lightning_fabric")

    n = args.lightning_steps
    cfg, n_mels, n_frames = model_config("fcn_bn", "seed", 0.25)
    x, y = random_batch(n * args.batch, n_mels, n_frames, args.device)
    data = TensorDataset(x, y)
    init = copy.deepcopy(build(cfg, n_mels, n_frames, args).state_dict())
    tags = [f"tag{i}" for i in range(N_CLASSES)]
    amin = float(load_conf("features", "seed")["amin"])
    norm = norm_description("global", {"global_mean": -40.0, "global_std": 20.0}, amin)
    optimizer, scheduler = load_conf("optimizer", "adam"), load_conf("scheduler", "none")

    def module() -> TaggingModule:
        net = build(cfg, n_mels, n_frames, args)
        net.load_state_dict(init)
        return TaggingModule(
            net,
            Normalizer(**norm),
            tags,
            optimizer=optimizer,
            scheduler=scheduler,
            pos_weight=torch.full((N_CLASSES,), 19.0),
        ).to(args.device)

    def loader() -> DataLoader:
        return DataLoader(data, batch_size=args.batch, shuffle=True, num_workers=0)

    def plain() -> tuple[float, float]:
        clock = StepClock(args.device)
        t0 = time.perf_counter()
        m = module()
        # what configure_optimizers returns with scheduler "none" (it needs a Trainer attached)
        opt = build_optimizer(m.parameters(), m.optimizer_cfg)
        m.train()
        for xb, yb in loader():
            xb, yb = xb.to(args.device), yb.to(args.device)
            opt.zero_grad(set_to_none=True)
            with autocast(args):
                loss = m.loss_fn(m(xb), yb)
            loss.backward()
            opt.step()
            clock.tick()
        return time.perf_counter() - t0, clock.steady(skip=2)

    def lightning() -> tuple[float, float]:
        clock = StepClock(args.device)

        class Tick(pl.Callback):
            def on_train_batch_end(self, *_: Any) -> None:
                clock.tick()

        t0 = time.perf_counter()
        trainer = pl.Trainer(
            accelerator="gpu" if torch.device(args.device).type == "cuda" else "cpu",
            devices=1,
            precision="bf16-mixed" if args.precision == "bf16" else "32-true",
            max_epochs=1,
            limit_train_batches=n,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            limit_val_batches=0,
            callbacks=[Tick()],
        )
        trainer.fit(module(), train_dataloaders=loader())
        assert len(clock.times) == n
        return time.perf_counter() - t0, clock.steady(skip=2)

    plain()  # warm-up: first-call allocations and kernel selection
    runs: dict[str, list[tuple[float, float]]] = {"plain": [], "lightning": []}
    for _ in range(args.repeats):
        runs["plain"].append(plain())
        runs["lightning"].append(lightning())
    out = {}
    for name, rs in runs.items():
        out[f"{name}_total"] = median([r[0] for r in rs])
        out[f"{name}_step"] = median([r[1] for r in rs])
        out[f"{name}_totals"] = [r[0] for r in rs]  # type: ignore[assignment]
    return out


# --------------------------------------------------------------------------- 3. epoch estimate


def default_store() -> Path | None:
    stores = sorted((BENCH_DIR / "out" / "stores").glob("bench-*-seed.h5"))
    return stores[-1] if stores else None


def store_read_rate(store: Path | None, workers: int, batch: int, min_clips: int = 2000) -> float:
    """Clips/s of a shuffled loader over seed-size rows (first epoch excluded).

    With a store from ``bench/prepare.py``: ``MelDataset``; without: an HDF5 file of the same
    layout (one float16 40x909 chunk per row) read with h5py.
    """
    import h5py
    from torch.utils.data import DataLoader, Dataset

    tmp = None
    if store is not None:
        from autotag.data.datamodule import MelDataset
        from autotag.data.store import MelStore

        s = MelStore(store)
        rows = np.flatnonzero(s.valid)  # reads are what is timed: labels of zeros
        zeros = np.zeros((len(rows), N_CLASSES), np.float32)
        ds: Dataset = MelDataset(s, rows, np.arange(N_CLASSES), labels=zeros)
        n_rows = len(ds)
    else:
        tmp = tempfile.NamedTemporaryFile(suffix=".h5", delete=False)
        n_rows = 512
        with h5py.File(tmp.name, "w") as f:
            data = np.random.default_rng(0).normal(-40, 20, (n_rows, 40, 909)).astype(np.float16)
            f.create_dataset("mel", data=data, chunks=(1, 40, 909))
        ds = _RawRows(tmp.name, n_rows)
    loader = DataLoader(
        ds, batch_size=batch, shuffle=True, num_workers=workers, persistent_workers=workers > 0
    )
    for _ in loader:
        pass
    n, t0 = 0, time.perf_counter()
    for _ in range(max(1, -(-min_clips // n_rows))):
        for xb, _yb in loader:
            n += len(xb)
    rate = n / (time.perf_counter() - t0)
    del loader
    if tmp is not None:
        Path(tmp.name).unlink()
    return rate


class _RawRows(torch.utils.data.Dataset):
    def __init__(self, path: str, n: int) -> None:
        self.path, self.n, self.file = path, n, None

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        import h5py

        if self.file is None:
            self.file = h5py.File(self.path, "r")
        x = torch.from_numpy(self.file["mel"][i].astype(np.float32))
        return x, torch.zeros(N_CLASSES)


# --------------------------------------------------------------------------- main


def floats(s: str) -> list[float]:
    return [float(v) for v in s.split(",") if v]


def names(s: str) -> list[str]:
    return [v for v in s.split(",") if v]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=1, help="timed steps at width 1.0")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps before timing")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--presets", type=names, default=["seed", "choi"])
    p.add_argument("--models", type=names, default=["fcn", "fcn_bn"])
    p.add_argument("--widths", type=floats, default=[1.0, 0.25])
    p.add_argument("--lightning-steps", type=int, default=20, help="steps per overhead run")
    p.add_argument("--repeats", type=int, default=3, help="overhead runs of each kind")
    p.add_argument("--epoch-clips", type=int, default=MTAT_TRAIN_CLIPS)
    p.add_argument("--store", type=Path, default=None, help="seed store (default: bench/out)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--precision", choices=["32", "bf16"], default="32")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--threads", type=int, default=2, help="torch threads on CPU")
    p.add_argument("--skip", type=names, default=[], help="parts to skip: steps,lightning,epoch")
    p.add_argument(
        "--max-wait", type=float, default=600.0, help="seconds to wait for a quiet CPU, in all"
    )
    p.add_argument("--max-busy", type=float, default=0.5, help="cores others may keep busy")
    p.add_argument("--results", default=str(RESULTS), help="results file ('' to skip)")
    args = p.parse_args()
    t_start = time.perf_counter()
    torch.set_num_threads(args.threads)
    on_cpu = torch.device(args.device).type == "cpu"
    wait = {"max_busy": args.max_busy, "max_wait": args.max_wait}
    setting = (
        f"device {args.device}, batch {args.batch}, precision {args.precision}"
        + (", channels_last" if args.channels_last else "")
        + (f", {args.threads} torch threads" if on_cpu else "")
    )
    print(setting, flush=True)

    notes: list[str] = []  # load at each measurement
    rates: dict[tuple[str, str, float], tuple[float, float]] = {}
    rate_rows: list[list[str]] = []
    if "steps" not in args.skip:
        for preset in args.presets:
            for model in args.models:
                for width in args.widths:
                    cfg, n_mels, n_frames = model_config(model, preset, width)
                    steps = math.ceil(args.steps / width)
                    load = wait_for_quiet(**wait)
                    notes.append(load)
                    tr, inf = step_rates(cfg, n_mels, n_frames, steps, args)
                    rates[(model, preset, width)] = (tr, inf)
                    row = [model, f"{preset} {n_mels}×{n_frames}", width, steps]
                    rate_rows.append([*map(str, row), fmt(tr), fmt(inf), load])
                    print(" | ".join(rate_rows[-1]), flush=True)

    over: dict[str, Any] | None = None
    if "lightning" not in args.skip:
        load_l = wait_for_quiet(**wait)
        notes.append(load_l)
        over = lightning_overhead(args)
        print(over, flush=True)

    epoch_rows: list[list[str]] = []
    store = args.store or default_store()
    read_note = ""
    if "epoch" not in args.skip:
        load_r = wait_for_quiet(**wait)
        notes.append(load_r)
        torch.set_num_threads(1)  # the per-clip CPU cost, as in a loader worker (1 thread)
        read0 = store_read_rate(store, 0, args.batch)
        torch.set_num_threads(args.threads)
        read2 = store_read_rate(store, 2, args.batch)
        read_note = (
            f"Store reads (seed rows, batch {args.batch}, shuffled, "
            f"{'`' + store.name + '` via MelDataset' if store else 'a same-layout HDF5 via h5py'}"
            f"; {load_r}): {read0:.0f} clips/s on one core (0 loader workers, 1 thread), "
            f"{read2:.0f} clips/s with 2 loader workers."
        )
        print(read_note, flush=True)
        e = args.epoch_clips
        for (model, preset, width), (tr, _inf) in rates.items():
            if preset != "seed":
                continue
            t_read0, t_read2, t_train = e / read0, e / read2, e / tr
            total = t_read0 + t_train
            overlap = max(t_read2, t_train)
            epoch_rows.append(
                [
                    model,
                    str(width),
                    fmt(tr),
                    f"{t_train / 60:.1f}",
                    f"{t_read0 / 60:.2f}",
                    f"**{total / 60:.1f}**" if on_cpu else f"{total / 60:.1f}",
                    f"{overlap / 60:.1f}" if on_cpu else f"**{overlap / 60:.1f}**",
                ]
            )
        for row in epoch_rows:
            print(" | ".join(row), flush=True)

    total_s = time.perf_counter() - t_start
    print(f"total {total_s:.0f} s", flush=True)
    if not args.results:
        return
    body = [
        f"`{' '.join(['python bench/train_step.py', *sys.argv[1:]])}`",
        f"took {total_s:.0f} s in all. {setting}; random inputs and labels (50 tags),",
        "weighted BCE, Adam (lr 1e-3). fcn_bn has BatchNorm and dropout 0.3 (`conf/model`).",
        "",
        machine_table(),
        "",
        load_warning(notes),
    ]
    if rate_rows:
        body += [
            "",
            f"### Step throughput ({args.device})",
            "",
            f"Timed steps after {args.warmup} warm-up step(s); clips/s = batch × steps / time.",
            "",
            table(
                [
                    "model",
                    "preset (input)",
                    "width",
                    "timed steps",
                    "train clips/s",
                    "infer clips/s",
                    "load (1/5/15 min), others' cores",
                ],
                rate_rows,
            ),
        ]
    if over is not None:
        step_pct = 100 * (over["lightning_step"] / over["plain_step"] - 1)
        total_pct = 100 * (over["lightning_total"] / over["plain_total"] - 1)
        n = args.lightning_steps
        body += [
            "",
            "### Lightning overhead",
            "",
            f"`TaggingModule` with fcn_bn width 0.25 at seed ({n} steps of batch {args.batch}, "
            "in-memory random data, 0 loader workers) in a plain loop (same module, loss and "
            "optimizer: `build_optimizer`, as `configure_optimizers`) vs `pl.Trainer(max_epochs=1, limit_train_batches=N, "
            "logger=False, ...).fit`; median of "
            f"{args.repeats} alternating runs after one warm-up run; {load_l}.",
            "",
            table(
                ["", "plain loop", "Lightning", "overhead"],
                [
                    [
                        "whole run, s (Trainer construction and fit setup included)",
                        fmt(over["plain_total"]),
                        fmt(over["lightning_total"]),
                        f"**{total_pct:+.1f}%**",
                    ],
                    [
                        "per step, ms (median, first 2 steps skipped)",
                        fmt(1000 * over["plain_step"]),
                        fmt(1000 * over["lightning_step"]),
                        f"**{step_pct:+.1f}%**",
                    ],
                ],
            ),
            "",
            "Runs (s): plain "
            + ", ".join(fmt(t) for t in over["plain_totals"])
            + "; Lightning "
            + ", ".join(fmt(t) for t in over["lightning_totals"])
            + ".",
        ]
    if epoch_rows:
        mode = "sum" if on_cpu else "max"
        body += [
            "",
            f"### One MTAT training epoch ({args.epoch_clips} clips, estimate)",
            "",
            read_note,
            f"Epoch = one-core read time + training time (**sum**, CPU: loader and training "
            f"share the cores) or max(read with 2 workers, training) (**max**, perfect overlap). "
            f"Bold: the estimate for this device ({mode}). Training rates from the table above.",
            "",
            table(
                [
                    "model",
                    "width",
                    "train clips/s",
                    "train min",
                    "read min",
                    "epoch min (sum)",
                    "epoch min (max)",
                ],
                epoch_rows,
            ),
        ]
    title = "Training step (bench/train_step.py)"
    if not on_cpu:
        title += f" — {args.device}"
    write_section(title, "\n".join(body), Path(args.results))


if __name__ == "__main__":
    main()
