"""One setting's value: the bounds a :func:`jobs.settings.setting` declares (:class:`Rule`), how a raw config value
becomes the declared type (:func:`coerce`: numpy scalars, whole floats for integers, ``"true"``), and the wording
of the errors, the same in every job (``config['lr'] must be > 0, got -1.0``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobs.settings import Settings

__all__ = ["Rule", "coerce", "invalid", "listed"]


@dataclass(frozen=True)
class Rule:
    """What one :func:`setting` declares besides its default; see :func:`setting`."""

    help: str
    example: Any = None
    at_least: float | None = None
    above: float | None = None
    below: float | None = None
    one_of: tuple[str, ...] | None = None
    why: str | None = None
    resolve: Callable[[Any], Any] | None = None
    group: str | None = None
    extra: bool = False
    variants: Mapping[str, type[Settings]] | None = None
    variant_key: str = "name"
    replaces: tuple[str, ...] = ()

    def requirement(self) -> str | None:
        """The bounds as the error says them: ``> 0``, ``>= 1``, ``in [0, 1)``, with ``why`` in parentheses."""
        if self.at_least is not None and self.below is not None:
            text = f"in [{self.at_least:g}, {self.below:g})"
        elif self.above is not None:
            text = f"> {self.above:g}"
        elif self.at_least is not None:
            text = f">= {self.at_least:g}"
        elif self.below is not None:
            text = f"< {self.below:g}"
        else:
            return None
        return f"{text} ({self.why})" if self.why else text

    def allows(self, value: Any) -> bool:
        """Whether a number is within the bounds (written so that NaN never is)."""
        return not (
            (self.above is not None and not value > self.above)
            or (self.at_least is not None and not value >= self.at_least)
            or (self.below is not None and not value < self.below)
        )


def listed(choices: Iterable[str]) -> str:
    """``'a'``, ``'a' or 'b'``, ``'a', 'b' or 'c'``."""
    quoted = [repr(choice) for choice in choices]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def invalid(key: str, requirement: str, value: object, *, where: str = "config") -> ValueError:
    """The error for a ``value`` of ``config[key]`` that breaks ``requirement`` (``"> 0"``, ``">= 1"``, ...)."""
    return ValueError(f"{where}[{key!r}] must be {requirement}, got {value}")


def coerce(label: str, kind: type, raw: Any) -> Any:
    """``raw`` as ``kind``; numpy scalars become Python ones first. ``ValueError`` names ``label``."""
    value = raw.item() if type(raw).__module__ == "numpy" and hasattr(raw, "item") else raw
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if value in (0, 1) and not isinstance(value, float):
            return bool(value)
        raise ValueError(f"{label} must be true or false, got {raw!r}")
    if kind in (int, float):
        if isinstance(value, bool):
            raise ValueError(f"{label} must be a number, got {raw!r}")
        if isinstance(value, int):  # exact, also beyond a float's 53 bits (seeds)
            return value if kind is int else float(value)
        try:
            number = float(value)
        except (TypeError, ValueError) as e:
            noun = "an integer" if kind is int else "a number"
            raise ValueError(f"{label} must be {noun}, got {raw!r}") from e
        if kind is float:
            return number
        if not number.is_integer():
            raise ValueError(f"{label} must be an integer, got {raw!r}")
        return int(number)
    if kind is str:
        return str(value)
    return value
