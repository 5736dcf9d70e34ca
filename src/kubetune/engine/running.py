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

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubetune.engine import console, errors, loggers, results, searching, stopping
from kubetune.engine.resuming import CheckpointRecord
from kubetune.engine.scheduling import build_scheduler
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
    started_ray = _ensure_ray(options)
    try:
        with console.ray_console(), stopping.sigint_restored():
            return _run(exp, fn, options=options, root=root, experiment_path=experiment_path)
    finally:
        if started_ray:  # also stops the forwarding of worker logs, which would print after the summary
            import ray

            ray.shutdown()


def _run(
    exp: Experiment, fn: Callable[..., Any], *, options: RunOptions, root: str, experiment_path: str
) -> results.RunSummary:
    import ray
    from ray import tune

    # Only a local Ray lacks GPUs for good; a cluster's autoscaler may still add GPU nodes.
    gpus_available = bool(options.address) or ray.cluster_resources().get("GPU", 0) > 0
    resources = trial_resources(exp, gpus_available=gpus_available)
    wrapped = with_resources(fn, resources)
    # First, so that its state, which Ray restores by position in this list, does not move with options.callbacks.
    watch = stopping.RunWatch()
    callbacks = [watch, *options.callbacks, CheckpointRecord(), *loggers.trial_loggers(tensorboard=options.tensorboard)]
    resumed = options.resume and tune.Tuner.can_restore(experiment_path)
    previous = _previous_summary(experiment_path) if resumed else None
    if resumed:
        log.info("restoring experiment %s from %s", exp.name, experiment_path)
        tuner = tune.Tuner.restore(
            experiment_path,
            trainable=wrapped,
            resume_unfinished=True,
            resume_errored=False,
            restart_errored=True,
            param_space=param_space(exp),
        )
        _replace_callbacks(tuner, callbacks)
    else:
        tuner = tune.Tuner(
            wrapped,
            param_space=param_space(exp),
            tune_config=_tune_config(exp, resources),
            run_config=_run_config(
                exp, root=root, callbacks=callbacks, verbose=options.verbose, stopper=options.stopper
            ),
        )
    started = time.monotonic()
    try:
        with loggers.without_automatic_loggers():
            grid = tuner.fit()
    except Exception as e:  # Ray aborted the whole experiment: say why in one line, keep the cause chained
        raise errors.explain(e, metric=exp.spec.metric) from e
    states = results.count_states(grid, finished=watch.finished, total_trials=exp.total_trials)
    cause: str | None = stopping.cause(
        unfinished=sum(n for state, n in states.items() if state in results.UNFINISHED),
        interrupted=watch.interrupted,
        budget_seconds=exp.spec.time_budget_seconds,
        elapsed_seconds=time.monotonic() - started,
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
        metric=exp.spec.metric,
        mode=exp.spec.mode,
        experiment_path=experiment_path,
        trainable=exp.spec.trainable,
        resumed=resumed,
        finished=watch.finished,
        total_trials=exp.total_trials,
        stopped_by=cause,
    )
    results.write(summary)
    return summary


def _previous_summary(experiment_path: str) -> results.RunSummary | None:
    """The results file of the run being resumed, if it left a readable one."""
    try:
        return results.read(experiment_path)
    except (OSError, ValueError, TypeError):
        return None


def _tune_config(exp: Experiment, resources: dict[str, float]) -> Any:
    import ray
    from ray import tune

    spec = exp.spec
    slots = _cluster_slots(ray.cluster_resources(), cpu=resources["cpu"], gpu=resources["gpu"])
    # Reusing a process for the next trial skips actor start-up (25x faster on short trials), but a GPU trial's
    # framework may keep its GPU memory: reuse only CPU trials unless the spec says otherwise.
    reuse = spec.reuse_actors if spec.reuse_actors is not None else resources["gpu"] == 0
    search = searching.build_searcher(exp, max_concurrent=searching.max_concurrent(exp, cluster_slots=slots))
    return tune.TuneConfig(
        metric=spec.metric,
        mode=spec.mode,
        search_alg=search.algorithm,
        scheduler=build_scheduler(exp),
        num_samples=spec.num_samples,
        max_concurrent_trials=search.max_concurrent_trials,
        time_budget_s=spec.time_budget_seconds,
        reuse_actors=reuse,
    )


def _run_config(exp: Experiment, *, root: str, callbacks: list[Any], verbose: int, stopper: Any = None) -> Any:
    from ray import tune

    spec = exp.spec
    return tune.RunConfig(
        name=exp.name,
        storage_path=root,
        stop=_stop(dict(spec.stop), stopper),
        callbacks=callbacks,
        verbose=verbose,
        failure_config=tune.FailureConfig(max_failures=spec.failure.max_failures, fail_fast=spec.failure.fail_fast),
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=spec.checkpoint.num_to_keep,
            checkpoint_score_attribute=spec.checkpoint.score_attribute or spec.metric,
            checkpoint_score_order=spec.checkpoint.score_order or spec.mode,
        ),
    )


def _stop(criteria: dict[str, Any], stopper: Any) -> Any:
    """``spec.stop`` (Ray's dict form: stop a trial once a result's key reaches the value) plus ``stopper``."""
    if stopper is None:
        return criteria or None
    if not criteria:
        return stopper
    from ray.tune.stopper import CombinedStopper, FunctionStopper

    def reached(trial_id: str, result: dict[str, Any]) -> bool:
        return any(key in result and result[key] >= value for key, value in criteria.items())

    return CombinedStopper(FunctionStopper(reached), stopper)


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


def _cluster_slots(resources: dict[str, float], *, cpu: float, gpu: float) -> int:
    """Trials the cluster can hold at once right now (at least 1; an autoscaler may add more)."""
    slots = resources.get("CPU", 1) / cpu
    if gpu > 0:
        slots = min(slots, resources.get("GPU", 0) / gpu)
    return max(1, int(slots))


def _replace_callbacks(tuner: Any, callbacks: list[Any]) -> None:
    """Give a restored tuner this process's callbacks.

    ``Tuner.restore`` unpickles the run config saved by the first driver, whose callbacks dropped their
    connection state and secrets when pickled; Ray has no public way to pass new ones, so set them on the
    restored run config (``TunerInternal.get_run_config`` returns it by reference).
    """
    local = getattr(tuner, "_local_tuner", None)
    if local is None:
        log.warning("cannot attach callbacks to the restored experiment; live reporting is off for this run")
        return
    local.get_run_config().callbacks = callbacks


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
