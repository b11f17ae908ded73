"""Tags: MTAT's 188 tag names and real counts, the concept -> tag emission table calibrated to
the real frequencies, and sampling a corpus's labels from it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from autotag.data.synthetic.genres import GENRES, PACES
from autotag.data.synthetic.plan import ClipPlan, plan_clips

REAL_N_CLIPS = 25_863
REAL_TOP50_PER_CLIP = 2.70
REAL_NO_TOP50 = 0.18
REF_DROP = 0.2  # the emission calibration assumes this share of true labels gets dropped


def _resource_text(name: str) -> str:
    return resources.files("autotag.data.resources").joinpath(name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def tag_names() -> tuple[str, ...]:
    """The 188 MTAT tags in alphabetical order (the column order of annotations_final.csv)."""
    return tuple(
        line.strip() for line in _resource_text("tags188.txt").splitlines() if line.strip()
    )


@lru_cache(maxsize=1)
def real_tag_counts() -> dict[str, int]:
    """Number of clips carrying each tag in the real MTAT (25,863 clips)."""
    rows = [line.split("\t") for line in _resource_text("tag_counts.tsv").splitlines()[1:]]
    return {tag: int(count) for tag, count in rows if tag}


def top50_tags() -> list[str]:
    """The 50 most frequent tags: descending count, ties in column (alphabetical) order."""
    counts = real_tag_counts()
    return sorted(tag_names(), key=lambda tag: -counts[tag])[:50]


# fmt: off
# Tags each source emits (base probabilities, rescaled per tag by the calibration); a featured
# source (mixed 6 dB louder) emits with FEATURED_GAIN x its base probability, others BACKGROUND.
SOURCE_TAGS: dict[str, dict[str, float]] = {
    "strings": {"strings": 0.8, "violin": 0.3, "violins": 0.2, "string": 0.1, "orchestra": 0.1},
    "violin": {"violin": 0.8, "strings": 0.4, "violins": 0.15, "fiddle": 0.05},
    "cello": {"cello": 0.8, "strings": 0.35, "viola": 0.02},
    "piano": {"piano": 0.85, "keyboard": 0.03},
    "harpsichord": {"harpsichord": 0.85, "harpsicord": 0.25},
    "harp": {"harp": 0.85},
    "flute": {"flute": 0.85, "flutes": 0.08, "wind": 0.05, "woodwind": 0.03},
    "guitar": {"guitar": 0.85, "acoustic": 0.06, "acoustic guitar": 0.03, "guitars": 0.02},
    "dist_guitar": {"guitar": 0.8, "electric guitar": 0.06, "electric": 0.05, "hard": 0.03},
    "metal_guitar": {"guitar": 0.6, "heavy": 0.2, "hard": 0.1},
    "banjo": {"banjo": 0.6, "guitar": 0.3},
    "sitar": {"sitar": 0.85, "indian": 0.3},
    "tanpura": {"indian": 0.2, "drone": 0.05},
    "tabla": {"percussion": 0.1, "indian": 0.2, "bongos": 0.05},
    "pad": {"synth": 0.12, "spacey": 0.08, "synthesizer": 0.05},
    "synth": {"synth": 0.8, "synthesizer": 0.05, "electronic": 0.15},
    "acid": {"synth": 0.15},
    "bass": {"bass": 0.15},
    "drums": {"drums": 0.75, "drum": 0.15},
    "beat": {"beat": 0.8, "beats": 0.3, "drums": 0.1, "fast beat": 0.03},
    "breakbeat": {"beat": 0.6, "beats": 0.35, "drums": 0.15},
    "voice_male": {
        "male": 0.8, "man": 0.5, "male vocal": 0.7, "male voice": 0.45, "male vocals": 0.3,
        "male singer": 0.15, "man singing": 0.1, "vocal": 0.06, "vocals": 0.06, "singing": 0.06,
        "voice": 0.04,
    },
    "voice_female": {
        "female": 0.85, "woman": 0.7, "female vocal": 0.45, "female voice": 0.35,
        "female vocals": 0.3, "female singer": 0.1, "woman singing": 0.1, "vocal": 0.06,
        "vocals": 0.06, "singing": 0.06, "voice": 0.04,
    },
    "opera_female": {"female": 0.15, "woman": 0.1, "female opera": 0.2, "soprano": 0.05},
    "opera_male": {"male": 0.15, "man": 0.1, "male opera": 0.2},
    "choir": {"choir": 0.85, "choral": 0.6, "chorus": 0.2, "voices": 0.2, "chant": 0.1},
    "lead": {"no vocals": 0.75, "no vocal": 0.65, "no voice": 0.4, "instrumental": 0.25},
    "fx": {"weird": 0.85, "strange": 0.15, "noise": 0.15, "different": 0.1, "eerie": 0.05},
    "bells": {"bells": 0.5, "chimes": 0.3},
    "percussion": {"percussion": 0.4, "bongos": 0.1, "tribal": 0.2},
    "drone": {"drone": 0.2, "dark": 0.1},
    "nature": {"water": 0.3, "birds": 0.3},
    "horns": {"horns": 0.2, "horn": 0.15, "trumpet": 0.05},
}
# fmt: on


FEATURED_GAIN = 1.25
BACKGROUND_GAIN = 0.7
OTHER_TAGS: dict[str, dict[str, float]] = {
    "p:slow": {"slow": 0.85, "calm": 0.05, "mellow": 0.04, "sad": 0.03},
    "p:fast": {"fast": 0.85, "upbeat": 0.05, "quick": 0.02},
    "d:loud": {"loud": 0.85, "hard": 0.05},
    "d:quiet": {"quiet": 0.6, "soft": 0.55, "calm": 0.1, "light": 0.05},
    "solo": {"solo": 0.85},
    "vocal_focus": {"vocal": 0.8, "vocals": 0.55, "singing": 0.55, "voice": 0.3, "singer": 0.05},
}


def clip_concepts(plan: ClipPlan) -> list[str]:
    """Concepts present in a clip: genre, sources (featured or not), pace, dynamics, flags."""
    concepts = ["any", f"g:{plan.genre}", f"p:{plan.pace}", f"d:{plan.dynamics}"]
    concepts += [("f:" if s == plan.featured else "s:") + s for s in plan.sources]
    if plan.solo:
        concepts.append("solo")
    if plan.featured in ("voice_male", "voice_female"):
        concepts.append("vocal_focus")
    return concepts


def _base_emissions() -> dict[str, dict[str, float]]:
    """Concept -> {tag: base probability}, before calibration."""
    table: dict[str, dict[str, float]] = {f"g:{g}": dict(spec.tags) for g, spec in GENRES.items()}
    for src, tags in SOURCE_TAGS.items():
        table[f"s:{src}"] = {t: p * BACKGROUND_GAIN for t, p in tags.items()}
        table[f"f:{src}"] = {t: min(0.97, p * FEATURED_GAIN) for t, p in tags.items()}
    table.update({c: dict(tags) for c, tags in OTHER_TAGS.items()})
    for c in [f"p:{p}" for p in PACES] + [f"d:{d}" for d in ("loud", "normal", "quiet")]:
        table.setdefault(c, {})
    linked = {t for tags in table.values() for t in tags}
    counts = real_tag_counts()
    table["any"] = {
        t: counts[t] / REAL_N_CLIPS / (1 - REF_DROP) for t in tag_names() if t not in linked
    }
    return table


@dataclass(frozen=True)
class Emissions:
    """Calibrated emission probabilities: ``matrix[concept_index, tag_index]``."""

    concepts: tuple[str, ...]
    matrix: np.ndarray

    def probabilities(self, concepts: Iterable[str], attention: float = 1.0) -> np.ndarray:
        """P(true tag) for a clip with these concepts (noisy-OR), times the clip's attention."""
        rows = [self.concepts.index(c) for c in concepts if c in self.concepts]
        return attention * (1.0 - np.prod(1.0 - self.matrix[rows], axis=0))


@lru_cache(maxsize=1)
def emissions() -> Emissions:
    """Rescale each tag's emission probabilities so true frequencies match real MTAT / 0.8."""
    base = _base_emissions()
    tags = tag_names()
    concepts = tuple(sorted(base))
    col = {t: i for i, t in enumerate(tags)}
    matrix = np.zeros((len(concepts), len(tags)))
    for i, c in enumerate(concepts):
        for t, p in base[c].items():
            matrix[i, col[t]] = p
    # a fixed-seed simulation of clip concept sets, independent of the user's seed
    # 16 folders, as the corpus the calibration stands for (folders only shape the draws)
    plans = plan_clips(12000, np.random.default_rng(20090926), False, "0123456789abcdef", 1.0)
    row = {c: i for i, c in enumerate(concepts)}
    sets: dict[tuple[int, ...], float] = {}  # concept set -> summed attention
    for plan in plans:
        key = tuple(sorted(row[c] for c in clip_concepts(plan)))
        sets[key] = sets.get(key, 0.0) + plan.attention
    presence = np.zeros((len(sets), len(concepts)))
    for i, key in enumerate(sets):
        presence[i, list(key)] = 1.0
    weight = np.array(list(sets.values()), float) / len(plans)
    counts = real_tag_counts()
    target = np.array([counts[t] / REAL_N_CLIPS / (1 - REF_DROP) for t in tags])
    scale = np.ones(len(tags))
    for _ in range(15):  # multiplicative fixed point: frequency is about proportional to scale
        q = np.minimum(matrix * scale, 0.97)
        freq = weight @ (1.0 - np.exp(presence @ np.log1p(-q)))
        scale = np.clip(scale * target / np.maximum(freq, 1e-9), 1e-3, 100.0)
    return Emissions(concepts, np.minimum(matrix * scale, 0.97))


def sample_labels(plans: list[ClipPlan], seed: int, label_drop: float) -> np.ndarray:
    """0/1 labels (clips x 188 tags): noisy-OR emission from each clip's concepts, then a random
    ``label_drop`` share dropped (the kept labels are a subset of the ``label_drop=0`` ones)."""
    em = emissions()
    rng = np.random.default_rng([seed, 3])
    labels = np.zeros((len(plans), len(tag_names())), np.uint8)
    for i, plan in enumerate(plans):
        p = em.probabilities(clip_concepts(plan), plan.attention)
        true = rng.random(p.shape) < p
        kept = rng.random(p.shape) >= label_drop
        labels[i] = true & kept
    return labels


def tag_statistics(labels: np.ndarray, n_clips: int) -> dict:
    """Top-50 label statistics of a label matrix next to the real MTAT numbers (scaled)."""
    names = tag_names()
    top = top50_tags()
    cols = [names.index(t) for t in top]
    sub = labels[:, cols]
    counts = real_tag_counts()
    observed = sub.sum(axis=0)
    expected = np.array([counts[t] * n_clips / REAL_N_CLIPS for t in top])
    return {
        "mean_top50_per_clip": float(sub.sum(axis=1).mean()),
        "frac_no_top50": float((sub.sum(axis=1) == 0).mean()),
        "mean_tags_per_clip": float(labels.sum(axis=1).mean()),
        "freq_correlation": float(np.corrcoef(observed, expected)[0, 1]),
        "top50": {
            t: [int(o), round(float(e), 1)] for t, o, e in zip(top, observed, expected, strict=True)
        },
    }
