"""The Ray Tune configuration of an experiment: its ``TuneConfig`` (searcher, scheduler, concurrency, samples,
time budget), its ``RunConfig`` (storage, stop criteria, failures, checkpoints, logs) and the per-trial limits."""

from __future__ import annotations

from typing import Any

from kubetune.engine import limits, reasons, searching, storage, verdicts, warmstart
from kubetune.engine.scheduling import build_scheduler
from kubetune.spec import Experiment


def tune_config(
    exp: Experiment,
    resources: dict[str, float],
    ends: reasons.TrialEnds | None = None,
    *,
    seeds: warmstart.Seeds | None = None,
) -> Any:
    import ray
    from ray import tune

    spec = exp.spec
    slots = cluster_slots(ray.cluster_resources(), cpu=resources["cpu"], gpu=resources["gpu"])
    # Reusing a process for the next trial skips actor start-up (25x faster on short trials), but a GPU trial's
    # framework may keep its GPU memory: reuse only CPU trials unless the spec says otherwise.
    reuse = spec.reuse_actors if spec.reuse_actors is not None else resources["gpu"] == 0
    bound = searching.max_concurrent(exp, cluster_slots=slots)
    search = searching.build_searcher(exp, max_concurrent=bound, seeds=seeds)
    scheduler = build_scheduler(exp)
    if ends is not None:
        verdicts.attach(scheduler, ends)
    # Ray takes one metric. With several objectives it gets the first (the primary one): no scheduler reads it
    # (the spec allows only FIFO), kubetune's Optuna searcher holds every objective itself, and with it Ray still
    # checks that each result holds that key (a clear error for a misspelt one) and ranks the best result.
    return tune.TuneConfig(
        metric=spec.primary_metric,
        mode=spec.primary_mode,
        search_alg=search.algorithm,
        scheduler=scheduler,
        num_samples=spec.num_samples,
        max_concurrent_trials=search.max_concurrent_trials,
        time_budget_s=spec.time_budget_seconds,
        reuse_actors=reuse,
    )


def run_config(exp: Experiment, *, root: str, callbacks: list[Any], verbose: int, stop: Any) -> Any:
    from ray import tune

    spec = exp.spec
    return tune.RunConfig(
        name=exp.name,
        storage_path=root,
        # Local storage: each file is renamed into place when complete, so a driver killed while Ray copies its
        # experiment state there leaves the previous state, not truncated files (kubetune.engine.storage).
        storage_filesystem=storage.atomic_filesystem(root),
        stop=stop,
        callbacks=callbacks,
        verbose=verbose,
        failure_config=tune.FailureConfig(max_failures=spec.failure.max_failures, fail_fast=spec.failure.fail_fast),
        # Each trial's stdout and stderr go to files in its working directory, which Ray copies to the trial's
        # directory on storage as it reports and when it ends: logs outlive the cluster (`kubetune logs`).
        log_to_file=True,
        sync_config=tune.SyncConfig(sync_artifacts=True),
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=spec.checkpoint.num_to_keep,
            checkpoint_score_attribute=score_attribute(exp),
            checkpoint_score_order=score_order(exp),
        ),
    )


def score_attribute(exp: Experiment) -> str:
    """What ranks a trial's checkpoints: ``spec.checkpoint.scoreAttribute``, else the (first) objective."""
    return exp.spec.checkpoint.score_attribute or exp.spec.primary_metric


def score_order(exp: Experiment) -> str:
    """``spec.checkpoint.scoreOrder``, else the mode of the objective that ranks them (the primary one's when
    the score attribute is no objective)."""
    spec = exp.spec
    if spec.checkpoint.score_order:
        return spec.checkpoint.score_order
    modes = dict(zip(spec.metrics, spec.modes, strict=False))
    return modes.get(score_attribute(exp), spec.primary_mode)


def trial_limits(exp: Experiment) -> limits.TrialLimits:
    spec = exp.spec
    return limits.TrialLimits.from_spec(
        metric=spec.primary_metric, mode=spec.primary_mode, goal=spec.goal, timeout_seconds=spec.trial_timeout_seconds
    )


def stop_criteria(criteria: dict[str, Any], *stoppers: Any) -> Any:
    """``spec.stop`` (Ray's dict form: stop a trial once a result's key reaches the value) plus ``stoppers`` (the
    spec's limits, an extra one from the options), leaving out those that are ``None``."""
    given = [s for s in stoppers if s is not None]
    if not given:
        return criteria or None
    if not criteria and len(given) == 1:
        return given[0]
    from ray.tune.stopper import CombinedStopper, FunctionStopper

    def reached(trial_id: str, result: dict[str, Any]) -> bool:
        return any(key in result and result[key] >= value for key, value in criteria.items())

    return CombinedStopper(*([FunctionStopper(reached)] if criteria else []), *given)


def cluster_slots(resources: dict[str, float], *, cpu: float, gpu: float) -> int:
    """Trials the cluster can hold at once right now (at least 1; an autoscaler may add more)."""
    slots = resources.get("CPU", 1) / cpu
    if gpu > 0:
        slots = min(slots, resources.get("GPU", 0) / gpu)
    return max(1, int(slots))
