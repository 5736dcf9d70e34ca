"""The trial-metrics exporter: authenticated ingest, a bounded experiment store, a Prometheus collector.

Nothing happens on import: build an :class:`ExperimentStore`, a ``CollectorRegistry`` and an
:class:`Exporter`, then ``start()`` it (or use it as a context manager).
"""

from kubetune.exporter.collector import TrialCollector, encode_text
from kubetune.exporter.ingesting import Authorize, IngestStats
from kubetune.exporter.routing import HttpError, Request, Response, Route
from kubetune.exporter.server import Exporter
from kubetune.exporter.settings import ConnectionLimits, StoreLimits, max_series
from kubetune.exporter.store import ExperimentKey, ExperimentStore, OnChange
from kubetune.exporter.views import ApplyOutcome, ExperimentSummary, StoreSnapshot
from kubetune.reporting.wire import INGEST_PATH

__all__ = [
    "INGEST_PATH",
    "ApplyOutcome",
    "Authorize",
    "ConnectionLimits",
    "ExperimentKey",
    "ExperimentStore",
    "ExperimentSummary",
    "Exporter",
    "HttpError",
    "IngestStats",
    "OnChange",
    "Request",
    "Response",
    "Route",
    "StoreLimits",
    "StoreSnapshot",
    "TrialCollector",
    "encode_text",
    "max_series",
]
