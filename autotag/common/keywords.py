"""A config group is one function's keyword arguments: check a group's keys against the
signature before the call, so that a stray key is one clear line naming the valid ones rather
than Python's ``TypeError`` deep inside a run."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any


def keywords(fn: Callable[..., Any], passed: Collection[str] = ()) -> list[str]:
    """The names ``fn`` takes as keywords, but ``passed`` (what its caller fills itself)."""
    params = inspect.signature(fn).parameters.values()
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in params if p.kind in kinds and p.name not in {"self", *passed}]


def unknown_keyword(
    valid: Sequence[str], given: Mapping[str, Any], where: str, owner: str | None = None
) -> str | None:
    """The message for the first key of ``given`` not in ``valid`` (:func:`keywords`; None: all
    taken); ``owner``: what the message says takes the keys (default: ``where``)."""
    for key in given:
        if key not in valid:
            return f"{where}.{key}: not a key of {owner or where} (its keys: {', '.join(valid)})"
    return None


def check_keywords(
    fn: Callable[..., Any], given: Mapping[str, Any], where: str, passed: Collection[str] = ()
) -> None:
    """:func:`unknown_keyword` as a ``ValueError``."""
    message = unknown_keyword(keywords(fn, passed), given, where)
    if message:
        raise ValueError(message)


def check_fields(known: Collection[str], given: Mapping[str, Any], where: str) -> None:
    """A block that must hold exactly the ``known`` keys (a dataclass's fields): otherwise a
    ``ValueError`` naming the unknown and the missing ones."""
    known, keys = set(known), set(given)
    if keys != known:
        raise ValueError(
            f"{where}: keys {sorted(keys)} are not {sorted(known)} (unknown: "
            f"{sorted(keys - known)}, missing: {sorted(known - keys)})"
        )
