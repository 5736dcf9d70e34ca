"""The search-space grammar and its translation to Ray Tune domains.

A dimension is a mapping with exactly one keyword (:mod:`kubetune.spec.dimensions` parses it)::

    lr:         {loguniform: [1.0e-4, 1.0e-1]}   # 0 < lower < upper, sampled on a log scale
    momentum:   {uniform: [0.1, 0.9]}            # lower < upper
    dropout:    {quniform: [0.0, 0.5, 0.05]}     # lower < upper, step q > 0
    hidden:     {randint: [16, 512]}             # integers, both bounds INCLUSIVE (as SageMaker and Katib)
    units:      {lograndint: [16, 4096]}         # integers, inclusive, 1 <= lower, log scale
    batch_size: {choice: [32, 64, 128]}          # sampled uniformly
    optimizer:  {grid: [adam, sgd]}              # every value, times numSamples (Ray's grid_search)
    init_scale: {normal: [0.0, 1.0]}             # mean, standard deviation > 0

Any other mapping is a nested group (``model: {dropout: {uniform: [0, 0.5]}}`` gives ``config["model"]["dropout"]``).

**A choice of groups** (a conditional space) is a ``choice`` with at least one mapping among its options::

    optimizer:
      choice:
        - {name: sgd, lr: {loguniform: [1.0e-4, 1.0e-1]}, momentum: {uniform: [0.1, 0.9]}}
        - {name: adam, lr: {loguniform: [1.0e-5, 1.0e-2]}, beta1: {uniform: [0.8, 0.99]}}
        - none                                    # an option may also be a plain value

Each trial draws one option; the trainable receives that option alone, its dimensions sampled and its other
values as written: ``config["optimizer"] == {"name": "adam", "lr": 0.0003, "beta1": 0.91}`` (or ``None``), never
keys of another option. Inside an option, a mapping with one distribution keyword is a dimension (a ``choice`` of
groups nests), any other mapping a nested group, and anything else a fixed value. ``grid`` dimensions may not sit
inside an option (how many trials run would depend on the draw); under ``search.algorithm: grid`` each option's
own combinations are enumerated. Which searchers take it is decided in :mod:`kubetune.spec.loading`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubetune.spec.dimensions import FINITE_KINDS, KINDS, Dimension, Kind, describe_type, parse_dimension
from kubetune.spec.errors import FieldError, child_path

__all__ = [
    "FINITE_KINDS",
    "KINDS",
    "Conditional",
    "Dimension",
    "Fixed",
    "Kind",
    "Space",
    "count_trials",
    "has_conditionals",
    "iter_conditionals",
    "iter_dimensions",
    "parse_space",
    "to_param_space",
]


@dataclass(frozen=True)
class Fixed:
    """A value written as is inside an option of a choice of groups (``name: adam``), or a plain option."""

    value: Any


@dataclass(frozen=True)
class Conditional:
    """A choice of groups: ``path`` names its ``choice`` list; an option is a group or a :class:`Fixed` value."""

    path: str
    options: tuple[Space | Fixed, ...]


#: A parsed space: names to dimensions, choices of groups or nested groups (and, inside options, fixed values).
Space = dict[str, "Dimension | Conditional | Fixed | Space"]


def parse_space(raw: Any, *, path: str, errors: list[FieldError]) -> Space:
    """Parse a ``searchSpace`` mapping, appending every problem to ``errors`` (parsing continues past them)."""
    if not isinstance(raw, Mapping):
        errors.append(FieldError(path, f"expected a mapping of parameter names, got {describe_type(raw)}"))
        return {}
    return _parse_group(raw, path=path, errors=errors, in_option=False)


def _parse_group(raw: Mapping[Any, Any], *, path: str, errors: list[FieldError], in_option: bool) -> Space:
    space: Space = {}
    for key, node in raw.items():
        here = child_path(path, key)
        if not isinstance(key, str) or not key or "/" in key:
            errors.append(FieldError(here, "parameter names must be non-empty strings without '/'"))
            continue
        parsed = _parse_node(node, path=here, errors=errors, in_option=in_option)
        if parsed is not None:
            space[key] = parsed
    return space


def _parse_node(
    node: Any, *, path: str, errors: list[FieldError], in_option: bool
) -> Dimension | Conditional | Fixed | Space | None:
    if not isinstance(node, Mapping) or (in_option and not node):
        if in_option:
            return Fixed(node)
        errors.append(
            FieldError(
                path,
                f"expected a distribution such as {{uniform: [0, 1]}}, got {describe_type(node)}; "
                "fixed values belong in spec.config",
            )
        )
        return None
    keywords = [k for k in node if k in KINDS]
    if keywords and len(node) > 1:
        others = sorted(str(k) for k in node if k != keywords[0])
        errors.append(FieldError(path, f"a distribution takes exactly one key, got {keywords[0]} and {others}"))
        return None
    if not keywords:
        if not node:
            errors.append(FieldError(path, f"empty mapping; expected one of {', '.join(KINDS)}"))
            return None
        return _parse_group(node, path=path, errors=errors, in_option=in_option)
    kind, args = keywords[0], node[keywords[0]]
    here = f"{path}.{kind}"
    if kind == "choice" and isinstance(args, list) and any(isinstance(option, Mapping) for option in args):
        return _parse_conditional(args, path=here, errors=errors)
    if kind == "grid" and in_option:
        errors.append(
            FieldError(
                here,
                "grid dimensions cannot sit inside a choice of groups (how many trials run would depend on the "
                "draw); use choice, which search.algorithm grid enumerates",
            )
        )
        return None
    return parse_dimension(kind, args, path=here, errors=errors)


def _parse_conditional(options: list[Any], *, path: str, errors: list[FieldError]) -> Conditional:
    parsed: list[Space | Fixed] = []
    for index, option in enumerate(options):
        here = f"{path}[{index}]"
        if not isinstance(option, Mapping):
            parsed.append(Fixed(option))
        elif len(option) == 1 and next(iter(option)) in KINDS:
            errors.append(
                FieldError(
                    here,
                    "an option of a choice of groups is a group of parameters, not a distribution: put the "
                    f"distribution under a parameter name ({{x: {{{next(iter(option))}: ...}}}})",
                )
            )
        else:
            parsed.append(_parse_group(option, path=here, errors=errors, in_option=True))
    return Conditional(path, tuple(parsed))


def iter_dimensions(space: Space) -> list[Dimension]:
    """Every dimension, those inside the options of choices of groups included (in spec order)."""
    out: list[Dimension] = []
    for node in space.values():
        if isinstance(node, Dimension):
            out.append(node)
        elif isinstance(node, Conditional):
            for option in node.options:
                if not isinstance(option, Fixed):
                    out.extend(iter_dimensions(option))
        elif not isinstance(node, Fixed):
            out.extend(iter_dimensions(node))
    return out


def iter_conditionals(space: Space) -> list[Conditional]:
    """Every choice of groups, outermost first (nested ones follow the one holding them)."""
    out: list[Conditional] = []
    for node in space.values():
        if isinstance(node, Conditional):
            out.append(node)
            for option in node.options:
                if not isinstance(option, Fixed):
                    out.extend(iter_conditionals(option))
        elif isinstance(node, dict):
            out.extend(iter_conditionals(node))
    return out


def has_conditionals(space: Space) -> bool:
    return bool(iter_conditionals(space))


def to_param_space(space: Space, *, finite_as_grid: bool = False) -> dict[str, Any]:
    """Ray ``param_space`` for ``space``. With ``finite_as_grid``, ``choice`` is enumerated like ``grid``.

    A choice of groups becomes a ``tune.choice`` (``tune.grid_search``) of plain dicts that hold Ray domains:
    Ray's variant generator samples the option, then the domains inside it, so a trial gets one group.
    """
    return {key: _to_ray(node, finite_as_grid=finite_as_grid) for key, node in space.items()}


def _to_ray(node: Dimension | Conditional | Fixed | Space, *, finite_as_grid: bool) -> Any:
    from ray import tune

    if isinstance(node, Dimension):
        grid = finite_as_grid and node.kind == "choice"
        return (Dimension("grid", node.args, node.path) if grid else node).to_ray()
    if isinstance(node, Fixed):
        return node.value
    if isinstance(node, Conditional):
        options = [_to_ray(option, finite_as_grid=finite_as_grid) for option in node.options]
        return tune.grid_search(options) if finite_as_grid else tune.choice(options)
    return to_param_space(node, finite_as_grid=finite_as_grid)


def count_trials(space: Space, num_samples: int, *, finite_as_grid: bool = False) -> int:
    """How many trials Ray will run: the product of grid sizes times ``num_samples`` (under ``finite_as_grid``, a
    choice of groups adds up its options' own combinations)."""
    return num_samples * _combinations(space, finite_as_grid=finite_as_grid)


def _combinations(node: Dimension | Conditional | Fixed | Space, *, finite_as_grid: bool) -> int:
    if isinstance(node, Dimension):
        return len(node.args) if node.kind == "grid" or (finite_as_grid and node.kind == "choice") else 1
    if isinstance(node, Fixed):
        return 1
    if isinstance(node, Conditional):
        sizes = [_combinations(option, finite_as_grid=finite_as_grid) for option in node.options]
        return sum(sizes) if finite_as_grid else 1
    total = 1
    for child in node.values():
        total *= _combinations(child, finite_as_grid=finite_as_grid)
    return total
