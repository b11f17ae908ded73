"""Genres: which sources, paces, dynamics and vocals the tracks of each genre draw, and the tags
the genre itself emits."""

from __future__ import annotations

from dataclasses import dataclass, field

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
# fmt: on


_CLASSICAL = {"orchestral", "baroque", "piano_classical", "chamber", "opera", "choral"}
