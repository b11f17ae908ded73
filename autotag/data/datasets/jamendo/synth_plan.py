"""The synthetic MTG-Jamendo's plan: artists, albums and full-length tracks of the concept model
(:mod:`autotag.data.synthetic.plan`); their tags are :mod:`.synth_tags`'."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from autotag.data.synthetic.plan import Album, ClipPlan, clip_variant, make_album

JAMENDO_BROKEN = {
    "empty": "a 0-byte file",
    "truncated": "the first 1024 bytes of an mp3: about 0.25 s decodes",
    "not_audio": "a text file named .mp3",
}
SECTION_SECONDS = 30.0  # one synthesize() call: a fixed length keeps its noise-bank cache warm
ENCODER_PAD = 2 * 1152  # LAME adds its delay and frame padding (< 2 frames) at the end


@dataclass(frozen=True)
class JamendoTrack:
    """One track: ids, planned length, its concepts (``plan``) and its rendered sections."""

    track_id: int
    artist_id: int
    album_id: int
    seconds: float
    plan: ClipPlan  # the whole track's sources: its tags follow from these
    sections: tuple[ClipPlan, ...]
    kind: str = "ok"  # or a key of JAMENDO_BROKEN

    @property
    def path(self) -> str:
        """PATH column and the mp3's place under ``audio/``: ``NN/<id>.mp3``, NN = id % 100."""
        return f"{self.track_id % 100:02d}/{self.track_id}.mp3"

    def ids(self) -> list[str]:
        return [
            f"track_{self.track_id:07d}",
            f"artist_{self.artist_id:06d}",
            f"album_{self.album_id:06d}",
        ]


def _artists(albums: list[Album], rng: np.random.Generator) -> list[list[Album]]:
    """Albums grouped into artists of 1-3 albums, mostly of one genre (at least 3 artists)."""
    ordered = sorted(albums, key=lambda a: a.genre)
    groups: list[list[Album]] = []
    while ordered:
        size = int(rng.integers(1, 4))
        groups.append(ordered[:size])
        ordered = ordered[size:]
    if len(groups) < 3:
        groups = [[a] for g in groups for a in g]
    return [groups[i] for i in rng.permutation(len(groups))]  # release order


def _seconds(rng: np.random.Generator, lo: float, hi: float, sample_rate: int) -> float:
    """A log-uniform length whose decoded mp3 (up to ENCODER_PAD shorter, rounded to 0.1 s)
    stays within [lo, hi]."""
    a, b = lo + ENCODER_PAD / sample_rate + 0.06, hi - 0.06
    if a > b:
        a = b = (lo + hi) / 2
    return float(np.exp(rng.uniform(np.log(a), np.log(b))))


def jamendo_plan(
    n_tracks: int,
    min_seconds: float,
    max_seconds: float,
    seed: int,
    broken: bool = True,
    sample_rate: int = 16000,
) -> list[JamendoTrack]:
    """Artists -> albums -> tracks with distinct, non-contiguous ids; sorted by track id."""
    rng = np.random.default_rng([seed, 20])
    # ~4 tracks an album, ~2 albums an artist: 400 tracks come from ~50 artists, so each
    # artist-disjoint test part holds ~10 of them (fewer, and a part's tags follow its few artists)
    per_album = float(np.clip(n_tracks / 100, 2.0, 4.0))
    albums: list[Album] = []
    total = 0
    while total < n_tracks:
        album = make_album(rng, 4 * per_album, with_names=False)  # 0.5-1.5 x per_album tracks
        album.tracks = album.tracks[: n_tracks - total]
        total += len(album.tracks)
        albums.append(album)
    artists = _artists(albums, rng)
    # distinct ids in release order with gaps (a reader mapping rows by position fails)
    track_ids = iter(1 + np.sort(rng.choice(1_499_999, n_tracks, replace=False)))
    album_ids = iter(1 + np.sort(rng.choice(599_999, len(albums), replace=False)))
    artist_ids = iter(1 + np.sort(rng.choice(399_999, len(artists), replace=False)))
    tracks = []
    for group in artists:
        artist_id = int(next(artist_ids))
        for album in group:
            album_id = int(next(album_ids))
            for t in album.tracks:
                track_id = int(next(track_ids))
                seconds = _seconds(rng, min_seconds, max_seconds, sample_rate)
                plan = t.clip_plan(index=len(tracks), clip_id=track_id, path="")
                section_rng = np.random.default_rng([seed, 21, track_id])
                sections = []
                for k in range(max(1, math.ceil(seconds / SECTION_SECONDS))):
                    sources, featured, _ = clip_variant(t, section_rng)
                    index = track_id * 1000 + k  # synthesize's randomness: per section
                    sections.append(replace(plan, index=index, sources=sources, featured=featured))
                tracks.append(
                    JamendoTrack(track_id, artist_id, album_id, seconds, plan, tuple(sections))
                )
    if broken:
        picks = np.random.default_rng([seed, 24]).choice(n_tracks, len(JAMENDO_BROKEN), False)
        for kind, i in zip(JAMENDO_BROKEN, picks):
            tracks[int(i)] = replace(tracks[int(i)], kind=kind)
    return tracks
