"""SageMaker ``CreateHyperParameterTuningJob`` request → ``TuneExperiment`` document.

Input is the request as JSON (the whole request, or only its ``HyperParameterTuningJobConfig`` object), optionally
with a separate ``HyperParameterTrainingJobDefinition`` (its ``StaticHyperParameters``, ``StoppingCondition``,
``RetryStrategy``). Keys, enums and limits are those of the SageMaker API model (botocore 1.43.11): a request the
real API would refuse is refused here too, with the SageMaker field path
(``HyperParameterTuningJobConfig.ParameterRanges.IntegerParameterRanges[1].MinValue: '1.5' is not an integer``).

The mapping, and where it is only approximate (each approximation or drop is a warning in the result):

=========================================================  ===========================================================
SageMaker                                                  TuneExperiment
=========================================================  ===========================================================
Continuous Linear / Auto (Auto: warning) [1]_              ``uniform: [min, max]`` (floats)
Continuous Logarithmic                                     ``loguniform`` (MinValue > 0)
Continuous ReverseLogarithmic                              rejected [2]_
Integer Linear / Auto (Auto: warning)                      ``randint: [min, max]``, both inclusive as in SageMaker
Integer Logarithmic                                        ``lograndint`` (MinValue >= 1)
Integer ReverseLogarithmic                                 rejected (SageMaker documents it for continuous only)
Categorical                                                ``choice`` (``grid`` under Grid); numbers typed when every
                                                           value is one (warning), else strings
Strategy Bayesian                                          ``search.algorithm: optuna`` (TPE; warning) [3]_
Strategy Random / Grid                                     ``random`` / ``grid`` with ``numSamples: 1`` (categoricals
                                                           only; any other range is rejected)
Strategy Hyperband                                         ``random`` + scheduler ``asha``: ``maxT`` = MaxResource
                                                           (else epochs from StaticHyperParameters), ``gracePeriod`` =
                                                           MinResource (1) [4]_
RandomSeed                                                 ``search.seed``
Objective Type / MetricName                                ``mode`` / ``metric`` (``metric_map``, else ':' → '-')
HyperParameterTuningJobName                                ``metadata.name`` as a DNS label (``--name`` wins; a bare
                                                           config is named after its file)
MaxNumberOfTrainingJobs / MaxParallelTrainingJobs          ``numSamples`` / ``maxConcurrentTrials``
MaxRuntimeInSeconds (ResourceLimits)                       ``timeBudgetSeconds``
TrainingJobEarlyStoppingType Auto                          scheduler ``median`` (gracePeriod 1, training_iteration);
                                                           with Hyperband rejected, as SageMaker does
TrainingJobEarlyStoppingType Off / absent                  scheduler ``fifo``: every trial runs to its end, as every
                                                           job does on SageMaker (kubetune's default would be ASHA)
TargetObjectiveMetricValue                                 ``goal`` (``>=`` under Maximize, ``<=`` under Minimize;
                                                           warning: checked on every result) [5]_
BestObjectiveNotImproving, ConvergenceDetected             dropped with a warning: no equivalent stopper
StaticHyperParameters                                      ``config`` (int/float/bool where the string parses)
RetryStrategy.MaximumRetryAttempts                         ``failure.maxFailures``
StoppingCondition.MaxRuntimeInSeconds (per training job)   ``trialTimeoutSeconds`` (warning: checked at each report)
  x MaxNumberOfTrainingJobs                                ``budget.trialHours``: the training time SageMaker's two
                                                           limits allow at most, one budget (warning); SageMaker has
                                                           no GPU-hour limit
MaxWaitTimeInSeconds, MaxPendingTimeInSeconds              dropped with a warning (spot and capacity waits)
WarmStartConfig (IdenticalDataAndAlgorithm,                ``warmStart.from``: each parent's
TransferLearning; Bayesian only) [6]_                      HyperParameterTuningJobName as a DNS label, an experiment
                                                           *name* the runner resolves to ``<spec.storage.path>/<name>``
                                                           (warning); other strategies rejected
Autotune, AutoParameters, more than one                    rejected: no faithful equivalent
TrainingJobDefinitions
=========================================================  ===========================================================

.. [1] Auto lets SageMaker choose the scale while it searches; Linear is its starting point and the only choice
   that never excludes part of the range (log needs MinValue > 0).
.. [2] ReverseLogarithmic samples densest just below 1 (``1 - x`` on a log scale). The grammar has no such
   keyword and no derived parameters, and both ``uniform`` and ``loguniform`` put the samples somewhere else
   (``loguniform`` densest near the *minimum*, the opposite), so any approximation would quietly tune a different
   problem. The error says how to express it exactly: tune ``1 - x`` Logarithmically and convert in the trainable.
.. [3] ``bayesopt`` (a GP, like SageMaker) would be closer for all-continuous-Linear spaces, but it takes only
   ``uniform`` dimensions, so the algorithm would flip as soon as an integer, log or categorical range is added
   (the tutorial itself has an integer range). TPE takes every kind this importer emits, in one mapping.
.. [4] ASHA rather than ``hyperband``: SageMaker's Hyperband stops jobs asynchronously, and only ASHA has a
   ``gracePeriod`` to carry MinResource ("a job is not stopped before MinResource").
.. [5] Not ``stop: {metric: target}``, which would end only the trial that reaches the target, never the search,
   and for Minimize would stop trials at the wrong side (Ray's dict stopper means "≥"). ``goal`` ends the search
   and follows the mode. SageMaker compares each job's final objective value; kubetune every reported value, so
   a trial that passes the target mid-training ends the experiment there.
.. [6] kubetune cannot read a parent's results from SageMaker, only an earlier kubetune experiment's, so the parents
   must have been imported and run, under their own names, into the same storage root first. Their finished
   trials that fit the new ranges seed Optuna as evaluated trials (:mod:`kubetune.engine.warmstart`); both warm
   start types import alike, and where ``TransferLearning`` would learn from a parent trial that lacks a
   hyperparameter or lies outside the new ranges, kubetune skips it. Random, Grid and Hyperband import as searchers
   that earlier trials cannot seed, so a warm start with them is refused rather than silently dropped.

The translation follows the request's own sections, one private module each: ``_request`` (the two accepted
shapes, the top-level keys, the experiment's name), ``_tuning`` (objective, strategy and early stopping, resource
limits, completion criteria), ``_warmstart`` (parent tuning jobs), ``_training`` (where the ranges are, static
hyperparameters, retries, per-job limits, infrastructure) and ``_ranges`` (``ParameterRanges`` and SageMaker's
string values).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import TypeAdapter

from kubetune.importers import ImportResult
from kubetune.importers._reading import Reader, describe
from kubetune.importers.sagemaker import _request, _training, _tuning, _warmstart
from kubetune.importers.sagemaker._request import CONFIG, STRATEGIES
from kubetune.importers.sagemaker._training import MAX_HYPERPARAMETERS
from kubetune.importers.sagemaker._tuning import EPOCH_KEYS, MAX_RESOURCE
from kubetune.spec import API_VERSION, KIND, FieldError, SpecError, load_object
from kubetune.spec.models import ImportPath

__all__ = ["CONFIG", "EPOCH_KEYS", "MAX_HYPERPARAMETERS", "MAX_RESOURCE", "STRATEGIES", "import_tuning_job"]

#: Spec keys in the README's order, so generated files read like hand-written ones.
_SPEC_ORDER: Final = (
    "trainable", "image", "metric", "mode", "searchSpace", "config", "search", "scheduler", "numSamples",
    "maxConcurrentTrials", "resourcesPerTrial", "timeBudgetSeconds", "budget", "goal", "trialTimeoutSeconds",
    "warmStart",
    "failure", "checkpoint",
)  # fmt: skip
_IMPORT_PATH: TypeAdapter[str] = TypeAdapter(ImportPath)


def import_tuning_job(
    request: Any,
    *,
    training_job: Any = None,
    name: str | None,
    trainable: str,
    image: str | None,
    namespace: str | None,
    metric_map: dict[str, str],
    source_name: str | None = None,
) -> ImportResult:
    """Translate a SageMaker tuning request into a validated TuneExperiment document.

    ``request`` and ``training_job`` are ``json.load`` output and may be anything: whatever is not a valid request
    is reported, never raised as another exception. ``name`` defaults to ``HyperParameterTuningJobName``, else to
    ``source_name`` (the request's file name; a bare tuning config has no job name), made a DNS label.
    ``trainable``, ``image`` and ``namespace`` are what SageMaker does not carry (its "trainable" is a container
    image plus S3 channels). ``metric_map`` renames SageMaker metric names to the keys the trainable reports.

    Raises :class:`~kubetune.spec.SpecError` listing every problem found, each with its SageMaker field path (or
    the CLI option, ``--name``, for the values SageMaker does not carry). A translation that
    :func:`~kubetune.spec.load_object` refuses is an importer bug and is raised as such, never returned.
    """
    r = Reader()
    warnings: list[str] = []
    if not isinstance(request, Mapping):
        raise SpecError.one("", f"expected a JSON object (a tuning job request), got {describe(request)}")
    req, job_name = _request.parse(request, training_job, r=r, warnings=warnings)

    metric, mode = _tuning.objective(req, metric_map)
    space, combinations = _training.parameter_ranges(req)
    statics = _training.static_hyperparameters(req)
    spec: dict[str, Any] = {"trainable": trainable, "image": image, "metric": metric, "mode": mode}
    spec["searchSpace"] = space
    spec["config"] = _training.typed_config(req, statics, space)
    spec.update(_tuning.search_and_scheduler(req, statics))
    spec.update(_tuning.resource_limits(req, combinations))
    spec["resourcesPerTrial"] = {"cpu": 1}
    # SageMaker keeps one model per training job; keep each trial's best checkpoint, not every round's.
    spec["checkpoint"] = {"numToKeep": 1}
    spec.update(_tuning.completion_criteria(req, metric, mode))
    spec.update(_training.training_job_limits(req))
    trials = spec.get("numSamples")
    trials = trials * combinations if isinstance(trials, int) and req.strategy == "Grid" else trials
    spec.update(_training.trial_hours_budget(req, trials=trials, trial_seconds=spec.get("trialTimeoutSeconds")))
    _training.report_infrastructure(req)
    label = _request.experiment_name(name, job_name=job_name, source_name=source_name, r=r, warnings=warnings)
    metadata = {"name": label, "namespace": namespace}
    spec.update(_warmstart.warm_start(req, name=label))

    _request.check_option(_IMPORT_PATH, trainable, "--trainable", r)
    if namespace is not None:
        _request.check_option(_request.DNS_LABEL, namespace, "--namespace", r)
    if image is not None and not image.strip():
        r.fail("--image", "must not be empty")
    if r.errors:
        raise SpecError(r.errors)

    document = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {k: v for k, v in metadata.items() if v is not None},
        "spec": {k: spec[k] for k in _SPEC_ORDER if spec.get(k) not in (None, {})},
    }
    try:
        load_object(document)
    except SpecError as e:
        bug = "(the importer turned a valid request into an invalid spec: a kubetune bug)"
        raise SpecError([FieldError(err.path, f"{err.reason} {bug}") for err in e.errors]) from e
    return ImportResult(document=document, warnings=warnings)
