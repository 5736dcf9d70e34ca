"""Live reporting: every result a trial reports reaches the exporter, also when the exporter comes up late."""

from __future__ import annotations

import json
import math
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry

from kubetune.engine.running import RunOptions, run_experiment
from kubetune.exporter.server import Exporter
from kubetune.exporter.store import ExperimentStore
from kubetune.reporting.callback import ReportingCallback
from kubetune.reporting.sending import BatchSender, SenderSettings
from kubetune.reporting.wire import ExperimentRef, ResultEvent
from kubetune.spec import Experiment, load_object
from tests.conftest import experiment_doc

TOKEN = "s3cret-token"
FAST = SenderSettings(flush_interval_s=0.05, initial_backoff_s=0.05, max_backoff_s=0.2, final_flush_timeout_s=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    with Exporter(store=ExperimentStore(), registry=CollectorRegistry(), token=TOKEN) as exp:
        yield exp


def fifo_experiment(tmp_path: Path, *, samples: int, iterations: int, sleep: float = 0.0) -> Experiment:
    return load_object(
        experiment_doc(
            "live",
            "tests.fixtures.trainables:quadratic",
            config={"iterations": iterations, "sleep": sleep},
            numSamples=samples,
            scheduler={"type": "fifo"},  # every result counted: no early stopping (the default is ASHA)
            storage={"path": str(tmp_path)},
        )
    )


def callback_for(exp: Experiment, url: str, token: str = TOKEN) -> ReportingCallback:
    return ReportingCallback(
        url=url,
        token=token,
        namespace="local",
        name=exp.name,
        metric="score",
        mode="max",
        num_samples=exp.total_trials,
        settings=FAST,
    )


@pytest.mark.slow
def test_every_reported_result_arrives_in_the_exporter(ray_local: None, tmp_path: Path, exporter: Exporter) -> None:
    exp = fifo_experiment(tmp_path, samples=4, iterations=5)
    callback = callback_for(exp, exporter.url)
    summary = run_experiment(exp, options=RunOptions(verbose=0, callbacks=[callback]))

    got = exporter.store.summary("local", "live")
    assert got is not None
    assert got.results_total == 4 * 5
    assert got.counts["TERMINATED"] == 4
    assert got.counts_reported  # the driver's own count of its trials
    assert got.results_reported  # and of its results (each trial's latest iteration, summed)
    assert got.state == "FINISHED"
    assert got.best_trial == summary.best.trial_id  # type: ignore[union-attr]
    assert got.best_value == pytest.approx(summary.best.metric_value)  # type: ignore[union-attr]
    assert got.best_config == summary.best.config  # type: ignore[union-attr]
    value = exporter.registry.get_sample_value(
        "kubetune_trial_metric",
        {"namespace": "local", "experiment": "live", "trial": got.best_trial or "", "metric": "nested/half"},
    )
    assert value is not None  # nested results are flattened into metric names


@pytest.mark.slow
def test_results_buffer_while_the_exporter_is_down_and_arrive_later(ray_local: None, tmp_path: Path) -> None:
    port = free_port()
    exp = fifo_experiment(tmp_path, samples=3, iterations=4, sleep=0.3)
    callback = callback_for(exp, f"http://127.0.0.1:{port}")
    late = Exporter(store=ExperimentStore(), registry=CollectorRegistry(), token=TOKEN, port=port)
    timer = threading.Timer(3.0, late.start)
    timer.start()
    try:
        run_experiment(exp, options=RunOptions(verbose=0, callbacks=[callback]))
        timer.join()
        got = late.store.summary("local", "live")
        assert got is not None
        assert got.results_total == 3 * 4
        assert got.counts["TERMINATED"] == 3
    finally:
        timer.cancel()
        late.stop()


def test_a_wrong_token_is_refused_and_changes_nothing(exporter: Exporter) -> None:
    callback = ReportingCallback(
        url=exporter.url, token="wrong", namespace="local", name="x", metric="score", mode="max", settings=FAST
    )
    callback.setup()
    assert callback.sender is not None
    sender = callback.sender
    assert callback.close(5)
    assert sender.stats.rejected_events == 1
    assert sender.stats.sent_events == 0
    assert exporter.store.summary("local", "x") is None
    assert exporter.registry.get_sample_value("kubetune_ingest_requests_total", {"code": "401"}) == 1


def test_the_buffer_is_bounded_while_the_endpoint_is_unreachable() -> None:
    settings = SenderSettings(max_buffered=10, batch_size=500, flush_interval_s=0.05, initial_backoff_s=0.05)
    sender = BatchSender(
        url=f"http://127.0.0.1:{free_port()}",
        token=TOKEN,
        experiment=ExperimentRef(name="x", metric="m", mode="max"),
        settings=settings,
    )
    for i in range(25):
        sender.put(ResultEvent(trial="t", iteration=i, time=0.0, metrics={"m": 1.0}))
    assert sender.pending <= 10
    assert sender.stats.dropped_events >= 15
    assert not sender.close(0.3)


def test_the_callback_pickles_without_its_token_or_thread(exporter: Exporter) -> None:
    import pickle

    callback = callback_for(fifo_experiment(Path("/tmp"), samples=1, iterations=1), exporter.url)
    callback.setup()
    restored = pickle.loads(pickle.dumps(callback))
    assert TOKEN.encode() not in pickle.dumps(callback)
    assert restored.sender is None
    restored.setup()  # without credentials it stays silent instead of failing the run
    assert restored.sender is None
    callback.close(5)


def trial_of(trial_id: str, config: dict[str, object] | None = None) -> SimpleNamespace:
    """What the callback reads of a Tune trial: its id, config and status."""
    return SimpleNamespace(trial_id=trial_id, config=config or {}, status="RUNNING")


def test_the_sender_names_the_experiment_so_a_scoped_token_is_checked_before_the_body() -> None:
    def authorize(token: bytes, *, namespace: str, name: str) -> bool:
        return token == b"scoped" and (namespace, name) == ("ml", "x")

    store = ExperimentStore()
    with Exporter(store=store, registry=CollectorRegistry(), token=TOKEN, authorize=authorize) as exporter:
        callback = ReportingCallback(
            url=exporter.url, token="scoped", namespace="ml", name="x", metric="score", mode="max", settings=FAST
        )
        callback.setup()
        callback.on_trial_start(0, [], trial_of("t1", {"lr": 0.1}))
        callback.on_trial_result(0, [], trial_of("t1"), {"score": 0.5, "training_iteration": 1})
        assert callback.close(5)
    summary = store.summary("ml", "x")
    assert summary is not None
    assert (summary.results_total, summary.best_trial, summary.best_config) == (1, "t1", {"lr": 0.1})


def test_a_config_the_wire_cannot_carry_exactly_travels_as_strings(exporter: Exporter) -> None:
    callback = ReportingCallback(
        url=exporter.url, token=TOKEN, namespace="local", name="x", metric="score", mode="max", settings=FAST
    )
    config = {"lr": math.nan, "cap": math.inf, "seed": 2**64, "when": Path("/data"), "ok": [1, 0.5, None]}
    callback.on_trial_start(0, [], trial_of("t1", config))
    callback.on_trial_result(0, [], trial_of("t1"), {"score": 0.5, "training_iteration": 1})
    sender = callback.sender
    assert sender is not None
    assert callback.close(5)

    assert sender.stats.rejected_events == 0  # one odd value used to cost the whole batch
    summary = exporter.store.summary("local", "x")
    assert summary is not None
    assert json.loads(json.dumps(summary.best_config, allow_nan=False)) == {
        "lr": "NaN", "cap": "Infinity", "seed": str(2**64), "when": "/data", "ok": [1, 0.5, None]
    }  # fmt: skip


def test_a_result_key_or_value_the_wire_would_refuse_is_dropped_alone(exporter: Exporter) -> None:
    callback = ReportingCallback(
        url=exporter.url, token=TOKEN, namespace="local", name="x", metric="score", mode="max", settings=FAST
    )
    result = {"score": 0.5, "loss\n": 1.0, "huge": 10**400, "training_iteration": 3}
    callback.on_trial_result(0, [], trial_of("t1"), result)  # must not raise into Tune
    sender = callback.sender
    assert sender is not None
    assert callback.close(5)

    assert sender.stats.rejected_events == 0
    record = exporter.store.snapshot().experiments[0].trials["t1"]
    assert (dict(record.metrics), record.iteration) == ({"score": 0.5}, 3)
