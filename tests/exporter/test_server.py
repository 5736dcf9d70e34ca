"""Exporter over real HTTP: ingest, its refusals (which change nothing), /metrics, /healthz and routing."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from subprocess import CompletedProcess
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from kubetune.exporter import ExperimentStore, Exporter, Response

from ._support import Sender, result, trial

TOKEN = "s3cret-token"


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> dict[str, Any]:
        answer: dict[str, Any] = json.loads(self.body)
        return answer


def call(url: str, *, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None) -> Reply:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Reply(error.code, error.headers, error.read())


def ingest(
    exporter: Exporter,
    body: bytes,
    *,
    token: str = TOKEN,
    content_type: str = "application/json",
    experiment: str | None = None,
) -> Reply:
    """POST a batch; ``experiment`` is the ``Kubetune-Experiment`` header (none: the body names it)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    if experiment is not None:
        headers["Kubetune-Experiment"] = experiment
    return call(exporter.url + "/api/v1/ingest", method="POST", body=body, headers=headers)


@pytest.fixture
def store() -> ExperimentStore:
    return ExperimentStore()


@pytest.fixture
def exporter(store: ExperimentStore, registry: CollectorRegistry) -> Iterator[Exporter]:
    with Exporter(store=store, registry=registry, token=TOKEN, max_body_bytes=64 * 1024) as exporter:
        yield exporter


def requests_by_code(registry: CollectorRegistry, code: int) -> float | None:
    return registry.get_sample_value("kubetune_ingest_requests_total", {"code": str(code)})


def test_a_valid_batch_is_accepted_applied_and_counted(
    exporter: Exporter, store: ExperimentStore, registry: CollectorRegistry
) -> None:
    reply = ingest(exporter, Sender().body(trial("a", "RUNNING"), result("a", 1, {"mean_accuracy": 0.5})))

    assert (reply.status, reply.json()) == (200, {"accepted": 2})
    assert (
        registry.get_sample_value(
            "kubetune_trial_metric", {"trial": "a", "metric": "mean_accuracy", "namespace": "ml", "experiment": "exp"}
        )
        == 0.5
    )
    assert requests_by_code(registry, 200) == 1
    assert registry.get_sample_value("kubetune_ingest_events_total") == 2


def test_a_retried_batch_is_answered_as_a_duplicate_and_applied_once(
    exporter: Exporter, store: ExperimentStore
) -> None:
    body = Sender().body(result("a", 1, {"mean_accuracy": 0.5}))
    ingest(exporter, body)
    reply = ingest(exporter, body)

    assert (reply.status, reply.json()) == (200, {"accepted": 0, "duplicate": True})
    summary = store.summary("ml", "exp")
    assert summary is not None
    assert summary.results_total == 1


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"])
def test_a_missing_or_wrong_token_is_401_and_changes_nothing(
    exporter: Exporter, store: ExperimentStore, registry: CollectorRegistry, authorization: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    body = Sender().body(result("a", 1, {"mean_accuracy": 0.5}))
    reply = call(exporter.url + "/api/v1/ingest", method="POST", body=body, headers=headers)

    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert store.summary("ml", "exp") is None
    assert requests_by_code(registry, 401) == 1


def test_a_body_over_the_cap_is_413_before_it_is_sent(exporter: Exporter, store: ExperimentStore) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", exporter.port, timeout=10)
    try:
        connection.putrequest("POST", "/api/v1/ingest")
        connection.putheader("Authorization", f"Bearer {TOKEN}")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(64 * 1024 + 1))
        connection.endheaders()  # the body is never sent: the answer must not wait for it
        response = connection.getresponse()
        assert response.status == 413
        assert response.getheader("Connection") == "close"
        assert "exceeds" in json.loads(response.read())["error"]
    finally:
        connection.close()
    assert store.snapshot().experiments == ()


def test_a_body_without_content_length_is_411(exporter: Exporter) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", exporter.port, timeout=10)
    try:
        body = Sender().body()
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        connection.request("POST", "/api/v1/ingest", body=iter([body]), headers=headers, encode_chunked=True)
        assert connection.getresponse().status == 411
    finally:
        connection.close()


def test_a_malformed_batch_is_400_naming_the_field_and_changes_nothing(
    exporter: Exporter, store: ExperimentStore, registry: CollectorRegistry
) -> None:
    s = Sender()
    good = result("a", 1, {"mean_accuracy": 0.5})
    bad = result("b", 1, {"mean_accuracy": 0.5, "loss": "high"})  # type: ignore[dict-item]
    reply = ingest(exporter, s.body(good, trial("a", "RUNNING"), good, bad))

    assert reply.status == 400
    assert reply.json()["error"].startswith("events.3.metrics.loss: ")
    assert b"\n" not in reply.body.rstrip(b"\n")
    assert store.snapshot().experiments == ()
    assert requests_by_code(registry, 400) == 1


@pytest.mark.parametrize("body", [b"{not json", b"", b"[]", b'{"experiment": {}}', b"\xff\xfe"])
def test_a_body_that_is_not_a_batch_is_400(exporter: Exporter, store: ExperimentStore, body: bytes) -> None:
    reply = ingest(exporter, body)
    assert reply.status == 400
    assert reply.json()["error"]
    assert store.snapshot().experiments == ()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_a_body_that_is_not_declared_json_is_415(exporter: Exporter, content_type: str) -> None:
    assert ingest(exporter, Sender().body(), content_type=content_type).status == 415


def test_json_with_a_charset_parameter_is_accepted(exporter: Exporter) -> None:
    assert ingest(exporter, Sender().body(), content_type="application/json; charset=utf-8").status == 200


def test_an_unknown_path_is_404_and_a_wrong_method_is_405_with_allow(exporter: Exporter) -> None:
    assert call(exporter.url + "/nope").status == 404
    reply = call(exporter.url + "/api/v1/ingest")
    assert (reply.status, reply.headers["Allow"]) == (405, "POST")
    assert call(exporter.url + "/metrics", method="DELETE").status == 405
    assert call(exporter.url + "/healthz", method="PUT", body=b"x").status == 405


def test_healthz_answers_200(exporter: Exporter) -> None:
    assert call(exporter.url + "/healthz").status == 200


def test_metrics_serves_the_injected_registry_as_text_or_openmetrics(exporter: Exporter) -> None:
    ingest(exporter, Sender().body(result("a", 1, {"mean_accuracy": 0.5})))

    text = call(exporter.url + "/metrics")
    assert text.headers["Content-Type"].startswith("text/plain")
    assert b'kubetune_trial_metric{namespace="ml",experiment="exp",trial="a",metric="mean_accuracy"} 0.5\n' in text.body
    om = call(exporter.url + "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert om.headers["Content-Type"].startswith("application/openmetrics-text")
    assert om.body.endswith(b"# EOF\n")


def test_promtool_accepts_the_real_metrics_output(
    exporter: Exporter, promtool: Callable[[bytes], CompletedProcess[str]]
) -> None:
    s = Sender()
    ingest(exporter, s.body(trial("a", "RUNNING", config={"lr": 0.1}), trial("b", "PENDING")))
    ingest(exporter, s.body(result("a", 3, {"mean_accuracy": 0.5, "ray/tune/val-loss.avg": 0.25}, time=1.7e9)))
    ingest(exporter, b"{}", token="wrong")

    checked = promtool(call(exporter.url + "/metrics").body)
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")


def test_routes_can_be_added_for_the_operator(exporter: Exporter) -> None:
    exporter.add_route("GET", "/readyz", lambda request: Response(200, b"ready\n"))
    assert call(exporter.url + "/readyz").body == b"ready\n"


def test_one_keep_alive_connection_serves_several_requests(exporter: Exporter) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", exporter.port, timeout=10)
    s = Sender()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    try:
        for i in range(3):
            connection.request("POST", "/api/v1/ingest", body=s.body(result("a", i, {"x": 1.0})), headers=headers)
            response = connection.getresponse()
            assert (response.status, json.loads(response.read())) == (200, {"accepted": 1})
    finally:
        connection.close()


def test_stop_is_idempotent_and_releases_the_port(store: ExperimentStore, registry: CollectorRegistry) -> None:
    exporter = Exporter(store=store, registry=registry, token=TOKEN)
    exporter.start()
    url = exporter.url
    exporter.stop()
    exporter.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/healthz", timeout=2)
    with pytest.raises(RuntimeError, match="not started"):
        _ = exporter.port


def test_an_exporter_needs_a_token(store: ExperimentStore, registry: CollectorRegistry) -> None:
    with pytest.raises(ValueError, match="token"):
        Exporter(store=store, registry=registry, token="")


def test_an_authorize_hook_accepts_other_tokens_only_for_the_experiments_it_allows(
    store: ExperimentStore, registry: CollectorRegistry
) -> None:
    """The operator's experiment-scoped tokens: a token that works for its own experiment and nowhere else."""
    seen: list[tuple[bytes, str]] = []

    def authorize(token: bytes, *, namespace: str, name: str) -> bool:
        seen.append((token, name))
        return token == b"scoped-a" and (namespace, name) == ("ml", "a")

    with Exporter(store=store, registry=registry, token=TOKEN, authorize=authorize) as exporter:
        a, b, c = (Sender(name=n, sender=f"driver-{n}") for n in "abc")
        assert ingest(exporter, a.body(trial("t", "RUNNING")), token="scoped-a", experiment="ml/a").status == 200
        assert ingest(exporter, a.body(trial("t", "RUNNING")), token="scoped-a").status == 200  # named in the body
        refused = ingest(exporter, b.body(trial("t", "RUNNING")), token="scoped-a", experiment="ml/b")
        assert refused.status == 401
        assert "invalid_token" in refused.headers["WWW-Authenticate"]
        assert ingest(exporter, b.body(trial("t", "RUNNING"))).status == 200  # the master token
        assert ingest(exporter, c.body(trial("t", "RUNNING")), token="").status == 401

    assert store.summary("ml", "a") is not None
    assert store.summary("ml", "b") is not None  # from the master token, not the refused batch
    assert store.summary("ml", "c") is None
    assert seen == [(b"scoped-a", "a"), (b"scoped-a", "a"), (b"scoped-a", "b")]  # never the master token or none
    assert requests_by_code(registry, 401) == 2
