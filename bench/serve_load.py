"""Load on `autotag serve` against `autotag tag` on the same songs, in one run (issue 23).

    .venv/bin/python bench/serve_load.py                 # writes its section of bench/RESULTS.md
    .venv/bin/python bench/serve_load.py --no-write --seconds 20 --soak 30 --rounds 1

Songs: ``--short`` 30 s and ``--long`` 3-minute mp3s (44.1 kHz stereo, as users upload them);
model: the full-width FCN (random weights: speed does not depend on them). Traffic goes to
127.0.0.1 only.

Each round, on a quiet machine: ``Tagger.tag_files`` over the songs (what ``autotag tag`` runs
on a folder: the CPU song pool, model loaded) repeated to about ``--seconds``; then, for each
``--clients`` C, C clients (threads, one keep-alive connection each) uploading the songs in
their own shuffled cycles for ``--seconds`` to one ``autotag serve`` process (default settings):
songs/s, audio seconds/s, p50/p99 latency, errors. Then a soak: ``--soak`` seconds at the first
concurrency, the server's memory (its process and its decoding processes, RSS) sampled every 5 s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from common import machine_table, median, table, wait_for_quiet, write_section
from tag_speed import make_tagger, write_song

from autotag.inference import Tagger
from tests.serve_helpers import start_server  # the tests' way of running the service

SECTION = "Serve under load (bench/serve_load.py)"


def multipart(path: Path) -> tuple[bytes, str]:
    b = secrets.token_hex(16)
    head = (f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
            "Content-Type: audio/mpeg\r\n\r\n").encode()  # fmt: skip
    return (
        head + path.read_bytes() + f"\r\n--{b}--\r\n".encode(),
        f"multipart/form-data; boundary={b}",
    )


def load(port: int, bodies: list, durations: list[float], clients: int, seconds: float) -> dict:
    """``clients`` threads uploading for ``seconds``; each finishes the request it is on."""
    lat: list[float] = []
    audio: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(k: int) -> None:
        order = list(range(len(bodies)))
        random.Random(k).shuffle(order)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        i = 0
        while time.monotonic() < stop_at:
            j = order[i % len(order)]
            i += 1
            body, kind = bodies[j]
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/tag", body, {"Content-Type": kind})
                r = conn.getresponse()
                data = r.read()
                ok = r.status == 200 and "tags" in json.loads(data)
                msg = f"{r.status} {data[:200]!r}"
            except (OSError, http.client.HTTPException) as e:
                ok, msg = False, repr(e)
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            with lock:
                if ok:
                    lat.append(time.perf_counter() - t0)
                    audio.append(durations[j])
                else:
                    errors.append(msg)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ms = np.asarray(lat) * 1000
    return {
        "songs_s": len(lat) / wall,
        "audio_s": sum(audio) / wall,
        "p50": float(np.percentile(ms, 50)) if len(ms) else float("nan"),
        "p99": float(np.percentile(ms, 99)) if len(ms) else float("nan"),
        "n": len(lat),
        "errors": errors,
    }


def tag_rate(tagger: Tagger, songs: list[Path], durations: list[float], seconds: float) -> dict:
    """``Tagger.tag_files`` over the songs repeated to last about ``seconds``."""
    t0 = time.perf_counter()
    n = sum(1 for s in tagger.tag_files(songs) if s.ok)  # one pass to size the run
    once = time.perf_counter() - t0
    reps = max(1, round(seconds / once))
    t0 = time.perf_counter()
    n = sum(1 for s in tagger.tag_files(songs * reps) if s.ok)
    wall = time.perf_counter() - t0
    assert n == len(songs) * reps
    return {"songs_s": n / wall, "audio_s": sum(durations) * reps / wall}


def pss_mb(pid: int) -> float:
    """Memory of a process and its descendants (the forkserver and the decoding slots), MB:
    the proportional set size, so that pages they share (torch's libraries) count once."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
            total += int(re.search(r"^Pss:\s+(\d+)", rollup, re.M).group(1))
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, AttributeError):
            continue
    return total / 1024


def soak(port: int, pid: int, bodies, durations, clients: int, seconds: float) -> dict:
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        t0 = time.monotonic()
        while not done.wait(5.0):
            samples.append((time.monotonic() - t0, pss_mb(pid)))

    sampler = threading.Thread(target=sample)
    sampler.start()
    res = load(port, bodies, durations, clients, seconds)
    done.set()
    sampler.join()
    t, mb = np.array(samples).T
    late = t >= 60  # after the first minute: every code path warmed, the allocator's pools full
    slope = float(np.polyfit(t[late] / 60, mb[late], 1)[0]) if late.sum() > 2 else float("nan")
    res.update(
        pss_1min=float(mb[np.argmin(abs(t - 60))]),
        pss_end=float(mb[-1]),
        pss_max=float(mb.max()),
        pss_first=float(mb[0]),
        slope=slope,
    )
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--short", type=int, default=12, help="30 s songs")
    ap.add_argument("--long", type=int, default=4, help="3-minute songs")
    ap.add_argument("--clients", default="4,8", help="concurrencies, comma-separated")
    ap.add_argument("--seconds", type=float, default=60.0, help="per measurement")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--soak", type=float, default=300.0, help="seconds of the memory soak")
    ap.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md")
    args = ap.parse_args()
    concurrencies = [int(c) for c in args.clients.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    try:
        model = make_tagger(tmp / "tagger.pt")
        songs = [write_song(tmp / f"short_{i:02d}.mp3", 30.0, 44100, 2, seed=i)
                 for i in range(args.short)]  # fmt: skip
        songs += [write_song(tmp / f"long_{i:02d}.mp3", 180.0, 44100, 2, seed=100 + i)
                  for i in range(args.long)]  # fmt: skip
        durations = [30.0] * args.short + [180.0] * args.long
        bodies = [multipart(s) for s in songs]
        tagger = Tagger.load(model)
        proc, url = start_server("-m", model, "--log-level", "warning", log=tmp / "serve.log")
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        load(port, bodies, durations, 2, 5.0)  # warm: the model's first batches
        rates: dict[str, list[dict]] = {"tag": []} | {f"c{c}": [] for c in concurrencies}
        notes = []
        for r in range(args.rounds):
            notes.append(wait_for_quiet(max_wait=120.0))
            rates["tag"].append(tag_rate(tagger, songs, durations, args.seconds))
            for c in concurrencies:
                rates[f"c{c}"].append(load(port, bodies, durations, c, args.seconds))
            print(
                f"round {r}: " + ", ".join(f"{k} {v[-1]['songs_s']:.2f}" for k, v in rates.items())
            )
        notes.append(wait_for_quiet(max_wait=120.0))
        s = soak(port, proc.pid, bodies, durations, concurrencies[0], args.soak)
        proc.terminate()
        code = proc.wait(timeout=120)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    tag = median([x["songs_s"] for x in rates["tag"]])
    tag_audio = median([x["audio_s"] for x in rates["tag"]])
    rows = [["`autotag tag` (`Tagger.tag_files`, song pool)", "-", f"{tag:.2f}",
             f"{tag_audio:.0f}", "1.00", "-", "-", "0"]]  # fmt: skip
    for c in concurrencies:
        xs = rates[f"c{c}"]
        sr = median([x["songs_s"] for x in xs])
        rows.append([f"`autotag serve`, {c} clients", c, f"{sr:.2f}",
                     f"{median([x['audio_s'] for x in xs]):.0f}", f"{sr / tag:.2f}",
                     f"{median([x['p50'] for x in xs]):.0f}", f"{median([x['p99'] for x in xs]):.0f}",
                     sum(len(x["errors"]) for x in xs)])  # fmt: skip
    c0 = concurrencies[0]
    ratio = median([x["songs_s"] for x in rates[f"c{c0}"]]) / tag
    errors = [e for k in rates if k != "tag" for x in rates[k] for e in x["errors"]] + s["errors"]
    body = "\n\n".join(
        [
            f"{args.short} songs of 30 s and {args.long} of 3 min (mp3 44.1 kHz stereo), "
            f"full-width FCN (random weights); one `autotag serve` process with its defaults "
            f"(2 decoding processes, batches of up to 8 songs, 5 ms wait); clients on 127.0.0.1 "
            f"uploading the songs in shuffled cycles for {args.seconds:.0f} s; medians of "
            f"{args.rounds} rounds alternating with `autotag tag` on the same songs in one "
            f"process. **At {c0} clients the service tags {ratio:.2f}× the songs/s of `autotag "
            f"tag` (goal ≥ 0.8), with {len(errors)} errors.**",
            table(
                ["what", "clients", "songs/s", "audio s/s", "× tag", "p50 ms", "p99 ms", "errors"],
                rows,
            ),  # fmt: skip
            f"Soak: {args.soak:.0f} s at {c0} clients, {s['n']} songs ({s['songs_s']:.2f} songs/s), "
            f"{len(s['errors'])} errors. Server memory (its process, the forkserver and the decoding processes: proportional set size): "
            f"{s['pss_first']:.0f} MB at 5 s, {s['pss_1min']:.0f} MB at 1 min, {s['pss_end']:.0f} "
            f"MB at the end, {s['pss_max']:.0f} MB at most; trend after the first minute "
            f"{s['slope']:+.1f} MB/min. SIGTERM afterwards: exit code {code}.",
            machine_table({"load": "; ".join(notes)}),
        ]
    )
    print(body)
    if errors:
        print("errors:", *errors[:10], sep="\n  ")
    if not args.no_write:
        write_section(SECTION, body)


if __name__ == "__main__":
    main()
