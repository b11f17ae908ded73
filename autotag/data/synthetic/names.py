"""Made-up artist, album and track names, and MTAT's file-name form of a name."""

from __future__ import annotations

import re

import numpy as np

from autotag.data.synthetic.genres import _CLASSICAL

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
