"""Synthetic MagnaTagATune: a corpus in MTAT's exact on-disk format whose tags are audible.

MTAT cannot be downloaded everywhere, so this module writes a stand-in that the real MTAT reader
reads unchanged: 16 folders ``0``..``f`` of mono mp3 clips named
``<artist>-<album>-<track>-<title>-<start>-<end>.mp3`` (every album in one folder), plus
``annotations_final.csv`` and ``clip_info_final.csv`` (tab-separated, every field quoted).

Tags come from a latent *concept* model. Every album has a genre; each track of it draws sound
sources (instruments, drums, voices, effects) consistent with the genre, a pace (slow, medium,
fast), dynamics (loud, normal, quiet), maybe a featured source (mixed louder), maybe "solo". Every
concept present in a clip emits tags with tag-specific probabilities (synonyms such as "female",
"woman", "female vocal" share one signature). The probabilities are calibrated so that true tag
frequencies follow the real MTAT counts, then ``label_drop`` of the true labels is dropped
(MTAT's labels are weak: a missing tag is not a false one). Every concept has its own sound, so
every top-50 tag can be learned from a log-mel spectrogram.

    python -m autotag.data.synthetic --root data/synthetic --clips 1600 --seconds 29.1
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from urllib.parse import quote

import numpy as np
import soundfile as sf

FORMAT_VERSION = 1
FOLDERS = "0123456789abcdef"
TRAIN_FOLDERS = FOLDERS[:12]
REAL_N_CLIPS = 25_863
REAL_TOP50_PER_CLIP = 2.70
REAL_NO_TOP50 = 0.18
REF_DROP = 0.2  # the emission calibration assumes this share of true labels gets dropped
ANNOTATIONS = "annotations_final.csv"
CLIP_INFO = "clip_info_final.csv"
INFO = "synthetic_info.json"
CLIP_INFO_COLUMNS = (
    "clip_id",
    "track_number",
    "title",
    "artist",
    "album",
    "url",
    "segmentStart",
    "segmentEnd",
    "original_url",
    "mp3_path",
)
BROKEN_KINDS = ("empty", "truncated", "not_mp3", "missing")


# --------------------------------------------------------------------------- tag resources


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


# --------------------------------------------------------------------------- concept model

PACES = ("slow", "medium", "fast")
BPM = {"slow": (48.0, 66.0), "medium": (86.0, 118.0), "fast": (134.0, 170.0)}
VOICES = ("voice_male", "voice_female", "opera_male", "opera_female", "choir")
SOLO_SOURCES = ("piano", "guitar", "violin", "cello", "flute", "harpsichord", "harp", "sitar")


@dataclass(frozen=True)
class Genre:
    """How tracks of one genre are made and which tags the genre itself emits."""

    share: float  # share of albums
    sources: dict[str, float]  # source -> probability that a track uses it
    pace: tuple[float, float, float]  # P(slow), P(medium), P(fast)
    loud: float = 0.05
    quiet: float = 0.1
    vocals: dict[str, float] = field(default_factory=dict)  # voice -> P (at most one per track)
    lead: float = 0.0  # P(instrumental lead melody | no vocals)
    solo: float = 0.0  # P(one instrument alone | no vocals)
    weird: float = 0.02
    minor: float = 0.4
    tags: dict[str, float] = field(default_factory=dict)
    related: tuple[str, ...] = ()  # genres an album's other tracks may wander into


# fmt: off
GENRES: dict[str, Genre] = {
    "orchestral": Genre(
        0.04,
        {"strings": 1.0, "horns": 0.6, "violin": 0.3, "cello": 0.3, "flute": 0.35, "harp": 0.3},
        pace=(0.4, 0.5, 0.1), loud=0.04, quiet=0.12,
        tags={"classical": 0.95, "classic": 0.45, "orchestra": 0.3, "orchestral": 0.06},
        related=("baroque", "opera"),
    ),
    "baroque": Genre(
        0.07, {"harpsichord": 1.0, "violin": 0.5, "cello": 0.5, "flute": 0.25, "strings": 0.25},
        pace=(0.2, 0.5, 0.3), loud=0.02, quiet=0.08, solo=0.3,
        tags={"classical": 0.95, "classic": 0.2, "baroque": 0.35, "medieval": 0.05},
        related=("orchestral", "chamber"),
    ),
    "piano_classical": Genre(
        0.063, {"piano": 1.0, "violin": 0.25, "cello": 0.2},
        pace=(0.35, 0.55, 0.1), loud=0.03, quiet=0.15, solo=0.55,
        tags={"classical": 0.9, "classic": 0.12, "piano solo": 0.08},
        related=("chamber",),
    ),
    "chamber": Genre(
        0.025, {"guitar": 0.7, "flute": 0.35, "harp": 0.45, "cello": 0.3, "violin": 0.3},
        pace=(0.3, 0.6, 0.1), loud=0.02, quiet=0.15, solo=0.5,
        tags={"classical": 0.9, "classic": 0.05, "classical guitar": 0.2, "lute": 0.12},
        related=("baroque", "piano_classical"),
    ),
    "opera": Genre(
        0.073, {"strings": 0.9, "flute": 0.2, "harpsichord": 0.15, "piano": 0.1},
        pace=(0.3, 0.6, 0.1), quiet=0.05,
        vocals={"opera_female": 0.6, "opera_male": 0.4},
        tags={"opera": 0.9, "classical": 0.5, "classic": 0.05, "operatic": 0.1},
        related=("orchestral",),
    ),
    "choral": Genre(
        0.045, {"strings": 0.3, "piano": 0.1},
        pace=(0.6, 0.4, 0.0), loud=0.03, quiet=0.15,
        vocals={"choir": 1.0},
        tags={"classical": 0.5, "medieval": 0.1},
        related=("opera",),
    ),
    "techno": Genre(
        0.132, {"beat": 1.0, "acid": 0.8, "synth": 0.6, "pad": 0.3},
        pace=(0.0, 0.65, 0.35), loud=0.12, quiet=0.03, lead=0.15, weird=0.05, minor=0.7,
        vocals={"voice_female": 0.04, "voice_male": 0.03},
        tags={"techno": 0.95, "electronic": 0.5, "dance": 0.12, "electro": 0.15, "trance": 0.2},
        related=("electronic", "dance"),
    ),
    "electronic": Genre(
        0.04, {"synth": 0.85, "pad": 0.55, "breakbeat": 0.7, "acid": 0.3, "guitar": 0.1},
        pace=(0.1, 0.7, 0.2), quiet=0.05, lead=0.35, weird=0.15, minor=0.6,
        vocals={"voice_female": 0.12, "voice_male": 0.08},
        tags={"electronic": 0.9, "electro": 0.35, "techno": 0.2, "electronica": 0.3},
        related=("techno", "ambient"),
    ),
    "dance": Genre(
        0.02, {"beat": 1.0, "pad": 0.4, "piano": 0.45, "synth": 0.4, "bass": 0.6},
        pace=(0.0, 0.6, 0.4), loud=0.1, quiet=0.0, lead=0.5,
        vocals={"voice_female": 0.55, "voice_male": 0.2},
        tags={"dance": 0.85, "electronic": 0.3, "pop": 0.2, "house": 0.2, "disco": 0.15},
        related=("techno", "pop"),
    ),
    "ambient": Genre(
        0.097, {"pad": 1.0, "piano": 0.2, "flute": 0.1, "drone": 0.3, "guitar": 0.2, "bells": 0.15},
        pace=(0.85, 0.15, 0.0), loud=0.0, quiet=0.3, weird=0.1,
        tags={"ambient": 0.95, "new age": 0.15, "electronic": 0.2, "spacey": 0.2, "space": 0.1},
        related=("new_age", "electronic"),
    ),
    "new_age": Genre(
        0.02, {"pad": 0.8, "nature": 0.7, "flute": 0.45, "harp": 0.5, "piano": 0.4, "guitar": 0.35},
        pace=(0.75, 0.25, 0.0), loud=0.0, quiet=0.3,
        tags={"new age": 0.85, "ambient": 0.4, "calm": 0.1, "mellow": 0.1},
        related=("ambient",),
    ),
    "rock": Genre(
        0.12, {"dist_guitar": 1.0, "drums": 0.95, "bass": 0.9},
        pace=(0.03, 0.77, 0.2), loud=0.2, quiet=0.02, lead=0.45, minor=0.5,
        vocals={"voice_male": 0.38, "voice_female": 0.15},
        tags={"rock": 0.95, "hard rock": 0.15, "punk": 0.05},
        related=("metal", "pop"),
    ),
    "metal": Genre(
        0.025, {"metal_guitar": 1.0, "drums": 1.0, "bass": 0.8},
        pace=(0.0, 0.35, 0.65), loud=0.6, quiet=0.0, lead=0.3, minor=0.9,
        vocals={"voice_male": 0.45, "voice_female": 0.05},
        tags={"metal": 0.95, "rock": 0.6, "heavy metal": 0.2, "hard rock": 0.2, "heavy": 0.2},
        related=("rock",),
    ),
    "pop": Genre(
        0.028, {"drums": 0.8, "bass": 0.9, "piano": 0.4, "guitar": 0.65, "pad": 0.3, "synth": 0.2},
        pace=(0.05, 0.85, 0.1), quiet=0.05, lead=0.8, minor=0.25,
        vocals={"voice_female": 0.55, "voice_male": 0.35},
        tags={"pop": 0.95, "upbeat": 0.05, "happy": 0.03},
        related=("rock", "dance"),
    ),
    "country": Genre(
        0.035, {"guitar": 1.0, "banjo": 0.85, "violin": 0.55, "drums": 0.5, "bass": 0.8},
        pace=(0.05, 0.75, 0.2), quiet=0.05, lead=0.5, minor=0.15,
        vocals={"voice_male": 0.55, "voice_female": 0.25},
        tags={"country": 0.95, "folk": 0.1, "fiddle": 0.2, "banjo": 0.2},
        related=("folk",),
    ),
    "indian": Genre(
        0.076, {"sitar": 0.92, "tanpura": 0.9, "tabla": 0.7, "flute": 0.2},
        pace=(0.25, 0.55, 0.2), quiet=0.05, solo=0.1, weird=0.03, minor=0.0,
        vocals={"voice_male": 0.12, "voice_female": 0.1},
        tags={"indian": 0.95, "eastern": 0.35, "india": 0.1, "oriental": 0.15, "foreign": 0.15},
    ),
    "jazz": Genre(
        0.015, {"piano": 0.7, "bass": 1.0, "drums": 0.75, "guitar": 0.5, "flute": 0.15},
        pace=(0.1, 0.7, 0.2), quiet=0.05, lead=0.3,
        vocals={"voice_female": 0.15, "voice_male": 0.1},
        tags={"jazz": 0.8, "jazzy": 0.45, "blues": 0.15, "funky": 0.1},
        related=("pop",),
    ),
    "folk": Genre(
        0.04, {"guitar": 1.0, "flute": 0.3, "violin": 0.2, "banjo": 0.1},
        pace=(0.15, 0.75, 0.1), loud=0.02, lead=0.3,
        vocals={"voice_male": 0.3, "voice_female": 0.3},
        tags={"folk": 0.3, "country": 0.15, "acoustic": 0.2, "irish": 0.1, "celtic": 0.1},
        related=("country",),
    ),
    "other": Genre(
        0.07, {"bells": 0.4, "percussion": 0.7, "drone": 0.4, "bass": 0.5},
        pace=(0.1, 0.8, 0.1), quiet=0.05, weird=0.25,
        tags={"world": 0.1, "tribal": 0.1, "spanish": 0.1, "funk": 0.1, "reggae": 0.1},
    ),
}

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
LOW_ATTENTION, LOW_ATTENTION_SHARE = 0.1, 0.14
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


@dataclass(frozen=True)
class ClipPlan:
    """Everything needed to render one clip; labels follow from :func:`clip_concepts`."""

    index: int
    clip_id: int
    path: str
    genre: str
    sources: tuple[str, ...]
    featured: str | None
    pace: str
    dynamics: str
    solo: bool
    bpm: float
    key: int
    minor: bool
    track_seed: int
    attention: float = 1.0  # players' attention: rarely played clips got few tags
    kind: str = "ok"  # "ok" or one of BROKEN_KINDS
    credits: tuple[str, str, str, int, int] = ("", "", "", 0, 0)  # artist album title track start


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
    plans = _plan_clips(12000, np.random.default_rng(20090926), False, album_size=1.0)
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


# --------------------------------------------------------------------------- corpus plan

_FIRST = (
    "anna clara david elena felix grace hannah ivan julia karl lena marco nina oscar paula "
    "ruth simon tara viktor wendy yusuf zoe amir bea chen dario emma"
).split()
_LAST = (
    "abbott bell carver dunn ellis frost gray hart ives keller lane moreau nash ortiz price "
    "quinn reyes stone tamura vance wolfe young zeller brandt costa"
).split()
_ADJ = (
    "silent electric broken golden hollow crimson lost northern velvet paper iron quiet wild "
    "distant burning frozen hidden lunar amber ancient bright cold dark endless"
).split()
_NOUN = (
    "harbor engine garden tide signal lantern orchard machine echo river mirror sparrow "
    "circle window forest voyage shadow canyon desert island meadow station thunder winter"
).split()
_COMPOSERS = (
    "J.S. Bach",
    "G.F. Handel",
    "A. Vivaldi",
    "D. Scarlatti",
    "W.A. Mozart",
    "J. Haydn",
    "F. Couperin",
    "H. Purcell",
    "C. Debussy",
    "E. Satie",
    "F. Schubert",
    "J. Dowland",
)
_FORMS = "Sonatas Suites Partitas Concertos Cantatas Preludes Nocturnes Variations Motets".split()
_MOVEMENTS = "Allegro Adagio Andante Presto Largo Aria Gigue Sarabande Menuet Courante".split()
_CLASSICAL = {"orchestral", "baroque", "piano_classical", "chamber", "opera", "choral"}


def slug(name: str) -> str:
    """MTAT's file-name form of a name: hyphens removed, lowercase, other symbols -> '_'."""
    return re.sub(r"[^a-z0-9]", "_", name.replace("-", "").lower())


def _pick(rng: np.random.Generator, words: list[str] | tuple[str, ...]) -> str:
    return words[int(rng.integers(len(words)))]


def _artist_name(rng: np.random.Generator, genre: str) -> str:
    person = f"{_pick(rng, _FIRST).title()} {_pick(rng, _LAST).title()}"
    if genre in _CLASSICAL:
        group = _pick(rng, ["", "", " Ensemble", " Quartet", " Consort", " Trio"])
        return person + group if group else person
    style = int(rng.integers(3))
    if style == 0:
        return person
    if style == 1:
        return f"The {_pick(rng, _ADJ).title()} {_pick(rng, _NOUN).title()}s"
    return f"{_pick(rng, _ADJ).title()} {_pick(rng, _NOUN).title()}"


def _album_name(rng: np.random.Generator, genre: str) -> str:
    if genre in _CLASSICAL:
        return f"{_pick(rng, _COMPOSERS)} {_pick(rng, _FORMS)}"
    if rng.random() < 0.5:
        return f"{_pick(rng, _ADJ).title()} {_pick(rng, _NOUN).title()}"
    return f"{_pick(rng, _NOUN).title()} of the {_pick(rng, _NOUN).title()}"


def _track_title(rng: np.random.Generator, genre: str, number: int) -> str:
    if genre in _CLASSICAL:
        roman = ["I", "II", "III", "IV", "V"][int(rng.integers(5))]
        return f"BWV{int(rng.integers(1, 1100))} - {roman} {_pick(rng, _MOVEMENTS)}"
    if rng.random() < 0.5:
        return f"{_pick(rng, _ADJ).title()} {_pick(rng, _NOUN).title()}"
    return f"{_pick(rng, _NOUN).title()} No. {number}"


@dataclass
class _Track:
    """A track while the corpus is planned: its segments become clips."""

    genre: str
    number: int
    title: str
    n_clips: int
    first_segment: int
    seed: int
    sources: tuple[str, ...] = ()
    featured: str | None = None
    pace: str = "medium"
    dynamics: str = "normal"
    solo: bool = False
    bpm: float = 100.0
    key: int = 0
    minor: bool = False


@dataclass
class _Album:
    """An album while the corpus is planned; all its clips go to one folder."""

    genre: str
    artist: str
    name: str
    tracks: list[_Track]
    folder: str = "0"

    @property
    def size(self) -> int:
        return sum(t.n_clips for t in self.tracks)


def _weighted(rng: np.random.Generator, weights: Iterable[float]) -> int:
    """Index drawn with probability proportional to ``weights``."""
    weights = list(weights)
    u, acc = rng.random() * sum(weights), 0.0
    for i, w in enumerate(weights):
        acc += w
        if u < acc:
            return i
    return len(weights) - 1


def _choose(rng: np.random.Generator, weights: dict[str, float]) -> str | None:
    """One key with probability proportional to its weight, None for the remaining mass."""
    u, acc = rng.random(), 0.0
    for key, p in weights.items():
        acc += p
        if u < acc:
            return key
    return None


def _sample_track_sound(track: _Track, rng: np.random.Generator) -> None:
    """Fill a track's sources, featured source, pace, dynamics, key and tempo from its genre."""
    g = GENRES[track.genre]
    sources = [s for s, p in g.sources.items() if rng.random() < p]
    if not sources:
        sources = [max(g.sources, key=lambda s: g.sources[s])]
    vocal = _choose(rng, g.vocals)
    solo_ok = [s for s in sources if s in SOLO_SOURCES]
    track.solo = vocal is None and bool(solo_ok) and rng.random() < g.solo
    if track.solo:
        sources = [solo_ok[int(rng.integers(len(solo_ok)))]]
    elif vocal is not None:
        sources.append(vocal)
    elif rng.random() < g.lead:
        sources.append("lead")
    if rng.random() < g.weird + 0.01:
        sources.append("fx")
    track.sources = tuple(sources)
    if track.solo:
        track.featured = sources[0]
    elif rng.random() < 0.55:
        weights = [
            0.0 if s == "fx" else 3.0 if s in VOICES or s == "lead" else 1.0 for s in sources
        ]
        track.featured = sources[_weighted(rng, weights)]
    track.pace = PACES[_weighted(rng, g.pace)]
    u = rng.random()
    track.dynamics = "loud" if u < g.loud else "quiet" if u < g.loud + g.quiet else "normal"
    track.bpm = float(rng.uniform(*BPM[track.pace]))
    track.key = int(rng.integers(12))
    track.minor = bool(rng.random() < g.minor)


def _album_size_target(n_clips: int) -> float:
    """Mean clips per album: small corpora get small albums so every folder gets a mix."""
    return float(np.clip(n_clips / 64, 1.0, 8.0))


def _make_album(rng: np.random.Generator, target: float, with_names: bool) -> _Album:
    """One album: a genre, tracks (a few wander into related genres), clips per track."""
    names = list(GENRES)
    genre = names[_weighted(rng, (GENRES[g].share for g in names))]
    per_track = float(np.clip(target / 2, 1.0, 4.0))
    n_tracks = max(1, round(target / per_track * rng.uniform(0.5, 1.5)))
    lo, hi = max(1, round(per_track * 0.5)), round(per_track * 1.5)
    tracks = []
    for number in range(1, n_tracks + 1):
        related = GENRES[genre].related
        track_genre = genre
        if related and rng.random() < 0.15:
            track_genre = related[int(rng.integers(len(related)))]
        title = _track_title(rng, track_genre, number) if with_names else ""
        track = _Track(
            genre=track_genre,
            number=number,
            title=title,
            n_clips=int(rng.integers(lo, hi + 1)),
            first_segment=int(rng.integers(0, 3)),
            seed=int(rng.integers(2**31)),
        )
        _sample_track_sound(track, rng)
        tracks.append(track)
    artist = _artist_name(rng, genre) if with_names else ""
    name = _album_name(rng, genre) if with_names else ""
    return _Album(genre, artist, name, tracks)


def _clip_variant(
    track: _Track, rng: np.random.Generator
) -> tuple[tuple[str, ...], str | None, float]:
    """Sources audible in one segment (vocals pause now and then, others drop out rarely), and
    the attention the clip got from annotators (a few clips were hardly tagged)."""
    sources = []
    for s in track.sources:
        if s == track.featured or track.solo:
            sources.append(s)
        elif s in VOICES and s != "choir":
            if rng.random() > 0.15:
                sources.append(s)
        elif s == "fx":
            if rng.random() > 0.1:
                sources.append(s)
        elif rng.random() > 0.08:
            sources.append(s)
    if not sources:
        sources = [track.sources[0]]
    featured = track.featured if track.featured in sources else None
    attention = LOW_ATTENTION if rng.random() < LOW_ATTENTION_SHARE else 1.0
    return tuple(sources), featured, attention


def _plan_clips(
    n_clips: int, rng: np.random.Generator, with_names: bool, album_size: float | None = None
) -> list[ClipPlan]:
    """Albums -> tracks -> clips, folders balanced per genre, ids increasing with gaps."""
    target = album_size or _album_size_target(n_clips)
    albums: list[_Album] = []
    total = 0
    used: set[tuple[str, str]] = set()
    while total < n_clips:
        album = _make_album(rng, target, with_names)
        for track in album.tracks:
            track.n_clips = min(track.n_clips, n_clips - total)
            total += track.n_clips
        album.tracks = [t for t in album.tracks if t.n_clips > 0]
        while with_names and (slug(album.artist), slug(album.name)) in used:
            album.name += " II"
        used.add((slug(album.artist), slug(album.name)))
        albums.append(album)
    _assign_folders(albums, rng)
    order = rng.permutation(len(albums))
    plans = []
    clip_id = 2
    for a in order:
        album = albums[a]
        titles: set[str] = set()
        for track in album.tracks:
            while with_names and slug(track.title) in titles:
                track.title += " Reprise"
            titles.add(slug(track.title))
            for k in range(track.n_clips):
                start = 30 * (track.first_segment + k)
                path = ""
                if with_names:
                    stem = "-".join(
                        [slug(album.artist), slug(album.name), f"{track.number:02d}"]
                        + [slug(track.title), str(start), str(start + 29)]
                    )
                    path = f"{album.folder}/{stem}.mp3"
                sources, featured, attention = _clip_variant(track, rng)
                plans.append(
                    ClipPlan(
                        index=len(plans),
                        clip_id=clip_id,
                        path=path,
                        genre=track.genre,
                        sources=sources,
                        featured=featured,
                        pace=track.pace,
                        dynamics=track.dynamics,
                        solo=track.solo,
                        bpm=track.bpm,
                        key=track.key,
                        minor=track.minor,
                        track_seed=track.seed,
                        attention=attention,
                        credits=(album.artist, album.name, track.title, track.number, start),
                    )
                )
                clip_id += 1 + _weighted(rng, (0.35, 0.3, 0.2, 0.15))
    return plans


def _assign_folders(albums: list[_Album], rng: np.random.Generator) -> None:
    """Greedy: biggest albums first, each to the folder with least clips of its genre + overall."""
    load = np.zeros(len(FOLDERS))
    genre_load: dict[str, np.ndarray] = {g: np.zeros(len(FOLDERS)) for g in GENRES}
    jitter = rng.random(len(albums))
    for i in sorted(range(len(albums)), key=lambda i: (-albums[i].size, jitter[i])):
        album = albums[i]
        cost = load + 3.0 * genre_load[album.genre] + rng.random(len(FOLDERS)) * 0.5
        f = int(np.argmin(cost))
        album.folder = FOLDERS[f]
        load[f] += album.size
        genre_load[album.genre][f] += album.size


# --------------------------------------------------------------------------- synthesis primitives

TABLE = 2048
_SHIFT = np.uint32(32 - 11)  # 2**11 == TABLE
_SINE = np.sin(2 * np.pi * np.arange(TABLE) / TABLE).astype(np.float32)


_RAMP = np.arange(1 << 20, dtype=np.uint32)


def _ramp(n: int) -> np.ndarray:
    """0, 1, ..., n-1 as uint32 (a shared, growing array)."""
    global _RAMP
    if n > len(_RAMP):
        _RAMP = np.arange(1 << int(np.ceil(np.log2(n))), dtype=np.uint32)
    return _RAMP[:n]


def midi_hz(m: float) -> float:
    """Frequency of a MIDI note number."""
    return 440.0 * 2.0 ** ((m - 69.0) / 12.0)


def _table(f0: float, sr: int, amps: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """One period of a band-limited wave whose k-th harmonic has amplitude amps(k, k * f0)."""
    k = np.arange(1, int(min(0.45 * sr / max(f0, 1.0), TABLE // 2 - 1)) + 1)
    if k.size == 0:
        k = np.array([1])
    spec = np.zeros(TABLE // 2 + 1, np.complex128)
    spec[k] = -1j * amps(k, k * f0)
    wave = np.fft.irfft(spec, TABLE)
    return (wave / max(np.abs(wave).max(), 1e-9)).astype(np.float32)


def _partials(*values: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Amplitude function for :func:`_table` with fixed amplitudes of the first harmonics."""
    amps = np.array(values)
    return lambda k, f: np.where(k <= len(amps), amps[np.minimum(k, len(amps)) - 1], 0.0)


def _phase(f0: float, n: int, sr: int, start: float = 0.0) -> np.ndarray:
    """Fixed-point phase (uint32 = one cycle) of a steady tone."""
    step = np.uint32(int(round(f0 / sr * 2**32)) % 2**32)
    return _ramp(n) * step + np.uint32(int(start * 2**32) % 2**32)


def _lookup(table: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Table value at each fixed-point phase."""
    return table[phase >> _SHIFT]


def _osc(
    table: np.ndarray,
    f0: float,
    n: int,
    sr: int,
    vibrato: float = 0.0,
    rate: float = 5.5,
    start: float = 0.0,
) -> np.ndarray:
    """Wavetable oscillator; ``vibrato`` is the relative frequency deviation."""
    phase = _phase(f0, n, sr, start)
    if vibrato:
        lfo_phase = _phase(rate, n, sr, 0.75)  # starts at the bottom: 1 - cos shape
        dev = (_lookup(_SINE, lfo_phase) + 1.0) * (f0 * vibrato / (2 * np.pi * rate) * 2**32)
        phase += dev.astype(np.int64).astype(np.uint32)
    return _lookup(table, phase)


def _glide_phase(freq: np.ndarray, sr: int) -> np.ndarray:
    """Fixed-point phase of a tone following a frequency curve (Hz per sample)."""
    steps = (np.asarray(freq) * (2**32 / sr)).astype(np.int64).astype(np.uint32)
    return np.cumsum(steps, dtype=np.uint32)


def _osc_glide(table: np.ndarray, freq: np.ndarray, sr: int) -> np.ndarray:
    """Wavetable oscillator following a frequency curve (Hz per sample)."""
    return _lookup(table, _glide_phase(freq, sr))


def _env(n: int, sr: int, attack: float, release: float) -> np.ndarray:
    """Linear attack, flat sustain, linear release."""
    e = np.ones(n, np.float32)
    a = min(n, int(attack * sr))
    r = min(n - a, int(release * sr))
    if a:
        e[:a] = np.linspace(0.0, 1.0, a, dtype=np.float32)
    if r:
        e[n - r :] *= np.linspace(1.0, 0.0, r, dtype=np.float32)
    return e


_DECAYS: dict[tuple[int, float], np.ndarray] = {}


def _decay(n: int, sr: int, tau: float) -> np.ndarray:
    """exp(-t / tau) over n samples (read-only; prefixes of one cached curve per tau)."""
    curve = _DECAYS.get((sr, tau))
    if curve is None or len(curve) < n:
        size = max(n, 2 * sr)
        curve = np.exp(np.arange(size, dtype=np.float32) * np.float32(-1.0 / (tau * sr)))
        curve.setflags(write=False)
        _DECAYS[(sr, tau)] = curve
    return curve[:n]


def _fade_out(x: np.ndarray, sr: int, seconds: float = 0.15) -> np.ndarray:
    """Fade the tail of a rendered note to zero in place (no click where it is cut)."""
    n = min(len(x), int(seconds * sr))
    if n:
        x[len(x) - n :] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
    return x


def _add(buf: np.ndarray, x: np.ndarray, start: int, gain: float = 1.0) -> None:
    """Mix ``x`` into ``buf`` at sample ``start`` (clipped to the buffer)."""
    if start < 0:
        x, start = x[-start:], 0
    end = min(len(buf), start + len(x))
    if end > start:
        buf[start:end] += x[: end - start] * np.float32(gain)


def _resonance(f: np.ndarray, peaks: Iterable[tuple[float, float, float]]) -> np.ndarray:
    """Sum of resonance curves (centre Hz, bandwidth Hz, gain) evaluated at ``f``."""
    out = np.full(f.shape, 0.05)
    for centre, width, gain in peaks:
        out = out + gain / (1.0 + ((f - centre) / width) ** 2)
    return out


def _lowpass_amps(f: np.ndarray, cutoff: float, order: int = 2) -> np.ndarray:
    return 1.0 / (1.0 + (f / cutoff) ** order)


@lru_cache(maxsize=8)
def _noise_bank(sr: int) -> dict[str, np.ndarray]:
    """Two seconds of band-limited noises (fixed seed) sliced at random offsets by the sources."""
    rng = np.random.default_rng(7)
    n = 2 * sr
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    nyq = 0.5 * sr

    def band(lo: float, hi: float) -> np.ndarray:
        mask = (f >= min(lo, 0.9 * nyq)) & (f <= min(hi, 0.98 * nyq))
        x = np.fft.irfft(spec * mask, n)
        return (x / np.sqrt(np.mean(x**2))).astype(np.float32)

    return {
        "white": band(20, nyq),
        "hat": band(7000, nyq),
        "crash": band(3500, nyq),
        "snare": band(900, 6000),
        "clap": band(800, 3200),
        "breath": band(1200, 4500),
        "hiss": band(3000, 7500),
        "low": band(40, 400),
    }


@lru_cache(maxsize=4)
def _pink_bank(n: int, sr: int) -> np.ndarray:
    """Pink-ish noise (1/f power) longer than a clip; clips read it at a random offset."""
    rng = np.random.default_rng(11)
    size = 1 << int(np.ceil(np.log2(n + sr)))
    f = np.fft.rfftfreq(size, 1 / sr)
    spec = np.fft.rfft(rng.standard_normal(size)) / np.sqrt(np.maximum(f, 20.0))
    x = np.fft.irfft(spec, size)
    return (x / np.sqrt(np.mean(x**2))).astype(np.float32)


def _noise(sc: Score, name: str, n: int) -> np.ndarray:
    """``n`` samples of a bank noise from a random offset (tiled beyond two seconds)."""
    bank = sc.noise[name]
    if n > len(bank):
        return np.resize(np.roll(bank, -int(sc.rng.integers(len(bank)))), n)
    start = int(sc.rng.integers(0, len(bank) - n + 1))
    return bank[start : start + n]


# --------------------------------------------------------------------------- musical score

SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "raga": (0, 1, 4, 5, 7, 8, 11),
}


@dataclass
class Score:
    """Shared musical frame of a clip: tempo grid, key, scale, chord progression, noises."""

    sr: int
    n: int
    rng: np.random.Generator
    genre: str
    pace: str
    bpm: float
    key: int
    scale: tuple[int, ...]
    progression: tuple[int, ...]
    offset: float
    noise: dict[str, np.ndarray]
    cache: dict = field(default_factory=dict)

    @property
    def beat(self) -> float:
        """Samples per beat."""
        return 60.0 / self.bpm * self.sr

    @property
    def notes_per_beat(self) -> float:
        return {"slow": 0.5, "medium": 2.0, "fast": 4.0}[self.pace]

    def onsets(self, step: float, phase: float = 0.0, held: bool = False) -> np.ndarray:
        """Sample positions of a grid with ``step`` beats (plus ``phase`` beats) inside the clip;
        ``held`` adds the last one before the start (a chord still sounding at time 0)."""
        s = step * self.beat
        first = int(np.ceil((-self.offset - phase * self.beat) / s)) - 1
        k = np.arange(first, first + int(self.n / s) + 3)
        pos = (self.offset + phase * self.beat + k * s).astype(np.int64)
        inside = (pos >= 0) & (pos < self.n)
        if held:
            inside |= (pos < 0) & (pos + s >= 0)
        return pos[inside]

    def step_index(self, pos: int, step: float) -> int:
        """Index of the grid step (from the bar-aligned origin) at sample ``pos``."""
        return int(round((pos - self.offset) / (step * self.beat)))

    def chord(self, pos: int) -> int:
        """Scale degree of the chord root at sample ``pos`` (one chord per bar)."""
        bar = int((pos - self.offset) // (4 * self.beat))
        return self.progression[bar % len(self.progression)]

    def pitch_classes(self, degree: int) -> set[int]:
        """Pitch classes of the triad on a scale degree."""
        return {(self.key + self.scale[(degree + i) % 7]) % 12 for i in (0, 2, 4)}

    def scale_notes(self, lo: int, hi: int) -> np.ndarray:
        """MIDI notes of the scale in [lo, hi]."""
        return self._notes(frozenset((self.key + s) % 12 for s in self.scale), lo, hi)

    def chord_notes(self, pos: int, lo: int, hi: int) -> np.ndarray:
        """MIDI notes of the chord sounding at ``pos`` in [lo, hi]."""
        return self._notes(frozenset(self.pitch_classes(self.chord(pos))), lo, hi)

    def _notes(self, pcs: frozenset[int], lo: int, hi: int) -> np.ndarray:
        key = (pcs, lo, hi)
        if key not in self.cache:
            self.cache[key] = np.array([m for m in range(lo, hi + 1) if m % 12 in pcs])
        return self.cache[key]

    def melody(self, lo: int, hi: int, count: int) -> list[int]:
        """A random walk over the scale, mostly steps, bouncing off the register limits."""
        notes = self.scale_notes(lo, hi)
        i = int(self.rng.integers(len(notes)))
        out = []
        for step in self.rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3], size=count):
            i = int(np.clip(i + step, 0, len(notes) - 1))
            out.append(int(notes[i]))
        return out

    def durations(self, total: int, choices: tuple[float, ...]) -> list[int]:
        """Note lengths in samples (multiples of the beat) that cover ``total`` samples."""
        out, acc = [], 0
        while acc < total:
            d = int(choices[int(self.rng.integers(len(choices)))] * self.beat)
            out.append(max(d, 1))
            acc += max(d, 1)
        return out


def _note_lengths(sc: Score) -> tuple[float, ...]:
    """Typical melodic note lengths (beats) for the pace."""
    return {
        "slow": (2.0, 2.0, 3.0, 4.0),
        "medium": (0.5, 1.0, 1.0, 2.0),
        "fast": (0.25, 0.25, 0.5),
    }[sc.pace]


def _line(
    sc: Score,
    lo: int,
    hi: int,
    render: Callable[[float, int], np.ndarray],
    lengths: tuple[float, ...] | None = None,
    rest: float = 0.1,
) -> np.ndarray:
    """A melodic line: notes from :meth:`Score.melody`, each made by ``render(f0, n)``."""
    buf = np.zeros(sc.n, np.float32)
    durs = sc.durations(sc.n + int(sc.beat), lengths or _note_lengths(sc))
    pitches = sc.melody(lo, hi, len(durs))
    pos = -int(sc.rng.integers(0, max(durs[0], 1)))
    for dur, m in zip(durs, pitches, strict=True):
        if sc.rng.random() > rest:
            _add(buf, render(midi_hz(m), dur), pos)
        pos += dur
    return buf


class _NoteBank:
    """Renders each (pitch, variant) once per clip and reuses it: plucked notes repeat exactly."""

    def __init__(self, render: Callable[..., np.ndarray]) -> None:
        self.render = render
        self.cache: dict[tuple, np.ndarray] = {}

    def __call__(self, *key: float) -> np.ndarray:
        if key not in self.cache:
            self.cache[key] = self.render(*key)
        return self.cache[key]


# --------------------------------------------------------------------------- instruments


def _pluck(
    sc: Score, f0: float, seconds: float, slope: float, tau: float, bright: float = 0.5
) -> np.ndarray:
    """Plucked string: harmonics 1/k**slope decaying with tau, a brighter part 4x faster."""
    n = int(seconds * sc.sr)
    body = _table(f0, sc.sr, lambda k, f: k**-slope * np.abs(np.sin(np.pi * k * 0.18)) + 0.05)
    tip = _table(f0, sc.sr, lambda k, f: k ** (-slope * 0.5))
    phase = _phase(f0, n, sc.sr, float(sc.rng.random()))
    x = _lookup(body, phase) * _decay(n, sc.sr, tau)
    x += bright * _lookup(tip, phase) * _decay(n, sc.sr, tau * 0.25)
    x[: int(0.002 * sc.sr)] *= np.linspace(0, 1, int(0.002 * sc.sr), dtype=np.float32)
    return _fade_out(x, sc.sr)


def piano(sc: Score) -> np.ndarray:
    """Piano: two slightly detuned strings, hammer-position comb, two-stage decay; chords + tune."""
    sr = sc.sr

    def note(m: int) -> np.ndarray:
        f0 = midi_hz(m)
        n = int(2.0 * sr)
        tab = _table(
            f0, sr, lambda k, f: k**-1.3 * (1.2 + np.cos(k * 0.9)) * _lowpass_amps(f, 3000)
        )
        x = _osc(tab, f0, n, sr) + _osc(tab, f0 * 1.0017, n, sr, start=0.3)
        x *= 0.3 * _decay(n, sr, 0.12) + 0.2 * _decay(n, sr, 1.1 * (261.0 / f0) ** 0.3)
        _add(x, _noise(sc, "snare", int(0.004 * sr)), 0, 0.05)
        return _fade_out(x, sr)

    bank = _NoteBank(note)
    buf = np.zeros(sc.n, np.float32)
    left = sc.onsets(1.0 if sc.pace != "slow" else 2.0)
    for pos in left:
        for m in sc.chord_notes(pos, 48, 64)[:3]:
            _add(buf, bank(int(m)), pos, 0.5)
    step = 1.0 / sc.notes_per_beat
    onsets = sc.onsets(step)
    for pos, m in zip(onsets, sc.melody(62, 84, len(onsets)), strict=True):
        if sc.rng.random() < 0.8:
            _add(buf, bank(m), pos, 0.8)
    return buf


def harpsichord(sc: Score) -> np.ndarray:
    """Harpsichord: very bright, fast-decaying plucks with an octave register, busy figuration."""

    def note(m: int) -> np.ndarray:
        x = _pluck(sc, midi_hz(m), 0.6, slope=0.35, tau=0.3, bright=0.8)
        x += 0.5 * _pluck(sc, midi_hz(m + 12), 0.6, slope=0.5, tau=0.2)[: len(x)]
        return x

    bank = _NoteBank(note)
    buf = np.zeros(sc.n, np.float32)
    step = 1.0 / max(2.0, sc.notes_per_beat)
    onsets = sc.onsets(step)
    for pos, m in zip(onsets, sc.melody(60, 84, len(onsets)), strict=True):
        _add(buf, bank(m), pos)
    for pos in sc.onsets(1.0):
        _add(buf, bank(int(sc.chord_notes(pos, 40, 52)[0])), pos, 0.8)
    return buf


def harp(sc: Score) -> np.ndarray:
    """Harp: nearly pure, long-ringing plucks rolled as wide arpeggios."""
    bank = _NoteBank(lambda m: _pluck(sc, midi_hz(m), 1.8, slope=2.6, tau=0.9, bright=0.2))
    buf = np.zeros(sc.n, np.float32)
    step = 1.0 / (2 * sc.notes_per_beat)
    up = True
    for bar_pos in sc.onsets(4.0 if sc.pace == "slow" else 2.0):
        notes = sc.chord_notes(bar_pos, 43, 86)
        notes = notes if up else notes[::-1]
        up = not up
        for i, m in enumerate(notes[:12]):
            _add(buf, bank(int(m)), bar_pos + int(i * step * sc.beat), 0.7)
    return buf


def guitar(sc: Score) -> np.ndarray:
    """Acoustic guitar: strummed chords (pop, rock, country) or picked arpeggios (classical)."""
    bank = _NoteBank(lambda m: _pluck(sc, midi_hz(m), 1.4, slope=1.4, tau=0.5, bright=0.6))
    buf = np.zeros(sc.n, np.float32)
    picked = sc.genre in _CLASSICAL or sc.genre in ("new_age", "ambient") or sc.rng.random() < 0.3
    if picked:
        onsets = sc.onsets(1.0 / max(2.0, sc.notes_per_beat))
        for i, pos in enumerate(onsets):
            notes = sc.chord_notes(pos, 40, 71)
            _add(buf, bank(int(notes[(i * 2) % len(notes)])), pos)
        return buf
    for i, pos in enumerate(sc.onsets(0.5 if sc.pace != "slow" else 1.0)):
        notes = sc.chord_notes(pos, 40, 64)[:6]
        down = i % 2 == 0
        gain = 1.0 if down else 0.6
        for j, m in enumerate(notes if down else notes[::-1]):
            _add(buf, bank(int(m)), pos + int(j * 0.012 * sc.sr), gain * 0.6)
    return buf


def banjo(sc: Score) -> np.ndarray:
    """Banjo: bright metallic plucks rolling in sixteenths."""

    def note(m: int) -> np.ndarray:
        x = _pluck(sc, midi_hz(m), 0.5, slope=0.7, tau=0.18, bright=1.0)
        tab = _table(midi_hz(m), sc.sr, lambda k, f: _resonance(f, [(1400, 300, 1.0)]))
        return x + 0.5 * _osc(tab, midi_hz(m), len(x), sc.sr) * _decay(len(x), sc.sr, 0.08)

    bank = _NoteBank(note)
    buf = np.zeros(sc.n, np.float32)
    for i, pos in enumerate(sc.onsets(0.25)):
        notes = sc.chord_notes(pos, 55, 79)
        _add(buf, bank(int(notes[(i * 3) % len(notes)])), pos, 0.7 if i % 4 else 1.0)
    return buf


def _bowed(sc: Score, f0: float, n: int, body: list[tuple[float, float, float]]) -> np.ndarray:
    """A bowed note: saw-like source through body resonances, delayed vibrato, soft attack."""
    tab = _table(f0, sc.sr, lambda k, f: k**-0.9 * _resonance(f, body))
    m = n + int(0.15 * sc.sr)
    x = _osc(tab, f0, m, sc.sr, vibrato=0.006, rate=float(sc.rng.uniform(5.0, 6.5)))
    x *= _env(m, sc.sr, 0.25 if sc.pace == "slow" else 0.09, 0.15)
    x += 0.04 * _noise(sc, "hiss", m) * _env(m, sc.sr, 0.02, 0.1)[: len(x)]
    return x


VIOLIN_BODY = [(290, 80, 1.0), (700, 250, 0.8), (2400, 700, 0.7)]
CELLO_BODY = [(200, 60, 1.0), (480, 150, 0.7), (1400, 500, 0.4)]


def violin(sc: Score) -> np.ndarray:
    """Solo violin line (G3 to E6)."""
    return _line(sc, 62, 88, lambda f0, n: _bowed(sc, f0, n, VIOLIN_BODY))


def cello(sc: Score) -> np.ndarray:
    """Solo cello line (C2 to C4), long notes."""
    lengths = tuple(2 * x for x in _note_lengths(sc))
    return _line(sc, 36, 62, lambda f0, n: _bowed(sc, f0, n, CELLO_BODY), lengths)


def strings(sc: Score) -> np.ndarray:
    """String section: sustained four-part chords with slow attacks, one chord per bar."""
    sr = sc.sr
    bar = int(4 * sc.beat)

    def chord(degree: int) -> np.ndarray:
        n = bar + int(0.4 * sr)
        out = np.zeros(n, np.float32)
        pcs = sc.pitch_classes(degree)
        for lo, hi in ((43, 55), (55, 64), (62, 72), (67, 79)):
            m = next(m for m in range(lo, hi + 12) if m % 12 in pcs)
            f0 = midi_hz(m) * float(sc.rng.uniform(0.997, 1.003))
            tab = _table(f0, sr, lambda k, f: k**-1.1 * _resonance(f, VIOLIN_BODY))
            rate = float(sc.rng.uniform(4.5, 6.5))
            out += _osc(tab, f0, n, sr, vibrato=0.005, rate=rate, start=float(sc.rng.random()))
        return out * _env(n, sr, min(0.35, 0.3 * bar / sr), 0.4)

    bank = _NoteBank(chord)
    buf = np.zeros(sc.n, np.float32)
    for pos in sc.onsets(4.0, held=True):
        _add(buf, bank(sc.chord(pos)), pos)
    return buf


def flute(sc: Score) -> np.ndarray:
    """Flute: almost pure tone with vibrato and breath noise, high register."""

    def note(f0: float, n: int) -> np.ndarray:
        tab = _table(f0, sc.sr, _partials(1.0, 0.3, 0.12, 0.05, 0.02, 0.01))
        m = n + int(0.08 * sc.sr)
        x = _osc(tab, f0, m, sc.sr, vibrato=0.007, rate=float(sc.rng.uniform(4.5, 5.5)))
        x += 0.12 * _noise(sc, "breath", m)[: len(x)]
        return x * _env(m, sc.sr, 0.06, 0.08)

    return _line(sc, 72, 93, note)


def sitar(sc: Score) -> np.ndarray:
    """Sitar: buzzy plucks whose pitch slides in from below (meend), bright jawari formants."""
    sr = sc.sr

    def note(f0: float, n: int) -> np.ndarray:
        m = min(n + int(0.3 * sr), int(2.5 * sr))
        if sc.rng.random() < 0.5:
            slide = int(min(0.15 * sr, m // 3))
            freq = np.full(m, f0)
            freq[:slide] = f0 * np.linspace(0.89, 1.0, slide)
            phase = _glide_phase(freq, sr)
        else:
            phase = _phase(f0, m, sr)
        buzz = _table(
            f0, sr, lambda k, f: k**-0.4 * _resonance(f, [(1800, 500, 1), (3200, 600, 1)])
        )
        soft = _table(f0, sr, lambda k, f: k**-1.2)
        x = _lookup(buzz, phase) * _decay(m, sr, 0.35)
        x += _lookup(soft, phase) * _decay(m, sr, 1.0) * 0.6
        return _fade_out(x, sr)

    return _line(sc, 55, 79, note, rest=0.05)


def tanpura(sc: Score) -> np.ndarray:
    """Tanpura drone: four strings (Pa Sa Sa low-Sa) plucked in a slow endless cycle."""
    sr = sc.sr
    root = 48 + sc.key

    def string(m: int) -> np.ndarray:
        n = int(3.0 * sr)
        tab = _table(midi_hz(m), sr, lambda k, f: k**-0.6 * _resonance(f, [(1500, 600, 1)]))
        return _osc(tab, midi_hz(m), n, sr) * _decay(n, sr, 1.6) * _env(n, sr, 0.03, 0.5)

    bank = _NoteBank(string)
    cycle = (root - 5, root, root, root - 12)
    buf = np.zeros(sc.n, np.float32)
    period = int(float(sc.rng.uniform(0.6, 0.9)) * sr)
    for i, pos in enumerate(range(-int(sc.rng.integers(period)), sc.n, period)):
        _add(buf, bank(cycle[i % 4]), pos)
    return buf


def tabla(sc: Score) -> np.ndarray:
    """Tabla: ringing dayan strokes, gliding bayan strokes and slaps in a sixteen-beat cycle."""
    sr = sc.sr
    dayan_f0 = midi_hz(60 + sc.key % 7)
    n = int(0.5 * sr)
    harm = _table(dayan_f0, sr, _partials(1.0, 0.7, 0.5, 0.3, 0.1))
    na = _osc(harm, dayan_f0, n, sr) * _decay(n, sr, 0.12)
    glide = np.linspace(85.0, 120.0, n)
    ge = _fade_out(_osc_glide(_SINE, glide, sr) * _decay(n, sr, 0.2), sr)
    ka = _noise(sc, "snare", int(0.05 * sr)) * _decay(int(0.05 * sr), sr, 0.01)
    strokes = {"dha": na + ge, "dhin": 0.8 * na + 0.6 * ge, "na": na, "ta": na * 0.7, "ka": ka}
    theka = "dha dhin dhin dha dha dhin dhin dha dha na na ta ta dhin dhin dha".split()
    buf = np.zeros(sc.n, np.float32)
    step = 0.5 if sc.pace == "fast" else 1.0
    for pos in sc.onsets(step):
        i = sc.step_index(pos, step) % 16
        _add(buf, strokes[theka[i]], pos, 1.0 if i % 4 == 0 else 0.7)
        if sc.pace != "slow" and sc.rng.random() < 0.3:
            _add(buf, strokes["ka"], pos + int(step * sc.beat / 2), 0.5)
    return buf


def pad(sc: Score) -> np.ndarray:
    """Synth pad: detuned, low-passed saws with slow attack and release, two bars per chord."""
    sr = sc.sr
    span = int(8 * sc.beat)

    def chord(degree: int) -> np.ndarray:
        n = span + int(1.5 * sr)
        out = np.zeros(n, np.float32)
        pcs = sorted(sc.pitch_classes(degree))
        for pc in pcs:
            f0 = midi_hz(48 + (pc - 48) % 12 + 12)
            tab = _table(f0, sr, lambda k, f: k**-1.0 * _lowpass_amps(f, 900, 3))
            out += _osc(tab, f0, n, sr) + _osc(tab, f0 * 1.004, n, sr, start=0.5)
        return out * _env(n, sr, min(1.5, span / sr / 3), 1.5)

    bank = _NoteBank(chord)
    buf = np.zeros(sc.n, np.float32)
    for pos in sc.onsets(8.0, held=True):
        _add(buf, bank(sc.chord(pos)), pos)
    return buf


def synth(sc: Score) -> np.ndarray:
    """Synth lead: square-wave arpeggio in sixteenths whose filter opens and closes over bars."""
    sr = sc.sr
    cutoffs = (700.0, 1400.0, 2800.0, 5600.0)

    def note(m: int, level: int) -> np.ndarray:
        f0 = midi_hz(m)
        odd = lambda k, f: (k % 2) * k**-1.0 * _lowpass_amps(f, cutoffs[level], 4)  # noqa: E731
        n = int(0.22 * sr)
        return _osc(_table(f0, sr, odd), f0, n, sr) * _decay(n, sr, 0.09) * _env(n, sr, 0.003, 0.02)

    bank = _NoteBank(note)
    buf = np.zeros(sc.n, np.float32)
    step = 0.25 if sc.pace != "slow" else 0.5
    lfo_bars = float(sc.rng.uniform(2, 6))
    for i, pos in enumerate(sc.onsets(step)):
        notes = sc.chord_notes(pos, 60, 84)
        bars = (pos - sc.offset) / (4 * sc.beat)
        level = int(3.99 * (0.5 + 0.5 * np.sin(2 * np.pi * bars / lfo_bars)))
        _add(buf, bank(int(notes[i % len(notes)]), level), pos)
    return buf


def acid(sc: Score) -> np.ndarray:
    """Acid bass: resonant saw in sixteenths (root, octave, fifth) with a sweeping resonance."""
    sr = sc.sr
    peaks = (350.0, 700.0, 1200.0, 2000.0)

    def note(m: int, level: int) -> np.ndarray:
        f0 = midi_hz(m)
        fc = peaks[level]
        amps = lambda k, f: (
            k**-1.0 * (_lowpass_amps(f, fc, 4) + 3 * _resonance(f, [(fc, fc / 8, 1)]))
        )  # noqa: E731
        n = int(0.2 * sr)
        return _osc(_table(f0, sr, amps), f0, n, sr) * _decay(n, sr, 0.1) * _env(n, sr, 0.002, 0.02)

    bank = _NoteBank(note)
    buf = np.zeros(sc.n, np.float32)
    pattern = sc.rng.choice([0, 12, 7, 0, 0, 10, 12, 3], size=16)
    accents = sc.rng.random(16) < 0.3
    for pos in sc.onsets(0.25):
        i = sc.step_index(pos, 0.25) % 16
        root = 33 + (sc.key + SCALES["minor"][sc.chord(pos) % 7]) % 12
        level = int((pos / sc.n) * 3.99) if accents[i] else int(sc.rng.integers(0, 2))
        _add(buf, bank(int(root + pattern[i]), level), pos, 1.0 if accents[i] else 0.6)
    return buf


def bass(sc: Score) -> np.ndarray:
    """Bass guitar: round plucked low notes (walking quarters in jazz, roots in eighths else)."""
    bank = _NoteBank(lambda m: _pluck(sc, midi_hz(m), 0.9, slope=2.2, tau=0.35, bright=0.2))
    buf = np.zeros(sc.n, np.float32)
    walking = sc.genre == "jazz"
    step = 1.0 if walking or sc.pace == "slow" else 0.5
    for i, pos in enumerate(sc.onsets(step)):
        notes = sc.chord_notes(pos, 28, 48) if not walking else sc.scale_notes(28, 48)
        m = notes[0] if not walking else notes[(i * 3 + int(sc.rng.integers(3))) % len(notes)]
        if sc.genre == "dance" and i % 2 == 0:
            continue  # offbeat house bass
        _add(buf, bank(int(m)), pos)
    return buf


def _kit(sc: Score, electronic: bool) -> dict[str, np.ndarray]:
    """Drum one-shots: kick, snare, closed/open hat, crash, ride, clap, toms."""
    sr = sc.sr

    def tone(f_start: float, f_end: float, seconds: float, tau: float) -> np.ndarray:
        n = int(seconds * sr)
        sweep = f_end + (f_start - f_end) * _decay(n, sr, 0.03 if not electronic else 0.05)
        return _fade_out(_osc_glide(_SINE, sweep, sr) * _decay(n, sr, tau), sr, 0.05)

    def hit(noise: str, seconds: float, tau: float) -> np.ndarray:
        n = int(seconds * sr)
        return _fade_out(_noise(sc, noise, n) * _decay(n, sr, tau), sr, 0.05)

    kick = tone(150, 48, 0.6, 0.28) if electronic else tone(120, 55, 0.4, 0.14)
    kick[: int(0.004 * sr)] += 0.5 * hit("white", 0.004, 0.002)
    snare = hit("snare", 0.3, 0.12) * 0.6
    snare[: int(0.25 * sr)] += 0.5 * tone(190, 180, 0.25, 0.06)
    clap = np.zeros(int(0.25 * sr), np.float32)
    for d in (0.0, 0.011, 0.023):
        _add(clap, hit("clap", 0.2, 0.05 if d else 0.09), int(d * sr), 0.6)
    ride = hit("crash", 0.8, 0.3) * 0.4
    for f in (3100.0, 4700.0, 5900.0):
        if f < 0.45 * sr:
            ride += 0.15 * _osc(_SINE, f, len(ride), sr) * _decay(len(ride), sr, 0.5)
    return {
        "kick": kick,
        "snare": snare,
        "hat": hit("hat", 0.08, 0.025) * 0.5,
        "open": hit("hat", 0.4, 0.12) * 0.45,
        "crash": hit("crash", 1.5, 0.6) * 0.5,
        "ride": ride,
        "clap": clap,
        "tom": tone(160, 110, 0.4, 0.15),
    }


# drum patterns: 16 sixteenth steps per bar -> instrument names
_PATTERNS = {
    "rock": {0: "kick", 4: "snare", 8: "kick", 10: "kick", 12: "snare"},
    "pop": {0: "kick", 4: "snare clap", 6: "kick", 8: "kick", 12: "snare clap"},
    "metal": {i: "kick" + (" snare" if i in (4, 12) else "") for i in range(16)},
    "jazz": {0: "kick", 4: "snare", 8: "kick", 12: "snare"},
    "country": {0: "kick", 2: "snare", 4: "snare", 6: "snare", 8: "kick", 10: "snare", 12: "snare"},
    "four": {
        0: "kick",
        2: "open",
        4: "kick clap",
        6: "open",
        8: "kick",
        10: "open",
        12: "kick clap",
    },
    "break": {0: "kick", 4: "snare", 7: "kick", 10: "kick", 12: "snare", 15: "snare"},
}


def _play_drums(sc: Score, style: str, kit: dict[str, np.ndarray], hats: str) -> np.ndarray:
    """Lay a bar pattern over the whole clip, plus hats/ride, crashes and fills."""
    buf = np.zeros(sc.n, np.float32)
    pattern = _PATTERNS[style]
    for pos in sc.onsets(0.25):
        i = sc.step_index(pos, 0.25)
        bar, step = divmod(i, 16)
        for name in pattern.get(step, "").split():
            gain = 0.35 if style == "jazz" else 1.0
            if style == "four" and name == "clap" and sc.genre == "techno":
                name, gain = "hat", 0.8
            _add(buf, kit[name], pos, gain)
        if hats == "ride" and step in (0, 4, 7, 8, 12, 15):
            _add(buf, kit["ride"], pos + (int(0.08 * sc.beat) if step in (7, 15) else 0), 0.7)
        elif hats == "16" or (hats == "8" and step % 2 == 0):
            _add(buf, kit["hat"], pos, 1.0 if step % 4 == 0 else 0.6)
        if step == 0 and bar % 4 == 0 and style not in ("four", "jazz"):
            _add(buf, kit["crash"], pos)
        if bar % 4 == 3 and step >= 12 and style not in ("four", "break"):
            _add(buf, kit["tom"], pos, 0.8)
    return buf


def drums(sc: Score) -> np.ndarray:
    """Acoustic drum kit with a genre pattern (backbeat, double kick, swing ride, train beat)."""
    style = {"metal": "metal", "pop": "pop", "jazz": "jazz", "country": "country"}.get(
        sc.genre, "rock"
    )
    hats = "ride" if style == "jazz" else ("16" if sc.pace == "fast" else "8")
    return _play_drums(sc, style, _kit(sc, electronic=False), hats)


def beat(sc: Score) -> np.ndarray:
    """Four-on-the-floor electronic beat: 808 kick every beat, offbeat open hats, claps."""
    return _play_drums(sc, "four", _kit(sc, electronic=True), "16" if sc.pace == "fast" else "8")


def breakbeat(sc: Score) -> np.ndarray:
    """Syncopated electronic breakbeat."""
    return _play_drums(sc, "break", _kit(sc, electronic=True), "8")


def percussion(sc: Score) -> np.ndarray:
    """Hand percussion: two pitched bongos and a shaker."""
    sr = sc.sr
    n = int(0.25 * sr)
    hi_b = _osc(_SINE, 420.0, n, sr) * _decay(n, sr, 0.05)
    lo_b = _osc(_SINE, 300.0, n, sr) * _decay(n, sr, 0.07)
    shaker = _noise(sc, "hiss", int(0.06 * sr)) * _env(int(0.06 * sr), sr, 0.02, 0.04)
    buf = np.zeros(sc.n, np.float32)
    pattern = sc.rng.random(16)
    for pos in sc.onsets(0.25):
        i = sc.step_index(pos, 0.25) % 16
        _add(buf, shaker, pos, 0.25)
        if pattern[i] < 0.35:
            _add(buf, hi_b if pattern[i] < 0.18 else lo_b, pos)
    return buf


def bells(sc: Score) -> np.ndarray:
    """Bells: inharmonic partials, long decay, sparse high notes."""
    sr = sc.sr

    def note(m: int) -> np.ndarray:
        n = int(2.5 * sr)
        f0 = midi_hz(m)
        x = np.zeros(n, np.float32)
        for ratio, amp, tau in (
            (1.0, 1.0, 1.2),
            (2.76, 0.5, 0.6),
            (5.4, 0.3, 0.3),
            (8.93, 0.2, 0.2),
        ):
            if f0 * ratio < 0.45 * sr:
                x += amp * _osc(_SINE, f0 * ratio, n, sr) * _decay(n, sr, tau)
        return _fade_out(x, sr)

    bank = _NoteBank(note)
    buf = np.zeros(sc.n, np.float32)
    for pos in sc.onsets(2.0):
        if sc.rng.random() < 0.6:
            _add(buf, bank(int(sc.rng.choice(sc.chord_notes(pos, 67, 91)))), pos)
    return buf


def horns(sc: Score) -> np.ndarray:
    """French horns: warm brass chords (strong low harmonics, slow swell), one chord a bar."""
    sr = sc.sr
    bar = int(4 * sc.beat)

    def chord(degree: int) -> np.ndarray:
        n = bar + int(0.3 * sr)
        out = np.zeros(n, np.float32)
        pcs = sc.pitch_classes(degree)
        for lo in (50, 55, 60):
            m = next(m for m in range(lo, lo + 12) if m % 12 in pcs)
            f0 = midi_hz(m)
            tab = _table(f0, sr, lambda k, f: _resonance(f, [(450, 250, 1.0), (1000, 300, 0.4)]))
            out += _osc(tab, f0, n, sr, vibrato=0.003, rate=5.0, start=float(sc.rng.random()))
        return out * _env(n, sr, 0.15, 0.3)

    bank = _NoteBank(chord)
    buf = np.zeros(sc.n, np.float32)
    for pos in sc.onsets(4.0, held=True):
        _add(buf, bank(sc.chord(pos)), pos)
    return buf


def nature(sc: Score) -> np.ndarray:
    """Nature ambience (new age): a babbling stream and chirping birds."""
    sr = sc.sr
    babble = 0.6 + 0.4 * _lookup(_SINE, _phase(float(sc.rng.uniform(3, 7)), sc.n, sr))
    buf = _noise(sc, "breath", sc.n) * babble * 0.3
    pos = int(sc.rng.integers(0, sr))
    while pos < sc.n:
        n = int(float(sc.rng.uniform(0.05, 0.12)) * sr)
        f0 = float(sc.rng.uniform(2500, 5000))
        sweep = f0 * (1 + 0.3 * np.sin(np.linspace(0, 3 * np.pi, n)))
        chirp = _osc_glide(_SINE, np.minimum(sweep, 0.45 * sr), sr) * _env(n, sr, 0.01, 0.03)
        for rep in range(int(sc.rng.integers(1, 4))):
            _add(buf, chirp, pos + rep * int(1.5 * n))
        pos += int(float(sc.rng.uniform(0.4, 2.5)) * sr)
    return buf


def drone(sc: Score) -> np.ndarray:
    """Low sustained drone (root and fifth), dark, slowly swelling."""
    sr = sc.sr
    out = np.zeros(sc.n, np.float32)
    for m in (36 + sc.key, 43 + sc.key):
        f0 = midi_hz(m)
        tab = _table(f0, sr, lambda k, f: k**-1.0 * _lowpass_amps(f, 500, 3))
        out += _osc(tab, f0, sc.n, sr, start=float(sc.rng.random()))
    swell = 0.7 + 0.3 * _lookup(_SINE, _phase(float(sc.rng.uniform(0.05, 0.2)), sc.n, sr))
    return out * swell


def weird_fx(sc: Score) -> np.ndarray:
    """Weird effects: FM bursts with sweeping index, stuttering glitches, long pitch sweeps."""
    sr = sc.sr
    buf = np.zeros(sc.n, np.float32)
    pos = int(sc.rng.integers(0, sr))
    while pos < sc.n:
        kind = int(sc.rng.integers(3))
        dur = int(float(sc.rng.uniform(0.3, 1.5)) * sr)
        t = np.arange(dur, dtype=np.float32) / sr
        if kind == 0:
            fc, ratio = float(sc.rng.uniform(200, 1500)), float(sc.rng.choice([1.41, 2.7, 3.3]))
            index = np.linspace(0, float(sc.rng.uniform(3, 10)), dur, dtype=np.float32)
            x = np.sin(2 * np.pi * fc * t + index * np.sin(2 * np.pi * fc * ratio * t))
        elif kind == 1:
            grain = _noise(sc, "white", int(0.04 * sr)) * _decay(int(0.04 * sr), sr, 0.01)
            x = np.zeros(dur, np.float32)
            for g in range(0, dur, int(float(sc.rng.uniform(0.05, 0.12)) * sr)):
                _add(x, grain, g)
        else:
            f = np.geomspace(float(sc.rng.uniform(1500, 4000)), 80.0, dur)
            x = _osc_glide(_SINE, f, sr)
        _add(buf, x.astype(np.float32) * _env(dur, sr, 0.01, 0.1), pos)
        pos += dur + int(float(sc.rng.uniform(0.1, 0.8)) * sr)
    return buf


# --------------------------------------------------------------------------- voices

VOWELS = {
    "a": (730, 1090, 2440),
    "e": (530, 1840, 2480),
    "i": (290, 2250, 2900),
    "o": (570, 840, 2410),
    "u": (320, 870, 2240),
}


def _vowel(sc: Score, f0: float, vowel: str, shift: float, singer: float = 0.0) -> np.ndarray:
    """Glottal source through the vowel's formants (scaled by ``shift``), + singer's formant."""
    peaks = [
        (f * shift, 60 + 0.06 * f, g) for f, g in zip(VOWELS[vowel], (1.0, 0.6, 0.3), strict=True)
    ]
    peaks.append((0.0, 300.0, 0.3))  # the vocal tract passes the low harmonics too
    if singer:
        peaks.append((2900 * shift, 250, singer))
    return _table(f0, sc.sr, lambda k, f: k**-0.8 * _resonance(f, peaks))


def _sing(
    sc: Score, lo: int, hi: int, shift: float, vibrato: float, opera: bool, breath: float = 0.0
) -> np.ndarray:
    """Sung phrases: syllables with vowels, consonant bursts at onsets, rests between phrases."""
    sr = sc.sr
    buf = np.zeros(sc.n, np.float32)
    lengths = (1.0, 2.0, 2.0, 3.0) if opera else (0.5, 0.5, 1.0, 1.0, 2.0)
    if sc.pace == "slow" and not opera:
        lengths = (1.0, 1.0, 2.0)
    pos = int(sc.rng.integers(0, int(2 * sc.beat)))
    while pos < sc.n:
        count = int(sc.rng.integers(4, 10))
        for m in sc.melody(lo, hi, count):
            dur = int(lengths[int(sc.rng.integers(len(lengths)))] * sc.beat)
            f0 = midi_hz(m)
            vowel = (
                "aoaeiu"[int(sc.rng.integers(6))] if not opera else "aaoe"[int(sc.rng.integers(4))]
            )
            tab = _vowel(sc, f0, vowel, shift, singer=0.8 if opera else 0.0)
            n = dur + int(0.05 * sr)
            x = _osc(tab, f0, n, sr, vibrato=vibrato, rate=float(sc.rng.uniform(5.0, 6.5)))
            if breath:
                x += breath * _noise(sc, "breath", n)
            x *= _env(n, sr, 0.03 if not opera else 0.08, 0.06)
            _add(buf, x, pos)
            if not opera and sc.rng.random() < 0.7:
                cons = int(float(sc.rng.uniform(0.03, 0.07)) * sr)
                _add(
                    buf,
                    _noise(sc, "hiss", cons) * _env(cons, sr, 0.005, 0.02),
                    pos - cons // 2,
                    0.5,
                )
            pos += dur
        pos += int(float(sc.rng.choice([1.0, 2.0, 3.0])) * sc.beat)
    return buf


def voice_male(sc: Score) -> np.ndarray:
    """Male singer: fundamental ~100-185 Hz, speech-like syllables."""
    return _sing(sc, 43, 54, shift=1.0, vibrato=0.01, opera=False)


def voice_female(sc: Score) -> np.ndarray:
    """Female singer: fundamental ~210-370 Hz, formants ~17 % higher, breathy."""
    return _sing(sc, 56, 66, shift=1.17, vibrato=0.012, opera=False, breath=0.12)


def opera_male(sc: Score) -> np.ndarray:
    """Operatic tenor: sustained notes, wide vibrato, strong singer's formant."""
    return _sing(sc, 55, 69, shift=1.0, vibrato=0.03, opera=True)


def opera_female(sc: Score) -> np.ndarray:
    """Operatic soprano: high sustained notes, wide vibrato, strong singer's formant."""
    return _sing(sc, 67, 81, shift=1.17, vibrato=0.035, opera=True)


def choir(sc: Score) -> np.ndarray:
    """Choir: four sections (SATB), each doubled and detuned, sustained vowels, one chord a bar."""
    sr = sc.sr
    bar = int(4 * sc.beat)

    def chord(degree: int, vowel: str) -> np.ndarray:
        n = bar + int(0.3 * sr)
        out = np.zeros(n, np.float32)
        pcs = sc.pitch_classes(degree)
        for lo, shift, detune in (
            (45, 1.0, 0.997),
            (52, 1.0, 1.003),
            (57, 1.17, 1.0),
            (64, 1.17, 1.0),
        ):
            m = next(m for m in range(lo, lo + 12) if m % 12 in pcs)
            tab = _vowel(sc, midi_hz(m), vowel, shift)
            for f0 in {midi_hz(m), midi_hz(m) * detune}:  # doubled, slightly detuned sections
                rate = float(sc.rng.uniform(4.5, 6.0))
                out += _osc(tab, f0, n, sr, vibrato=0.008, rate=rate, start=float(sc.rng.random()))
        return out * _env(n, sr, 0.25, 0.3)

    bank = _NoteBank(chord)
    buf = np.zeros(sc.n, np.float32)
    for pos in sc.onsets(4.0, held=True):
        degree = sc.chord(pos)
        _add(buf, bank(degree, "aou"[degree % 3]), pos)
    return buf


def lead(sc: Score) -> np.ndarray:
    """Instrumental lead (organ with rotary tremolo) singing the tune where a voice would be."""
    sr = sc.sr
    drawbars = _partials(1.0, 0.8, 0.6, 0.5, 0.0, 0.35, 0.0, 0.3)

    def note(f0: float, n: int) -> np.ndarray:
        tab = _table(f0, sr, drawbars)
        m = n + int(0.03 * sr)
        trem = 1.0 - 0.2 * (1.0 + _lookup(_SINE, _phase(6.5, m, sr))) / 2
        return _osc(tab, f0, m, sr) * trem * _env(m, sr, 0.01, 0.03)

    lengths = (0.5, 0.5, 1.0, 1.0, 2.0) if sc.pace != "slow" else (1.0, 2.0)
    buf = _line(sc, 57, 74, note, lengths, rest=0.2)
    # phrase like a singer: mute every other two-bar span
    span = int(8 * sc.beat)
    for pos in sc.onsets(16.0, phase=8.0):
        buf[pos : pos + span] *= 0.0
    return buf


SOURCES: dict[str, Callable[[Score], np.ndarray]] = {
    "strings": strings,
    "violin": violin,
    "cello": cello,
    "piano": piano,
    "harpsichord": harpsichord,
    "harp": harp,
    "flute": flute,
    "guitar": guitar,
    "dist_guitar": lambda sc: _distorted_guitar(sc, heavy=False),
    "metal_guitar": lambda sc: _distorted_guitar(sc, heavy=True),
    "banjo": banjo,
    "sitar": sitar,
    "tanpura": tanpura,
    "tabla": tabla,
    "pad": pad,
    "synth": synth,
    "acid": acid,
    "bass": bass,
    "drums": drums,
    "beat": beat,
    "breakbeat": breakbeat,
    "voice_male": voice_male,
    "voice_female": voice_female,
    "opera_male": opera_male,
    "opera_female": opera_female,
    "choir": choir,
    "lead": lead,
    "fx": weird_fx,
    "bells": bells,
    "nature": nature,
    "horns": horns,
    "percussion": percussion,
    "drone": drone,
}
SOURCE_LEVEL_DB = {
    "bass": -4.0,
    "pad": -5.0,
    "drone": -6.0,
    "tanpura": -5.0,
    "acid": -2.0,
    "nature": -4.0,
    "voice_male": 2.0,
    "voice_female": 2.0,
    "fx": 2.0,
}


def _distorted_guitar(sc: Score, heavy: bool) -> np.ndarray:
    """Distorted electric guitar: power chords through a tanh clipper; metal chugs in 16ths."""
    sr = sc.sr
    bar = int(4 * sc.beat)
    drive = 18.0 if heavy else 7.0
    step = 0.25 if heavy else 0.5

    def chord(degree: int) -> np.ndarray:
        root = (36 if heavy else 40) + (sc.key + sc.scale[degree % 7] - (36 if heavy else 40)) % 12
        n = bar + int(0.2 * sr)
        x = np.zeros(n, np.float32)
        for interval, detune in ((0, 1.0), (7, 1.0), (12, 1.002)):
            f0 = midi_hz(root + interval) * detune
            x += _osc(_table(f0, sr, lambda k, f: k**-1.0), f0, n, sr, start=interval / 19)
        x = np.tanh(drive * x / 3)
        gate = np.ones(n, np.float32)
        if heavy or sc.rng.random() < 0.5:  # palm-muted chugs
            s = int(step * sc.beat)
            for p in range(0, n, s):
                gate[p : p + s] = _decay(min(s, n - p), sr, 0.08 if heavy else 0.15)
        return x * gate

    bank = _NoteBank(chord)
    buf = np.zeros(sc.n, np.float32)
    for pos in sc.onsets(4.0, held=True):
        _add(buf, bank(sc.chord(pos)), pos)
    return buf


# --------------------------------------------------------------------------- mixing


def _rms(x: np.ndarray) -> float:
    """RMS over the audible part of a source (sparse sources are not penalized)."""
    active = np.abs(x) > 1e-3 * (np.abs(x).max() + 1e-12)
    return float(np.sqrt(np.mean(np.square(x[active], dtype=np.float64)))) if active.any() else 1.0


def _tilt(x: np.ndarray, sr: int, amount: float) -> np.ndarray:
    """Broad EQ tilt: amount > 0 darkens (towards a ~1.2 kHz moving average), < 0 brightens."""
    width = max(2, round(sr / 2600))
    c = np.concatenate([np.zeros(width), np.cumsum(x, dtype=np.float64)])
    low = ((c[width:] - c[:-width]) / width).astype(np.float32)
    return x + np.float32(amount) * (low - x)


def synthesize(plan: ClipPlan, n: int, sr: int, seed: int) -> np.ndarray:
    """Render one clip (float32 mono, ``n`` samples) from its plan; depends on (seed, index)."""
    rng = np.random.default_rng([seed, 1, plan.index])
    track_rng = np.random.default_rng([seed, 2, plan.track_seed])
    scale = SCALES["raga"] if plan.genre == "indian" else SCALES["minor" if plan.minor else "major"]
    progression = tuple(int(d) for d in track_rng.choice([0, 3, 4, 5, 0, 4], size=4))
    sc = Score(
        sr=sr,
        n=n,
        rng=rng,
        genre=plan.genre,
        pace=plan.pace,
        bpm=plan.bpm * float(rng.uniform(0.98, 1.02)),
        key=plan.key,
        scale=scale,
        progression=(0, *progression[1:]),
        offset=float(rng.uniform(0, 4 * 60.0 / plan.bpm * sr)),
        noise=_noise_bank(sr),
    )
    mix = np.zeros(n, np.float32)
    vocal_focus = plan.featured in VOICES
    for src in plan.sources:
        x = SOURCES[src](sc)
        level = SOURCE_LEVEL_DB.get(src, 0.0) + float(rng.uniform(-2.0, 2.0))
        if src == plan.featured:
            level += 6.0
        elif vocal_focus:
            level -= 3.0
        mix += x * np.float32(10 ** (level / 20) / _rms(x))
    return _master(mix, plan.dynamics, sr, rng)


def _master(mix: np.ndarray, dynamics: str, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Overall loudness (loud: hot and compressed, quiet: soft and dark), EQ tilt, background."""
    n = len(mix)
    target_db = {"loud": -12.0, "normal": -21.0, "quiet": -34.0}[dynamics] + rng.uniform(-2.5, 2.5)
    x = mix * np.float32(10 ** (target_db / 20) / (np.sqrt(np.mean(mix**2)) + 1e-9))
    if dynamics == "loud":
        x = np.tanh(2.5 * x) / 2.5 * np.float32(1.6)
    tilt = float(rng.uniform(-0.5, 0.5)) + (0.35 if dynamics == "quiet" else 0.0)
    x = _tilt(x, sr, tilt)
    pink = _pink_bank(n, sr)
    start = int(rng.integers(0, len(pink) - n + 1))
    x += pink[start : start + n] * np.float32(10 ** (rng.uniform(-58, -44) / 20))
    peak = float(np.abs(x).max())
    if peak > 0.98:
        x *= np.float32(0.98 / peak)
    return x.astype(np.float32)


# --------------------------------------------------------------------------- writing the corpus


def write_mp3(path: Path, audio: np.ndarray, sr: int, kbps: int = 32) -> None:
    """Mono mp3 at MTAT's ~32 kbps: LAME via lameenc at a fast quality setting (about 6x faster
    than libsndfile's encoder), libsndfile when lameenc is missing. LAME pads ~0.1 s at the end,
    like real MTAT clips a little longer than 29.1 s."""
    try:
        import lameenc
    except ImportError:
        sf.write(path, audio, sr, format="MP3")
        return
    enc = lameenc.Encoder()
    enc.set_bit_rate(kbps)
    enc.set_in_sample_rate(sr)
    enc.set_channels(1)
    enc.set_quality(7)  # 2 = best, 7 = fastest; the difference is inaudible to a mel spectrogram
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
    path.write_bytes(enc.encode(pcm.tobytes()) + enc.flush())


def _render_task(task: tuple[ClipPlan, str, int, int, int]) -> tuple[int, int, bool]:
    """Worker: render and write one clip atomically; returns (index, bytes, rendered?)."""
    plan, root, n, sr, seed = task
    path = Path(root) / plan.path
    if path.exists():
        return plan.index, path.stat().st_size, False
    audio = synthesize(plan, n, sr, seed)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write_mp3(tmp, audio, sr)
    if plan.kind == "truncated":
        tmp.write_bytes(tmp.read_bytes()[:1024])
    os.replace(tmp, path)
    return plan.index, path.stat().st_size, True


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
    """MTAT's CSV dialect (tab-separated, every field quoted), written to a temp name first."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(tmp, path)


def _write_json_atomic(path: Path, data: dict) -> None:
    """JSON written to a temp name first."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


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


def corpus_plan(n_clips: int, seed: int, broken: bool = True) -> tuple[list[ClipPlan], dict]:
    """The full plan of a corpus (names, layout, sources) and its broken entries."""
    plans = _plan_clips(n_clips, np.random.default_rng([seed, 0]), with_names=True)
    broken_ids: dict[str, int] = {}
    if broken:
        rng = np.random.default_rng([seed, 4])
        train = [p.index for p in plans if p.path[0] in TRAIN_FOLDERS]
        if len(train) < len(BROKEN_KINDS):
            raise ValueError(f"too few clips ({n_clips}) to place the broken entries")
        picks = rng.choice(train, size=len(BROKEN_KINDS), replace=False)
        for kind, i in zip(BROKEN_KINDS, picks, strict=True):
            p = plans[int(i)]
            plans[int(i)] = replace(p, kind=kind)
            broken_ids[kind] = p.clip_id
    return plans, broken_ids


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
            return {**info["summary"], "skipped": n_clips, "generated": 0, "seconds": 0.0}
    t0 = time.perf_counter()
    plans, broken_ids = corpus_plan(n_clips, seed, broken)
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
        for stale in (root / folder).glob(".*.tmp"):
            stale.unlink(missing_ok=True)
    _write_json_atomic(info_path, {"params": params, "complete": False})
    n = int(round(clip_seconds * sample_rate))
    tasks = [(p, str(root), n, sample_rate, seed) for p in plans if p.kind in ("ok", "truncated")]
    rendered = _run_tasks(tasks, workers, progress)
    for p in plans:
        if p.kind not in ("ok", "truncated"):
            _write_broken(root, p)
    labels = sample_labels(plans, seed, label_drop)
    names = list(tag_names())
    _write_csv_atomic(
        root / ANNOTATIONS,
        ["clip_id", *names, "mp3_path"],
        ([str(p.clip_id), *map(str, row), p.path] for p, row in zip(plans, labels, strict=True)),
    )
    _write_csv_atomic(root / CLIP_INFO, list(CLIP_INFO_COLUMNS), _clip_info_rows(plans))
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
    _write_json_atomic(
        info_path,
        {"params": params, "complete": True, "broken_clip_ids": broken_ids, "summary": summary},
    )
    return {
        **summary,
        "generated": rendered,
        "skipped": len(tasks) - rendered,
        "seconds": seconds,
        "clips_per_s": rendered / seconds if rendered else None,
    }


def _run_tasks(tasks: list, workers: int | None, progress: bool) -> int:
    """Render all tasks (in a process pool unless workers == 1); returns how many were rendered."""
    from tqdm import tqdm

    workers = max(1, workers or os.cpu_count() or 1)
    bar = tqdm(total=len(tasks), unit="clip", disable=not progress, smoothing=0.05)
    rendered = 0
    if workers == 1 or len(tasks) <= 1:
        for task in tasks:
            rendered += _render_task(task)[2]
            bar.update()
    else:
        # fork where available (workers only need numpy and soundfile; like torch's DataLoader)
        method = "fork" if "fork" in get_all_start_methods() else "spawn"
        with get_context(method).Pool(workers) as pool:
            for _, _, done in pool.imap_unordered(_render_task, tasks, chunksize=2):
                rendered += done
                bar.update()
    bar.close()
    return rendered


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


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m autotag.data.synthetic --root data/synthetic --clips 1600``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default="data/synthetic", help="output folder")
    parser.add_argument("--clips", type=int, default=1600, help="number of clips")
    parser.add_argument("--seconds", type=float, default=29.1, help="clip length")
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--label-drop", type=float, default=0.2, help="share of true labels dropped"
    )
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--no-broken", action="store_true", help="no deliberately broken entries")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    summary = generate(
        args.root,
        n_clips=args.clips,
        clip_seconds=args.seconds,
        sample_rate=args.sample_rate,
        seed=args.seed,
        label_drop=args.label_drop,
        broken=not args.no_broken,
        workers=args.workers,
        progress=not args.quiet,
    )
    print(format_summary(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
