"""Shared helpers of the benchmark scripts: machine facts, waiting for a quiet CPU, the configs
in ``conf/``, the bench corpus, timing, and writing one section of ``bench/RESULTS.md``."""

from __future__ import annotations

import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
if str(REPO) not in sys.path:  # `python bench/x.py` from anywhere imports the local autotag
    sys.path.insert(0, str(REPO))

CONF = REPO / "conf"
RESULTS = BENCH_DIR / "RESULTS.md"
RESULTS_HEADER = (
    "# Benchmarks\n\n"
    "Figures measured by the scripts in `bench/` (each script rewrites only its own sections).\n"
    "Every table names the machine and the load average at measurement time.\n"
)


# --------------------------------------------------------------------------- machine and load


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def n_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def loadavg() -> tuple[float, float, float]:
    a, b, c = os.getloadavg()
    return round(a, 2), round(b, 2), round(c, 2)


def busy_cores(interval: float = 2.0) -> float:
    """CPU cores busy over ``interval`` seconds, from /proc/stat (call it while idle yourself)."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields[:8]), idle

    t0, i0 = sample()
    time.sleep(interval)
    t1, i1 = sample()
    if t1 == t0:
        return 0.0
    return round((1.0 - (i1 - i0) / (t1 - t0)) * (os.cpu_count() or 1), 2)


_waited = 0.0  # seconds spent in wait_for_quiet by this process


def wait_for_quiet(max_busy: float = 0.5, max_wait: float = 600.0, poll: float = 15.0) -> str:
    """Wait until other processes use at most ``max_busy`` cores; ``max_wait`` seconds in all
    over the calls of one process (then measure anyway, and say so).

    Returns a note for the results: the 1/5/15-min load average, the cores other processes
    kept busy just before the measurement, and how long this call waited.
    """
    global _waited
    t0 = time.perf_counter()
    while True:
        busy = busy_cores()
        waited = time.perf_counter() - t0
        if busy <= max_busy or _waited + waited >= max_wait:
            break
        print(f"  [load] {busy:.2f} cores busy elsewhere (load {loadavg()}); waiting", flush=True)
        time.sleep(poll)
    _waited += waited
    la = loadavg()
    note = f"load {la[0]:.2f}/{la[1]:.2f}/{la[2]:.2f}, {busy:.2f} cores busy before"
    if waited >= 5:
        note += f" (waited {waited:.0f} s)"
    if busy > max_busy:
        note += " — machine NOT quiet"
    print(f"  [load] {note}", flush=True)
    return note


def machine_table(extra: dict[str, str] | None = None) -> str:
    """A two-column markdown table describing this machine and the library versions."""
    import numpy as np
    import torch

    rows = {
        "CPU": f"{cpu_model()} (`nproc` = {n_cpus()})",
        "torch": f"{torch.__version__} ({torch.get_num_threads()} threads)",
        "numpy": np.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }
    if torch.cuda.is_available():
        rows["GPU"] = torch.cuda.get_device_name(0)
    rows.update(extra or {})
    lines = ["| machine | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows.items()]
    return "\n".join(lines)


# --------------------------------------------------------------------------- configs


def load_conf(group: str, name: str) -> dict[str, Any]:
    """``conf/<group>/<name>.yaml`` with its ``defaults`` chain merged in (Hydra's order).

    The configs hold the values the code has no defaults for (features, model, data, store, loader).
    """
    from omegaconf import OmegaConf

    raw = OmegaConf.to_container(OmegaConf.load(CONF / group / f"{name}.yaml"))
    assert isinstance(raw, dict)
    defaults = list(raw.pop("defaults", []))
    if "_self_" not in defaults:
        defaults.append("_self_")
    merged = OmegaConf.create()
    for entry in defaults:
        merged = OmegaConf.merge(merged, raw if entry == "_self_" else load_conf(group, entry))
    return OmegaConf.to_container(merged)  # type: ignore[return-value]


def feature_config(name: str = "seed") -> Any:
    """The :class:`autotag.data.features.FeatureConfig` of ``conf/features/<name>.yaml``."""
    from autotag.data.features import FeatureConfig

    return FeatureConfig.from_dict(load_conf("features", name))


# --------------------------------------------------------------------------- corpus


def ensure_corpus(root: Path, n_clips: int, seconds: float, workers: int) -> tuple[Path, str]:
    """An MTAT-format corpus of ``n_clips`` 16 kHz mp3 clips at ``root`` (reused when present).

    Uses the synthetic MTAT generator (no deliberately broken files); falls back to the test
    helper ``write_mini_mtat`` when the generator is unavailable. Returns (root, how it was made).
    """
    try:
        from autotag.data.datasets.mtat.synth import generate
    except ImportError:
        generate = None
    if generate is not None:
        t0 = time.perf_counter()
        s = generate(
            root,
            n_clips=n_clips,
            clip_seconds=seconds,
            seed=0,
            broken=False,
            workers=workers,
            progress=False,
        )
        made = f"synthetic MTAT generator, {s['bytes'] / 1e6:.0f} MB of mp3"
        if s.get("generated"):
            made += f", rendered in {time.perf_counter() - t0:.0f} s"
        return root, made
    sys.path.insert(0, str(REPO / "tests"))
    from helpers import write_mini_mtat  # type: ignore[import-not-found]

    if not (root / "annotations_final.csv").exists():
        write_mini_mtat(root, n_clips=n_clips, seconds=seconds, seed=0)
    return root, "tests/helpers.write_mini_mtat (tones + noise)"


# --------------------------------------------------------------------------- timing and output


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def fmt(x: float, digits: int = 3) -> str:
    """A number with ``digits`` significant digits (no exponent for everyday magnitudes)."""
    if x == 0 or not (x == x):
        return str(x)
    mag = len(str(int(abs(x)))) if abs(x) >= 1 else 0
    return f"{x:.{max(0, digits - mag)}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def write_section(title: str, body: str, path: Path = RESULTS) -> None:
    """Replace (or append) the ``## title`` section of the results file, leaving others alone."""
    heading = f"## {title}"
    text = path.read_text(encoding="utf-8") if path.exists() else RESULTS_HEADER
    section = f"{heading}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^{re.escape(heading)}[ \t]*\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    print(f"wrote section {heading!r} of {path}")


def load_warning(notes: Sequence[str]) -> str:
    """A caveat for a section whose measurements ran on a busy machine ('' when all quiet)."""
    busy = sum("NOT quiet" in n for n in notes)
    if not busy:
        return ""
    return (
        f"**Caveat: {busy} of {len(notes)} measurements ran while other processes kept the CPUs "
        "busy (no quiet window came); those figures are lower bounds for this machine, and "
        "ratios between rows measured under similar load are more telling than the rates.**"
    )
