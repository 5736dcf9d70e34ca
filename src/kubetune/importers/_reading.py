"""Checked reads from untyped JSON, recording every problem with its path instead of stopping at the first.

Foreign requests arrive as plain ``json.load`` output. Reading them through :class:`Reader` gives each value its
type and limit check, and collects a :class:`~kubetune.spec.FieldError` per problem, so one import run reports
every mistake in the file at once (as ``kubetune validate`` does for our own spec) rather than one per attempt.
Paths are dotted with ``[i]`` indices, in the foreign format's own field names.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Collection, Mapping
from typing import Any

from kubetune.spec import FieldError


def join(path: str, key: str | int) -> str:
    """``join("A", "B")`` → ``A.B``; ``join("A", 0)`` → ``A[0]``; ``join("", "B")`` → ``B``.

    A key that would not read as one path segment (empty, or holding whitespace, brackets or quotes: it comes
    from the user's file) is quoted as JSON, ``A["two words"]``, so an error still names it on one line.
    """
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not _plain(key):
        return f"{path}[{json.dumps(key)}]"
    return f"{path}.{key}" if path else key


def shown(text: str) -> str:
    """A name from the user's file as a message shows it: as written when it is one plain token (``lr``,
    ``validation:auc``), else quoted (``'two words'``, ``'a\\nb'``), so that a message stays on one line."""
    return text if _plain(text) else repr(text)


def _plain(text: str) -> bool:
    """One token that prints as itself: not empty, no whitespace or control characters, brackets or quotes."""
    return bool(text) and text.isprintable() and not any(c.isspace() or c in "[]\"'" for c in text)


def describe(value: Any) -> str:
    """A value as an error message shows it: strings and numbers quoted as written, containers by kind."""
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return repr(value)


class Reader:
    """Typed getters over JSON objects; each failed check appends to :attr:`errors` and returns ``None``.

    A getter returns ``None`` both for an absent optional key and for a bad value, because the caller's response
    is the same (leave the field out); the error list decides whether the import fails.
    """

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def fail(self, path: str, reason: str) -> None:
        self.errors.append(FieldError(path, reason))

    def obj(
        self,
        value: Any,
        path: str,
        *,
        known: Collection[str],
        required: Collection[str] = (),
        hints: Mapping[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """``value`` as an object whose keys are all ``known`` (typos are errors, as in the real API) and that has
        every ``required`` key. ``hints`` maps a commonly confused key to a better explanation than "unknown"."""
        if not isinstance(value, Mapping):
            self.fail(path, f"expected an object, got {describe(value)}")
            return None
        for key in value:
            if key not in known:
                close = difflib.get_close_matches(str(key), list(known), n=1)
                hint = (hints or {}).get(key) or (f"did you mean {close[0]}?" if close else "")
                self.fail(join(path, str(key)), "unknown field" + (f" ({hint})" if hint else ""))
        for key in required:
            if key not in value:
                self.fail(join(path, key), "required field is missing")
        return dict(value)

    def child(
        self, parent: Mapping[str, Any], key: str, path: str, *, known: Collection[str], required: Collection[str] = ()
    ) -> dict[str, Any] | None:
        """The nested object ``parent[key]``, or ``None`` when absent (a missing required key is reported by the
        parent's own :meth:`obj` check, not twice)."""
        if key not in parent:
            return None
        return self.obj(parent[key], join(path, key), known=known, required=required)

    def integer(
        self, parent: Mapping[str, Any], key: str, path: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        """A JSON integer (``true`` and ``3.0`` are not) within SageMaker's documented limits."""
        if key not in parent:
            return None
        value, here = parent[key], join(path, key)
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(here, f"expected an integer, got {describe(value)}")
            return None
        if minimum is not None and value < minimum:
            self.fail(here, f"{value} is below the minimum {minimum}")
            return None
        if maximum is not None and value > maximum:
            self.fail(here, f"{value} is above the maximum {maximum}")
            return None
        return value

    def number(self, parent: Mapping[str, Any], key: str, path: str) -> float | None:
        """A finite JSON number (integer or float)."""
        if key not in parent:
            return None
        value = parent[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.fail(join(path, key), f"expected a number, got {describe(value)}")
            return None
        return float(value)

    def string(
        self,
        parent: Mapping[str, Any],
        key: str,
        path: str,
        *,
        enum: Collection[str] | None = None,
        min_length: int = 0,
        max_length: int | None = None,
    ) -> str | None:
        """A JSON string, one of ``enum`` when given (matched exactly: the API's enums are case-sensitive)."""
        if key not in parent:
            return None
        value, here = parent[key], join(path, key)
        if not isinstance(value, str):
            self.fail(here, f"expected a string, got {describe(value)}")
            return None
        if enum is not None and value not in enum:
            self.fail(here, f"got {value!r}; expected one of {', '.join(enum)}")
            return None
        if len(value) < min_length:
            self.fail(here, "must not be empty" if min_length == 1 else f"shorter than {min_length} characters")
            return None
        if max_length is not None and len(value) > max_length:
            self.fail(here, f"longer than {max_length} characters")
            return None
        return value

    def array(
        self, parent: Mapping[str, Any], key: str, path: str, *, min_length: int = 0, max_length: int | None = None
    ) -> list[Any]:
        """A JSON list within the API's length limits; ``[]`` when absent or bad, so callers can just loop."""
        if key not in parent:
            return []
        value, here = parent[key], join(path, key)
        if not isinstance(value, list):
            self.fail(here, f"expected a list, got {describe(value)}")
            return []
        if len(value) < min_length:
            self.fail(here, f"needs at least {min_length} item{'s' if min_length > 1 else ''}")
            return []
        if max_length is not None and len(value) > max_length:
            self.fail(here, f"{len(value)} items; SageMaker allows at most {max_length}")
            return []
        return value
