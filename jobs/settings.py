"""A job's settings, declared once: fields that carry their default, help and checks; config and flags follow.

Each job's ``TrialSettings`` subclasses :class:`Settings` and declares every key of a trial's config once, as a
:func:`setting` field. From that one declaration come

- :meth:`Settings.from_config`: a Tune config dict parsed into the settings. Search algorithms hand over numpy
  scalars, and some of them whole floats for integer parameters (HyperOpt's ``quniform`` returns ``3.0``); values
  are coerced to plain Python types and checked, and every error is a ``ValueError`` naming the key, worded the
  same way in every job: ``config['lr'] must be > 0, got -1.0``;
- :meth:`Settings.add_arguments` and :meth:`Settings.config_from_args`: the command line of ``python -m
  jobs.<name>.trainable``, one ``--flag`` per key, whose help repeats the default (see :mod:`jobs.smoke`).

Unknown keys. A config key that no field declares is an error naming it: a typo (``epoch``) or a key meant for
another job would otherwise be ignored without a word, and the trial would run with a default it never asked for.
Two kinds of keys are not the job's and pass: keys that start with ``__``, which Ray's search algorithms add to a
trial's config for their own bookkeeping (the ``Repeater``'s ``__trial_index__``); and, in a job that declares an
:func:`extra_keys` field, every other key, which that field collects (the XGBoost job passes them to XGBoost).

Groups. A setting declared with ``variants`` takes a mapping, a group of keys, such as an option of a search
space's choice of groups (``{name: adam, lr: 0.001, beta1: 0.9}``): its ``name`` picks one of the variants, a
:class:`Settings` class that parses the rest as a config of its own, so the same errors name the key inside the
group (``config['optimizer']['beta1'] is not a setting of optimizer 'sgd'; it reads lr, momentum``). Declared with
``replaces``, the group stands in for flat keys: setting both is an error, and the flat keys then parse as ``None``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass
from typing import Any, ClassVar, TypeVar, dataclass_transform

from jobs.values import Rule, coerce, invalid, listed

#: Config keys starting with this belong to Ray's search algorithms (``__trial_index__``), not to the job.
RESERVED_PREFIX = "__"

_METADATA = "kubetune.setting"

S = TypeVar("S", bound="Settings")

__all__ = ["RESERVED_PREFIX", "Rule", "Settings", "extra_keys", "invalid", "setting"]


def setting(
    *,
    default: Any = MISSING,
    help: str,
    example: Any = None,
    at_least: float | None = None,
    above: float | None = None,
    below: float | None = None,
    one_of: Sequence[str] | None = None,
    why: str | None = None,
    resolve: Callable[[Any], Any] | None = None,
    group: str | None = None,
    variants: Mapping[str, type[Settings]] | None = None,
    variant_key: str = "name",
    replaces: Sequence[str] = (),
) -> Any:
    """A field of a :class:`Settings` class: one config key and one command-line flag.

    ``default``: the value when the config lacks the key; without one the key is required (the search space or
    the experiment's ``config`` must set it). ``example``, when given, is the flag's default instead: the value of
    a one-trial run by hand.
    ``help`` explains the key on ``--help``, which appends the default. ``at_least``/``above``/``below`` bound a
    number (``why`` says why, in the error); ``one_of`` lists the allowed strings. ``resolve`` turns the raw value
    (``None`` when unset) into the setting, for locations: a relative path made absolute, ``None`` made the default
    directory. ``group`` labels fields that go somewhere together (:meth:`Settings.group`).
    ``variants`` makes the setting a group of keys (a mapping; the module says how it parses), its
    ``variant_key`` naming the variant; ``replaces`` lists the flat keys the group stands in for. A group has no
    command-line flag.
    """
    rule = Rule(
        help=help,
        example=example,
        at_least=at_least,
        above=above,
        below=below,
        one_of=tuple(one_of) if one_of is not None else None,
        why=why,
        resolve=resolve,
        group=group,
        variants=dict(variants) if variants is not None else None,
        variant_key=variant_key,
        replaces=tuple(replaces),
    )
    return dataclasses.field(default=default, metadata={_METADATA: rule})


def extra_keys(*, default_factory: Callable[[], Mapping[str, Any]] = dict, help: str) -> Any:
    """The field that collects every config key no other field declares, instead of rejecting it.

    Pass ``default_factory=dict`` at the call: type checkers see from it that the field has a default.
    """
    return dataclasses.field(default_factory=default_factory, metadata={_METADATA: Rule(help=help, extra=True)})


@dataclass(frozen=True)
class _Field:
    """A declared field with its resolved type: what parsing and the flags need of it."""

    name: str
    kind: type
    optional: bool
    default: Any
    rule: Rule

    @property
    def required(self) -> bool:
        return self.default is MISSING

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def parse(self, config: Mapping[str, Any], *, where: str = "config", replaced: bool = False) -> Any:
        """This field's value from ``config``: the default when absent, else coerced and checked.

        ``where`` names the config in errors; ``replaced``: a group in the config stands in for this field.
        """
        if self.name not in config:
            if replaced:
                return None
            if self.required:
                raise ValueError(f"{where}[{self.name!r}] is required (the search space or `config` must set it)")
            return self.rule.resolve(self.default) if self.rule.resolve else self.default
        raw = config[self.name]
        if self.rule.resolve is not None:
            return self.rule.resolve(raw)
        if raw is None and self.optional:
            return None
        if self.rule.variants is not None:
            return self._parse_group(raw, f"{where}[{self.name!r}]", self.rule.variants)
        value = coerce(f"{where}[{self.name!r}]", self.kind, raw)
        self.check(value, where=where)
        return value

    def _parse_group(self, raw: Any, here: str, variants: Mapping[str, type[Settings]]) -> Settings:
        """A group's mapping parsed by the variant its ``variant_key`` names (see the module)."""
        key = self.rule.variant_key
        names = listed(variants)
        if not isinstance(raw, Mapping):
            raise ValueError(f"{here} must be a group of keys (a mapping whose {key!r} is {names}), got {raw!r}")
        if key not in raw:
            raise ValueError(f"{here}[{key!r}] is required: {names}")
        name = coerce(f"{here}[{key!r}]", str, raw[key])
        if name not in variants:
            raise ValueError(f"{here}[{key!r}] must be {names}, got {name!r}")
        rest = {k: v for k, v in raw.items() if k != key}
        return variants[name]._parse(rest, where=here, owner=f"{self.name} {name!r}")

    def check(self, value: Any, *, where: str = "config") -> None:
        rule = self.rule
        if rule.one_of is not None and value not in rule.one_of:
            raise invalid(self.name, listed(rule.one_of), repr(value), where=where)
        requirement = rule.requirement()
        if requirement is not None and not rule.allows(value):
            raise invalid(self.name, requirement, value, where=where)


def _fields(cls: type[Settings]) -> dict[str, _Field]:
    """The declared fields of a settings class, in declaration order, with their types resolved."""
    hints = typing.get_type_hints(cls)
    found: dict[str, _Field] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]  # every subclass is made a dataclass
        rule = field.metadata.get(_METADATA)
        if rule is None:
            raise TypeError(f"{cls.__name__}.{field.name} is not declared with setting() or extra_keys()")
        kind, optional = _unwrap(hints[field.name])
        default = field.default_factory() if field.default_factory is not MISSING else field.default
        found[field.name] = _Field(field.name, kind, optional, default, rule)
    for f in found.values():
        wrong = [name for name in f.rule.replaces if name not in found or not found[name].optional]
        if wrong:
            raise TypeError(f"{cls.__name__}.{f.name} replaces {', '.join(wrong)}: declare each, typed `... | None`")
    return found


def _unwrap(hint: Any) -> tuple[type, bool]:
    """``int | None`` -> ``(int, True)``; ``float`` -> ``(float, False)``; other hints -> ``(object, ...)``."""
    optional = False
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        hint = args[0] if len(args) == 1 else object
    return (hint if hint in (bool, int, float, str) else object), optional


@dataclass_transform(frozen_default=True, field_specifiers=(setting, extra_keys))
class Settings:
    """Base of a job's ``TrialSettings``: every subclass is a frozen dataclass of :func:`setting` fields."""

    #: Caches the resolved fields of each subclass (``typing.get_type_hints`` is not cheap).
    _declared: ClassVar[dict[type, dict[str, _Field]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(frozen=True)(cls)

    @classmethod
    def declared(cls) -> dict[str, _Field]:
        """The fields, by config key, in declaration order."""
        if cls not in Settings._declared:
            Settings._declared[cls] = _fields(cls)
        return Settings._declared[cls]

    @classmethod
    def from_config(cls: type[S], config: Mapping[str, Any]) -> S:
        """Parse a trial's config; ``ValueError`` names the first key that is unknown, missing or bad."""
        return cls._parse(config, where="config", owner="this job (a typo, or meant for another job?)")

    @classmethod
    def _parse(cls: type[S], config: Mapping[str, Any], *, where: str, owner: str) -> S:
        """:meth:`from_config` of ``config``, which errors call ``where`` and whose keys are ``owner``'s settings."""
        declared = cls.declared()
        extra_field = next((f.name for f in declared.values() if f.rule.extra), None)
        extra: dict[str, Any] = {}
        for key, value in config.items():
            if key in declared or key.startswith(RESERVED_PREFIX):
                continue
            if extra_field is None:
                raise ValueError(f"{where}[{key!r}] is not a setting of {owner}; it reads {', '.join(declared)}")
            extra[key] = value
        replaced: set[str] = set()
        for f in declared.values():
            if f.rule.replaces and config.get(f.name) is not None:
                for name in f.rule.replaces:
                    if name in config:
                        raise ValueError(
                            f"{where}[{name!r}] cannot be set together with {where}[{f.name!r}], "
                            f"the group that replaces it"
                        )
                replaced.update(f.rule.replaces)
        values = {
            name: extra if f.rule.extra else f.parse(config, where=where, replaced=name in replaced)
            for name, f in declared.items()
        }
        settings = cls(**values)
        settings.check()
        return settings

    @classmethod
    def read(cls, config: Mapping[str, Any], key: str) -> Any:
        """One setting from a config that may hold only some keys (``evaluate`` reads its data location)."""
        return cls.declared()[key].parse(config)

    @classmethod
    def keys(cls, group: str) -> tuple[str, ...]:
        """The keys of the fields declared with ``group=group``, in declaration order."""
        return tuple(name for name, f in cls.declared().items() if f.rule.group == group)

    def group(self, group: str) -> dict[str, Any]:
        """The values of the fields declared with ``group=group``, by key (keyword arguments, typically)."""
        return {name: getattr(self, name) for name in self.keys(group)}

    def check(self) -> None:
        """Checks across fields, after every field passed its own; raise a ``ValueError`` naming a key."""

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """One flag per setting (``batch_size`` -> ``--batch-size``), defaulting to the setting's default.

        A flag defaults to the setting's ``example`` where it has one (a required setting's should). Booleans get
        ``--x``/``--no-x``; ``one_of`` becomes argparse ``choices``.
        """
        for f in cls.declared().values():
            if f.rule.extra or f.rule.variants is not None:
                continue
            default = f.rule.example if f.rule.example is not None else f.default
            if f.kind is bool:
                parser.add_argument(f.flag, action=argparse.BooleanOptionalAction, default=default, help=f.rule.help)
                continue
            kind = f.kind if f.kind in (int, float) else str
            parser.add_argument(f.flag, type=kind, default=default, choices=f.rule.one_of, help=f.rule.help)

    @classmethod
    def config_from_args(cls, args: argparse.Namespace) -> dict[str, Any]:
        """The trial config the parsed flags describe: locations resolved (and made strings), unset ones left out."""
        config: dict[str, Any] = {}
        for name, f in cls.declared().items():
            if f.rule.extra or f.rule.variants is not None:
                continue
            value = getattr(args, name)
            if f.rule.resolve is not None:
                value = f.rule.resolve(value)
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
            if value is not None:
                config[name] = value
        return config
