"""The operator's own health on ``/metrics``, next to the exporter's trial metrics and ingest counters.

A custom collector, as in the exporter: counters and the histogram are plain numbers under a lock, and every
scrape yields fresh metric families, so there is no global registry and no ``.labels()`` child to forget. The
label values are fixed sets (results, phases), all exported from the start with zeros, so the series count is
constant:

* ``kubetune_operator_reconcile_total{result}``: reconciles by outcome, ``success`` | ``requeue`` (a temporary
  error, retried with backoff) | ``error`` (a permanent one, not retried until the object changes);
* ``kubetune_operator_reconcile_errors_total``: reconciles that raised (``requeue`` + ``error``);
* ``kubetune_operator_reconcile_duration_seconds``: a histogram of reconcile durations;
* ``kubetune_operator_experiments{phase}``: watched experiments by status phase (``Unknown`` before the first
  status write);
* ``kubetune_operator_watch_errors_total``, ``kubetune_operator_queue_depth``, ``kubetune_operator_ready``;
* ``kubetune_operator_queue_oldest_seconds``: how long the longest-waiting experiment has waited for a worker
  (how far behind the operator is: an alert fires on it before users notice);
* ``kubetune_operator_events_dropped_total{reason}``: Events not sent (``queue_full``, ``throttled``, ``failed``);
* ``kubetune_operator_leader``: 1 on the replica that holds the Lease and reconciles.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from kubetune.kube.bodies import PHASES
from kubetune_operator.posting import DROP_REASONS

RESULTS = ("success", "requeue", "error")
#: Histogram buckets (seconds): a reconcile is a few API calls, milliseconds to seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class OperatorMetrics(Collector):
    def __init__(
        self, *, phases: Callable[[], Iterable[str]], queue_depth: Callable[[], int], ready: Callable[[], bool],
        queue_oldest: Callable[[], float] = lambda: 0.0, leading: Callable[[], bool] = lambda: True,
        events_dropped: Callable[[], dict[str, int]] = dict,
    ) -> None:  # fmt: skip
        self._phases, self._queue_depth, self._ready = phases, queue_depth, ready
        self._queue_oldest, self._leading, self._events_dropped = queue_oldest, leading, events_dropped
        self._lock = threading.Lock()
        self._results = dict.fromkeys(RESULTS, 0)
        self._buckets = [0] * (len(BUCKETS) + 1)  # the last one is +Inf
        self._sum = 0.0
        self._watch_errors = 0

    def reconciled(self, *, result: str, seconds: float) -> None:
        with self._lock:
            self._results[result] += 1
            self._buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
            self._sum += seconds

    def watch_failed(self) -> None:
        with self._lock:
            self._watch_errors += 1

    def describe(self) -> Iterator[Metric]:
        yield from self._families({}, [0] * (len(BUCKETS) + 1), 0.0, 0, {}, 0, ready=False)
        yield from self._flow(0.0, {}, leading=False)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            results, buckets, total = dict(self._results), list(self._buckets), self._sum
            watch_errors = self._watch_errors
        phases = dict.fromkeys((*PHASES, "Unknown"), 0)
        for phase in self._phases():
            phases[phase if phase in phases else "Unknown"] += 1
        yield from self._families(results, buckets, total, watch_errors, phases, self._queue_depth(),
                                  ready=self._ready())  # fmt: skip
        yield from self._flow(self._queue_oldest(), self._events_dropped(), leading=self._leading())

    @staticmethod
    def _flow(oldest: float, dropped: dict[str, int], *, leading: bool) -> Iterator[Metric]:
        help_oldest = "Seconds the longest-waiting experiment has waited for a worker."
        yield GaugeMetricFamily("kubetune_operator_queue_oldest_seconds", help_oldest, value=oldest)
        events = CounterMetricFamily("kubetune_operator_events_dropped", "Events not sent, by why.", labels=["reason"])
        for reason in DROP_REASONS:
            events.add_metric([reason], dropped.get(reason, 0))
        yield events
        yield GaugeMetricFamily("kubetune_operator_leader", "1 on the replica that holds the Lease and reconciles.",
                                value=1 if leading else 0)  # fmt: skip

    @staticmethod
    def _families(  # noqa: PLR0917
        results: dict[str, int], buckets: list[int], total: float, watch_errors: int, phases: dict[str, int],
        depth: int, *, ready: bool,
    ) -> Iterator[Metric]:  # fmt: skip
        by_result = CounterMetricFamily("kubetune_operator_reconcile", "Reconciles by result.", labels=["result"])
        for result, n in results.items():
            by_result.add_metric([result], n)
        yield by_result
        yield CounterMetricFamily(
            "kubetune_operator_reconcile_errors", "Reconciles that failed (retried or not).",
            value=results.get("requeue", 0) + results.get("error", 0),
        )  # fmt: skip
        cumulative, running = [], 0
        for bound, n in zip((*map(str, BUCKETS), "+Inf"), buckets, strict=True):
            running += n
            cumulative.append((bound, running))
        yield HistogramMetricFamily(
            "kubetune_operator_reconcile_duration_seconds", "Duration of one reconcile.", buckets=cumulative,
            sum_value=total, unit="seconds",
        )  # fmt: skip
        by_phase = GaugeMetricFamily("kubetune_operator_experiments", "Watched experiments by phase.", labels=["phase"])
        for phase, n in phases.items():
            by_phase.add_metric([phase], n)
        yield by_phase
        yield CounterMetricFamily("kubetune_operator_watch_errors", "Watch and list requests that failed.",
                                  value=watch_errors)  # fmt: skip
        yield GaugeMetricFamily("kubetune_operator_queue_depth", "Experiments waiting to be reconciled.", value=depth)
        yield GaugeMetricFamily("kubetune_operator_ready", "1 once every watch has listed its objects.",
                                value=1 if ready else 0)  # fmt: skip
