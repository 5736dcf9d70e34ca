"""Limits of the exporter, and the bound on the Prometheus series they imply.

Every collection the store keeps is capped, so memory and the number of series stay bounded whatever a
sender does (a runaway search with 100,000 trials, a trainable reporting hundreds of metric names, many
experiments left behind in a namespace). The caps are plain numbers in one frozen dataclass so the operator
can set them from its own configuration and so that :func:`max_series` can state the bound exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The request-body cap of ``POST /api/v1/ingest`` (bytes). 5,000 result events of 64 metrics fit.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024

#: The only values the ``code`` label of ``kubetune_ingest_requests_total`` takes: a fixed set, so the
#: ingest counters add a fixed number of series. Anything else the handler answers is counted as ``500``.
INGEST_CODES = ("200", "400", "401", "411", "413", "415", "500")

#: Families with a fixed set of series: the store-wide gauges and counters of the collector
#: (``kubetune_store_*``) plus the ingest counters (one series per code, one events counter).
FIXED_SERIES = 4 + len(INGEST_CODES) + 1

#: Series per experiment that do not depend on its trials: ``kubetune_experiment_trials`` (one per trial
#: state, 5), ``best_value``, ``results_total``, ``last_result_timestamp_seconds``, ``info``,
#: ``dropped_trials_total`` and the single ``kubetune_trial_best`` series of the best trial.
SERIES_PER_EXPERIMENT = 5 + 6


@dataclass(frozen=True, kw_only=True)
class StoreLimits:
    """Caps of :class:`kubetune.exporter.store.ExperimentStore`. All counts must be >= 0."""

    #: Finished (TERMINATED/ERROR) trials whose per-trial record is kept, per experiment: the best ones by
    #: their best objective value. Default 5. Other finished trials are still counted by state.
    keep_best_finished: int = 5
    #: Per-trial records of live (PENDING/RUNNING/PAUSED) trials, per experiment. Default 1,000. A trial that
    #: arrives while the cap is full is counted (by state, and in ``dropped_trials_total``) without a record;
    #: it gets one on a later event once a slot is free.
    max_trials_per_experiment: int = 1000
    #: Metric names kept per trial record (the objective always has a slot). Default 16; extra names ignored.
    max_metrics_per_trial: int = 16
    #: Experiments kept. Default 200. A new experiment beyond it evicts a finished one first (oldest
    #: last update first), else the running one updated longest ago.
    max_experiments: int = 200
    #: Seconds a FINISHED/FAILED experiment stays after its last update. Default 3,600.
    finished_ttl_seconds: float = 3600.0
    #: Trial ids per experiment whose state is remembered so counts stay exact across transitions (about
    #: 100 bytes each, no series). Default 10,000. When full, the oldest finished id is forgotten first (if it
    #: ever reports again it is counted anew); if all are live, a new trial is only counted as dropped.
    max_trial_ids_per_experiment: int = 10_000
    #: Senders whose last ``seq`` is remembered for deduplication (least recently used forgotten first).
    #: Default 10,000. A retry from a forgotten sender would be applied again.
    max_senders: int = 10_000

    def __post_init__(self) -> None:
        for name in (
            "keep_best_finished",
            "max_trials_per_experiment",
            "max_metrics_per_trial",
            "max_experiments",
            "max_trial_ids_per_experiment",
            "max_senders",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"StoreLimits.{name} must be >= 0")
        if self.finished_ttl_seconds < 0:
            raise ValueError("StoreLimits.finished_ttl_seconds must be >= 0")


def max_series(limits: StoreLimits) -> int:
    """The most series the exporter's ``/metrics`` can ever hold under ``limits``.

    ``E * (R * (M + 1) + 11) + 12`` where ``E = max_experiments``, ``R = max_trials_per_experiment +
    keep_best_finished`` (trial records), ``M = max_metrics_per_trial`` (``kubetune_trial_metric``, one per
    name) plus one ``kubetune_trial_iteration`` per record; 11 per-experiment series; 12 fixed series.
    With the defaults: ``200 * (1005 * 17 + 11) + 12 = 3,419,212``. A typical experiment (16 concurrent
    trials, 5 kept finished, 6 metrics) has ``21 * 7 + 11 = 158``.
    """
    records = limits.max_trials_per_experiment + limits.keep_best_finished
    per_experiment = records * (limits.max_metrics_per_trial + 1) + SERIES_PER_EXPERIMENT
    return limits.max_experiments * per_experiment + FIXED_SERIES
