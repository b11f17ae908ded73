"""The model zoo on this machine: for every network preset in ``conf/model/`` with its own
features, the parameter count, GFLOPs per item (forward, and forward + backward for a training
item), training clips/s (forward + backward + Adam step on batches of its input length) and
inference clips/s (whole 29 s clips as evaluation sees them: a chunk model averages
``loader.eval_chunks`` chunks per clip, a whole-clip model takes the clip). Random weights and
random inputs: speed does not depend on the values.

    .venv/bin/python bench/models.py                    # width 1 (the published models), CPU
    .venv/bin/python bench/models.py --width 0.125      # the CPU grids' width
    .venv/bin/python bench/models.py --device cuda --precision bf16-mixed   # on a GPU

Run it on a quiet machine (it waits for one): on 2 cores a busy neighbour halves every figure.
"""

from __future__ import annotations

import argparse
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from common import (
    REPO,
    fmt,
    load_warning,
    machine_table,
    median,
    table,
    wait_for_quiet,
    write_section,
)
from omegaconf import OmegaConf
from torch.utils.flop_counter import FlopCounterMode

from autotag.data.chunks import ChunkPlan, input_frames
from autotag.data.features import FeatureConfig
from autotag.models import build_model, is_network

ORDER = ["fcn", "fcn_bn", "fcn_choi", "fcn_bn_choi", "fcn_choi_stft", "fcn_choi_mfcc",
         "choi_fcn5", "won_fcn", "musicnn", "crnn", "cnnsa", "short_cnn", "short_res"]  # fmt: skip


def presets() -> list[tuple[str, dict, FeatureConfig]]:
    """(preset, model config, its features) of every network preset, composed as train.py does."""
    from hydra import compose, initialize_config_dir

    out = []
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        for path in sorted((REPO / "conf/model").glob("*.yaml")):
            cfg = compose("train", overrides=[f"model={path.stem}"])
            model = OmegaConf.to_container(cfg.model, resolve=True)
            if is_network(model["arch"]):
                feats = FeatureConfig.from_dict(OmegaConf.to_container(cfg.features, resolve=True))
                out.append((path.stem, model, feats))
    rank = {n: i for i, n in enumerate(ORDER)}
    return sorted(out, key=lambda t: (rank.get(t[0], len(ORDER)), t[0]))


def gflops(net: torch.nn.Module, x: torch.Tensor, train: bool) -> float:
    """GFLOPs of one item, forward or forward + backward (counted on a batch of 2, as a model
    with a BatchNorm1d head cannot train on one item, and halved)."""
    net.train(train)
    counter = FlopCounterMode(display=False)
    with counter:
        y = net(x)
        if train:
            y.sum().backward()
    net.zero_grad(set_to_none=True)
    return counter.get_total_flops() / len(x) / 1e9


def timed(fn, repeat: int, sync) -> float:
    """Median seconds of ``fn`` over ``repeat`` calls, after one warm-up call."""
    fn()
    sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return median(times)


def measure(name, model, feats, args, device) -> list[object]:
    crop = input_frames(model, feats)
    frames = crop or feats.n_frames
    net = build_model({**model, "width": args.width}, feats.n_rows, frames, 50).to(device)
    params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    one = torch.randn(2, feats.n_rows, frames)
    fwd, train = gflops(net.cpu(), one, False), gflops(net.cpu(), one, True)
    net.to(device)
    if args.channels_last:
        net = net.to(memory_format=torch.channels_last)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16)
        if args.precision == "bf16-mixed"
        else nullcontext()
    )
    b = args.batch
    x = torch.randn(b, feats.n_rows, frames, device=device)
    y = (torch.rand(b, 50, device=device) < 0.1).float()
    opt = torch.optim.Adam(net.parameters(), 1e-4)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def step() -> None:
        with autocast:
            loss = loss_fn(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    net.train()
    train_s = timed(step, args.repeat, sync)
    plan = ChunkPlan(crop, args.eval_chunks)
    clips = torch.randn(args.infer_batch, feats.n_rows, feats.n_frames, device=device)
    net.eval()

    @torch.inference_mode()
    def infer() -> None:
        chunks, _ = plan.split(clips)
        with autocast:
            net(chunks)

    infer_s = timed(infer, args.repeat, sync)
    chunks_per_clip = len(plan.split(clips[:1])[0])
    return [
        name,
        feats.name,
        f"{feats.n_rows}x{frames}",
        f"{params / 1e6:.2f} M",
        fmt(fwd),
        fmt(train),
        fmt(b / train_s),
        chunks_per_clip,
        fmt(args.infer_batch / infer_s),
    ]


def load_summary(notes: list[str]) -> str:
    """One line for the load notes of every model: the 1-min load range, the most cores other
    processes kept busy before a measurement (this script's own threads raise the load)."""
    import re

    ones = [float(m.group(1)) for n in notes if (m := re.search(r"load ([\d.]+)/", n))]
    busy = [float(m.group(1)) for n in notes if (m := re.search(r"([\d.]+) cores busy", n))]
    if not ones or not busy:
        return "Load: " + "; ".join(notes)
    return (
        f"Load: 1-min load average {min(ones):.2f}-{max(ones):.2f} during the run (this "
        f"script's own 2 threads included); at most {max(busy):.2f} cores busy elsewhere just "
        f"before each model's measurement."
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--width", type=float, default=1.0, help="model.width of every model")
    p.add_argument("--batch", type=int, default=16, help="batch (Won's recipe: 16)")
    p.add_argument("--infer-batch", type=int, default=4, help="whole clips per inference batch")
    p.add_argument("--repeat", type=int, default=3, help="timed repeats (median)")
    p.add_argument("--eval-chunks", type=int, default=16, help="loader.eval_chunks")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="32", choices=["32", "bf16-mixed"])
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--only", nargs="*", help="presets to measure (default: all)")
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--no-wait", action="store_true", help="do not wait for a quiet machine")
    args = p.parse_args()
    device = torch.device(args.device)
    rows, notes = [], []
    for name, model, feats in presets():
        if args.only and name not in args.only:
            continue
        notes.append(wait_for_quiet() if not args.no_wait else "not waited for quiet — NOT quiet")
        row = measure(name, model, feats, args, device)
        print(" | ".join(str(c) for c in row), flush=True)
        rows.append(row)
    head = ["model", "features", "input", "parameters", "GFLOPs fwd / item",
            "GFLOPs train / item", "train clips/s", "chunks / clip", "inference clips/s"]  # fmt: skip
    where = torch.cuda.get_device_name(0) if device.type == "cuda" else "CPU"
    title = (
        f"Model zoo ({where}, width {args.width:g}, training batch {args.batch}, "
        f"precision {args.precision}{', channels_last' if args.channels_last else ''})"
    )
    body = "\n\n".join(
        [
            machine_table(),
            "`"
            + " ".join(
                ["python bench/models.py"]
                + ([f"--width {args.width:g}"] if args.width != 1 else [])
                + ([f"--device {args.device}"] if args.device != "cpu" else [])
                + ([f"--precision {args.precision}"] if args.precision != "32" else [])
            )
            + "`: random weights and inputs. Parameters are trainable ones (K = 50 tags). "
            "GFLOPs from `torch.utils.flop_counter` (2 FLOPs per multiply-add; convolutions, "
            "matmuls and attention), per input of the model's length. Train clips/s: "
            "forward + backward + Adam step on batches of training crops (chunk models) or "
            "whole clips. Inference clips/s: whole 29 s clips as validation, test and "
            f"`autotag tag` see them, {args.infer_batch} clips per batch (a chunk model runs "
            "`chunks / clip` chunks per clip). "
            "Median of the repeats.",
            table(head, rows),
            load_summary(notes) + load_warning(notes),
        ]
    )
    print(body)
    if not args.no_write:
        write_section(title, body)
        print(f"wrote {Path('bench/RESULTS.md')}: {title}")


if __name__ == "__main__":
    main()
