"""Limits of the exporter, and the bound on the Prometheus series they imply.

Every collection the store keeps is capped, so memory and the number of series stay bounded whatever a
sender does (a runaway search with 100,000 trials, a trainable reporting hundreds of metric names, many
experiments left behind in a namespace). The caps are plain numbers in one frozen dataclass so the operator
can set them from its own configuration and so that :func:`max_series` can state the bound exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubetune.reporting.wire import DEFAULT_MAX_BODY_BYTES

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "FIXED_SERIES",
    "INGEST_CODES",
    "SERIES_PER_EXPERIMENT",
    "ConnectionLimits",
    "StoreLimits",
    "max_series",
]

#: The only values the ``code`` label of ``kubetune_ingest_requests_total`` takes: a fixed set, so the
#: ingest counters add a fixed number of series. Anything else the handler answers is counted as ``500``.
#: ``408``: the request was not in within ``ConnectionLimits.request_timeout_seconds``.
INGEST_CODES = ("200", "400", "401", "408", "411", "413", "415", "500")

#: Families with a fixed set of series: the store-wide gauges and counters of the collector
#: (``kubetune_store_*``) plus the ingest counters (one series per code, one events counter).
FIXED_SERIES = 4 + len(INGEST_CODES) + 1

#: Series per experiment that do not depend on its trials: ``kubetune_experiment_trials`` (10: one per live
#: state, one for ERROR, and TERMINATED by each of its five end reasons plus one for trials of no known reason),
#: ``best_value``, ``results_total``, ``last_result_timestamp_seconds``, ``info``, ``dropped_trials_total``, the
#: single ``kubetune_trial_best`` series of the best trial, the three usage counters (GPU, CPU, trial seconds) and
#: ``seeded_trials``.
SERIES_PER_EXPERIMENT = 10 + 6 + 3 + 1
#: Series per trial record besides its metrics: ``kubetune_trial_iteration`` and its GPU- and CPU-seconds.
SERIES_PER_RECORD = 3


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
    #: Senders whose last ``seq`` is remembered for deduplication, per experiment (least recently used
    #: forgotten first). Default 100: a driver process is one sender, a restarted one another. A retry from a
    #: forgotten sender would be applied again. Per experiment, so one experiment's senders never push
    #: another's out.
    max_senders: int = 100

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


@dataclass(frozen=True, kw_only=True)
class ConnectionLimits:
    """How much of the exporter's HTTP server one client can hold: threads and time."""

    #: Connections served at once (one thread each). Default 64. Beyond it a new connection is answered
    #: ``503`` with ``Retry-After`` and closed at once, without a thread.
    max_connections: int = 64
    #: Seconds one request may take from its first byte until its body is read, and again to send the
    #: response. Default 30. A client that trickles the request is disconnected when it runs out, however
    #: often it sends a byte; one that is slow with its body is answered ``408``.
    request_timeout_seconds: float = 30.0
    #: Seconds an idle keep-alive connection may wait for its next request. Default 30.
    idle_timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.max_connections < 1:
            raise ValueError("ConnectionLimits.max_connections must be >= 1")
        if not (self.request_timeout_seconds > 0 and self.idle_timeout_seconds > 0):
            raise ValueError("ConnectionLimits timeouts must be > 0")


def max_series(limits: StoreLimits) -> int:
    """The most series the exporter's ``/metrics`` can ever hold under ``limits``.

    ``E * (R * (M + 3) + 20) + 13`` where ``E = max_experiments``, ``R = max_trials_per_experiment +
    keep_best_finished`` (trial records), ``M = max_metrics_per_trial`` (``kubetune_trial_metric``, one per
    name) plus :data:`SERIES_PER_RECORD` per record; :data:`SERIES_PER_EXPERIMENT` per experiment; 13 fixed
    series. With the defaults: ``200 * (1005 * 19 + 20) + 13 = 3,823,013``. A typical experiment (16 concurrent
    trials, 5 kept finished, 6 metrics) has ``21 * 9 + 20 = 209``.
    """
    records = limits.max_trials_per_experiment + limits.keep_best_finished
    per_experiment = records * (limits.max_metrics_per_trial + SERIES_PER_RECORD) + SERIES_PER_EXPERIMENT
    return limits.max_experiments * per_experiment + FIXED_SERIES
