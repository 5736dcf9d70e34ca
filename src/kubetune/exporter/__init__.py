"""The trial-metrics exporter: authenticated ingest, a bounded experiment store, a Prometheus collector.

Nothing happens on import: build an :class:`ExperimentStore`, a ``CollectorRegistry`` and an
:class:`Exporter`, then ``start()`` it (or use it as a context manager).
"""

from kubetune.exporter.collector import TrialCollector, encode_text
from kubetune.exporter.server import INGEST_PATH, Exporter, HttpError, IngestStats, Request, Response, Route
from kubetune.exporter.settings import StoreLimits, max_series
from kubetune.exporter.store import ApplyOutcome, ExperimentStore, ExperimentSummary, StoreSnapshot

__all__ = [
    "INGEST_PATH",
    "ApplyOutcome",
    "ExperimentStore",
    "ExperimentSummary",
    "Exporter",
    "HttpError",
    "IngestStats",
    "Request",
    "Response",
    "Route",
    "StoreLimits",
    "StoreSnapshot",
    "TrialCollector",
    "encode_text",
    "max_series",
]
