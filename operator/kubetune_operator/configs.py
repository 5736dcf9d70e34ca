"""Frozen dataclasses from plain YAML data, checking every key and type: the operator's settings file format.

Keys are the field names in camelCase or snake_case; an unknown key is an error naming it, with the closest known
one (``rayjob.pools[0].gpu: unknown setting (did you mean gpus?)``).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar, Union

from kubetune_operator.errors import SettingsError

T = TypeVar("T")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def build(cls: type[T], data: Any, *, path: str) -> T:
    """An instance of the dataclass ``cls`` from plain YAML data, checking keys and types."""
    if not isinstance(data, Mapping):
        raise SettingsError(path, f"expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    names = {_camel(n): n for n in fields} | {n: n for n in fields}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        here = f"{path}.{key}" if path else str(key)
        name = names.get(str(key))
        if name is None:
            close = difflib.get_close_matches(str(key), [_camel(n) for n in fields], n=1)
            raise SettingsError(here, "unknown setting" + (f" (did you mean {close[0]}?)" if close else ""))
        kwargs[name] = _convert(hints[name], value, here)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        if isinstance(e, SettingsError):
            raise
        raise SettingsError(path, str(e)) from e


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path=path)  # type: ignore[arg-type]
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        return _convert(options[0], value, path) if len(options) == 1 else value
    if origin is tuple:
        if not isinstance(value, list):
            raise SettingsError(path, f"expected a list, got {type(value).__name__}")
        return tuple(_convert(args[0], item, f"{path}[{i}]") for i, item in enumerate(value))
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise SettingsError(path, f"expected a mapping, got {type(value).__name__}")
        value_type = args[1] if len(args) == 2 else Any
        return {str(k): _convert(value_type, v, f"{path}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise SettingsError(path, f"expected a number, got {value!r}")
    if tp in (int, str, bool) and not (isinstance(value, tp) and (tp is bool or not isinstance(value, bool))):
        raise SettingsError(path, f"expected {tp.__name__}, got {value!r}")
    return value
