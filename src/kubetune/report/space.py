"""The hyperparameters a report plots and weighs, as Optuna distributions.

From the spec when the report is given it (``--spec``): the bounds the user wrote, with
:func:`kubetune.engine.optuna_space.distribution` (so a ``loguniform`` axis is drawn on a log scale). A ``grid`` is a
categorical over its values. Dimensions Optuna has no distribution for (``normal``, the parameters of a choice of
groups) and every parameter of a report given no spec are inferred from the values the trials drew: numbers span
their observed range, anything else is a categorical over the values seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from kubetune.engine import optuna_space
from kubetune.spec.spaces import Conditional, Dimension, Fixed, Space

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

_SCALAR = (str, int, float, bool, type(None))


def distributions(
    trials_params: Iterable[Mapping[str, Any]], space: Space | None = None
) -> dict[str, BaseDistribution]:
    """One distribution per parameter the trials drew, in spec order (else in the order first seen)."""
    seen: dict[str, list[Any]] = {}
    for params in trials_params:
        for name, value in params.items():
            seen.setdefault(name, []).append(value)
    out: dict[str, BaseDistribution] = {}
    if space is not None:
        for name, dim in _dimensions(space):
            if (dist := _from_spec(dim)) is not None:
                out[name] = dist
            elif name in seen and (inferred := infer(seen[name])) is not None:
                out[name] = inferred
    for name, values in seen.items():
        in_space = space is None or name.partition(optuna_space.SEPARATOR)[0] in space
        if name not in out and in_space and (inferred := infer(values)) is not None:
            out[name] = inferred
    return out


def infer(values: list[Any]) -> BaseDistribution | None:
    """A distribution that holds every value: an int or float range, else a categorical over the scalars seen."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if not values or not all(isinstance(v, _SCALAR) for v in values):
        return None
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return IntDistribution(min(values), max(values))
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return FloatDistribution(float(min(values)), float(max(values)))
    return CategoricalDistribution(list(dict.fromkeys(values)))


def _dimensions(space: Space, prefix: str = "") -> Iterator[tuple[str, Dimension]]:
    for key, node in space.items():
        name = f"{prefix}{key}"
        if isinstance(node, Dimension):
            yield name, node
        elif not isinstance(node, Conditional | Fixed):
            yield from _dimensions(node, prefix=f"{name}{optuna_space.SEPARATOR}")


def _from_spec(dim: Dimension) -> BaseDistribution | None:
    from optuna.distributions import CategoricalDistribution

    if dim.kind == "grid":
        scalar = all(isinstance(v, _SCALAR) for v in dim.args)
        return CategoricalDistribution(list(dict.fromkeys(dim.args))) if scalar else None
    try:
        return optuna_space.distribution(dim)
    except optuna_space.UnsupportedDimension:
        return None
