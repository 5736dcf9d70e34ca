"""Numbers in a batch: only what a Prometheus series and a Kubernetes status carry exactly is accepted.

One accepted number that Prometheus cannot parse takes the whole target down (``up=0``); one NaN in a best config
makes every status patch of the experiment invalid JSON. Both are refused at ingest, whole batch, nothing changed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from subprocess import CompletedProcess
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from kubetune.exporter import ExperimentStore, Exporter

from ._support import Sender, result, trial
from .test_server import TOKEN, call, ingest

HUGE = int("2" + "0" * 308)  # a 309-digit integer: valid JSON, not a float Prometheus can parse
EXACT = 2**53


@pytest.fixture
def store() -> ExperimentStore:
    return ExperimentStore()


@pytest.fixture
def exporter(store: ExperimentStore, registry: CollectorRegistry) -> Iterator[Exporter]:
    with Exporter(store=store, registry=registry, token=TOKEN) as exporter:
        yield exporter


def payload(**changes: Any) -> dict[str, Any]:
    """A valid batch with one result of iteration 1, with ``changes`` applied (``"iteration"``: the event's)."""
    body = Sender(num_samples=4).payload(result("a", 1, {"mean_accuracy": 0.5}), seq=1)
    for key, value in changes.items():
        if key == "iteration":
            body["events"][0]["iteration"] = value
        elif key == "numSamples":
            body["experiment"]["numSamples"] = value
        else:
            body[key] = value
    return body


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"iteration": HUGE}, "events.0.iteration"),
        ({"iteration": EXACT + 1}, "events.0.iteration"),
        ({"seq": HUGE}, "seq"),
        ({"numSamples": HUGE}, "experiment.numSamples"),
    ],
)
def test_an_integer_beyond_2_53_is_400_naming_it_and_metrics_stay_valid(
    exporter: Exporter,
    store: ExperimentStore,
    promtool: Callable[[bytes], CompletedProcess[str]],
    changes: dict[str, Any],
    field: str,
) -> None:
    reply = ingest(exporter, json.dumps(payload(**changes)).encode())

    assert reply.status == 400
    assert reply.json()["error"].startswith(f"{field}: ")
    assert store.snapshot().experiments == ()
    checked = promtool(call(exporter.url + "/metrics").body)
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")


def test_the_largest_exact_integers_are_accepted_and_metrics_stay_valid(
    exporter: Exporter, store: ExperimentStore, promtool: Callable[[bytes], CompletedProcess[str]]
) -> None:
    reply = ingest(exporter, json.dumps(payload(iteration=EXACT, seq=EXACT, numSamples=EXACT)).encode())

    assert (reply.status, reply.json()) == (200, {"accepted": 1})
    assert store.snapshot().experiments[0].trials["a"].iteration == EXACT
    body = call(exporter.url + "/metrics").body
    assert f'trial="a"}} {EXACT}\n'.encode() in body
    checked = promtool(body)
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")


@pytest.mark.parametrize(
    "config",
    [
        {"lr": math.nan},
        {"lr": math.inf},
        {"model": {"layers": [64, -math.inf]}},
        {"seed": 2**64},
    ],
    ids=["nan", "infinity", "nested", "inexact-integer"],
)
def test_a_config_that_is_not_strict_json_is_400_and_changes_nothing(
    exporter: Exporter, store: ExperimentStore, config: dict[str, Any]
) -> None:
    body = json.dumps(Sender().payload(trial("a", "RUNNING", config=config), result("a", 1, {"mean_accuracy": 0.5})))
    reply = ingest(exporter, body.encode())  # json.dumps writes NaN/Infinity, as Python senders would

    assert reply.status == 400
    assert reply.json()["error"].startswith("events.0.config: ")
    assert store.snapshot().experiments == ()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_non_finite_number_anywhere_in_a_batch_is_400(
    exporter: Exporter, store: ExperimentStore, literal: str
) -> None:
    places = [
        '{"kind":"trial","trial":"a","state":"RUNNING","time":1,"config":{"x":[[N]]}}',
        '{"kind":"result","trial":"a","iteration":1,"time":N,"metrics":{"m":1}}',
        '{"kind":"result","trial":"a","iteration":1,"time":1,"metrics":{"m":N}}',
        '{"kind":"experiment","state":"RUNNING","time":N}',
    ]
    head = '{"experiment":{"name":"x","metric":"m","mode":"max"},"sender":"s","seq":1,"events":['
    for place in places:
        body = head + place.replace("N", literal) + "]}"
        assert ingest(exporter, body.encode()).status == 400, place
    assert store.snapshot().experiments == ()


def test_the_best_config_the_store_hands_out_is_strict_json_and_read_only(store: ExperimentStore) -> None:
    s = Sender()
    store.apply(s.batch(trial("a", "RUNNING", config={"lr": 0.1, "model": {"layers": [64, 32]}})))
    store.apply(s.batch(result("a", 1, {"mean_accuracy": 0.5})))

    summary = store.summary("ml", "exp")
    assert summary is not None
    assert summary.best_config is not None
    assert json.loads(json.dumps(summary.best_config, allow_nan=False)) == {"lr": 0.1, "model": {"layers": [64, 32]}}
    with pytest.raises(TypeError):
        summary.best_config["lr"] = 1.0
    with pytest.raises(TypeError):
        summary.best_config["model"]["layers"] = []
