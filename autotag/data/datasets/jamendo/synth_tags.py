"""The synthetic MTG-Jamendo's tags: genre, instrument and mood/theme tags in Jamendo's spelling,
emitted by the audible concepts of a track's plan (noisy-OR, as in :mod:`autotag.data.synthetic.tags`)
and then weakened by ``label_drop``; the subsets' tag sets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from autotag.data.synthetic.genres import VOICES
from autotag.data.synthetic.plan import ClipPlan
from autotag.data.synthetic.tags import BACKGROUND_GAIN, FEATURED_GAIN, Emissions, clip_concepts

SUBSET_CATEGORIES = {"genre": "genre", "instrument": "instrument", "moodtheme": "mood/theme"}

# fmt: off
# Genre tags each genre emits; a track usually carries two or three (Jamendo's artists tag
# generously). Secondary tags hang on audible sub-concepts in GENRE_COMBOS where possible.
GENRE_TAGS: dict[str, dict[str, float]] = {
    "orchestral": {"classical": 0.75, "orchestral": 0.6, "soundtrack": 0.4},
    "baroque": {"classical": 0.9, "orchestral": 0.1},
    "piano_classical": {"classical": 0.85, "easylistening": 0.1},
    "chamber": {"classical": 0.8, "easylistening": 0.1},
    "opera": {"classical": 0.7, "soundtrack": 0.1},
    "choral": {"choir": 0.7, "classical": 0.5},
    "techno": {"techno": 0.8, "electronic": 0.75},
    "electronic": {"electronic": 0.9, "experimental": 0.15},
    "dance": {"dance": 0.8, "electronic": 0.6, "house": 0.45, "pop": 0.15},
    "ambient": {"ambient": 0.85, "electronic": 0.3, "chillout": 0.3, "soundtrack": 0.15},
    "new_age": {"newage": 0.8, "ambient": 0.35, "easylistening": 0.3, "chillout": 0.2},
    "rock": {"rock": 0.9},
    "metal": {"metal": 0.9, "rock": 0.5},
    "pop": {"pop": 0.9, "easylistening": 0.15},
    "country": {"country": 0.8, "folk": 0.3, "popfolk": 0.15},
    "indian": {"world": 0.8},
    "jazz": {"jazz": 0.85, "easylistening": 0.2},
    "folk": {"folk": 0.85, "popfolk": 0.15},
    "other": {"experimental": 0.4, "world": 0.3},
}
# Concept combinations ("a&b": all parts present) with their own tags: the sound decides them.
GENRE_COMBOS: dict[str, dict[str, float]] = {
    "g:techno&p:fast": {"trance": 0.5},
    "g:techno&src:pad": {"trance": 0.25},
    "g:electronic&p:slow": {"chillout": 0.5},
    "g:electronic&src:fx": {"experimental": 0.5},
    "g:ambient&src:fx": {"experimental": 0.3},
    "g:ambient&k:minor": {"darkambient": 0.35},
    "g:ambient&src:drone": {"darkambient": 0.25, "soundtrack": 0.2},
    "g:rock&d:loud": {"hardrock": 0.5},
    "g:metal&d:loud": {"hardrock": 0.3},
    "g:rock&k:minor": {"alternative": 0.45},
    "g:rock&k:major": {"poprock": 0.3},
    "g:pop&src:guitar": {"indie": 0.35},
    "g:pop&src:drums": {"poprock": 0.2},
    "g:pop&src:synth": {"electropop": 0.55},
    "g:pop&nv": {"instrumentalpop": 0.55},
    "g:dance&src:synth": {"electropop": 0.2},
    "g:jazz&p:slow": {"lounge": 0.55},
    "g:jazz&p:medium": {"lounge": 0.2},
    "g:jazz&p:fast": {"funk": 0.45},
    "g:other&src:bass": {"funk": 0.2},
    "g:indian&src:tabla": {"ethno": 0.3},
    "g:other&src:percussion": {"ethno": 0.25},
    "g:folk&v": {"popfolk": 0.3},
    "g:piano_classical&p:slow": {"easylistening": 0.2},
}
# Instrument tags of each sound source; a featured source (mixed 6 dB louder) emits with
# FEATURED_GAIN x these probabilities, a background one with BACKGROUND_GAIN x.
SOURCE_TAGS: dict[str, dict[str, float]] = {
    "strings": {"strings": 0.85, "violin": 0.15},
    "violin": {"violin": 0.85, "strings": 0.25},
    "cello": {"cello": 0.85, "strings": 0.25},
    "piano": {"piano": 0.9, "keyboard": 0.15},
    "harpsichord": {"keyboard": 0.7},
    "harp": {"harp": 0.85},
    "flute": {"flute": 0.85},
    "guitar": {"acousticguitar": 0.6, "guitar": 0.55},
    "dist_guitar": {"electricguitar": 0.85, "guitar": 0.4},
    "metal_guitar": {"electricguitar": 0.75, "guitar": 0.35},
    "banjo": {"acousticguitar": 0.25, "guitar": 0.2},
    "tabla": {"percussion": 0.4},
    "pad": {"pad": 0.5, "synthesizer": 0.45},
    "synth": {"synthesizer": 0.9, "keyboard": 0.1},
    "acid": {"synthesizer": 0.6},
    "bass": {"bass": 0.85},
    "drums": {"drums": 0.9},
    "beat": {"drummachine": 0.7, "beat": 0.35, "drums": 0.25},
    "breakbeat": {"beat": 0.6, "drums": 0.4, "drummachine": 0.2},
    "voice_male": {"voice": 0.85},
    "voice_female": {"voice": 0.85},
    "opera_male": {"voice": 0.6},
    "opera_female": {"voice": 0.6},
    "choir": {"voice": 0.5},
    "lead": {"organ": 0.6, "keyboard": 0.3},
    "fx": {"computer": 0.5, "sampler": 0.4},
    "bells": {"bell": 0.85},
    "percussion": {"percussion": 0.85},
    "drone": {"pad": 0.15},
    "horns": {"brass": 0.65},
}
# Mood/theme tags of pace, dynamics, mode (minor, major, raga) and a few genres and sources.
MOOD_TAGS: dict[str, dict[str, float]] = {
    "p:fast": {"energetic": 0.5, "fast": 0.25, "happy": 0.1},
    "p:slow": {"slow": 0.3, "relaxing": 0.35, "calm": 0.25},
    "d:loud": {"powerful": 0.4, "energetic": 0.3},
    "d:quiet": {"soft": 0.45, "calm": 0.3, "relaxing": 0.25},
    "k:minor": {"dark": 0.12, "sad": 0.08, "melancholic": 0.08},
    "k:major": {"happy": 0.2},
    "k:minor&p:slow": {"sad": 0.4, "melancholic": 0.35},
    "k:major&p:fast": {"happy": 0.45},
    "k:minor&d:loud": {"dark": 0.45, "epic": 0.2},
    "g:orchestral": {"film": 0.45, "epic": 0.3},
    "g:opera": {"epic": 0.2, "film": 0.1},
    "g:ambient": {"meditative": 0.35, "film": 0.15},
    "g:new_age": {"meditative": 0.4, "relaxing": 0.4},
    "g:choral": {"meditative": 0.2},
    "g:ambient&k:minor": {"dark": 0.3},
    "src:nature": {"nature": 0.85},
    "src:drone": {"dark": 0.3, "meditative": 0.2},
}
# fmt: on


def _prefixed(table: dict[str, dict[str, float]], category: str) -> dict[str, dict[str, float]]:
    return {c: {f"{category}---{t}": p for t, p in tags.items()} for c, tags in table.items()}


def _emission_table() -> dict[str, dict[str, float]]:
    """Concept (or ``a&b`` combination) -> {tag: probability}, tags in Jamendo's spelling."""
    table: dict[str, dict[str, float]] = {}

    def add(part: dict[str, dict[str, float]]) -> None:
        for concept, tags in part.items():
            row = table.setdefault(concept, {})
            for t, p in tags.items():  # two entries for one tag combine as a noisy-OR
                row[t] = 1.0 - (1.0 - row.get(t, 0.0)) * (1.0 - p)

    add(_prefixed({f"g:{g}": tags for g, tags in GENRE_TAGS.items()}, "genre"))
    add(_prefixed(GENRE_COMBOS, "genre"))
    for src, tags in _prefixed(SOURCE_TAGS, "instrument").items():
        add({f"s:{src}": {t: p * BACKGROUND_GAIN for t, p in tags.items()}})
        add({f"f:{src}": {t: min(0.97, p * FEATURED_GAIN) for t, p in tags.items()}})
    add(_prefixed(MOOD_TAGS, "mood/theme"))
    return table


@lru_cache(maxsize=1)
def jamendo_tag_names() -> tuple[str, ...]:
    """Every tag the synthetic Jamendo can emit, sorted (``category---name``)."""
    return tuple(sorted({t for tags in _emission_table().values() for t in tags}))


@lru_cache(maxsize=1)
def jamendo_emissions() -> Emissions:
    """The emission table as a matrix (concepts x :func:`jamendo_tag_names`)."""
    table = _emission_table()
    tags = jamendo_tag_names()
    col = {t: i for i, t in enumerate(tags)}
    concepts = tuple(sorted(table))
    matrix = np.zeros((len(concepts), len(tags)))
    for i, c in enumerate(concepts):
        for t, p in table[c].items():
            matrix[i, col[t]] = p
    return Emissions(concepts, matrix)


def track_concepts(plan: ClipPlan) -> list[str]:
    """A track's concepts: :func:`.tags.clip_concepts`, its mode, every source (featured or
    not), vocals or none, and the combinations of the emission table they satisfy."""
    mode = "raga" if plan.genre == "indian" else "minor" if plan.minor else "major"
    base = set(clip_concepts(plan)) | {f"k:{mode}"} | {f"src:{s}" for s in plan.sources}
    base.add("v" if any(s in VOICES for s in plan.sources) else "nv")
    combos = [c for c in jamendo_emissions().concepts if "&" in c and set(c.split("&")) <= base]
    return sorted(base) + combos


def sample_jamendo_tags(
    plans: Sequence[ClipPlan], seed: int, label_drop: float
) -> list[tuple[str, ...]]:
    """Each track's tags (sorted): noisy-OR emission from its concepts, then ``label_drop`` of
    them dropped. No track is left untagged (Jamendo lists tagged tracks only): an empty one
    keeps its most likely true tag, or its genre's main tag."""
    em = jamendo_emissions()
    names = jamendo_tag_names()
    rng = np.random.default_rng([seed, 23])
    out = []
    for plan in plans:
        p = em.probabilities(track_concepts(plan))
        true = rng.random(p.shape) < p
        kept = true & (rng.random(p.shape) >= label_drop)
        if not kept.any():
            if true.any():
                kept[int(np.argmax(np.where(true, p, -1.0)))] = True
            else:
                main = max(GENRE_TAGS[plan.genre].items(), key=lambda kv: kv[1])[0]
                kept[names.index(f"genre---{main}")] = True
        out.append(tuple(names[i] for i in np.flatnonzero(kept)))
    return out


def top_tags(track_tags: Sequence[tuple[str, ...]], k: int = 50) -> list[str]:
    """The ``k`` most frequent tags of a corpus: descending count, ties by name."""
    counts = Counter(t for tags in track_tags for t in tags)
    return sorted(counts, key=lambda t: (-counts[t], t))[:k]


def category(tag: str) -> str:
    """``genre``, ``instrument`` or ``mood/theme`` of a ``category---name`` tag."""
    return tag.split("---", 1)[0]


def jamendo_subset(tags: tuple[str, ...], subset: str, top50: set[str]) -> tuple[str, ...]:
    """A track's tags within a subset file: ``""`` (all), ``top50tags`` or a category's."""
    if subset == "":
        return tags
    if subset == "top50tags":
        return tuple(t for t in tags if t in top50)
    return tuple(t for t in tags if category(t) == SUBSET_CATEGORIES[subset])
