"""The search-space grammar and its translation to Ray Tune domains.

A dimension is a mapping with exactly one keyword::

    lr:         {loguniform: [1.0e-4, 1.0e-1]}   # 0 < lower < upper, sampled on a log scale
    momentum:   {uniform: [0.1, 0.9]}            # lower < upper
    dropout:    {quniform: [0.0, 0.5, 0.05]}     # lower < upper, step q > 0
    hidden:     {randint: [16, 512]}             # integers, both bounds INCLUSIVE (as SageMaker and Katib)
    units:      {lograndint: [16, 4096]}         # integers, inclusive, 1 <= lower, log scale
    batch_size: {choice: [32, 64, 128]}          # sampled uniformly
    optimizer:  {grid: [adam, sgd]}              # every value, times numSamples (Ray's grid_search)
    init_scale: {normal: [0.0, 1.0]}             # mean, standard deviation > 0

Any other mapping is a nested group (``model: {dropout: {uniform: [0, 0.5]}}`` gives ``config["model"]["dropout"]``).
Ray's integer domains exclude the upper bound, so ``randint: [a, b]`` becomes ``tune.randint(a, b + 1)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kubetune.spec.errors import FieldError, child_path

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


#: A parsed space: names to dimensions or nested groups.
Space = dict[str, "Dimension | Space"]


def parse_space(raw: Any, *, path: str, errors: list[FieldError]) -> Space:
    """Parse a ``searchSpace`` mapping, appending every problem to ``errors`` (parsing continues past them)."""
    space: Space = {}
    if not isinstance(raw, Mapping):
        errors.append(FieldError(path, f"expected a mapping of parameter names, got {_type(raw)}"))
        return space
    for key, node in raw.items():
        here = child_path(path, key)
        if not isinstance(key, str) or not key or "/" in key:
            errors.append(FieldError(here, "parameter names must be non-empty strings without '/'"))
            continue
        if not isinstance(node, Mapping):
            errors.append(
                FieldError(
                    here,
                    f"expected a distribution such as {{uniform: [0, 1]}}, got {_type(node)}; "
                    "fixed values belong in spec.config",
                )
            )
            continue
        keywords = [k for k in node if k in KINDS]
        if keywords and len(node) > 1:
            others = sorted(str(k) for k in node if k != keywords[0])
            errors.append(FieldError(here, f"a distribution takes exactly one key, got {keywords[0]} and {others}"))
        elif keywords:
            dim = _parse_dimension(keywords[0], node[keywords[0]], path=f"{here}.{keywords[0]}", errors=errors)
            if dim is not None:
                space[key] = dim
        elif not node:
            errors.append(FieldError(here, f"empty mapping; expected one of {', '.join(KINDS)}"))
        else:
            space[key] = parse_space(node, path=here, errors=errors)
    return space


def _parse_dimension(kind: Kind, args: Any, *, path: str, errors: list[FieldError]) -> Dimension | None:
    def fail(reason: str) -> None:
        errors.append(FieldError(path, reason))

    if not isinstance(args, list):
        fail(f"expected a list, got {_type(args)}")
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


def iter_dimensions(space: Space) -> list[Dimension]:
    out: list[Dimension] = []
    for node in space.values():
        out.extend([node] if isinstance(node, Dimension) else iter_dimensions(node))
    return out


def to_param_space(space: Space, *, finite_as_grid: bool = False) -> dict[str, Any]:
    """Ray ``param_space`` for ``space``. With ``finite_as_grid``, ``choice`` is enumerated like ``grid``."""
    out: dict[str, Any] = {}
    for key, node in space.items():
        if isinstance(node, Dimension):
            grid = finite_as_grid and node.kind == "choice"
            out[key] = (Dimension("grid", node.args, node.path) if grid else node).to_ray()
        else:
            out[key] = to_param_space(node, finite_as_grid=finite_as_grid)
    return out


def count_trials(space: Space, num_samples: int, *, finite_as_grid: bool = False) -> int:
    """How many trials Ray will run: the product of grid sizes times ``num_samples``."""
    total = num_samples
    for dim in iter_dimensions(space):
        if dim.kind == "grid" or (finite_as_grid and dim.kind == "choice"):
            total *= len(dim.args)
    return total


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


def _type(value: Any) -> str:
    names: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)
