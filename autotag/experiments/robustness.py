"""A sweep's rows under ``autotag robustness``'s conditions (``sweep.robustness``).

Every finished network run's tagger is scored on its store's test split under each condition,
and its report written into the run's ``robustness/`` folder as ``autotag robustness --run``
writes it (with each condition's clip scores in its ``predictions.npz``). Runs that score the
same clips are scored together: each file is decoded and perturbed once for all of them (the
phase vocoder is the dear part). A run whose folder holds the conditions already, newer than
its tagger, is not scored again.

The report then gives, per configuration and condition, the mean ± sd of test macro ROC-AUC over
the seeds, and the configuration's difference from the reference row: the mean over the seeds
both ran of (row − reference, same seed, same clips), with its paired-bootstrap interval over
the data set's units (:func:`autotag.training.bootstrap.mean_paired_difference`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from autotag.common.console import progress
from autotag.common.metrics import macro_scores
from autotag.experiments.aggregate import GROUP_KEYS, matches, one_per_seed
from autotag.experiments.compare import CompareError, aligned, load_predictions, shared_unit
from autotag.inference.perturb import DEFAULT_CONDITIONS, parse_conditions
from autotag.inference.robustness import (
    ConditionScores,
    EvalClips,
    clips_digest,
    load_test_clips,
    score_conditions,
)
from autotag.inference.robustness_report import saved_scores, write_report
from autotag.inference.tagger import Tagger, TaggerError
from autotag.runs.folder import RunFileError, RunFolder
from autotag.runs.results import store_of
from autotag.training.bootstrap import mean_paired_difference, unit_of

log = logging.getLogger(__name__)


def condition_names(spec: str | Iterable[str] | None) -> list[str]:
    """``sweep.robustness`` as condition names, clean first: ``default`` (robustness's default
    conditions), a comma list or a list; None or empty: none. A bad name is a ValueError."""
    if not spec:
        return []
    if spec == "default":
        spec = DEFAULT_CONDITIONS
    try:
        return [c.name for c in parse_conditions(spec)]
    except ValueError as e:
        raise ValueError(f"sweep.robustness: {e}") from None


def score_runs(rows: list[dict[str, Any]], sweep_dir: Path, conditions: list[str]) -> set[Path]:
    """Score every finished network run of ``rows`` under the ``conditions`` its
    ``robustness/`` folder lacks for its tagger and test clips (see the module), merged with
    those it holds; returns the run folders that now hold all of them. A run (or a group) that
    cannot be scored is logged and left out."""
    done: set[Path] = set()
    groups: dict[tuple, tuple[EvalClips, list[tuple[Path, Tagger, dict]]]] = {}
    for r in rows:
        run = RunFolder(sweep_dir / r["job"])
        if r["status"] != "finished" or not run.tagger.is_file():
            continue
        try:
            tagger = Tagger.load(run.tagger)
            clips = load_test_clips(store_of(run.root), tagger.tag_names, None, tagger.data_config)
        except (RunFileError, TaggerError, ValueError, OSError) as e:
            log.warning("%s: not scored under the robustness conditions (%s)", run.root, e)
            continue
        have_ids, have = saved_scores(run.robustness, tagger.sha256, clips)
        missing = tuple(c for c in conditions if c not in have)
        if not missing:
            done.add(run.root)
            continue
        key = (clips_digest(clips), tuple(clips.paths), missing, tagger.sample_rate)
        groups.setdefault(key, (clips, []))[1].append((run.root, tagger, (have_ids, have)))
    for (*_, missing, _sr), (clips, runs) in groups.items():
        log.info("robustness: %d runs x %d test clips x %d conditions", len(runs),
                 len(clips.paths), len(parse_conditions(missing)))  # fmt: skip
        try:
            with progress(len(clips.paths), "robustness", "clip") as bar:
                scored = score_conditions([t for _, t, _ in runs], clips, missing,
                                          on_clip=lambda: bar.update(1), on_error=log.warning)  # fmt: skip
        except ValueError as e:  # a condition that cannot run at the taggers' sample rate
            log.warning("%d runs not scored under the robustness conditions (%s)", len(runs), e)
            continue
        failed = len(clips.paths) - len(scored[0].clips.paths)
        if failed == len(clips.paths):  # nothing to save: tried again next time
            log.warning("%d runs not scored: none of their %d test files could be processed",
                        len(runs), failed)  # fmt: skip
            continue
        if failed:  # the same files for every run of the group: they stay comparable
            log.warning("%d of %d test files could not be processed; %d runs are scored on the "
                        "rest", failed, len(clips.paths), len(runs))  # fmt: skip
        for (root, _, (have_ids, have)), new in zip(runs, scored):
            if have and not np.array_equal(have_ids, new.clips.clip_ids):
                have = {}  # saved on other decoded clips: only the new conditions are kept
            names = [c.name for c in parse_conditions([*have, *new.probs])]  # clean first
            probs = {**have, **new.probs}
            merged = ConditionScores(new.tag_names, new.clips, {c: probs[c] for c in names},
                                     new.tagger_sha256, new.asked)  # fmt: skip
            write_report(merged.rows(), RunFolder(root).robustness,
                         f"Robustness of {root.name} on its test split", merged)  # fmt: skip
            if set(conditions) <= set(probs):
                done.add(root)
    return done


def summarize(
    rows: list[dict[str, Any]],
    sweep_dir: Path,
    conditions: list[str],
    reference: str | None,
    bootstrap: Mapping[str, Any],
    scored: set[Path],
) -> list[dict[str, Any]]:
    """One entry per configuration and condition (see the module), over the runs ``scored``
    (:func:`score_runs`'s): ``config`` (its label),
    ``condition``, ``n_seeds``, ``roc_auc_mean``/``_sd``, and against the reference
    ``ref_diff``, ``ref_lo``, ``ref_hi``, ``ref_seeds``, ``ref_unit`` (None where none)."""
    configs: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        if r["status"] == "finished" and sweep_dir / r["job"] in scored:
            configs.setdefault(tuple(r[k] for k in GROUP_KEYS), []).append(r)
    labels = _labels(list(configs))
    ref_key = _reference(configs, reference)
    out = []
    for cond in conditions:
        preds = {
            key: {r["seed"]: _read(sweep_dir / r["job"], cond) for r in one_per_seed(members)}
            for key, members in configs.items()
        }
        for key, by_seed in preds.items():
            found = {s: p for s, p in by_seed.items() if p is not None}
            roc = [float(macro_scores(p.scores, p.labels)[0]) for p in found.values()]
            entry = {
                "config": labels[key], "condition": cond, "n_seeds": len(roc),
                "roc_auc_mean": float(np.mean(roc)) if roc else None,
                "roc_auc_sd": float(np.std(roc, ddof=1)) if len(roc) > 1 else None,
                "is_reference": key == ref_key,
            }  # fmt: skip
            if ref_key is not None and key != ref_key:
                entry.update(_against(preds[ref_key], found, bootstrap))
            out.append(entry)
    return out


def _read(job: Path, condition: str) -> Any:
    try:
        return load_predictions(RunFolder(job).robustness, condition)
    except CompareError as e:
        log.warning("%s", e)
        return None


def _labels(keys: list[tuple]) -> dict[tuple, str]:
    """Each configuration named by the keys in which the configurations differ."""
    varying = [i for i in range(len(GROUP_KEYS)) if len({k[i] for k in keys}) > 1]
    return {
        k: " ".join(str(k[i]) if GROUP_KEYS[i] == "other" else f"{GROUP_KEYS[i]}={k[i]}"
                    for i in varying) or "all"
        for k in keys
    }  # fmt: skip


def _reference(configs: dict[tuple, list[dict[str, Any]]], spec: str | None) -> tuple | None:
    if not spec:
        return None
    found = [k for k, members in configs.items() if all(matches(r, spec) for r in members)]
    if len(found) != 1:
        log.warning("sweep.reference=%r matches %d configurations of scored runs (baselines, "
                    "without a tagger.pt, are not scored): no robustness comparison",
                    spec, len(found))  # fmt: skip
        return None
    return found[0]


def _against(ref: dict[Any, Any], row: dict[Any, Any], bootstrap: Mapping[str, Any]) -> dict:
    """The row's seed-averaged difference from the reference, over the seeds both have."""
    seeds = [s for s in row if ref.get(s) is not None]
    if not seeds:
        return {}
    try:
        a0 = ref[seeds[0]]
        pairs = []
        for s in seeds:
            a, b = ref[s], row[s]
            order_a, order_b = aligned(a0, a), aligned(a0, b)
            shared_unit(a0, b, order_b, bootstrap["cluster"])
            pairs.append((a.scores[order_a], b.scores[order_b]))
    except CompareError as e:
        log.warning("no robustness comparison with the reference (%s)", e)
        return {}
    unit = unit_of(a0.units, bootstrap["cluster"])
    res = mean_paired_difference(pairs, a0.labels, bootstrap["n_resamples"], bootstrap["seed"],
                                 a0.units.get(unit), unit)  # fmt: skip
    lo, hi = res["roc_auc"]["interval"]
    ahead = sum(d > 0 for d in res["roc_auc"]["pairs"])
    return {"ref_diff": res["roc_auc"]["difference"], "ref_lo": lo, "ref_hi": hi,
            "ref_seeds": len(seeds), "ref_ahead": ahead, "ref_unit": unit,
            "ref_n_units": res["n_units"]}  # fmt: skip


# --------------------------------------------------------------------------- report

SUMMARY_COLUMNS = ("config", "condition", "n_seeds", "roc_auc_mean", "roc_auc_sd", "ref_diff",
                   "ref_lo", "ref_hi", "ref_seeds", "ref_ahead", "ref_unit", "ref_n_units")  # fmt: skip


def markdown_section(summary: list[dict[str, Any]], reference: str | None) -> str:
    """Two tables, a row per condition and a column per configuration: the mean ± sd of test
    macro ROC-AUC over seeds, and (with a reference) each configuration minus the reference."""
    head = "## Under `autotag robustness`'s conditions\n\n"
    if not summary:
        return head + "No run was scored (only finished runs with a tagger.pt are; see the log).\n"
    configs = list(dict.fromkeys(e["config"] for e in summary))
    conds = list(dict.fromkeys(e["condition"] for e in summary))
    cell = {(e["config"], e["condition"]): e for e in summary}
    ref = {e["config"] for e in summary if e["is_reference"]}
    heads = [f"{g} (ref)" if g in ref else g for g in configs]
    seeds = max(e["n_seeds"] for e in summary)
    lines = [
        f"Test macro ROC-AUC, mean ± sd over {seeds} seed(s) (n: where fewer), each run's tagger "
        "on its test split degraded as `autotag robustness` degrades it.", "",
        "| condition | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(configs),
    ]  # fmt: skip
    for c in conds:
        cells = (_mean_sd(cell.get((g, c)), seeds) for g in configs)
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    others = [g for g in configs if any(cell[(g, c)].get("ref_diff") is not None for c in conds)]
    if not others:
        return head + "\n".join(lines) + "\n"
    e0 = next(e for e in summary if e.get("ref_unit"))
    units = "clips" if e0["ref_unit"] == "clip" else f"{e0['ref_n_units']} {e0['ref_unit']}s"
    lines += [
        "", f"Against `{reference}`: the mean over seeds of (row − reference, same seed, same "
        f"clips), its paired-bootstrap 95% interval over {units} (≠ 0 where it excludes 0), and "
        "in how many seeds the row is ahead. The interval is the test data's sampling error for "
        "these trained models only; how far the seeds agree is the last figure (and the sd).",
        "", "| condition | " + " | ".join(others) + " |", "|---|" + "---:|" * len(others),
    ]  # fmt: skip
    for c in conds:
        lines.append(f"| {c} | " + " | ".join(_diff(cell[(g, c)]) for g in others) + " |")
    return head + "\n".join(lines) + "\n"


def _mean_sd(e: dict[str, Any] | None, seeds: int) -> str:
    if not e or e["roc_auc_mean"] is None:
        return "-"
    sd = "" if e["roc_auc_sd"] is None else f" ± {e['roc_auc_sd']:.4f}"
    n = "" if e["n_seeds"] == seeds else f" (n={e['n_seeds']})"
    return f"{e['roc_auc_mean']:.4f}{sd}{n}"


def _diff(e: dict[str, Any]) -> str:
    if e.get("ref_diff") is None:
        return "-"
    lo, hi = e["ref_lo"], e["ref_hi"]
    mark = " ≠ 0" if lo > 0 or hi < 0 else ""
    ahead = f", ahead in {e['ref_ahead']}/{e['ref_seeds']}"
    return f"{e['ref_diff']:+.4f} [{lo:+.4f}, {hi:+.4f}]{mark}{ahead}"


def write_summary(summary: list[dict[str, Any]], sweep_dir: Path, title: str) -> list[Path]:
    """``robustness.csv`` (an entry per configuration and condition) and ``robustness.png``
    (mean ROC-AUC per condition, a line per configuration, ± sd bars) in the sweep folder."""
    import csv

    from autotag.common.figures import pyplot, save_figure

    path = sweep_dir / "robustness.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=SUMMARY_COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(
            {k: ("" if e.get(k) is None else e[k]) for k in SUMMARY_COLUMNS} for e in summary
        )
    if not summary:
        return [path]
    plt = pyplot()
    conds = list(dict.fromkeys(e["condition"] for e in summary))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(conds) + 2), 4))
    for g in dict.fromkeys(e["config"] for e in summary):
        es = [next(e for e in summary if e["config"] == g and e["condition"] == c) for c in conds]
        mean = [np.nan if e["roc_auc_mean"] is None else e["roc_auc_mean"] for e in es]
        sd = [e["roc_auc_sd"] or 0.0 for e in es]
        ax.errorbar(np.arange(len(conds)), mean, yerr=sd, marker="o", ms=4, capsize=3, label=g)
    ax.set_xticks(np.arange(len(conds)), conds, rotation=45, ha="right", fontsize=8)
    ax.set(ylabel="test macro ROC-AUC (mean ± sd over seeds)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return [path, save_figure(fig, sweep_dir / "robustness.png")]
