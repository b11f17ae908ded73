"""The synthetic MTAT twin: the shared generator's clips (:mod:`autotag.data.synthetic`) written in
MTAT's on-disk layout: rendering clips in worker processes, mp3s and CSVs written atomically,
resuming a partial corpus, and summary statistics."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

from autotag.common.files import remove_temps, write_bytes, write_json, write_text
from autotag.data.datasets.mtat.layout import (
    ANNOTATIONS,
    CLIP_INFO,
    CLIP_INFO_COLUMNS,
    FOLDERS,
    FORMAT_VERSION,
    INFO,
)
from autotag.data.datasets.mtat.synth_plan import corpus_plan
from autotag.data.synthetic.names import slug
from autotag.data.synthetic.plan import ClipPlan
from autotag.data.synthetic.render import synthesize
from autotag.data.synthetic.tags import (
    REAL_NO_TOP50,
    REAL_TOP50_PER_CLIP,
    sample_labels,
    tag_names,
    tag_statistics,
)
from autotag.data.synthetic.writers import mp3_bytes, render_all


def _render_task(task: tuple[ClipPlan, str, int, int, int]) -> tuple[int, int]:
    """Worker: render and write one clip atomically unless it exists; returns (index, bytes)."""
    plan, root, n, sr, seed = task
    path = Path(root) / plan.path
    if not path.exists():
        mp3 = mp3_bytes(synthesize(plan, n, sr, seed), sr)
        write_bytes(path, mp3[:1024] if plan.kind == "truncated" else mp3)
    return plan.index, path.stat().st_size


def _write_broken(root: Path, plan: ClipPlan) -> None:
    """The broken entries that are not rendered: empty, text-as-mp3, missing."""
    path = root / plan.path
    if plan.kind == "empty":
        path.write_bytes(b"")
    elif plan.kind == "not_mp3":
        path.write_text("This is not an MP3 file: synthetic MTAT broken entry.\n")
    elif plan.kind == "missing":
        path.unlink(missing_ok=True)


def _write_csv_atomic(path: Path, header: list[str], rows: Iterable[list[str]]) -> None:
    """MTAT's CSV dialect (tab-separated, every field quoted), written atomically."""
    text = io.StringIO(newline="")
    writer = csv.writer(text, delimiter="\t", quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_text(path, text.getvalue())


def _clip_info_rows(plans: list[ClipPlan]) -> list[list[str]]:
    """clip_info_final.csv rows: display names, segment, fake magnatune URLs, path."""
    rows = []
    for p in plans:
        artist, album, title, track, start = p.credits
        short = f"{slug(artist).split('_')[0]}-{slug(album).split('_')[0]}"
        initials = "".join(w[0] for w in artist.replace(".", " ").split()).upper()
        original = f"{track:02d}--{quote(title)}--{initials}.mp3"
        rows.append(
            [
                str(p.clip_id),
                str(track),
                title,
                artist,
                album,
                f"http://www.magnatune.com/artists/albums/{short}/",
                str(start),
                str(start + 29),
                f"http://he3.magnatune.com/all/{original}",
                p.path,
            ]
        )
    return rows


def _params(
    n_clips: int, clip_seconds: float, sample_rate: int, seed: int, label_drop: float, broken: bool
) -> dict:
    """The parameters that identify a corpus (stored in synthetic_info.json)."""
    return {
        "version": FORMAT_VERSION,
        "n_clips": n_clips,
        "clip_seconds": clip_seconds,
        "sample_rate": sample_rate,
        "seed": seed,
        "label_drop": label_drop,
        "broken": broken,
    }


def generate(
    root: str | Path,
    n_clips: int = 1600,
    clip_seconds: float = 29.1,
    sample_rate: int = 16000,
    seed: int = 0,
    label_drop: float = 0.2,
    broken: bool = True,
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Write (or finish) a synthetic MTAT corpus under ``root``; returns summary statistics.

    Re-running with the same arguments skips clips already on disk and rewrites the CSVs; a
    complete corpus with the same parameters returns at once. Another corpus in ``root`` (other
    parameters) raises ``FileExistsError``.
    """
    root = Path(root)
    params = _params(
        n_clips, float(clip_seconds), int(sample_rate), int(seed), float(label_drop), bool(broken)
    )
    info_path = root / INFO
    if info_path.exists():
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if info.get("params") != params:
            raise FileExistsError(
                f"{root} holds a synthetic corpus with other parameters: {info.get('params')}"
            )
        if info.get("complete") and (root / ANNOTATIONS).exists() and (root / CLIP_INFO).exists():
            done = {"skipped": n_clips, "generated": 0, "failed": [], "seconds": 0.0}
            return {**info["summary"], **done}
    t0 = time.perf_counter()
    plans, broken_ids = corpus_plan(n_clips, seed, broken)
    folders = [root / f for f in FOLDERS]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        remove_temps(folder)  # of a killed run
    write_json(info_path, {"params": params, "complete": False}, indent=1, end="\n")
    n = int(round(clip_seconds * sample_rate))
    tasks = [(p, str(root), n, sample_rate, seed) for p in plans if p.kind in ("ok", "truncated")]
    rendered, failed = _run_tasks(tasks, workers, progress)
    for folder in folders:  # a worker stopped with its broken pool (a crash beside it) left one
        remove_temps(folder)
    for p in plans:
        if p.kind not in ("ok", "truncated"):
            _write_broken(root, p)
    labels = sample_labels(plans, seed, label_drop)
    names = list(tag_names())
    if not failed:  # the annotations say "a corpus is here" (has_corpus): only a whole one
        _write_csv_atomic(root / CLIP_INFO, list(CLIP_INFO_COLUMNS), _clip_info_rows(plans))
        rows = ([str(p.clip_id), *map(str, r), p.path] for p, r in zip(plans, labels, strict=True))
        _write_csv_atomic(root / ANNOTATIONS, ["clip_id", *names, "mp3_path"], rows)
    seconds = time.perf_counter() - t0
    size = sum((root / p.path).stat().st_size for p in plans if (root / p.path).exists())
    folders = {f: sum(p.path[0] == f for p in plans) for f in FOLDERS}
    summary = {
        "root": str(root),
        **params,
        "broken_clip_ids": broken_ids,
        "bytes": size,
        "folders": folders,
        **tag_statistics(labels, n_clips),
    }
    # a clip whose worker died is missing: the corpus stays incomplete, a re-run renders it
    done = {"complete": not failed, "broken_clip_ids": broken_ids, "summary": summary}
    write_json(info_path, {"params": params, **done}, indent=1, end="\n")
    return {
        **summary,
        "generated": rendered,
        "failed": failed,
        "skipped": len(tasks) - rendered - len(failed),
        "seconds": seconds,
        "clips_per_s": rendered / seconds if rendered else None,
    }


def _run_tasks(tasks: list, workers: int | None, progress: bool) -> tuple[int, list[int]]:
    """Render all tasks (in a crash-safe process pool unless workers == 1); returns how many
    were rendered and the clip ids whose worker died (those clips are not written)."""
    # absent before this call: a task rerun after a crash beside it may find its clip written
    new = {t[0].index for t in tasks if not (Path(t[1]) / t[0].path).exists()}
    rendered, failed = 0, []
    run = render_all(_render_task, tasks, workers, unit="clip", name=lambda t: t[0].clip_id,
                     desc="synthetic corpus", progress=progress)  # fmt: skip
    for (plan, *_), res in run:
        if res is None:
            failed.append(plan.clip_id)
        else:
            rendered += plan.index in new
    return rendered, sorted(failed)


def format_summary(summary: dict) -> str:
    """Human-readable report of :func:`generate`'s summary."""
    s = summary
    mb = s["bytes"] / 1e6
    lines = [
        f"synthetic MTAT at {s['root']}: {s['n_clips']} clips of {s['clip_seconds']} s "
        f"at {s['sample_rate']} Hz, seed {s['seed']}",
    ]
    if s.get("generated"):
        lines.append(
            f"rendered {s['generated']} clips in {s['seconds']:.1f} s "
            f"({s['clips_per_s']:.2f} clips/s), skipped {s['skipped']} already on disk"
        )
    if s.get("failed"):
        lines.append(f"not written, their worker died (run again): clip ids {s['failed']}")
    lines += [
        f"size on disk: {mb:.1f} MB ({mb / s['n_clips'] * 1000:.0f} MB per 1000 clips)",
        f"broken entries (clip ids): {s['broken_clip_ids']}",
        "clips per folder: " + " ".join(f"{f}:{c}" for f, c in s["folders"].items()),
        f"top-50 labels per clip: {s['mean_top50_per_clip']:.2f} "
        f"(real {REAL_TOP50_PER_CLIP:.2f}); clips without a top-50 tag: "
        f"{100 * s['frac_no_top50']:.1f}% (real ~{100 * REAL_NO_TOP50:.0f}%)",
        f"all tags per clip: {s['mean_tags_per_clip']:.2f}; correlation of top-50 counts with "
        f"the real ones (scaled): {s['freq_correlation']:.3f}",
    ]
    lines.append(f"{'tag':<14}{'clips':>7}{'expected':>10}")
    for tag, (obs, exp) in summary["top50"].items():
        lines.append(f"{tag:<14}{obs:>7}{exp:>10.1f}")
    return "\n".join(lines)
