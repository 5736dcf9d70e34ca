"""SageMaker ``ParameterRanges`` → the search-space grammar; SageMaker's string values → typed values.

SageMaker sends every bound and value as a string. They are parsed strictly (``'1.5'`` is not an integer bound,
``'inf'`` is not a number), because a silently rounded or coerced bound would tune another range than the one the
user ran on SageMaker. Why each ScalingType maps as it does is in :mod:`kubetune.importers.sagemaker`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final

from kubetune.importers._reading import Reader, describe, join, shown

SCALING_TYPES: Final = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")
RANGE_KINDS: Final = ("IntegerParameterRanges", "ContinuousParameterRanges", "CategoricalParameterRanges")
_NUMERIC_KEYS: Final = ("Name", "MinValue", "MaxValue", "ScalingType")
_CATEGORICAL_KEYS: Final = ("Name", "Values")

INT: Final = re.compile(r"[+-]?[0-9]+")
_FLOAT: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_BOOL: Final = {"true": True, "false": False}


def parse_ranges(raw: Any, path: str, *, grid: bool, r: Reader, warnings: list[str]) -> tuple[dict[str, Any], int]:
    """The search space, in the request's order, and how many combinations a grid over it has.

    With ``grid`` (Strategy Grid) categoricals become ``grid`` dimensions and any other range is an error: a grid
    enumerates listed values, and SageMaker's Grid takes categorical ranges only.
    """
    ranges = r.obj(raw, path, known=(*RANGE_KINDS, "AutoParameters")) or {}
    if r.array(ranges, "AutoParameters", path, max_length=100):
        r.fail(
            join(path, "AutoParameters"),
            "cannot be imported: Autotune infers these ranges from a ValueHint inside SageMaker; list explicit "
            "Integer, Continuous or Categorical ranges instead",
        )
    space: dict[str, Any] = {}
    auto: list[str] = []
    combinations = 1
    for kind in [k for k in ranges if k in RANGE_KINDS]:
        categorical = kind == "CategoricalParameterRanges"
        known = _CATEGORICAL_KEYS if categorical else _NUMERIC_KEYS
        for i, item in enumerate(r.array(ranges, kind, path, max_length=30)):
            here = join(join(path, kind), i)
            spec_range = r.obj(item, here, known=known, required=known if categorical else known[:3]) or {}
            name = _name(spec_range, here, taken=space, r=r)
            if name is None:
                continue
            if categorical:
                values = _categorical(spec_range, here, name=name, r=r, warnings=warnings)
                if values is not None:
                    space[name] = {"grid" if grid else "choice": values}
                    combinations *= len(values)
            elif grid:
                r.fail(
                    here,
                    f"{shown(name)}: Strategy Grid enumerates categorical values only; list the values to try in "
                    "CategoricalParameterRanges",
                )
            elif (parsed := _numeric(spec_range, here, integer=kind == "IntegerParameterRanges", r=r)) is not None:
                space[name], scaling = parsed
                if scaling == "Auto":
                    auto.append(name)
    if auto:
        warnings.append(
            f"ScalingType Auto (SageMaker picks the scale while it searches) imported as Linear for "
            f"{', '.join(map(shown, auto))}; set Logarithmic in the request for a range that spans decades"
        )
    if not space and not r.errors:
        r.fail(path, "no ranges: there is nothing to tune")
    return space, combinations


def _name(spec_range: Mapping[str, Any], here: str, *, taken: Mapping[str, Any], r: Reader) -> str | None:
    name = r.string(spec_range, "Name", here, min_length=1, max_length=256)
    if name is not None and "/" in name:
        r.fail(join(here, "Name"), f"{name!r}: kubetune parameter names cannot contain '/'")
        return None
    if name is not None and name in taken:
        r.fail(join(here, "Name"), f"{name!r} is already a range; each hyperparameter is tuned once")
        return None
    return name


def _numeric(
    spec_range: Mapping[str, Any], here: str, *, integer: bool, r: Reader
) -> tuple[dict[str, list[Any]], str] | None:
    """One Integer or Continuous range as a dimension, and its ScalingType (absent is Auto, SageMaker's default)."""
    low = _bound(spec_range, "MinValue", here, integer=integer, r=r)
    high = _bound(spec_range, "MaxValue", here, integer=integer, r=r)
    scaling = r.string(spec_range, "ScalingType", here, enum=SCALING_TYPES) if "ScalingType" in spec_range else "Auto"
    if low is None or high is None or scaling is None:
        return None
    min_path = join(here, "MinValue")
    if scaling == "ReverseLogarithmic":
        if integer:
            r.fail(join(here, "ScalingType"), "ReverseLogarithmic is for continuous ranges only")
            return None
        exact = (
            f" (here Logarithmic over [{1 - high:g}, {1 - low:g}])"
            if 0 <= low < high < 1
            else "; SageMaker also needs 0 <= MinValue < MaxValue < 1"
        )
        r.fail(
            join(here, "ScalingType"),
            "ReverseLogarithmic has no equivalent in kubetune's search space (it samples densest just below 1, "
            "where uniform or loguniform would not); use Linear, or tune y = 1 - x with Logarithmic scaling and "
            f"convert in the trainable{exact}",
        )
        return None
    if integer and low > high:
        r.fail(min_path, f"{low} is above MaxValue {high}")
        return None
    if not integer and low >= high:
        r.fail(min_path, f"{low:g} must be below MaxValue {high:g}")
        return None
    if scaling == "Logarithmic" and (low < 1 if integer else low <= 0):
        r.fail(min_path, f"Logarithmic scaling needs MinValue {'>= 1' if integer else '> 0'}, got {low:g}")
        return None
    log = scaling == "Logarithmic"
    kind = ("lograndint" if log else "randint") if integer else ("loguniform" if log else "uniform")
    return {kind: [low, high]}, scaling


def _bound(spec_range: Mapping[str, Any], key: str, here: str, *, integer: bool, r: Reader) -> int | float | None:
    """A MinValue or MaxValue: a string in the API, parsed strictly."""
    if key not in spec_range:
        return None
    text, path = spec_range[key], join(here, key)
    if not isinstance(text, str):
        example = "'1'" if integer else "'0.5'"
        r.fail(path, f"expected a string such as {example} (SageMaker sends bounds as strings), got {describe(text)}")
        return None
    if integer:
        if not INT.fullmatch(text):
            r.fail(path, f"{text!r} is not an integer")
            return None
        return int(text)
    value = number(text)
    if value is None:
        r.fail(path, f"{text!r} is not a number")
        return None
    return float(value)


def _categorical(
    spec_range: Mapping[str, Any], here: str, *, name: str, r: Reader, warnings: list[str]
) -> list[Any] | None:
    """The values, as numbers when every one parses as a number (and they stay distinct), else as the strings.

    Typing them is what a trainable written for Ray expects (``batch_size: 64``, not ``"64"``); SageMaker's own
    containers parse the strings themselves, so the warning tells a user porting such code what changed.
    """
    values: list[str] = []
    for i, value in enumerate(r.array(spec_range, "Values", here, min_length=1, max_length=30)):
        path = join(join(here, "Values"), i)
        if not isinstance(value, str):
            r.fail(path, f"expected a string (SageMaker sends values as strings), got {describe(value)}")
            return None
        if value in values:
            r.fail(path, f"{value!r} is listed twice")
            return None
        values.append(value)
    if not values:
        return None
    numbers = [n for n in map(number, values) if n is not None]
    if len(numbers) < len(values) or len(set(numbers)) < len(values):
        return values
    integers = all(isinstance(n, int) for n in numbers)
    typed: list[Any] = numbers if integers else [float(n) for n in numbers]
    warnings.append(
        f"{here} ({shown(name)}): every value is a number, so they are imported as "
        f"{'integers' if integers else 'floats'} {typed}, not strings"
    )
    return typed


def number(text: str) -> int | float | None:
    """``"3"`` → 3, ``"0.5"`` or ``"1e-3"`` → float; ``None`` for anything else (``"inf"``, ``"0x10"``, ``"1_0"``)."""
    if INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        value = float(text)
        return value if math.isfinite(value) else None
    return None


def typed_value(text: str) -> Any:
    """A static hyperparameter as a Ray trainable wants it: bool, int or float where it parses, else the string.

    ``true``/``false`` in any case are booleans (SageMaker's containers and the Python SDK's ``str(True)`` write
    both). Integers with leading zeros (``"007"``) stay strings: they are identifiers, and 7 would lose the zeros.
    """
    if text.lower() in _BOOL:
        return _BOOL[text.lower()]
    digits = text.lstrip("+-")
    if INT.fullmatch(text) and len(digits) > 1 and digits.startswith("0"):
        return text
    value = number(text)
    return text if value is None else value
