"""One dimension of the search space: its keyword, its validated arguments and its Ray Tune domain.

A dimension is a mapping with exactly one keyword (the grammar is in :mod:`kubetune.spec.spaces`). Ray's integer
domains exclude the upper bound, so ``randint: [a, b]`` (inclusive, as SageMaker and Katib) becomes
``tune.randint(a, b + 1)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from kubetune.spec.errors import FieldError

Kind = Literal["uniform", "quniform", "loguniform", "randint", "lograndint", "choice", "grid", "normal"]
KINDS: tuple[Kind, ...] = (
    "uniform",
    "quniform",
    "loguniform",
    "randint",
    "lograndint",
    "choice",
    "grid",
    "normal",
)
#: Kinds that name a finite set of values.
FINITE_KINDS = frozenset({"choice", "grid"})


@dataclass(frozen=True)
class Dimension:
    """One parsed dimension. ``args`` are the validated list from the spec (bounds inclusive)."""

    kind: Kind
    args: tuple[Any, ...]
    path: str

    def to_ray(self) -> Any:
        from ray import tune

        a = self.args
        match self.kind:
            case "uniform":
                return tune.uniform(a[0], a[1])
            case "quniform":
                return tune.quniform(a[0], a[1], a[2])
            case "loguniform":
                return tune.loguniform(a[0], a[1])
            case "randint":
                return tune.randint(a[0], a[1] + 1)
            case "lograndint":
                return tune.lograndint(a[0], a[1] + 1)
            case "choice":
                return tune.choice(list(a))
            case "grid":
                return tune.grid_search(list(a))
            case "normal":
                return tune.randn(a[0], a[1])
        raise AssertionError(self.kind)  # pragma: no cover - Kind is exhaustive

    def contains(self, value: Any) -> bool:
        """Whether ``value`` could have been drawn from this dimension (used by tests and ``best``)."""
        a = self.args
        if self.kind in FINITE_KINDS:
            return value in a
        if self.kind == "normal":
            return isinstance(value, int | float)
        if self.kind in ("randint", "lograndint") and not isinstance(value, int):
            return False
        return bool(a[0] <= value <= a[1])


def parse_dimension(kind: Kind, args: Any, *, path: str, errors: list[FieldError]) -> Dimension | None:
    """``{kind: args}`` as a :class:`Dimension`, or ``None`` with the problem appended to ``errors``."""

    def fail(reason: str) -> None:
        errors.append(FieldError(path, reason))

    if not isinstance(args, list):
        fail(f"expected a list, got {describe_type(args)}")
        return None
    if kind in FINITE_KINDS:
        if not args:
            fail("needs at least one value")
            return None
        return Dimension(kind, tuple(args), path)

    arity = 3 if kind == "quniform" else 2
    shape = {"quniform": "[lower, upper, q]", "normal": "[mean, sd]"}.get(kind, "[lower, upper]")
    if len(args) != arity:
        fail(f"expected {shape}, got {len(args)} values")
        return None
    integral = kind in ("randint", "lograndint")
    for value in args:
        if integral and not _is_int(value):
            fail(f"bounds must be integers, got {_short(value)}")
            return None
        if not _is_number(value):
            fail(f"bounds must be finite numbers, got {_short(value)}")
            return None
        if integral and not _INT64_MIN <= value < _INT64_MAX:  # Ray samples int64 (and adds 1 to the upper bound)
            fail(f"integer bounds must fit in 64 bits, got {_short(value)}")
            return None
    first, second = args[0], args[1]
    if kind == "normal":
        if second <= 0:
            fail("standard deviation must be > 0")
            return None
    elif integral:
        if first > second:
            fail("lower bound must be <= upper bound (both are inclusive)")
            return None
        if kind == "lograndint" and first < 1:
            fail("lower bound must be >= 1 on a log scale")
            return None
    else:
        if kind == "loguniform" and first <= 0:
            fail("lower bound must be > 0 on a log scale")
            return None
        if first >= second:
            fail("lower bound must be < upper bound")
            return None
        if kind == "quniform" and args[2] <= 0:
            fail("step q must be > 0")
            return None
    return Dimension(kind, tuple(args), path)


def describe_type(value: Any) -> str:
    names: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)


def _is_number(value: Any) -> bool:
    """A finite number that converts to a float (Ray's domains compute in floats; an int past ~1.8e308 does not)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
