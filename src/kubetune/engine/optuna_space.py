"""kubetune's search space as Optuna distributions, and Optuna's flat parameters back as a nested config.

The distributions are built from the spec's own dimensions, not from the Ray domains they also become, so that
the bounds are exactly the ones the user wrote (``randint: [1, 10]`` is inclusive on both sides, and so is
Optuna's ``IntDistribution(1, 10)``) and so that a benchmark can hand Optuna the very same space without Ray.

Nested groups become ``/``-joined names (``model/dropout``), the separator the spec forbids in parameter names, so
that :func:`unflatten` can undo it. ``quniform`` is a stepped float from the lower bound (Optuna's semantics: the
values are ``lower + k·q``); when ``upper - lower`` is not a multiple of ``q`` the upper bound is lowered to the
last step here, which Optuna would otherwise do itself with a warning. ``grid``, ``normal`` and non-scalar
``choice`` dimensions have no Optuna distribution; the spec's rules keep them away from this searcher.

A space with a choice of groups has no fixed set of distributions: :func:`suggest` asks for the parameters
define-by-run. The choice itself is a categorical over the options' indices (``optimizer`` = 0, 1, ...) and an
option's parameters are named under its index (``optimizer/1/lr``), so that the ``lr`` of two optimizers are two
parameters, each with its own distribution and history; only the chosen option's parameters are asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kubetune.spec.spaces import Conditional, Dimension, Fixed, Space

if TYPE_CHECKING:
    import optuna
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
        elif isinstance(node, Conditional | Fixed):
            raise UnsupportedDimension(f"{name}: a choice of groups has no fixed distributions; use suggest()")
        else:
            _collect(node, prefix=f"{name}{SEPARATOR}", out=out)


def suggest(trial: optuna.Trial, space: Space, *, prefix: str = "") -> dict[str, Any]:
    """A nested config for ``trial``, asked define-by-run: a choice of groups asks only the chosen option's
    parameters (named as the module doc says), and gives the option's fixed values as written."""
    config: dict[str, Any] = {}
    for key, node in space.items():
        name = f"{prefix}{key}"
        if isinstance(node, Dimension):
            config[key] = _ask(trial, name, distribution(node))
        elif isinstance(node, Fixed):
            config[key] = node.value
        elif isinstance(node, Conditional):
            index = trial.suggest_categorical(name, list(range(len(node.options))))
            option = node.options[index]
            chosen = f"{name}{SEPARATOR}{index}{SEPARATOR}"
            config[key] = option.value if isinstance(option, Fixed) else suggest(trial, option, prefix=chosen)
        else:
            config[key] = suggest(trial, node, prefix=f"{name}{SEPARATOR}")
    return config


def _ask(trial: optuna.Trial, name: str, dist: BaseDistribution) -> Any:
    """One parameter through the public ``suggest_*`` call that matches its distribution."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    raise AssertionError(dist)  # pragma: no cover - distribution() makes only these


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
