"""From YAML text or a Kubernetes object to a validated :class:`Experiment`.

Validation happens in three passes, all of whose errors are reported together: the typed models (types, ranges,
unknown fields), the search-space grammar, then the rules that tie fields together (a searcher that cannot
sample a dimension, a scheduler that cannot work with a searcher, options that do not apply to a scheduler).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kubetune.spec import defaults
from kubetune.spec.errors import FieldError, SpecError, child_path, from_validation_error
from kubetune.spec.models import Algorithm, SchedulerType, Spec, TuneExperiment
from kubetune.spec.objectives import objective_errors
from kubetune.spec.spaces import (
    Conditional,
    Dimension,
    Fixed,
    Space,
    count_trials,
    iter_conditionals,
    iter_dimensions,
    parse_space,
)


@dataclass(frozen=True)
class Experiment:
    """A validated experiment: the resource as written plus its parsed search space and resolved defaults."""

    resource: TuneExperiment
    space: Space

    @property
    def name(self) -> str:
        return self.resource.metadata.name

    @property
    def namespace(self) -> str | None:
        return self.resource.metadata.namespace

    @property
    def spec(self) -> Spec:
        return self.resource.spec

    @property
    def algorithm(self) -> Algorithm:
        """The spec's search algorithm; else the default, or random search where the default cannot serve."""
        if self.spec.search.algorithm:
            return self.spec.search.algorithm
        return defaults.ALGORITHM if self._default_algorithm_fits() else defaults.FALLBACK_ALGORITHM

    def _default_algorithm_fits(self) -> bool:
        """Whether the default (model-based) searcher can take this space and scheduler: no ``grid`` dimension (a
        sampler does not enumerate), none it cannot sample (``normal``, non-scalar ``choice``), no ``pbt``."""
        if defaults.ALGORITHM not in _MODEL_BASED:
            return True
        if self.spec.scheduler.type == "pbt":
            return False
        if defaults.ALGORITHM == "bohb" and self.spec.scheduler.type not in (None, "hyperband"):
            return False
        if defaults.ALGORITHM not in CONDITIONAL_ALGORITHMS and iter_conditionals(self.space):
            return False
        for dim in iter_dimensions(self.space):
            if dim.kind in ("grid", "normal"):
                return False
            if dim.kind == "choice" and not all(isinstance(v, _SCALAR) for v in dim.args):
                return False
        return True

    @property
    def scheduler_type(self) -> SchedulerType:
        if self.spec.scheduler.type:
            return self.spec.scheduler.type
        if self.spec.multi_objective:
            return defaults.MULTI_OBJECTIVE_SCHEDULER
        return "hyperband" if self.algorithm == "bohb" else defaults.SCHEDULER

    @property
    def total_trials(self) -> int:
        return count_trials(self.space, self.spec.num_samples, finite_as_grid=self.algorithm == "grid")

    def to_dict(self) -> dict[str, Any]:
        """The resource as YAML-ready data (camelCase, unset fields omitted)."""
        return self.resource.model_dump(by_alias=True, exclude_none=True, exclude_unset=True)


def load_file(path: str | Path) -> Experiment:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SpecError.one("", f"cannot read {path}: {e.strerror or e}") from e
    return load_text(text, source=str(path))


def load_text(text: str, *, source: str = "<string>") -> Experiment:
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise SpecError.one("", f"{source} is not valid YAML{where}: {problem}") from e
    if len(docs) != 1:
        raise SpecError.one("", f"{source} must hold exactly one TuneExperiment document, found {len(docs)}")
    return load_object(docs[0])


def load_object(obj: Any) -> Experiment:
    """Validate a parsed document or a Kubernetes object (whose status and server metadata are ignored)."""
    if not isinstance(obj, Mapping):
        raise SpecError.one("", f"expected a TuneExperiment mapping, got {type(obj).__name__}")
    try:
        resource = TuneExperiment.model_validate(obj)
    except ValidationError as e:
        errors = list(from_validation_error(e, model=TuneExperiment).errors)
        # The space is checked even when other fields failed, so a user sees every problem at once.
        spec = obj.get("spec")
        if isinstance(spec, Mapping) and isinstance(spec.get("searchSpace"), Mapping):
            parse_space(spec["searchSpace"], path="spec.searchSpace", errors=errors)
        raise SpecError(errors) from None
    errors = []
    space = parse_space(resource.spec.search_space, path="spec.searchSpace", errors=errors)
    experiment = Experiment(resource=resource, space=space)
    if not errors:
        errors.extend(_cross_field_errors(experiment))
    if errors:
        raise SpecError(errors)
    return experiment


#: Scheduler options and the scheduler types they apply to.
_SCHEDULER_OPTIONS: dict[str, tuple[str, frozenset[str]]] = {
    "time_attr": ("timeAttr", frozenset({"asha", "hyperband", "median", "pbt"})),
    "max_t": ("maxT", frozenset({"asha", "hyperband"})),
    "grace_period": ("gracePeriod", frozenset({"asha", "median"})),
    "reduction_factor": ("reductionFactor", frozenset({"asha", "hyperband"})),
    "brackets": ("brackets", frozenset({"asha"})),
    "min_samples_required": ("minSamplesRequired", frozenset({"median"})),
    "perturbation_interval": ("perturbationInterval", frozenset({"pbt"})),
    "quantile_fraction": ("quantileFraction", frozenset({"pbt"})),
    "resample_probability": ("resampleProbability", frozenset({"pbt"})),
}

_MODEL_BASED = frozenset({"optuna", "hyperopt", "bayesopt", "bohb"})
#: Searchers that take a choice of groups (hyperopt only while no parameter name repeats across the groups).
CONDITIONAL_ALGORITHMS = frozenset({"random", "grid", "optuna", "hyperopt"})
#: Why the others cannot, by algorithm.
_NO_CONDITIONALS = {
    "bayesopt": "samples only uniform floats, not a choice",
    "bohb": "gets the space from Ray as flat ConfigSpace categories, without the conditions that would tie a "
    "group's parameters to its option",
}
_SCALAR = (str, int, float, bool, type(None))
#: Searchers that ``spec.warmStart`` can seed with earlier trials as already evaluated.
WARM_START_ALGORITHMS = frozenset({"optuna"})
#: Why the others cannot, by algorithm.
_NO_WARM_START = {
    "random": "samples without a model, so earlier results would change nothing",
    "grid": "enumerates the space without a model, so earlier results would change nothing",
    "hyperopt": "takes earlier points through Ray only as points_to_evaluate, which it runs again as new "
    "trials (Ray's HyperOptSearch has no evaluated_rewards)",
    "bayesopt": "registers earlier results only from a whole Ray analysis, without the checks that keep out "
    "trials outside this space",
    "bohb": "takes earlier points through Ray only as points_to_evaluate, which it runs again as new trials",
}


def _cross_field_errors(exp: Experiment) -> list[FieldError]:
    spec, algorithm, scheduler = exp.spec, exp.algorithm, exp.scheduler_type
    errors: list[FieldError] = []
    for key in spec.config:
        if key in spec.search_space:
            errors.append(
                FieldError(f"spec.config.{key}", "also in spec.searchSpace; a parameter is either searched or fixed")
            )
    dims = iter_dimensions(exp.space)
    for dim in dims:
        if dim.kind == "grid" and algorithm in _MODEL_BASED:
            errors.append(
                FieldError(
                    dim.path,
                    f"grid dimensions need search.algorithm random or grid ({algorithm} samples, it does not "
                    "enumerate); use choice",
                )
            )
        elif algorithm == "grid" and dim.kind not in ("grid", "choice"):
            errors.append(FieldError(dim.path, "search.algorithm grid needs finite dimensions (grid or choice)"))
        elif algorithm == "bayesopt" and dim.kind != "uniform":
            errors.append(FieldError(dim.path, "search.algorithm bayesopt supports only uniform dimensions"))
        elif algorithm == "optuna" and dim.kind == "normal":
            errors.append(FieldError(dim.path, "search.algorithm optuna has no normal distribution; use uniform"))
        elif algorithm == "optuna" and dim.kind == "choice" and not all(isinstance(v, _SCALAR) for v in dim.args):
            errors.append(
                FieldError(dim.path, "search.algorithm optuna takes only scalar choices (numbers, strings, booleans)")
            )
    errors.extend(_conditional_errors(exp.space, algorithm=algorithm, scheduler=scheduler))
    errors.extend(objective_errors(spec, algorithm=algorithm, scheduler=scheduler))
    errors.extend(_warm_start_errors(exp))
    if algorithm == "bohb" and scheduler != "hyperband":
        errors.append(
            FieldError(
                "spec.scheduler.type",
                f"search.algorithm bohb runs with its own hyperband scheduler, not {scheduler}",
            )
        )
    if scheduler == "pbt":
        if algorithm != "random":
            errors.append(
                FieldError(
                    "spec.search.algorithm",
                    f"scheduler pbt explores by mutating live trials and needs random search, not {algorithm}",
                )
            )
        if all(d.kind == "grid" for d in dims):
            errors.append(
                FieldError(
                    "spec.searchSpace",
                    "scheduler pbt needs at least one dimension that is not grid to mutate",
                )
            )
    options = spec.scheduler.model_fields_set - {"type"}
    for field in sorted(options):
        alias, applies = _SCHEDULER_OPTIONS[field]
        if scheduler not in applies:
            errors.append(
                FieldError(
                    f"spec.scheduler.{alias}",
                    f"does not apply to scheduler {scheduler} (only {', '.join(sorted(applies))})",
                )
            )
    sched = spec.scheduler
    if sched.grace_period and sched.max_t and sched.grace_period > sched.max_t:
        errors.append(FieldError("spec.scheduler.gracePeriod", f"must be <= maxT ({sched.max_t})"))
    if spec.cluster.worker_group and spec.cluster.cluster_selector:
        errors.append(
            FieldError(
                "spec.cluster",
                "set workerGroup (a cluster per experiment) or clusterSelector (a long-lived cluster), not both",
            )
        )
    if spec.cluster.cluster_selector:
        for field, alias in (("queue_name", "queueName"), ("priority_class_name", "priorityClassName"),
                             ("fixed_workers", "fixedWorkers")):  # fmt: skip
            if getattr(spec.cluster, field) is not None:
                errors.append(FieldError(f"spec.cluster.{alias}", "a long-lived RayCluster (clusterSelector) is "
                                         "neither queued nor sized by the experiment"))  # fmt: skip
    errors.extend(_budget_errors(spec))
    return errors


def _budget_errors(spec: Spec) -> list[FieldError]:
    """A budget that could never be spent: none set, or GPU-hours where no trial reserves a GPU."""
    if spec.budget is None:
        return []
    if spec.budget.gpu_hours is None and spec.budget.trial_hours is None:
        return [FieldError("spec.budget", "set gpuHours or trialHours (an empty budget limits nothing)")]
    if spec.budget.gpu_hours is not None and spec.resources_per_trial.gpu == 0:
        return [FieldError("spec.budget.gpuHours", "no trial reserves a GPU (spec.resourcesPerTrial.gpu is 0), "
                           "so no GPU-hour is ever spent; use trialHours")]  # fmt: skip
    return []


def _warm_start_errors(exp: Experiment) -> list[FieldError]:
    """A searcher that cannot take earlier trials as evaluated ones, a source listed twice, or this experiment."""
    warm = exp.spec.warm_start
    if warm is None:
        return []
    errors: list[FieldError] = []
    if exp.algorithm not in WARM_START_ALGORITHMS:
        errors.append(
            FieldError(
                "spec.warmStart",
                f"search.algorithm {exp.algorithm} cannot be seeded with earlier trials: it "
                f"{_NO_WARM_START[exp.algorithm]}; use search.algorithm optuna",
            )
        )
    seen: set[str] = set()
    for index, source in enumerate(warm.from_):
        path = f"spec.warmStart.from[{index}]"
        if source in seen:
            errors.append(FieldError(path, f"{source!r} is listed twice"))
        elif source.rstrip("/") == exp.name:
            errors.append(FieldError(path, f"{source!r} is this experiment itself; name earlier experiments"))
        seen.add(source)
    return errors


def _conditional_errors(space: Space, *, algorithm: str, scheduler: str) -> list[FieldError]:
    """A choice of groups where the searcher or the scheduler cannot keep a trial's parameters to one group."""
    conditionals = iter_conditionals(space)
    outermost = [c for c in conditionals if not any(c.path.startswith(f"{o.path}[") for o in conditionals)]
    errors: list[FieldError] = []
    for cond in outermost:
        if algorithm in _NO_CONDITIONALS:
            errors.append(
                FieldError(
                    cond.path,
                    f"search.algorithm {algorithm} cannot express a choice of groups: it "
                    f"{_NO_CONDITIONALS[algorithm]}; use optuna, hyperopt or random",
                )
            )
        if scheduler == "pbt":
            errors.append(
                FieldError(
                    cond.path,
                    "scheduler pbt mutates parameters one at a time and cannot keep a choice of groups whole; "
                    "use another scheduler",
                )
            )
    if algorithm == "hyperopt":
        errors.extend(_hyperopt_label_clashes(space, label="", path="spec.searchSpace", seen={}))
    return errors


def _hyperopt_label_clashes(space: Space, *, label: str, path: str, seen: dict[str, str]) -> list[FieldError]:
    """Ray labels a group's parameters for hyperopt by their names alone (``optimizer/lr`` for the ``lr`` of every
    option), and hyperopt refuses a label twice: name the later parameter of each clash."""
    errors: list[FieldError] = []
    for key, node in space.items():
        here, name = child_path(path, key), f"{label}/{key}" if label else key
        if isinstance(node, Dimension | Conditional):
            if name in seen:
                errors.append(
                    FieldError(
                        here,
                        f"search.algorithm hyperopt cannot tell it from {seen[name]}: Ray labels both {name!r} and "
                        "hyperopt refuses a label twice; rename one, or use optuna or random",
                    )
                )
            seen.setdefault(name, here)
        if isinstance(node, Conditional):
            for index, option in enumerate(node.options):
                if not isinstance(option, Fixed):
                    errors += _hyperopt_label_clashes(option, label=name, path=f"{node.path}[{index}]", seen=seen)
        elif isinstance(node, dict):
            errors += _hyperopt_label_clashes(node, label=name, path=here, seen=seen)
    return errors
