"""Typed parsing of a trial's config for the jobs' ``TrialSettings``: every error is a ``ValueError`` naming the key.

Search algorithms hand over numpy scalars, and some of them whole floats for integer parameters (HyperOpt's
``quniform`` returns ``3.0``); these helpers coerce such values to plain Python types and word the errors the same
way in every job: ``config['lr'] must be > 0, got -1.0``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def require(config: Mapping[str, Any], keys: Iterable[str]) -> None:
    """Fail on the first of ``keys`` that ``config`` lacks."""
    for key in keys:
        if key not in config:
            raise ValueError(f"config[{key!r}] is required (the search space or `config` must set it)")


def invalid(key: str, requirement: str, value: object) -> ValueError:
    """The error for a ``value`` of ``config[key]`` that breaks ``requirement`` (``"> 0"``, ``">= 1"``, ...)."""
    return ValueError(f"config[{key!r}] must be {requirement}, got {value}")


def integer(config: Mapping[str, Any], key: str, default: int | None = None) -> int:
    """``config[key]`` as an int; a float is accepted only when whole (some searchers return ``16.0``)."""
    value = config.get(key, default)
    try:
        number = float(value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"config[{key!r}] must be an integer, got {value!r}") from e
    if not number.is_integer():
        raise ValueError(f"config[{key!r}] must be an integer, got {value!r}")
    return int(number)


def optional_integer(config: Mapping[str, Any], key: str) -> int | None:
    """:func:`integer`, or ``None`` when ``config[key]`` is missing or ``None``."""
    return None if config.get(key) is None else integer(config, key)


def at_least(settings: object, keys: Iterable[str], minimum: int = 1) -> None:
    """Fail on the first of the attributes ``keys`` of ``settings`` below ``minimum`` (``None`` passes: unset)."""
    for key in keys:
        value = getattr(settings, key)
        if value is not None and value < minimum:
            raise invalid(key, f">= {minimum}", value)


def one_of(key: str, value: str, choices: Sequence[str]) -> None:
    """Fail unless ``value`` is one of ``choices``; the error lists them: ``'auto', 'cpu' or 'cuda'``."""
    if value not in choices:
        quoted = [repr(choice) for choice in choices]
        listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
        raise invalid(key, listed, repr(value))
