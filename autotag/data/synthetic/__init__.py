"""Synthetic MagnaTagATune and MTG-Jamendo: corpora in the datasets' exact on-disk formats whose
tags are audible.

MTAT cannot be downloaded everywhere, so this package writes a stand-in that the real MTAT reader
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

    autotag synth mtat --root data/synthetic --clips 1600 --seconds 29.1

:func:`generate_jamendo` writes the same concept model as a stand-in for MTG-Jamendo that the
Jamendo reader reads unchanged: full-length tracks (log-uniform 40 s to 5 min by default,
rendered as cross-faded 30-s sections) as ``audio/NN/<id>.mp3``; ``data/autotagging.tsv``, the
subsets ``autotagging_{top50tags,genre,instrument,moodtheme}.tsv`` and five random
artist-disjoint 60/20/20 splits ``data/splits/split-{0..4}/autotagging[_subset]-{train,
validation,test}.tsv`` (TRACK_ID, ARTIST_ID, ALBUM_ID, PATH, DURATION, then one field per tag;
CRLF line ends as published). Tags read ``genre---``, ``instrument---``, ``mood/theme---``
(Jamendo's spellings): genre tags from the genre and audible sub-concepts (loud rock ->
hardrock), instrument tags from the sound sources, mood/theme tags from pace, dynamics and mode.
A 0-byte, a truncated and a non-audio mp3 are listed like any track (``INFO.json`` names them).

    autotag synth jamendo --root data/jamendo_synthetic --tracks 400

This package is the music generator every synthetic twin uses; the twins, which write it in a
data set's layout, live with their data sets: ``autotag/data/datasets/mtat/synth.py``
(:func:`generate`) and ``autotag/data/datasets/jamendo/synth*.py`` (:func:`generate_jamendo`).
The design runs concepts -> sounds -> tags; each step is a module, imported in this order:

- ``genres``: the concept model's genres (sources, pace, dynamics, vocals, genre tags).
- ``names``: made-up artist, album and title names; :func:`slug` (MTAT's file-name form).
- ``plan``: albums -> tracks -> :class:`ClipPlan` per clip, spread over a twin's folders.
- ``tags``: the 188 tags and real counts, concept -> tag emissions calibrated to the real
  frequencies, :func:`sample_labels` and :func:`tag_statistics`.
- ``dsp``: oscillators, envelopes, decays, resonances, noise banks (module-level caches).
- ``score``: :class:`Score`, a clip's tempo grid, key, chords and melodies.
- ``instruments`` (plucked and struck), ``orchestra`` (bowed, wind, brass, bells),
  ``electronic`` (synths, drones, effects, nature), ``drums``, ``voices``: one function per
  sound source (``Score`` -> samples).
- ``render``: :data:`SOURCES` (source name -> function) and :func:`synthesize` (mix + master).
- ``writers``: :func:`mp3_bytes` (LAME), the twins' mp3s.
- ``cli``: ``python -m autotag.data.synthetic [--layout jamendo]``, the old form of
  ``autotag synth <dataset>``.

Everything here depends only on the seed: the same arguments give the same CSVs and mp3 bytes.
"""

from __future__ import annotations

from autotag.data.synthetic.dsp import midi_hz
from autotag.data.synthetic.genres import BPM, GENRES, PACES, SOLO_SOURCES, VOICES, Genre
from autotag.data.synthetic.names import slug
from autotag.data.synthetic.plan import LOW_ATTENTION, LOW_ATTENTION_SHARE, ClipPlan
from autotag.data.synthetic.render import SOURCE_LEVEL_DB, SOURCES, synthesize
from autotag.data.synthetic.score import SCALES, Score
from autotag.data.synthetic.tags import (
    BACKGROUND_GAIN,
    FEATURED_GAIN,
    OTHER_TAGS,
    REAL_N_CLIPS,
    REAL_NO_TOP50,
    REAL_TOP50_PER_CLIP,
    REF_DROP,
    SOURCE_TAGS,
    Emissions,
    clip_concepts,
    emissions,
    real_tag_counts,
    sample_labels,
    tag_names,
    tag_statistics,
    top50_tags,
)

__all__ = [
    "BACKGROUND_GAIN",
    "BPM",
    "FEATURED_GAIN",
    "GENRES",
    "LOW_ATTENTION",
    "LOW_ATTENTION_SHARE",
    "OTHER_TAGS",
    "PACES",
    "REAL_NO_TOP50",
    "REAL_N_CLIPS",
    "REAL_TOP50_PER_CLIP",
    "REF_DROP",
    "SCALES",
    "SOLO_SOURCES",
    "SOURCES",
    "SOURCE_LEVEL_DB",
    "SOURCE_TAGS",
    "VOICES",
    "ClipPlan",
    "Emissions",
    "Genre",
    "Score",
    "clip_concepts",
    "emissions",
    "midi_hz",
    "real_tag_counts",
    "sample_labels",
    "slug",
    "synthesize",
    "tag_names",
    "tag_statistics",
    "top50_tags",
]
