"""kubetune's search space as Optuna distributions, and Optuna's flat parameters back as a nested config.

The distributions are built from the spec's own dimensions, not from the Ray domains they also become, so that
the bounds are exactly the ones the user wrote (``randint: [1, 10]`` is inclusive on both sides, and so is
Optuna's ``IntDistribution(1, 10)``) and so that a benchmark can hand Optuna the very same space without Ray.

Nested groups become ``/``-joined names (``model/dropout``), the separator the spec forbids in parameter names, so
that :func:`unflatten` can undo it. ``quniform`` is a stepped float from the lower bound (Optuna's semantics: the
values are ``lower + k·q``); when ``upper - lower`` is not a multiple of ``q`` the upper bound is lowered to the
last step here, which Optuna would otherwise do itself with a warning. ``grid``, ``normal`` and non-scalar
``choice`` dimensions have no Optuna distribution; the spec's rules keep them away from this searcher.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kubetune.spec.spaces import Dimension, Space

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

#: Joins the names of nested groups; the spec forbids it inside a parameter name.
SEPARATOR = "/"
_SCALAR = (str, int, float, bool, type(None))


class UnsupportedDimension(ValueError):
    """A dimension Optuna cannot sample; the message names its path in the spec."""


def distributions(space: Space) -> dict[str, BaseDistribution]:
    """Every dimension of ``space`` as an Optuna distribution, keyed by its ``/``-joined name, in spec order."""
    out: dict[str, BaseDistribution] = {}
    _collect(space, prefix="", out=out)
    return out


def _collect(space: Space, *, prefix: str, out: dict[str, BaseDistribution]) -> None:
    for key, node in space.items():
        name = f"{prefix}{key}"
        if isinstance(node, Dimension):
            out[name] = distribution(node)
        else:
            _collect(node, prefix=f"{name}{SEPARATOR}", out=out)


def distribution(dim: Dimension) -> BaseDistribution:
    """One dimension as an Optuna distribution (bounds inclusive, as the spec writes them)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    a = dim.args
    match dim.kind:
        case "uniform":
            return FloatDistribution(a[0], a[1])
        case "loguniform":
            return FloatDistribution(a[0], a[1], log=True)
        case "quniform":
            return FloatDistribution(a[0], _last_step(a[0], a[1], a[2]), step=a[2])
        case "randint":
            return IntDistribution(a[0], a[1])
        case "lograndint":
            return IntDistribution(a[0], a[1], log=True)
        case "choice" if all(isinstance(v, _SCALAR) for v in a):
            return CategoricalDistribution(a)
        case "choice":
            raise UnsupportedDimension(f"{dim.path}: Optuna takes only scalar choices (numbers, strings, booleans)")
    raise UnsupportedDimension(f"{dim.path}: Optuna has no {dim.kind} distribution")


def _last_step(lower: float, upper: float, q: float) -> float:
    """The largest ``lower + k·q`` that is ``<= upper``, computed in decimal as Optuna checks it."""
    low, high, step = Decimal(str(lower)), Decimal(str(upper)), Decimal(str(q))
    return float(low + ((high - low) // step) * step)


def unflatten(params: Mapping[str, Any]) -> dict[str, Any]:
    """``{"model/dropout": 0.1, "lr": 0.01}`` → ``{"model": {"dropout": 0.1}, "lr": 0.01}``."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        *groups, key = name.split(SEPARATOR)
        node = out
        for group in groups:
            node = node.setdefault(group, {})
        node[key] = value
    return out
