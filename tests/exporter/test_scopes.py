"""An experiment-scoped token changes nothing outside its own experiment.

The operator hands each RayJob a token good for its experiment only; whoever reads that RayJob has it. With it
they must not be able to write, silence or un-deduplicate another experiment's driver.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from kubetune.exporter import ExperimentStore, Exporter, StoreLimits

from ._support import Sender, trial
from .test_server import TOKEN, ingest


def token_for(name: str) -> str:
    return f"scoped-ml-{name}"


def authorize(token: bytes, *, namespace: str, name: str) -> bool:
    return namespace == "ml" and hmac.compare_digest(token, token_for(name).encode())


@pytest.fixture
def store() -> ExperimentStore:
    return ExperimentStore()


@pytest.fixture
def exporter(store: ExperimentStore, registry: CollectorRegistry) -> Iterator[Exporter]:
    with Exporter(store=store, registry=registry, token=TOKEN, authorize=authorize) as exporter:
        yield exporter


def test_a_token_cannot_silence_another_experiments_driver_by_borrowing_its_sender_id(exporter: Exporter) -> None:
    forged = Sender(name="x", sender="driver-y").body(trial("t", "RUNNING"), seq=2**53)
    assert ingest(exporter, forged, token=token_for("x"), experiment="ml/x").status == 200

    real = Sender(name="y", sender="driver-y").body(trial("t", "RUNNING"), seq=1)
    reply = ingest(exporter, real, token=token_for("y"), experiment="ml/y")
    assert (reply.status, reply.json()) == (200, {"accepted": 1})


def test_deduplication_is_per_experiment_and_sender_in_the_store(store: ExperimentStore) -> None:
    assert store.apply(Sender(name="x", sender="driver").batch(trial("t", "RUNNING"), seq=2**53)) == 1
    assert store.apply(Sender(name="y", sender="driver").batch(trial("t", "RUNNING"), seq=1)) == 1
    assert store.ingest(Sender(name="y", sender="driver").batch(trial("t", "RUNNING"), seq=1)).duplicate


def test_one_experiments_senders_never_push_anothers_out_of_the_dedup_memory() -> None:
    store = ExperimentStore(limits=StoreLimits(max_senders=2))
    y = Sender(name="y", sender="driver-y")
    store.apply(y.batch(trial("t", "RUNNING"), seq=5))
    for i in range(10):  # floods its own experiment with fresh sender ids
        store.apply(Sender(name="x", sender=f"flood-{i}").batch(trial("t", "RUNNING"), seq=1))

    assert store.ingest(y.batch(trial("t", "RUNNING"), seq=5)).duplicate  # y's retry is still recognised


def test_a_batch_for_another_experiment_than_the_header_names_is_refused(
    exporter: Exporter, store: ExperimentStore
) -> None:
    body = Sender(name="y").body(trial("t", "RUNNING"))
    reply = ingest(exporter, body, token=token_for("x"), experiment="ml/x")

    assert reply.status == 400
    assert "ml/y" in reply.json()["error"]
    assert store.summary("ml", "y") is None


def test_a_token_is_refused_for_an_experiment_it_is_not_for_whatever_the_body_says(
    exporter: Exporter, store: ExperimentStore
) -> None:
    body = Sender(name="x").body(trial("t", "RUNNING"))
    assert ingest(exporter, body, token=token_for("x"), experiment="ml/y").status == 401
    assert ingest(exporter, body, token=token_for("x"), experiment="other/x").status == 401
    assert store.snapshot().experiments == ()


def test_a_body_naming_its_experiment_twice_cannot_pass_the_first_for_the_second(
    exporter: Exporter, store: ExperimentStore
) -> None:
    """Without the header the body's first member is checked; JSON parsers keep the last duplicate key."""
    x, y = (Sender(name=n).payload(trial("t", "RUNNING")) for n in "xy")
    first, second, events = (json.dumps(part) for part in (x["experiment"], y["experiment"], y["events"]))
    body = f'{{"experiment": {first}, "experiment": {second}, "sender": "s", "seq": 1, "events": {events}}}'
    reply = ingest(exporter, body.encode(), token=token_for("x"))

    assert reply.status == 400
    assert store.snapshot().experiments == ()


def test_without_the_header_a_scoped_token_needs_the_experiment_first_in_the_body(
    exporter: Exporter, store: ExperimentStore
) -> None:
    payload = Sender(name="x").payload(trial("t", "RUNNING"))
    reordered = {"events": payload["events"], "sender": "s", "seq": 1, "experiment": payload["experiment"]}
    reply = ingest(exporter, json.dumps(reordered).encode(), token=token_for("x"))

    assert reply.status == 401
    assert "Kubetune-Experiment" in reply.json()["error"]
    assert ingest(exporter, json.dumps(reordered).encode(), token=token_for("x"), experiment="ml/x").status == 200


def test_a_malformed_experiment_header_is_400(exporter: Exporter) -> None:
    body = Sender(name="x").body(trial("t", "RUNNING"))
    for header in ("x", "ml/", "/x", "ml x/y", 'ml/x"'):
        assert ingest(exporter, body, token=token_for("x"), experiment=header).status == 400, header
