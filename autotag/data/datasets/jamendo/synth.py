"""Synthetic MTG-Jamendo: the concept model's tracks at full length, in MTG-Jamendo's exact
on-disk layout (metadata TSVs, five artist-disjoint splits, ``audio/NN/<id>.mp3``).

Artists have a few albums (mostly of one genre), albums several tracks. A track is rendered as
30-second sections of :func:`autotag.data.synthetic.render.synthesize` (vocals pause and
instruments drop out from section to section, as in the MTAT clips of one track), cross-faded into
one mp3 (:mod:`.synth_audio`); the plan is :mod:`.synth_plan`, the tags :mod:`.synth_tags`. This
module writes the corpus: the TSVs last, ``data/autotagging.tsv`` very last (a root that has it
is complete), the splits and the summary."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

from autotag.common.files import remove_temps, write_bytes, write_json
from autotag.data.datasets.jamendo.layout import (
    AUDIO_DIR,
    CATEGORIES,
    COLUMNS,
    N_SPLITS,
    PARTS,
    SUBSETS,
    metadata_path,
    split_path,
)
from autotag.data.datasets.jamendo.synth_audio import render_tracks
from autotag.data.datasets.jamendo.synth_plan import JAMENDO_BROKEN, JamendoTrack, jamendo_plan
from autotag.data.datasets.jamendo.synth_tags import (
    category,
    jamendo_subset,
    jamendo_tag_names,
    sample_jamendo_tags,
    top_tags,
)

JAMENDO_VERSION = 1
JAMENDO_INFO = "INFO.json"
JAMENDO_HEADER = COLUMNS
JAMENDO_SUBSETS = ("", *(k for k in SUBSETS if k != "all"))  # "" = all tags
JAMENDO_PARTS = PARTS
PART_SHARES = (0.6, 0.2, 0.2)


def subset_file(subset: str, split: int | None = None, part: str = "") -> str:
    """Relative path of a metadata TSV (``subset`` "" = all tags) or of its split part."""
    if split is None:
        return metadata_path(subset or "all")
    return split_path(subset or "all", split, part)


def jamendo_splits(tracks: list[JamendoTrack], seed: int) -> list[dict[int, str]]:
    """Five random artist-disjoint partitions (track id -> part), about 60/20/20 of the tracks:
    artists in a random order, each to the part furthest below its share."""
    size = Counter(t.artist_id for t in tracks)
    artists = sorted(size)
    target = np.array(PART_SHARES) * len(tracks)
    splits = []
    for s in range(N_SPLITS):
        rng = np.random.default_rng([seed, 30, s])
        load = np.zeros(len(JAMENDO_PARTS))
        part_of = {}
        for i in rng.permutation(len(artists)):
            part = int(np.argmax((target - load) / target))  # the first three fill one part each
            part_of[artists[i]] = JAMENDO_PARTS[part]
            load[part] += size[artists[i]]
        splits.append({t.track_id: part_of[t.artist_id] for t in tracks})
    return splits


def _write_tsv_atomic(path: Path, rows: list[list[str]]) -> None:
    """MTG-Jamendo's TSV dialect: the header, tab-separated, never quoted, CRLF line ends (as in
    the published files), written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(JAMENDO_HEADER), *("\t".join(r) for r in rows)]
    write_bytes(path, ("\r\n".join(lines) + "\r\n").encode("utf-8"))


def _metadata_files() -> list[str]:
    """Every metadata TSV, ``data/autotagging.tsv`` (written last) last."""
    files = [
        subset_file(sub, s, part)
        for s in range(N_SPLITS)
        for sub in JAMENDO_SUBSETS
        for part in JAMENDO_PARTS
    ]
    return files + [subset_file(sub) for sub in JAMENDO_SUBSETS[1:]] + [subset_file("")]


def _params(
    n_tracks: int,
    min_seconds: float,
    max_seconds: float,
    sample_rate: int,
    seed: int,
    label_drop: float,
    broken: bool,
) -> dict:
    """The arguments that identify a corpus (stored in INFO.json)."""
    return {
        "version": JAMENDO_VERSION,
        "n_tracks": int(n_tracks),
        "min_seconds": float(min_seconds),
        "max_seconds": float(max_seconds),
        "sample_rate": int(sample_rate),
        "seed": int(seed),
        "label_drop": float(label_drop),
        "broken": bool(broken),
    }


def generate_jamendo(
    root: str | Path,
    *,
    n_tracks: int = 400,
    min_seconds: float = 40.0,
    max_seconds: float = 300.0,
    seed: int = 0,
    label_drop: float = 0.2,
    broken: bool = True,
    workers: int | None = None,
    sample_rate: int = 16000,
    progress: bool = True,
) -> dict:
    """Write (or finish) a synthetic MTG-Jamendo corpus under ``root``; returns its summary.

    Re-running with the same arguments skips mp3s already on disk and rewrites the TSVs; a
    complete corpus returns at once; a corpus with other arguments raises ``FileExistsError``.
    """
    if n_tracks < 10:
        raise ValueError(f"n_tracks={n_tracks}: at least 10 (three artists per split)")
    if not 1.0 <= min_seconds <= max_seconds:
        raise ValueError(f"need 1 <= min_seconds <= max_seconds, got {min_seconds}, {max_seconds}")
    if not 0.0 <= label_drop < 1.0:
        raise ValueError(f"label_drop={label_drop} is not in [0, 1)")
    root = Path(root)
    params = _params(n_tracks, min_seconds, max_seconds, sample_rate, seed, label_drop, broken)
    info_path = root / JAMENDO_INFO
    files = _metadata_files()
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    if info:
        if info.get("params") != params:
            raise FileExistsError(f"{root} holds a corpus with other arguments: {info['params']}")
    t0 = time.perf_counter()
    tracks = jamendo_plan(n_tracks, min_seconds, max_seconds, seed, broken, sample_rate)
    if info.get("complete"):
        paths = [*files, *(f"audio/{t.path}" for t in tracks)]
        if all((root / p).exists() for p in paths):
            done = {"generated": 0, "failed": [], "skipped": n_tracks, "seconds": 0.0}
            return {**info["summary"], **done}
    (root / subset_file("")).unlink(missing_ok=True)  # incomplete until it is written again
    folders = [root / AUDIO_DIR / f for f in sorted({t.path[:2] for t in tracks})]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        remove_temps(folder)  # of a killed run
    write_json(info_path, {"params": params, "complete": False}, indent=1, end="\n")
    tasks = [(t, str(root), sample_rate, seed) for t in tracks]
    frames, rendered, failed = render_tracks(tasks, workers, progress)
    for folder in folders:  # a worker stopped with its broken pool (a crash beside it) left one
        remove_temps(folder)
    tags = sample_jamendo_tags([t.plan for t in tracks], seed, label_drop)
    top50 = set(top_tags(tags))
    durations = {
        t.track_id: f"{(frames[t.track_id] or 0) / sample_rate:.1f}"
        if t.kind == "ok"
        else f"{t.seconds:.1f}"  # a broken file: the length it should have had
        for t in tracks
    }
    splits = jamendo_splits(tracks, seed)
    rows = {}
    for sub in JAMENDO_SUBSETS:
        rows[sub] = []
        for t, all_tags in zip(tracks, tags):
            kept = jamendo_subset(all_tags, sub, top50)
            if kept:
                rows[sub].append((t.track_id, [*t.ids(), t.path, durations[t.track_id], *kept]))
    for s, part_of in enumerate(splits):
        for sub in JAMENDO_SUBSETS:
            for part in JAMENDO_PARTS:
                chosen = [r for track_id, r in rows[sub] if part_of[track_id] == part]
                _write_tsv_atomic(root / subset_file(sub, s, part), chosen)
    for sub in JAMENDO_SUBSETS[1:]:
        _write_tsv_atomic(root / subset_file(sub), [r for _, r in rows[sub]])
    summary = _summary(root, params, tracks, tags, splits, rows, frames)
    # a track whose worker died is missing: the corpus stays incomplete, a re-run renders it
    done = {"complete": not failed, "broken": summary["broken"], "summary": summary}
    write_json(info_path, {"params": params, **done}, indent=1, end="\n")
    if not failed:
        _write_tsv_atomic(root / subset_file(""), [r for _, r in rows[""]])
    seconds = time.perf_counter() - t0
    return {
        **summary,
        "generated": rendered,
        "failed": failed,
        "skipped": n_tracks - rendered - len(failed),
        "seconds": seconds,
        "tracks_per_s": rendered / seconds if rendered else None,
    }


def _summary(
    root: Path,
    params: dict,
    tracks: list[JamendoTrack],
    tags: list[tuple[str, ...]],
    splits: list[dict[int, str]],
    rows: dict[str, list],
    frames: dict[int, int | None],
) -> dict:
    """Statistics of a written corpus (stored in INFO.json)."""
    counts = Counter(t for ts in tags for t in ts)
    return {
        "root": str(root),
        **params,
        "broken": [
            {"track_id": t.ids()[0], "path": f"audio/{t.path}", "kind": t.kind}
            | {"why": JAMENDO_BROKEN[t.kind]}
            for t in tracks
            if t.kind != "ok"
        ],
        "n_artists": len({t.artist_id for t in tracks}),
        "n_albums": len({t.album_id for t in tracks}),
        "audio_seconds": round(sum(n or 0 for n in frames.values()) / params["sample_rate"], 1),
        "bytes": sum(p.stat().st_size for t in tracks if (p := root / AUDIO_DIR / t.path).exists()),
        "tags_per_track": round(float(np.mean([len(ts) for ts in tags])), 2),
        "tags_per_category": {
            c: sum(category(t) == c for t in jamendo_tag_names() if t in counts) for c in CATEGORIES
        },
        "subset_tracks": {sub or "all": len(rows[sub]) for sub in JAMENDO_SUBSETS},
        "split_tracks": [
            [sum(p == part for p in s.values()) for part in JAMENDO_PARTS] for s in splits
        ],
        "tag_counts": dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def format_jamendo_summary(summary: dict) -> str:
    """Human-readable report of :func:`generate_jamendo`'s summary."""
    s = summary
    hours = s["audio_seconds"] / 3600
    audio = f"{hours:.1f} h" if hours >= 1 else f"{60 * hours:.1f} min"
    lines = [
        f"synthetic MTG-Jamendo at {s['root']}: {s['n_tracks']} tracks of {s['min_seconds']:g}-"
        f"{s['max_seconds']:g} s ({audio} of audio, {s['bytes'] / 1e6:.1f} MB) at "
        f"{s['sample_rate']} Hz, seed {s['seed']}; {s['n_artists']} artists, {s['n_albums']} albums",
    ]
    if s.get("generated"):
        speed = f" ({s['audio_seconds'] / s['seconds']:.0f}x real time)" if not s["skipped"] else ""
        lines.append(
            f"rendered {s['generated']} tracks in {s['seconds']:.1f} s{speed}, "
            f"skipped {s['skipped']} already on disk"
        )
    if s.get("failed"):
        lines.append(f"not written, their worker died (run again): track ids {s['failed']}")
    per_cat = ", ".join(f"{n} {c}" for c, n in s["tags_per_category"].items())
    broken = ", ".join(f"{b['path']} ({b['kind']})" for b in s["broken"]) or "none"
    lines += [
        f"{len(s['tag_counts'])} tags ({per_cat}), {s['tags_per_track']} per track; "
        "subset tracks: " + ", ".join(f"{k} {v}" for k, v in s["subset_tracks"].items()),
        "split sizes (train/validation/test): "
        + "  ".join("/".join(map(str, parts)) for parts in s["split_tracks"]),
        f"broken files: {broken}",
    ]
    for c in CATEGORIES:
        counts = [
            f"{t.split('---')[1]} {n}" for t, n in s["tag_counts"].items() if category(t) == c
        ]
        lines.append(f"{c} tags: " + ", ".join(counts))
    return "\n".join(lines)
