"""Prometheus view of the experiment store: fresh metric families from one snapshot per scrape.

A custom collector rather than ``Gauge``/``Counter`` objects because the series come and go with trials:
building them from :meth:`ExperimentStore.snapshot` on each scrape means a dropped trial simply stops
being exported (Prometheus marks it stale), nothing has to be unregistered, and every family of one scrape
comes from the same consistent view. No global registry: register it on the one you serve.

Labels carry identities only (namespace, experiment, trial, metric name, state, end reason); hyperparameter values never
become labels, so the series count stays within :func:`kubetune.exporter.settings.max_series`. Metric names a
trainable reports (``ray/tune/loss``, ``val-acc``) are label values of ``kubetune_trial_metric``, where any
character is allowed.

Rendering speed: ``prometheus_client.generate_latest`` spends about 6 us per sample (label sorting, name
validation, escaping), i.e. 60 ms at 10,000 series and seconds at 100,000 trials. The two per-trial families
(almost all series) are therefore :class:`TrialSeries`: their samples are built only when something asks for
them (``registry.get_sample_value``, other encoders), and :func:`encode` - what the exporter serves, in the
text format or OpenMetrics 1.0 as negotiated - writes them straight from the snapshot, about 10x faster. Label
values from the wire format never need escaping (their patterns exclude ``\\``, ``"`` and newlines); other
values are escaped.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from prometheus_client.exposition import choose_encoder, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.registry import Collector

from kubetune.exporter.store import ExperimentStore
from kubetune.exporter.trial_series import TRIAL_LABELS, LazyFamily, TrialSeries, TrialUsageSeries
from kubetune.exporter.views import TRIAL_STATES, ExperimentSummary, ExperimentView, StoreSnapshot
from kubetune.reporting.wire import END_REASONS

__all__ = ["TrialCollector", "TrialSeries", "TrialUsageSeries", "encode", "encode_text"]

_EXP = ["namespace", "experiment"]
_TRIAL = TRIAL_LABELS
#: The reasons a TERMINATED trial ends with (an ERROR one always ``errored``); a fixed set, so a bounded label.
_TERMINATED_REASONS = tuple(r for r in END_REASONS if r != "errored")


class _One(Collector):
    def __init__(self, family: Metric) -> None:
        self._family = family

    def collect(self) -> list[Metric]:
        return [self._family]


_EOF = "# EOF\n"


def encode(registry: Collector, accept: str = "") -> tuple[bytes, str]:
    """``/metrics`` body and content type for an ``Accept`` header, like prometheus_client's
    ``choose_encoder(accept)`` encoders, with :class:`TrialSeries` samples written directly.

    The fast path covers the classic text format and OpenMetrics 1.0.0 (what Prometheus asks for); anything
    else (another OpenMetrics version, ``escaping=`` variants) goes through prometheus_client unchanged.
    """
    encoder, content_type = choose_encoder(accept)
    func = encoder.func if isinstance(encoder, partial) else encoder
    kwargs = encoder.keywords if isinstance(encoder, partial) else {}
    om = func is generate_openmetrics
    fast = (func is generate_latest and not kwargs) or (om and kwargs.get("version") == "1.0.0")
    if not fast:
        return encoder(registry), content_type
    parts = []
    for family in registry.collect():
        if isinstance(family, LazyFamily):  # HELP/TYPE from prometheus_client, samples from us
            parts.append(func(_One(family.header()), **kwargs).decode().removesuffix(_EOF))
            parts.append(family.sample_lines())
        else:
            parts.append(func(_One(family), **kwargs).decode().removesuffix(_EOF))
    if om:
        parts.append(_EOF)
    return "".join(parts).encode(), content_type


def encode_text(registry: Collector) -> bytes:
    """Like ``prometheus_client.generate_latest(registry)`` (text format 0.0.4), with the fast path."""
    return encode(registry)[0]


class _Families:
    """Fresh, empty families for one scrape (per-trial ones over ``experiments``), in exposition order."""

    def __init__(self, experiments: tuple[ExperimentView, ...] = ()) -> None:
        gauge, counter = GaugeMetricFamily, CounterMetricFamily
        self.trial_metric = TrialSeries(
            "kubetune_trial_metric",
            "Latest value a trial reported for each numeric metric (metric = the name it reported).",
            experiments,
            per_metric=True,
        )
        self.trial_iteration = TrialSeries(
            "kubetune_trial_iteration",
            "Training iteration of the trial's latest result.",
            experiments,
            per_metric=False,
        )
        self.trial_gpu = TrialUsageSeries(
            "kubetune_trial_gpu_seconds_total",
            "GPU-seconds the trial held: the GPUs it reserved times the seconds it ran.",
            experiments,
            field="gpuSeconds",
        )
        self.trial_cpu = TrialUsageSeries(
            "kubetune_trial_cpu_seconds_total",
            "CPU-seconds the trial held: the CPUs it reserved times the seconds it ran.",
            experiments,
            field="cpuSeconds",
        )
        self.trial_best = gauge(
            "kubetune_trial_best",
            "1 for the experiment's current best trial by its objective (one series per experiment).",
            labels=_TRIAL,
        )
        self.trials = gauge(
            "kubetune_experiment_trials",
            "Trials of the experiment by Ray Tune state and, for ended ones, why they ended (reason; empty for live "
            "trials and for ended ones whose driver did not say).",
            labels=[*_EXP, "state", "reason"],
        )
        self.best_value = gauge(
            "kubetune_experiment_best_value",
            "Best value of the experiment's objective over all results so far (respecting its mode).",
            labels=[*_EXP, "metric"],
        )
        self.results = counter(
            "kubetune_experiment_results_total", "Results the experiment's trials reported.", labels=_EXP
        )
        self.gpu_seconds = counter(
            "kubetune_experiment_gpu_seconds_total",
            "GPU-seconds the experiment's trials held (GPUs reserved times seconds running), resumed runs included.",
            labels=_EXP,
        )
        self.cpu_seconds = counter(
            "kubetune_experiment_cpu_seconds_total",
            "CPU-seconds the experiment's trials held (CPUs reserved times seconds running), resumed runs included.",
            labels=_EXP,
        )
        self.trial_seconds = counter(
            "kubetune_experiment_trial_seconds_total",
            "Seconds the experiment's trials ran, summed over trials (what spec.budget.trialHours counts).",
            labels=_EXP,
        )
        self.seeded = gauge(
            "kubetune_experiment_seeded_trials",
            "Finished trials of earlier experiments that seeded the search (spec.warmStart); in no other count.",
            labels=_EXP,
        )
        self.last_result = gauge(
            "kubetune_experiment_last_result_timestamp_seconds",
            "Sender-side time of the experiment's newest result, in seconds since the epoch.",
            labels=_EXP,
            unit="seconds",
        )
        self.info = gauge(
            "kubetune_experiment_info",
            "Always 1; the experiment's objective metric, mode and lifecycle state as labels.",
            labels=[*_EXP, "metric", "mode", "state"],
        )
        self.dropped = counter(
            "kubetune_experiment_dropped_trials_total",
            "Trials that arrived while the per-experiment record cap was full (counted, without series).",
            labels=_EXP,
        )
        self.experiments = gauge("kubetune_store_experiments", "Experiments the exporter currently tracks.")
        self.records = gauge(
            "kubetune_store_trials", "Per-trial records the exporter currently holds (live + best finished)."
        )
        self.store_dropped = counter(
            "kubetune_store_dropped_trials_total",
            "Trials that got no per-trial record because a store cap was full.",
        )
        self.evicted = counter(
            "kubetune_store_evicted_experiments_total",
            "Experiments evicted to stay within the experiment cap (aging out after finishing excluded).",
        )

    def all(self) -> list[Metric]:
        return list(vars(self).values())


def trial_counts(s: ExperimentSummary) -> list[tuple[str, str, int]]:
    """``(state, reason, count)`` for every series of ``kubetune_experiment_trials`` of one experiment.

    Each state's series add up to its count, so ``sum by (state)`` reads as before reasons existed: live states
    have one series (reason ""), ERROR one (``errored``), TERMINATED one per reason plus "" for what the driver's
    reasons do not cover (all of them from a driver that predates reasons).
    """
    out: list[tuple[str, str, int]] = []
    for state in TRIAL_STATES:
        count = s.counts[state]
        if state == "ERROR":
            out.append((state, "errored", count))
        elif state == "TERMINATED":
            known = 0
            for reason in _TERMINATED_REASONS:
                n = min(s.ends.get(reason, 0), count - known)  # never more than the state's count
                out.append((state, reason, n))
                known += n
            out.append((state, "", count - known))
        else:
            out.append((state, "", count))
    return out


class TrialCollector(Collector):
    """Exports an :class:`ExperimentStore`; register on an injected ``CollectorRegistry``."""

    def __init__(self, store: ExperimentStore) -> None:
        self._store = store

    def describe(self) -> Iterator[Metric]:
        """The families' names, so a registry detects a duplicate registration without a scrape."""
        yield from _Families().all()

    def collect(self) -> Iterator[Metric]:
        yield from self.render(self._store.snapshot())

    @staticmethod
    def render(snapshot: StoreSnapshot) -> list[Metric]:
        """Families for one snapshot (split out so benchmarks and tests can time or feed it directly)."""
        f = _Families(snapshot.experiments)
        for view in snapshot.experiments:
            s = view.summary
            ns, exp = s.namespace, s.name
            if s.best_trial is not None:
                f.trial_best.add_metric([ns, exp, s.best_trial], 1)
            if s.best_value is not None:
                f.best_value.add_metric([ns, exp, s.metric], s.best_value)
            for state, reason, count in trial_counts(s):
                f.trials.add_metric([ns, exp, state, reason], count)
            f.results.add_metric([ns, exp], s.results_total)
            if s.seeded is not None:
                f.seeded.add_metric([ns, exp], s.seeded)
            if s.usage is not None:  # drivers that predate usage send none
                f.gpu_seconds.add_metric([ns, exp], s.usage.gpuSeconds)
                f.cpu_seconds.add_metric([ns, exp], s.usage.cpuSeconds)
                f.trial_seconds.add_metric([ns, exp], s.usage.trialSeconds)
            if view.last_result_time is not None:
                f.last_result.add_metric([ns, exp], view.last_result_time)
            f.info.add_metric([ns, exp, s.metric, s.mode, s.state], 1)
            f.dropped.add_metric([ns, exp], view.dropped_trials)
        f.experiments.add_metric([], len(snapshot.experiments))
        f.records.add_metric([], snapshot.trials)
        f.store_dropped.add_metric([], snapshot.dropped_trials_total)
        f.evicted.add_metric([], snapshot.evicted_experiments_total)
        return f.all()
