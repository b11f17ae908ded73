"""The concept model's plan: albums -> tracks -> clips (sources, pace, dynamics, key, tempo),
albums spread over folders balanced per genre, clip ids. A twin places its own broken entries
(:func:`autotag.data.datasets.mtat.synth_plan.corpus_plan`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autotag.data.synthetic.genres import BPM, GENRES, PACES, SOLO_SOURCES, VOICES
from autotag.data.synthetic.names import _album_name, _artist_name, _track_title, slug

LOW_ATTENTION, LOW_ATTENTION_SHARE = 0.1, 0.14


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
    kind: str = "ok"  # "ok", or a twin's kind of broken entry
    credits: tuple[str, str, str, int, int] = ("", "", "", 0, 0)  # artist album title track start


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

    def clip_plan(self, **clip: Any) -> ClipPlan:
        """A :class:`ClipPlan` with this track's genre and sound (sources, pace, dynamics, key,
        tempo), plus the clip's own fields (``index``, ``clip_id``, ``path``, ...), which may
        also override the track's sources."""
        track = dict(genre=self.genre, sources=self.sources, featured=self.featured)
        track |= dict(pace=self.pace, dynamics=self.dynamics, solo=self.solo, bpm=self.bpm)
        track |= dict(key=self.key, minor=self.minor, track_seed=self.seed)
        return ClipPlan(**{**track, **clip})


@dataclass
class Album:
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


def make_album(rng: np.random.Generator, target: float, with_names: bool) -> Album:
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
    return Album(genre, artist, name, tracks)


def clip_variant(
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


def plan_clips(
    n_clips: int,
    rng: np.random.Generator,
    with_names: bool,
    folders: Sequence[str],
    album_size: float | None = None,
) -> list[ClipPlan]:
    """Albums -> tracks -> 30 s clips, albums spread over ``folders`` balanced per genre
    (a clip's path is ``<folder>/<artist>-<album>-<nn>-<title>-<start>-<end>.mp3``), ids
    increasing with gaps."""
    target = album_size or _album_size_target(n_clips)
    albums: list[Album] = []
    total = 0
    used: set[tuple[str, str]] = set()
    while total < n_clips:
        album = make_album(rng, target, with_names)
        for track in album.tracks:
            track.n_clips = min(track.n_clips, n_clips - total)
            total += track.n_clips
        album.tracks = [t for t in album.tracks if t.n_clips > 0]
        while with_names and (slug(album.artist), slug(album.name)) in used:
            album.name += " II"
        used.add((slug(album.artist), slug(album.name)))
        albums.append(album)
    _assign_folders(albums, rng, folders)
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
                sources, featured, attention = clip_variant(track, rng)
                plans.append(
                    track.clip_plan(
                        index=len(plans),
                        clip_id=clip_id,
                        path=path,
                        sources=sources,
                        featured=featured,
                        attention=attention,
                        credits=(album.artist, album.name, track.title, track.number, start),
                    )
                )
                clip_id += 1 + _weighted(rng, (0.35, 0.3, 0.2, 0.15))
    return plans


def _assign_folders(albums: list[Album], rng: np.random.Generator, folders: Sequence[str]) -> None:
    """Greedy: biggest albums first, each to the folder with least clips of its genre + overall."""
    load = np.zeros(len(folders))
    genre_load: dict[str, np.ndarray] = {g: np.zeros(len(folders)) for g in GENRES}
    jitter = rng.random(len(albums))
    for i in sorted(range(len(albums)), key=lambda i: (-albums[i].size, jitter[i])):
        album = albums[i]
        cost = load + 3.0 * genre_load[album.genre] + rng.random(len(folders)) * 0.5
        f = int(np.argmin(cost))
        album.folder = folders[f]
        load[f] += album.size
        genre_load[album.genre][f] += album.size
