"""The runner: a validated experiment → a Ray Tune ``Tuner`` → a results file.

The same code runs in-process for ``kubetune run`` (a local Ray started for the purpose) and as a RayJob's
entrypoint (``address="auto"``: the cluster KubeRay created). When the storage path already holds this
experiment, e.g. because KubeRay re-ran the entrypoint after the head pod died, it is restored instead of
started over: finished trials are kept, unfinished ones resume from their last checkpoint and errored ones are
restarted. Tune's experiment snapshot, written at most every ~10 s, says which trials there are and which
finished; each unfinished trial then continues from its newest checkpoint on storage, which may be newer than the
snapshot's (:mod:`kubetune.engine.resuming`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubetune.engine import (
    configuring,
    console,
    errors,
    limits,
    loggers,
    pareto,
    reasons,
    restoring,
    results,
    stopping,
    storage,
    usage,
    verdicts,
    warmstart,
)  # fmt: skip
from kubetune.engine.optuna_bridge import ForgetUnknownTrials, OptunaBridge
from kubetune.engine.resuming import CheckpointRecord
from kubetune.engine.trainables import resolve, trial_resources, with_resources, worker_pythonpath
from kubetune.spec import Experiment, defaults
from kubetune.spec.spaces import to_param_space

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """How to run, as opposed to what to run (the spec)."""

    #: Ray address: ``None`` starts a local Ray; ``"auto"`` joins the cluster this process runs in (a RayJob).
    address: str | None = None
    #: Overrides ``spec.storage.path`` (a local path or a pyarrow URI).
    storage_path: str | None = None
    #: CPUs for a local Ray; ``None`` lets Ray detect them.
    num_cpus: int | None = None
    #: Extra Ray Tune callbacks, e.g. the live-metrics reporter.
    callbacks: Sequence[Any] = field(default_factory=tuple)
    #: Ray Tune console verbosity: 0 silent, 1 default, 2 verbose.
    verbose: int = 1
    #: Restore an experiment found at the storage path instead of starting over.
    resume: bool = True
    #: Keep Ray Tune's TensorBoard logger (off: it costs about a third of the driver's time; see loggers.py).
    tensorboard: bool = False
    #: An extra Ray Tune ``Stopper``, checked alongside ``spec.stop`` (the search benchmarks stop at a budget).
    stopper: Any = None


def storage_root(exp: Experiment, options: RunOptions) -> str:
    """Absolute local path or URI under which the experiment directory lives."""
    path = options.storage_path or exp.spec.storage.path or defaults.STORAGE_PATH
    if "://" in path:
        return path
    return os.path.abspath(os.path.expanduser(path))  # trials run in another cwd: never relative


def param_space(exp: Experiment) -> dict[str, Any]:
    """Fixed ``spec.config`` deep-merged with the search space (the spec forbids a key in both)."""
    return _merge(exp.spec.config, to_param_space(exp.space, finite_as_grid=exp.algorithm == "grid"))


def run_experiment(
    exp: Experiment, *, options: RunOptions = RunOptions(), trainable: Callable[..., Any] | None = None
) -> results.RunSummary:
    """Run (or resume) ``exp`` until it ends and write its results file. Returns the summary.

    The summary says which trials did not finish and why (``stopped_by``): a time budget, an interrupt (SIGINT,
    which Ray turns into a normal return), fail-fast or ``options.stopper``. Raises :class:`~.errors.RunFailed` when Ray
    aborts the experiment itself, e.g. because a trial reported results without ``spec.metric``.
    """
    fn = trainable or resolve(exp.spec.trainable)
    root = storage_root(exp, options)
    experiment_path = results.join(root, exp.name)
    seeds = _warm_start(exp, options, root=root, experiment_path=experiment_path)  # a bad source: before Ray
    started_ray = _ensure_ray(options)
    try:
        with console.ray_console(), stopping.sigint_restored():
            return _run(exp, fn, options=options, root=root, experiment_path=experiment_path, seeds=seeds)
    finally:
        if started_ray:  # also stops the forwarding of worker logs, which would print after the summary
            import ray

            ray.shutdown()


def _warm_start(exp: Experiment, options: RunOptions, *, root: str, experiment_path: str) -> warmstart.Seeds | None:
    """The earlier trials that seed a new run (``spec.warmStart``); none for a resumed run, whose saved study
    already holds them."""
    if exp.spec.warm_start is None:
        return None
    from ray import tune

    if options.resume and tune.Tuner.can_restore(experiment_path):
        return None
    with console.ray_console():
        return warmstart.load(exp, root=root)


def _run(
    exp: Experiment,
    fn: Callable[..., Any],
    *,
    options: RunOptions,
    root: str,
    experiment_path: str,
    seeds: warmstart.Seeds | None = None,
) -> results.RunSummary:
    import ray
    from ray import tune

    # Only a local Ray lacks GPUs for good; a cluster's autoscaler may still add GPU nodes.
    gpus_available = bool(options.address) or ray.cluster_resources().get("GPU", 0) > 0
    resources = trial_resources(exp, gpus_available=gpus_available)
    wrapped = with_resources(fn, resources)
    # First, so that their states, which Ray restores by position in this list, do not move with options.callbacks;
    # the ledger of why trials ended before the callbacks that report it.
    watch = stopping.RunWatch()
    held = usage.TrialUsage()
    budget = _budget_stopper(exp, held)
    filesystem = storage.atomic_filesystem(root)
    resumed = options.resume and tune.Tuner.can_restore(experiment_path, storage_filesystem=filesystem)
    previous = _previous_summary(experiment_path) if resumed else None
    # The warm start of this run, or of the run being resumed (whose saved study already holds the seeds).
    warm = seeds.to_dict() if seeds is not None else previous.warm_start if previous is not None else None
    ends = _trial_ends(exp, options, watch, budget)
    _connect_reporters(options, ends=ends, held=held, seeded=int(warm.get("trials", 0)) if warm else None)
    callbacks = [
        watch, ends, held, *options.callbacks, CheckpointRecord(),
        *loggers.trial_loggers(tensorboard=options.tensorboard),
    ]  # fmt: skip
    # A resumed run that had reached its goal stays over by itself: Ray saved its searcher finished.
    trial_limits = configuring.trial_limits(exp)
    stop = configuring.stop_criteria(
        dict(exp.spec.stop), trial_limits.stopper() if trial_limits else None, budget, options.stopper
    )
    if resumed:
        log.info("restoring experiment %s from %s", exp.name, experiment_path)
        tuner = tune.Tuner.restore(
            experiment_path,
            trainable=wrapped,
            resume_unfinished=True,
            resume_errored=False,
            restart_errored=True,
            param_space=param_space(exp),
            storage_filesystem=filesystem,
        )
        searcher = restoring.restored_searcher(tuner)
        if isinstance(searcher, OptunaBridge):  # last: Ray restores callback states by position
            callbacks.append(ForgetUnknownTrials(searcher))
        restoring.replace_callbacks(tuner, callbacks, stop=stop)
        verdicts.attach(restoring.restored_scheduler(tuner), ends)
    else:
        tuner = tune.Tuner(
            wrapped,
            param_space=param_space(exp),
            tune_config=configuring.tune_config(exp, resources, ends, seeds=seeds),
            run_config=configuring.run_config(exp, root=root, callbacks=callbacks, verbose=options.verbose, stop=stop),
        )
    started = time.monotonic()
    try:
        with loggers.without_automatic_loggers():
            grid = tuner.fit()
    except Exception as e:  # Ray aborted the whole experiment: say why in one line, keep the cause chained
        raise errors.explain(e, metric=exp.spec.metrics) from e
    states = results.count_states(grid, finished=watch.finished, total_trials=exp.total_trials)
    ended = limits.outcomes((grid[i].metrics or {} for i in range(len(grid))), trial_limits)
    cause: str | None = stopping.cause(
        unfinished=sum(n for state, n in states.items() if state in results.UNFINISHED),
        interrupted=watch.interrupted,
        goal_reached=ended.goal_reached_by is not None,
        budget_seconds=exp.spec.time_budget_seconds,
        elapsed_seconds=time.monotonic() - started,
        compute_spent=budget is not None and budget.spent() is not None,
        fail_fast=exp.spec.failure.fail_fast,
        errors=states.get("ERROR", 0),
        stopper=options.stopper is not None,
    )
    if cause is None and previous is not None:  # Ray keeps what a budget cut short TERMINATED: nothing reran
        cause = previous.stopped_by
    summary = results.summarise(
        grid,
        experiment=exp.name,
        namespace=exp.namespace,
        metric=exp.spec.primary_metric,
        mode=exp.spec.primary_mode,
        experiment_path=experiment_path,
        trainable=exp.spec.trainable,
        resumed=resumed,
        finished=watch.finished,
        total_trials=exp.total_trials,
        stopped_by=cause,
    )
    summary = dataclasses.replace(
        summary, goal_reached_by=ended.goal_reached_by, timed_out_trials=list(ended.timed_out), warm_start=warm
    )
    summary = results.with_ends(summary, {t: e.to_dict() for t, e in ends.ends.items()})
    if exp.spec.multi_objective:
        summary = pareto.with_front(summary, grid, spec=exp.spec, finished=watch.finished)
    summary = results.with_usage(summary, {t: h.to_dict() for t, h in held.trials.items()})
    results.write(summary)
    return summary


def _previous_summary(experiment_path: str) -> results.RunSummary | None:
    """The results file of the run being resumed, if it left a readable one."""
    try:
        return results.read(experiment_path)
    except (OSError, ValueError, TypeError):
        return None


def _budget_stopper(exp: Experiment, held: usage.TrialUsage) -> usage.BudgetStopper | None:
    """``spec.budget`` as a stopper reading ``held``; None without one."""
    spec_budget = exp.spec.budget
    if spec_budget is None:
        return None
    budget = usage.Budget(gpu_hours=spec_budget.gpu_hours, trial_hours=spec_budget.trial_hours)
    return usage.BudgetStopper(budget, held) if budget else None


def _trial_ends(
    exp: Experiment, options: RunOptions, watch: stopping.RunWatch, budget: usage.BudgetStopper | None
) -> reasons.TrialEnds:
    """The ledger of why trials end."""
    spec = exp.spec
    return reasons.TrialEnds(
        stop=dict(spec.stop), limits=configuring.trial_limits(exp), budget_seconds=spec.time_budget_seconds,
        fail_fast=spec.failure.fail_fast, stopper=options.stopper is not None, watch=watch, budget=budget,
    )  # fmt: skip


def _connect_reporters(
    options: RunOptions, *, ends: reasons.TrialEnds, held: usage.TrialUsage, seeded: int | None
) -> None:
    """Hand the live reporters why trials ended, what they held and how many earlier trials seeded the search."""
    from kubetune.reporting.callback import ReportingCallback

    for callback in options.callbacks:
        if isinstance(callback, ReportingCallback):
            callback.ends, callback.usage, callback.seeded = ends, held, seeded


def _ensure_ray(options: RunOptions) -> bool:
    """Connect to (or start) Ray unless this process already has; returns whether it did."""
    import ray

    if ray.is_initialized():
        return False
    runtime_env = {
        "env_vars": {"PYTHONPATH": worker_pythonpath()},
        "worker_process_setup_hook": console.WORKER_SETUP_HOOK,
    }
    if options.address:
        ray.init(address=options.address, runtime_env=runtime_env)
    else:
        ray.init(num_cpus=options.num_cpus, include_dashboard=False, runtime_env=runtime_env)
    return True


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
