"""The per-trial families, whose samples are almost all of a scrape: built lazily, and written straight from the
store's snapshot by :func:`kubetune.exporter.collector.encode` (:meth:`sample_lines`), about 10x faster than
prometheus_client's generic path (module notes there).

``kubetune_trial_metric`` and ``kubetune_trial_iteration`` (:class:`TrialSeries`, gauges) and the trials' held
GPU- and CPU-seconds (:class:`TrialUsageSeries`, counters: a trial's usage only grows, a resumed trial's included).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.samples import Sample

from kubetune.exporter.views import ExperimentView

TRIAL_LABELS = ["namespace", "experiment", "trial"]


def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


class LazyFamily:
    """A metric family whose samples are built from the snapshot on first access (``_samples``), and that can
    write them as exposition lines itself (``sample_lines``, after the ``header`` family's HELP and TYPE lines).
    Listed before prometheus_client's family class in the bases, so its ``samples`` is the one Metric sees."""

    _built: list[Sample] | None = None

    @property
    def samples(self) -> list[Sample]:
        if self._built is None:
            self._built = list(self._samples())
        return self._built

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        self._built = value or None  # Metric.__init__ assigns [] before the experiments are known

    def _samples(self) -> Iterator[Sample]:
        raise NotImplementedError

    def sample_lines(self) -> str:
        raise NotImplementedError

    def header(self) -> Metric:
        raise NotImplementedError


class TrialSeries(LazyFamily, GaugeMetricFamily):
    """``kubetune_trial_metric`` (``per_metric``) or ``kubetune_trial_iteration`` of one snapshot.

    A regular family to prometheus_client - ``samples`` is built on first access - plus
    :meth:`sample_lines`, the exposition lines rendered directly from the trial records.
    """

    def __init__(
        self, name: str, documentation: str, experiments: tuple[ExperimentView, ...], *, per_metric: bool
    ) -> None:
        super().__init__(name, documentation, labels=[*TRIAL_LABELS, "metric"] if per_metric else TRIAL_LABELS)
        self._experiments = experiments
        self._per_metric = per_metric

    def _samples(self) -> Iterator[Sample]:
        name = self.name
        for view in self._experiments:
            ns, exp = view.summary.namespace, view.summary.name
            for trial, record in view.trials.items():
                if self._per_metric:
                    for metric, value in record.metrics.items():
                        labels = {"namespace": ns, "experiment": exp, "trial": trial, "metric": metric}
                        yield Sample(name, labels, value)
                else:
                    yield Sample(name, {"namespace": ns, "experiment": exp, "trial": trial}, record.iteration)

    def sample_lines(self) -> str:
        """This family's samples as exposition lines, the same in the text format 0.0.4 and OpenMetrics 1.0."""
        name = self.name
        lines: list[str] = []
        append = lines.append
        for view in self._experiments:
            ns, exp = _escape(view.summary.namespace), _escape(view.summary.name)
            base = f'{name}{{namespace="{ns}",experiment="{exp}"'
            for trial, record in view.trials.items():
                prefix = f'{base},trial="{_escape(trial)}"'
                if self._per_metric:
                    for metric, value in record.metrics.items():
                        append(f'{prefix},metric="{_escape(metric)}"}} {value!r}\n')
                else:
                    append(f"{prefix}}} {record.iteration}\n")
        return "".join(lines)

    def header(self) -> Metric:
        """The family without samples: its HELP and TYPE lines."""
        return GaugeMetricFamily(self.name, self.documentation)


class TrialUsageSeries(LazyFamily, CounterMetricFamily):
    """``kubetune_trial_gpu_seconds_total`` or ``kubetune_trial_cpu_seconds_total`` of one snapshot: ``field`` of
    each trial record's usage (:class:`kubetune.reporting.wire.Usage`), for the trials whose driver sent one."""

    def __init__(self, name: str, documentation: str, experiments: tuple[ExperimentView, ...], *, field: str) -> None:
        super().__init__(name, documentation, labels=TRIAL_LABELS)
        self._experiments = experiments
        self._field = field

    def _samples(self) -> Iterator[Sample]:
        sample = f"{self.name}_total"
        for key, value in self._values():
            yield Sample(sample, dict(zip(TRIAL_LABELS, key, strict=True)), value)

    def _values(self) -> Iterator[tuple[tuple[str, str, str], float]]:
        for view in self._experiments:
            ns, exp = view.summary.namespace, view.summary.name
            for trial, record in view.trials.items():
                if record.usage is not None:
                    yield (ns, exp, trial), float(getattr(record.usage, self._field))

    def sample_lines(self) -> str:
        """This family's samples as exposition lines, the same in the text format 0.0.4 and OpenMetrics 1.0."""
        name = f"{self.name}_total"
        return "".join(
            f'{name}{{namespace="{_escape(ns)}",experiment="{_escape(exp)}",trial="{_escape(trial)}"}} {value!r}\n'
            for (ns, exp, trial), value in self._values()
        )

    def header(self) -> Metric:
        return CounterMetricFamily(self.name, self.documentation)
