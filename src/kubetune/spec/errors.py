"""Spec errors that name the offending field.

Every way an experiment can be wrong ends up as a :class:`SpecError` holding one :class:`FieldError` per problem,
each with a dotted path as a user writes it in YAML (``spec.searchSpace.lr.loguniform``) and a reason. The CLI
prints them one per line; the operator copies them into a ``Valid=False`` condition.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

#: Regex patterns used by the models, with what they mean in words (models register theirs here).
PATTERN_HINTS: dict[str, str] = {}
#: Tags of the models' tagged unions of one string or a list of strings: dropped from error paths.
UNION_TAGS: set[str] = set()


@dataclass(frozen=True)
class FieldError:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason


class SpecError(ValueError):
    """An experiment that must not reach Ray. ``errors`` lists every problem found, in document order."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(str(e) for e in self.errors))

    @classmethod
    def one(cls, path: str, reason: str) -> SpecError:
        return cls([FieldError(path, reason)])


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def join_path(parts: Iterable[str | int]) -> str:
    """``("spec", "stop", 0)`` → ``spec.stop[0]``; a key that is empty or not plain is quoted (``spec[""]``,
    ``spec.searchSpace["a.b"]``), so every path names a field, unambiguously."""
    out = ""
    for part in parts:
        out = f"{out}[{part}]" if isinstance(part, int) else child_path(out, part)
    return out


def child_path(path: str, key: object) -> str:
    """The path of mapping key ``key`` under ``path`` (see :func:`join_path`)."""
    text = str(key)
    if not _PLAIN_KEY.fullmatch(text):
        return f"{path}[{json.dumps(text)}]"
    return f"{path}.{text}" if path else text


def from_validation_error(exc: ValidationError, *, prefix: Sequence[str | int] = (), model: Any = None) -> SpecError:
    """Translate pydantic's errors into field errors with YAML paths and plain reasons.

    ``model`` (the pydantic class that was validated) lets an unknown field suggest the closest known one.
    """
    errors = []
    for err in exc.errors(include_url=False):
        loc = [part for part in (*prefix, *err["loc"]) if not (isinstance(part, str) and part in UNION_TAGS)]
        reason = str(err["msg"])
        branch = err["loc"][-1] if err["loc"] else None
        if isinstance(branch, str) and branch in UNION_TAGS and err["type"].endswith("_type"):
            reason = f"expected a string or a list of strings, got {type(err['input']).__name__}"
        elif err["type"] == "extra_forbidden":
            reason = "unknown field" + _suggestion(model, err["loc"])
        elif err["type"] == "missing":
            reason = "required field is missing"
        elif err["type"] in ("value_error", "assertion_error"):
            reason = reason.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        elif err["type"] == "string_pattern_mismatch":
            pattern = str((err.get("ctx") or {}).get("pattern", ""))
            reason = f"{err['input']!r} {PATTERN_HINTS.get(pattern, reason)}"
        elif err["type"] == "literal_error":
            reason = f"got {err['input']!r}; " + reason.replace("Input should be", "expected")
        elif err["type"] == "string_unicode" and _model_at(model, err["loc"]) is not None:
            loc.append(str(err["input"]))  # pydantic points at the object whose key is not text: name the key
            reason = "key is not valid Unicode text"
        errors.append(FieldError(join_path(loc), reason))
    return SpecError(errors)


def _suggestion(model: Any, loc: Sequence[str | int]) -> str:
    """Walk the model along ``loc`` to the parent of the unknown key and suggest a close field name."""
    if not loc:
        return ""
    current = _model_at(model, loc[:-1])
    if current is None:
        return ""
    names = [f.alias or n for n, f in getattr(current, "model_fields", {}).items()]
    close = difflib.get_close_matches(str(loc[-1]), names, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _model_at(model: Any, loc: Sequence[str | int]) -> Any:
    """The model class at ``loc`` inside ``model`` (None when ``loc`` leads to anything but a model)."""
    current = model
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if fields is None or not isinstance(part, str):
            return None
        match = next((f for n, f in fields.items() if (f.alias or n) == part), None)
        current = _unwrap_model(getattr(match, "annotation", None))
    return current if hasattr(current, "model_fields") else None


def _unwrap_model(annotation: Any) -> Any:
    if hasattr(annotation, "model_fields"):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if hasattr(arg, "model_fields"):
            return arg
    return None
