"""The ingest wire format's models, under their original module name.

:mod:`kubetune.reporting.wire` owns the contract (models, path, headers, limits); this module only re-exports
its models for code that imports them from here.
"""

from kubetune.reporting.wire import (
    MAX_EVENTS_PER_BATCH,
    MAX_METRICS_PER_RESULT,
    Batch,
    Event,
    ExperimentEvent,
    ExperimentRef,
    ExperimentState,
    ResultEvent,
    TrialEvent,
    TrialState,
)

__all__ = [
    "MAX_EVENTS_PER_BATCH",
    "MAX_METRICS_PER_RESULT",
    "Batch",
    "Event",
    "ExperimentEvent",
    "ExperimentRef",
    "ExperimentState",
    "ResultEvent",
    "TrialEvent",
    "TrialState",
]
