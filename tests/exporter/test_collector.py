"""TrialCollector: what a scrape of the store shows, read back through a fresh registry."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from kubetune.exporter import ExperimentStore, StoreLimits, TrialCollector
from kubetune.exporter.collector import encode, encode_text
from kubetune.reporting.wire import Batch, ExperimentRef, ResultEvent

from ._support import Sender, experiment, result, trial

EXP = {"namespace": "ml", "experiment": "exp"}


@pytest.fixture
def store(registry: CollectorRegistry) -> ExperimentStore:
    store = ExperimentStore()
    registry.register(TrialCollector(store))
    return store


def test_each_reported_metric_is_a_series_labelled_by_trial_and_metric_name(
    store: ExperimentStore, registry: CollectorRegistry
) -> None:
    store.apply(Sender().batch(result("a_00000", 7, {"mean_accuracy": 0.5, "ray/tune/val-loss.avg": 1.25})))

    value = registry.get_sample_value
    assert value("kubetune_trial_metric", {**EXP, "trial": "a_00000", "metric": "mean_accuracy"}) == 0.5
    assert value("kubetune_trial_metric", {**EXP, "trial": "a_00000", "metric": "ray/tune/val-loss.avg"}) == 1.25
    assert value("kubetune_trial_iteration", {**EXP, "trial": "a_00000"}) == 7


def test_experiment_families_show_counts_best_value_results_and_info(
    store: ExperimentStore, registry: CollectorRegistry
) -> None:
    s = Sender(metric="loss", mode="min")
    store.apply(s.batch(trial("a", "RUNNING"), trial("b", "RUNNING"), trial("c", "PENDING")))
    store.apply(s.batch(result("a", 1, {"loss": 0.4}, time=100.0), result("b", 1, {"loss": 0.2}, time=101.0)))
    store.apply(s.batch(trial("b", "TERMINATED"), experiment("FINISHED")))

    value = registry.get_sample_value
    assert value("kubetune_experiment_trials", {**EXP, "state": "RUNNING", "reason": ""}) == 1
    assert value("kubetune_experiment_trials", {**EXP, "state": "PENDING", "reason": ""}) == 1
    assert value("kubetune_experiment_trials", {**EXP, "state": "TERMINATED", "reason": ""}) == 1  # no reason sent
    assert value("kubetune_experiment_trials", {**EXP, "state": "ERROR", "reason": "errored"}) == 0
    assert value("kubetune_experiment_best_value", {**EXP, "metric": "loss"}) == 0.2
    assert value("kubetune_experiment_results_total", EXP) == 2
    assert value("kubetune_experiment_last_result_timestamp_seconds", EXP) == 101.0
    info = {**EXP, "metric": "loss", "mode": "min", "state": "FINISHED"}
    assert value("kubetune_experiment_info", info) == 1
    assert value("kubetune_store_experiments") == 1
    assert value("kubetune_store_trials") == 3


def test_only_the_current_best_trial_has_a_best_series(store: ExperimentStore, registry: CollectorRegistry) -> None:
    s = Sender()
    store.apply(s.batch(result("a", 1, {"mean_accuracy": 0.5}), result("b", 1, {"mean_accuracy": 0.4})))
    store.apply(s.batch(result("b", 2, {"mean_accuracy": 0.9})))

    assert registry.get_sample_value("kubetune_trial_best", {**EXP, "trial": "b"}) == 1
    assert registry.get_sample_value("kubetune_trial_best", {**EXP, "trial": "a"}) is None


def test_hyperparameter_values_never_appear_in_labels(store: ExperimentStore, registry: CollectorRegistry) -> None:
    s = Sender()
    store.apply(s.batch(trial("a", "RUNNING", config={"lr": 0.123456, "arch": "resnet-secret"})))
    store.apply(s.batch(result("a", 1, {"mean_accuracy": 0.5})))

    text = generate_latest(registry).decode()
    assert "0.123456" not in text
    assert "resnet-secret" not in text
    assert "lr" not in {label for family in registry.collect() for sample in family.samples for label in sample.labels}


def test_a_finished_trial_outside_the_best_stops_being_exported(registry: CollectorRegistry) -> None:
    store = ExperimentStore(limits=StoreLimits(keep_best_finished=1))
    registry.register(TrialCollector(store))
    s = Sender()
    store.apply(s.batch(result("a", 1, {"mean_accuracy": 0.9}), result("b", 1, {"mean_accuracy": 0.1})))
    store.apply(s.batch(trial("a", "TERMINATED"), trial("b", "TERMINATED")))

    assert registry.get_sample_value("kubetune_trial_iteration", {**EXP, "trial": "a"}) == 1
    assert registry.get_sample_value("kubetune_trial_iteration", {**EXP, "trial": "b"}) is None
    assert registry.get_sample_value("kubetune_experiment_trials", {**EXP, "state": "TERMINATED", "reason": ""}) == 2


def test_dropped_trials_are_counted_per_experiment_and_in_the_store(registry: CollectorRegistry) -> None:
    store = ExperimentStore(limits=StoreLimits(max_trials_per_experiment=1))
    registry.register(TrialCollector(store))
    store.apply(Sender().batch(trial("a", "RUNNING"), trial("b", "RUNNING"), trial("c", "RUNNING")))

    assert registry.get_sample_value("kubetune_experiment_dropped_trials_total", EXP) == 2
    assert registry.get_sample_value("kubetune_store_dropped_trials_total") == 2
    assert registry.get_sample_value("kubetune_store_evicted_experiments_total") == 0


def test_an_empty_store_exports_only_the_store_families(store: ExperimentStore, registry: CollectorRegistry) -> None:
    samples = [sample for family in registry.collect() for sample in family.samples]
    assert {sample.name for sample in samples} == {
        "kubetune_store_experiments",
        "kubetune_store_trials",
        "kubetune_store_dropped_trials_total",
        "kubetune_store_evicted_experiments_total",
    }


def test_every_family_is_documented_and_named_kubetune(store: ExperimentStore, registry: CollectorRegistry) -> None:
    store.apply(Sender().batch(result("a", 1, {"mean_accuracy": 0.5})))
    for family in registry.collect():
        assert family.name.startswith("kubetune_")
        assert family.documentation
        if family.type == "counter":
            assert all(sample.name.endswith("_total") for sample in family.samples)


def test_registering_a_second_collector_with_the_same_names_is_refused(
    store: ExperimentStore, registry: CollectorRegistry
) -> None:
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        registry.register(TrialCollector(store))


def parsed(exposition: bytes) -> set[tuple[str, frozenset[tuple[str, str]], float]]:
    return {
        (sample.name, frozenset(sample.labels.items()), sample.value)
        for family in text_string_to_metric_families(exposition.decode())
        for sample in family.samples
    }


def test_the_fast_text_encoder_says_exactly_what_generate_latest_says(
    store: ExperimentStore, registry: CollectorRegistry
) -> None:
    s = Sender()
    store.apply(s.batch(trial("a", "RUNNING"), trial("b", "PENDING"), trial("c", "TERMINATED")))
    store.apply(s.batch(result("a", 3, {"mean_accuracy": 0.1 + 0.2, "ray/tune/x-y.z": 1e22, "n": 1e-7})))
    store.apply(s.batch(result("b", 1, {"mean_accuracy": -0.0, "big": 123456789.0})))

    fast, reference = encode_text(registry), generate_latest(registry)
    assert parsed(fast) == parsed(reference)
    assert len(fast.splitlines()) == len(reference.splitlines())


#: What Prometheus 2.x sends when it scrapes.
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def test_openmetrics_for_prometheus_says_exactly_what_prometheus_client_says(
    store: ExperimentStore, registry: CollectorRegistry
) -> None:
    s = Sender()
    store.apply(s.batch(trial("a", "RUNNING"), result("a", 3, {"mean_accuracy": 0.3, "ray/tune/x-y.z": 1e22})))

    fast, content_type = encode(registry, PROMETHEUS_ACCEPT)
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    assert fast.endswith(b"\n# EOF\n")
    assert fast.count(b"# EOF") == 1

    def samples(text: bytes) -> set[tuple[str, frozenset[tuple[str, str]], float]]:
        families = parse_openmetrics(text.decode())  # type: ignore[no-untyped-call]
        return {(x.name, frozenset(x.labels.items()), x.value) for f in families for x in f.samples}

    assert samples(fast) == samples(generate_openmetrics(registry))  # type: ignore[no-untyped-call]


def test_label_values_that_bypassed_validation_are_escaped(registry: CollectorRegistry) -> None:
    store = ExperimentStore()
    registry.register(TrialCollector(store))
    odd = 'we"ird\\name\nx'
    ref = ExperimentRef.model_construct(namespace=odd, name="e", metric="m", mode="max", numSamples=None)
    event = ResultEvent.model_construct(kind="result", trial=odd, iteration=1, time=1.0, metrics={odd: 1.0})
    store.apply(Batch.model_construct(experiment=ref, sender="s", seq=1, events=[event]))

    assert parsed(encode_text(registry)) == parsed(generate_latest(registry))
    labels = {"namespace": odd, "experiment": "e", "trial": odd, "metric": odd}
    assert registry.get_sample_value("kubetune_trial_metric", labels) == 1.0
