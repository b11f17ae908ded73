"""The approximate song index (autotag/inference/ann.py, Voyager HNSW) at catalogue scale.

    .venv/bin/python bench/ann.py [--n 1000000] [--ef 50 100 200 400] [--m 16] [--max-wait 600]

Synthetic embeddings of the musicnn MSD_musicnn penultimate layer's dimension (200, what
``autotag embed`` writes with that model), two kinds:

- ``random``: i.i.d. Gaussian vectors, the worst case for any ANN index (no structure; the true
  neighbours are barely nearer than the rest);
- ``clusters``: a mixture of n/100 Gaussian clusters (noise as large as the spread of the
  centres), closer to a real catalogue, where songs group by genre, artist, album.

For each kind: build time (``autotag index build``'s path, all usable cores), the index's memory
(resident growth) and the build's peak over the vectors already in memory, the file's size and
load time; then for each ef: recall@10 against exact cosine search on 1,000 held-out queries,
single-query latency p50/p99 on one core (``AnnIndex.search``, one query at a time) and batched
queries per second on all usable cores. Goal: recall@10 >= 0.95 with p99 <= 5 ms on 2 cores.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from common import fmt, load_warning, machine_table, table, wait_for_quiet, write_section

from autotag.common.worker import usable_cores
from autotag.inference.ann import DEFAULT_EF_CONSTRUCTION, DEFAULT_M, build, load
from autotag.inference.embed import Index

SECTION = "Approximate song index: Voyager HNSW (bench/ann.py)"
DIM = 200  # Tagger.load("musicnn:MSD_musicnn").embedding_dim (penultimate layer)
N_QUERIES, K = 1000, 10


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


class PeakRss:
    """Peak resident memory (MB) while the block runs, sampled every 20 ms."""

    def __enter__(self) -> PeakRss:
        self.base = self.peak = rss_mb()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._poll, daemon=True)
        self._t.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, rss_mb())
        self.after = rss_mb()


def make_data(kind: str, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n + N_QUERIES, DIM), dtype=np.float32)
    if kind == "clusters":
        centres = rng.standard_normal((max(10, n // 100), DIM), dtype=np.float32)
        x += centres[rng.integers(0, len(centres), len(x))]
    return x


def exact_top(data: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Rows of the K most cosine-similar songs of each query (numpy, in blocks)."""
    d = data / np.linalg.norm(data, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    out = []
    for i in range(0, len(q), 50):
        s = q[i : i + 50] @ d.T
        top = np.argpartition(-s, K, axis=1)[:, :K]
        order = np.argsort(-np.take_along_axis(s, top, 1), axis=1)
        out.append(np.take_along_axis(top, order, 1))
    return np.concatenate(out)


def as_index(data: np.ndarray) -> Index:
    n = len(data)
    names = [f"song{i:07d}" for i in range(n)]
    attrs = {"model_sha256": "0" * 64, "model_name": "musicnn:MSD_musicnn", "embedding_dim": DIM}
    attrs |= {"hop_seconds": 3.0, "agg": "mean", "embedding_layer": "penultimate"}
    return Index(
        Path("synthetic.h5"), data, np.zeros((n, 1), np.float32), [f"/m/{s}" for s in names],
        names, np.zeros(n, np.float32), ["tag"], np.zeros(1, np.float32), attrs,
    )  # fmt: skip


def run_kind(
    kind: str, n: int, m: int, efs: list[int], max_wait: float, notes: list[str]
) -> list[list]:
    x = make_data(kind, n)
    data, queries = x[:n], x[n:]
    t0 = time.perf_counter()
    truth = exact_top(data, queries)
    print(f"[{kind}] exact search of {N_QUERIES} queries: {time.perf_counter() - t0:.1f} s")
    emb = as_index(data)
    notes.append(wait_for_quiet(max_wait=max_wait))
    with PeakRss() as mem:
        t0 = time.perf_counter()
        ann = build(emb, m=m, threads=usable_cores())
        build_s = time.perf_counter() - t0
    print(f"[{kind}] build {build_s:.1f} s, +{mem.after - mem.base:.0f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "songs.ann"
        ann.save(path)
        size = path.stat().st_size / 2**20
        del ann
        t0 = time.perf_counter()
        ann = load(path)
        load_s = time.perf_counter() - t0
    rows = []
    for ef in efs:
        notes.append(wait_for_quiet(max_wait=max_wait))
        lat, found = [], []
        for q in queries:
            t = time.perf_counter()
            found.append([r for r, _ in ann.search(q, K, ef)])
            lat.append(time.perf_counter() - t)
        recall = np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth.tolist())])
        t = time.perf_counter()
        ann.index.query(queries, k=K, query_ef=ef, num_threads=usable_cores())
        qps = N_QUERIES / (time.perf_counter() - t)
        p50, p99 = (float(np.percentile(lat, p)) * 1e3 for p in (50, 99))
        print(f"[{kind}] ef={ef}: recall@10 {recall:.3f}, p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
              f"{qps:.0f} q/s batched")  # fmt: skip
        rows.append([
            kind, ef, f"{recall:.3f}", fmt(p50), fmt(p99), fmt(qps), fmt(build_s),
            fmt(mem.after - mem.base), fmt(mem.peak - mem.base), fmt(size), fmt(load_s),
        ])  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="songs indexed (default: 1,000,000)")
    ap.add_argument("--ef", type=int, nargs="+", default=[50, 100, 200, 400])
    ap.add_argument("--m", type=int, default=DEFAULT_M, help=f"graph links per song ({DEFAULT_M})")
    ap.add_argument("--kinds", nargs="+", default=["clusters", "random"])
    ap.add_argument("--max-wait", type=float, default=600.0, help="seconds to wait for quiet")
    args = ap.parse_args()
    notes: list[str] = []
    rows = []
    for kind in args.kinds:
        rows += run_kind(kind, args.n, args.m, args.ef, args.max_wait, notes)
    header = ["data", "ef", "recall@10", "p50 ms", "p99 ms", "batched q/s", "build s",
              "index MB", "build peak MB", "file MB", "load s"]  # fmt: skip
    body = "\n\n".join(
        [
            machine_table({"voyager": version("voyager")}),
            f"{args.n:,} songs of {DIM}-d embeddings (the musicnn MSD penultimate layer's "
            f"dimension), cosine, M={args.m}, ef_construction={DEFAULT_EF_CONSTRUCTION}; "
            f"recall@10 against exact numpy search on {N_QUERIES} held-out queries. `clusters`: "
            "a mixture of n/100 Gaussian clusters (noise as wide as the centres' spread; closer "
            "to a catalogue); `random`: i.i.d. Gaussian (the worst case, no structure). p50/p99: "
            "one query at a time on one core (`AnnIndex.search`); batched: all queries in one "
            f"call on {usable_cores()} cores. Build on {usable_cores()} cores; index MB: resident "
            "growth; build peak MB: above the vectors already in memory. Goal: recall@10 >= 0.95 "
            "with p99 <= 5 ms.",
            table(header, rows),
            "Load: " + "; ".join(sorted(set(notes))),
            load_warning(notes),
        ]
    )
    write_section(SECTION, body)


if __name__ == "__main__":
    main()
