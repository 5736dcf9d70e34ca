"""Warm start: the finished trials of earlier experiments seed a new experiment's search (``spec.warmStart``).

**Sources.** Each ``spec.warmStart.from`` entry names an earlier experiment's directory, the one ``kubetune run``
or a RayJob's runner wrote (Ray's experiment state and ``kubetune-results.json``): a URI (``s3://…``) or a local
path is taken as written (a relative path must hold a ``/``, e.g. ``./first``), and a bare DNS label is an
experiment *name*, resolved in this experiment's own storage root as ``<storage root>/<name>``. That is where
the runner puts every experiment (``spec.storage.path``, else the operator's default storage, plus
``metadata.name``; the namespace is not part of the path), so on a cluster a TuneExperiment name finds the
experiment of that name that wrote to the same storage root. A source that is not there is a
:class:`~kubetune.spec.SpecError` naming its entry (``spec.warmStart.from[0]``), raised before Ray starts.

**Which trials.** A trial seeds the search when it finished (Ray ended it TERMINATED, and the earlier results
file, where it records why the trial ended, says ``finished``: a trial the scheduler stopped early is left out,
its last value is no final one), its last result holds a finite ``spec.metric``, and its config fits this
experiment's search space: every dimension present and inside its distribution, a choice of groups matching one
option exactly. Keys the space does not search (fixed ``config``) are ignored. The others are skipped and
counted by reason in the log and in the results file, never an error.

**How.** Only kubetune's own Optuna searcher takes them (the spec refuses the others, see
:mod:`kubetune.spec.loading`): each becomes a COMPLETE trial of the study with its final value, its parameters
named as :mod:`kubetune.engine.optuna_space` names them (``model/dropout``; a choice of groups as its option's
index, that option's parameters under ``optimizer/1/…``), and the user attributes ``warm_start_from`` (the
source's location) and ``warm_start_trial_id``. They are not Ray trials: they count against nothing
(``numSamples``, budgets) and are never this experiment's best trial, which is chosen among its own trials. A
resumed experiment keeps them in its saved study and does not read the sources again.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubetune.engine import results
from kubetune.engine.optuna_space import SEPARATOR, distribution
from kubetune.spec import Experiment, FieldError, SpecError
from kubetune.spec.spaces import Conditional, Dimension, Fixed, Space

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial

log = logging.getLogger(__name__)

#: A source that is a bare DNS label is an experiment name (the spec's metadata.name grammar).
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
#: Why an earlier trial was not seeded.
NOT_FINISHED, NO_OBJECTIVE = "not finished", "no objective"
OUTSIDE, MISSING = "outside the search space", "missing a parameter"


@dataclass(frozen=True)
class Record:
    """One trial of an earlier experiment, as read from its directory."""

    trial_id: str
    config: Mapping[str, Any]
    #: Its last reported ``spec.metric``; ``None`` when it never reported a finite one.
    value: float | None
    #: Whether it ran to its end (see the module doc).
    finished: bool


@dataclass(frozen=True)
class Seed:
    """An earlier trial as an Optuna trial of this experiment's space."""

    source: str
    trial_id: str
    params: dict[str, Any]
    distributions: dict[str, BaseDistribution]
    value: float

    def frozen(self) -> FrozenTrial:
        """The COMPLETE trial to add to the study; raises ValueError when a parameter is outside its distribution."""
        import optuna

        return optuna.trial.create_trial(
            params=self.params,
            distributions=self.distributions,
            value=self.value,
            user_attrs={"warm_start_from": self.source, "warm_start_trial_id": self.trial_id},
        )


@dataclass(frozen=True)
class Seeds:
    """Every source's location, the trials that seed the search, and how many were skipped, by reason."""

    sources: tuple[str, ...]
    trials: tuple[Seed, ...]
    skipped: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """What the results file records: ``{"from": [locations], "trials": seeded, "skipped": count}``."""
        return {"from": list(self.sources), "trials": len(self.trials), "skipped": sum(self.skipped.values())}


def resolve(source: str, *, root: str) -> str:
    """Where ``source`` is: a URI or path as written (absolute, no trailing ``/``), a name under ``root``."""
    if "://" in source:
        return source.rstrip("/")
    if _NAME.fullmatch(source):
        return results.join(root, source)
    return os.path.abspath(os.path.expanduser(source))


def load(exp: Experiment, *, root: str) -> Seeds:
    """Read every source of ``exp.spec.warmStart`` and choose the trials that seed its search (module doc).

    Raises :class:`~kubetune.spec.SpecError` naming each entry that holds no experiment.
    """
    assert exp.spec.warm_start is not None
    sources: list[str] = []
    chosen: list[Seed] = []
    skipped: Counter[str] = Counter()
    errors: list[FieldError] = []
    for index, entry in enumerate(exp.spec.warm_start.from_):
        location = resolve(entry, root=root)
        try:
            records = read(location, metric=exp.spec.primary_metric)
        except LookupError as e:
            errors.append(FieldError(f"spec.warmStart.from[{index}]", str(e.args[0])))
            continue
        seeds, skips = select(records, space=exp.space, source=location)
        sources.append(location)
        chosen += seeds
        skipped.update(skips)
        log.info("warm start: %d trials of %s seed the search%s", len(seeds), location, _skipped(skips))
    if errors:
        raise SpecError(errors)
    return Seeds(sources=tuple(sources), trials=tuple(chosen), skipped=dict(skipped))


def read(location: str, *, metric: str) -> list[Record]:
    """The trials of the experiment at ``location``; raises LookupError when there is none."""
    from ray import tune
    from ray.tune import ExperimentAnalysis

    try:
        found = tune.Tuner.can_restore(location)
    except (OSError, ValueError) as e:
        raise LookupError(f"cannot read {location}: {e}") from e
    if not found:
        raise LookupError(
            f"no earlier experiment at {location}: expected the directory an experiment run wrote (Ray's "
            f"experiment state and {results.RESULTS_FILE}); a bare name is looked up in this experiment's storage root"
        )
    ends = _ends(location)
    records = []
    for trial in ExperimentAnalysis(location).trials:
        reason = ends.get(trial.trial_id, {}).get("reason", "finished")
        records.append(
            Record(
                trial_id=trial.trial_id,
                config=dict(trial.config),
                value=_finite((trial.last_result or {}).get(metric)),
                finished=trial.status == "TERMINATED" and reason == "finished",
            )
        )
    return records


def _finite(value: Any) -> float | None:
    """A reported number as a float when it is finite (numpy scalars included, ``True`` not), else ``None``."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _ends(location: str) -> Mapping[str, Mapping[str, str]]:
    """Why each trial ended, from the earlier results file (empty when it has none or none is readable)."""
    try:
        return results.read(location).trial_ends
    except (OSError, ValueError, TypeError):
        return {}


def select(records: Iterable[Record], *, space: Space, source: str) -> tuple[list[Seed], dict[str, int]]:
    """The records that seed a search over ``space`` as :class:`Seed`\\ s, and the others counted by reason."""
    seeds: list[Seed] = []
    skipped: Counter[str] = Counter()
    for rec in records:
        if not rec.finished:
            skipped[NOT_FINISHED] += 1
            continue
        if rec.value is None:
            skipped[NO_OBJECTIVE] += 1
            continue
        found: dict[str, tuple[Any, BaseDistribution]] = {}
        if reason := _params(space, rec.config, prefix="", out=found):
            skipped[reason] += 1
            continue
        seed = Seed(
            source=source,
            trial_id=rec.trial_id,
            params={name: value for name, (value, _) in found.items()},
            distributions={name: dist for name, (_, dist) in found.items()},
            value=rec.value,
        )
        try:
            seed.frozen()  # Optuna's own check that each value lies in its distribution
        except (ValueError, TypeError):
            skipped[OUTSIDE] += 1
            continue
        seeds.append(seed)
    return seeds, dict(skipped)


def _params(space: Space, config: Any, *, prefix: str, out: dict[str, tuple[Any, BaseDistribution]]) -> str | None:
    """Collect ``config``'s value of each parameter of ``space`` under its Optuna name; a skip reason, or None."""
    from optuna.distributions import CategoricalDistribution

    if not isinstance(config, Mapping):
        return OUTSIDE
    for key, node in space.items():
        name = f"{prefix}{key}"
        if key not in config:
            return MISSING
        value = config[key]
        reason: str | None = None
        if isinstance(node, Dimension):
            out[name] = (value, distribution(node))
        elif isinstance(node, Fixed):
            reason = None if value == node.value else OUTSIDE
        elif isinstance(node, Conditional):
            index = _option(node, value)
            if index is None:
                return OUTSIDE
            out[name] = (index, CategoricalDistribution(list(range(len(node.options)))))
            option = node.options[index]
            if not isinstance(option, Fixed):
                reason = _params(option, value, prefix=f"{name}{SEPARATOR}{index}{SEPARATOR}", out=out)
        else:
            reason = _params(node, value, prefix=f"{name}{SEPARATOR}", out=out)
        if reason:
            return reason
    return None


def _option(node: Conditional, value: Any) -> int | None:
    """The option of a choice of groups that ``value`` was drawn from: a plain value equal to it, or a group with
    exactly its keys and the same fixed values."""
    for index, option in enumerate(node.options):
        if isinstance(option, Fixed):
            if option.value == value and not isinstance(value, Mapping):
                return index
        elif isinstance(value, Mapping) and set(value) == set(option):
            fixed = {k: n.value for k, n in option.items() if isinstance(n, Fixed)}
            if all(value[k] == v for k, v in fixed.items()):
                return index
    return None


def seed(searcher: Any, seeds: Seeds) -> None:
    """Add the seeds to kubetune's Optuna searcher as COMPLETE trials (the spec allows no other searcher)."""
    from kubetune.engine.optuna_bridge import OptunaBridge

    if not isinstance(searcher, OptunaBridge):
        raise SpecError.one(
            "spec.warmStart", f"{type(searcher).__name__} cannot be seeded; use search.algorithm optuna"
        )
    searcher.study.add_trials([s.frozen() for s in seeds.trials])


def describe(warm: Mapping[str, Any]) -> str:
    """The console line for a results file's ``warm_start``."""
    sources, skipped = len(warm.get("from", [])), int(warm.get("skipped", 0))
    noun = "experiment" if sources == 1 else "experiments"
    extra = f" ({skipped} skipped)" if skipped else ""
    return f"warm start: {warm.get('trials', 0)} trials of {sources} earlier {noun} seeded the search{extra}"


def _skipped(skips: Mapping[str, int]) -> str:
    if not skips:
        return ""
    parts = ", ".join(f"{n} {reason}" for reason, n in sorted(skips.items()))
    return f"; {sum(skips.values())} skipped ({parts})"
