"""The ingest endpoint on any request: 2xx, or a 4xx with a message that changed nothing - never a 500 - and every
accepted batch keeps ``/metrics`` valid for Prometheus (``promtool check metrics``) and every summary strict JSON.

Bodies are batches built from valid and edge values (names with every allowed character, integers up to 2**53,
floats from 5e-324 to 1e308, -0.0), mutated (junk values, deleted and unknown keys, NaN, huge integers), or not
JSON at all; tokens are the exporter's own, an experiment-scoped one (right or wrong experiment), or wrong; the
``Kubetune-Experiment`` header is there or not. Each example sends a few requests through the handler of a fresh
exporter (so a failure replays exactly) with small store caps, so evictions, dropped trials and forgotten senders
happen too; the same requests also go to one real exporter over real HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import io
import json
import math
import subprocess
from collections.abc import Callable, Iterator
from email.message import Message
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from kubetune.exporter import ExperimentStore, Exporter, Request, StoreLimits
from kubetune.reporting.wire import MAX_EXACT_INT
from kubetune_operator.summarizing import summary_status

from .strategies import edge_numbers, json_like, mutated

MASTER = "master-token"
JSON_MASTER = {"Authorization": f"Bearer {MASTER}", "Content-Type": "application/json"}
LIMITS = StoreLimits(
    max_experiments=3,
    max_trials_per_experiment=3,
    keep_best_finished=1,
    max_metrics_per_trial=2,
    max_trial_ids_per_experiment=5,
    max_senders=2,
)


def scoped(namespace: str, name: str) -> str:
    return "scoped-" + hashlib.sha256(f"{namespace}/{name}".encode(errors="surrogatepass")).hexdigest()[:24]


def authorize(token: bytes, *, namespace: str, name: str) -> bool:
    return hmac.compare_digest(token, scoped(namespace, name).encode())


@pytest.fixture(scope="module")
def exporter() -> Iterator[Exporter]:
    with Exporter(store=ExperimentStore(limits=LIMITS), registry=CollectorRegistry(), token=MASTER,
                  authorize=authorize) as exporter:  # fmt: skip
        yield exporter


# -- strategies ---------------------------------------------------------------------------------------------

names = st.one_of(
    st.sampled_from(["a", "exp", "mnist-asha", "train_abc_00001", "x:y@z+1", "a.b/c"]),
    st.from_regex(r"[A-Za-z0-9_.:/@+-]{1,20}", fullmatch=True),
)
namespaces = st.one_of(
    st.sampled_from(["ml", "local", "team-a"]), st.from_regex(r"[A-Za-z0-9_.:@+-]{1,12}", fullmatch=True)
)
metric_names = st.one_of(
    st.sampled_from(["score", "loss", "ray/tune/val-loss.avg", "_x"]),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_./-]{0,30}", fullmatch=True),
)
#: Counts: mostly small, often at the exact-integer limit, now and then past it (those must be refused).
counts = st.one_of(
    *[st.integers(0, 1000)] * 4,
    st.sampled_from([MAX_EXACT_INT, MAX_EXACT_INT - 1]),
    st.sampled_from([MAX_EXACT_INT + 1, 2**63, 10**400]),
)
finite = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([5e-324, -0.0, 1e308, -1e308]))
#: Metric values and config numbers: finite, now and then not (refused).
values = st.one_of(*[finite] * 12, st.sampled_from([math.nan, math.inf, -math.inf, 10**400, 2**60]))
times = st.one_of(st.floats(0, 2e9), st.sampled_from([0.0, 1e308]))
trial_ids = st.sampled_from(["t0", "t1", "t2", "t3"])
configs = st.dictionaries(st.text(max_size=5), st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-MAX_EXACT_INT, MAX_EXACT_INT), values, st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=8,
), max_size=4)  # fmt: skip

trial_events = st.fixed_dictionaries(
    {
        "kind": st.just("trial"),
        "trial": trial_ids,
        "state": st.sampled_from(["PENDING", "RUNNING", "PAUSED", "TERMINATED", "ERROR"]),
        "time": times,
    },
    optional={"config": configs},
)
result_events = st.fixed_dictionaries(
    {
        "kind": st.just("result"),
        "trial": trial_ids,
        "iteration": counts,
        "time": times,
        "metrics": st.dictionaries(st.one_of(st.just("score"), metric_names), values, max_size=4),
    }
)
experiment_events = st.fixed_dictionaries(
    {"kind": st.just("experiment"), "state": st.sampled_from(["RUNNING", "FINISHED", "FAILED"]), "time": times}
)
refs = st.fixed_dictionaries(
    {
        "name": st.one_of(st.sampled_from(["e1", "e2", "e3", "e4"]), names),
        "metric": st.sampled_from(["score", "loss"]),
        "mode": st.sampled_from(["min", "max"]),
    },
    optional={"namespace": st.one_of(st.just("ml"), namespaces), "numSamples": st.one_of(st.none(), counts)},
)
batches = st.fixed_dictionaries(
    {
        "experiment": refs,
        "sender": st.sampled_from(["driver-1", "driver-2", "driver-3"]),
        "seq": counts,
        "events": st.lists(st.one_of(trial_events, result_events, experiment_events), min_size=1, max_size=6),
    }
)


def weighted(*choices: tuple[int, Any]) -> st.SearchStrategy[Any]:
    return st.sampled_from([value for weight, value in choices for _ in range(weight)])


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    """A body (a valid batch, a mutated one, JSON that is no batch, or bytes) and its headers; about half of them
    are meant to be accepted, so that ``/metrics`` is checked often."""
    batch = draw(batches)
    kind = draw(weighted((5, "valid"), (3, "mutated"), (1, "json"), (1, "bytes")))
    doc: Any = batch if kind == "valid" else draw(mutated(batch)) if kind == "mutated" else draw(json_like)
    if kind == "bytes":
        cut = json.dumps(batch).encode()[: draw(st.integers(0, 60))]
        body = draw(st.one_of(st.binary(max_size=300), st.just(cut)))
    else:
        body = json.dumps(doc).encode("utf-8", "surrogatepass")  # NaN, Infinity and lone surrogates included
    ref = batch["experiment"]
    namespace, name = ref.get("namespace", "local"), ref["name"]
    token = draw(weighted((6, MASTER), (2, scoped(namespace, name)), (1, scoped("ml", "other")), (1, "wrong"), (1, "")))
    content_type = draw(weighted((9, "application/json"), (1, "text/plain")))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    header = draw(weighted((5, None), (4, f"{namespace}/{name}"), (1, "ml/other"), (1, "junk")))
    if header is not None:
        headers["Kubetune-Experiment"] = header
    return body, headers


def post(exporter: Exporter, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """Over real HTTP."""
    connection = http.client.HTTPConnection("127.0.0.1", exporter.port, timeout=30)
    try:
        connection.request("POST", "/api/v1/ingest", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def handle(exporter: Exporter, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """Through the exporter's handler, as its HTTP server calls it (no socket, so each example gets a fresh one)."""
    message = Message()
    for name, value in headers.items():
        message[name] = value
    if method == "POST":
        message["Content-Length"] = str(len(body))
    response = exporter.handle(Request(method, path, "", message, io.BytesIO(body)))
    return response.status, response.body


def check_answer(status: int, answer: bytes) -> None:
    """2xx, or a 4xx with a one-line JSON message; never a 5xx."""
    assert status < 500, answer
    if status >= 400:
        error = json.loads(answer)["error"]
        assert isinstance(error, str)
        assert error


SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]
#: ``promtool`` (tests/conftest.py) is function-scoped but stateless: sharing it between examples is fine.
SHARED_FIXTURE_OK = [*SLOW_OK, HealthCheck.function_scoped_fixture]


@settings(max_examples=100, deadline=None, suppress_health_check=SHARED_FIXTURE_OK)
@given(st.lists(requests(), min_size=1, max_size=4))
def test_any_requests_are_answered_2xx_or_4xx_and_accepted_batches_keep_metrics_valid(
    promtool: Callable[[bytes], subprocess.CompletedProcess[str]],
    requests: list[tuple[bytes, dict[str, str]]],
) -> None:
    exporter = Exporter(store=ExperimentStore(limits=LIMITS), registry=CollectorRegistry(), token=MASTER,
                        authorize=authorize)  # fmt: skip
    for body, headers in requests:
        before = exporter.store.snapshot().experiments
        status, answer = handle(exporter, "POST", "/api/v1/ingest", body, headers)
        event(f"answered {status}")
        check_answer(status, answer)
        if status >= 400:
            assert exporter.store.snapshot().experiments == before, "a refused request changed the store"
            continue
        if json.loads(answer).get("accepted", 0) == 0:
            continue
        event("accepted events: /metrics checked with promtool")
        checked = promtool(handle(exporter, "GET", "/metrics", b"", {})[1])
        assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")
        for view in exporter.store.snapshot().experiments:
            json.dumps(view.summary.best_config, allow_nan=False)
            json.dumps(summary_status(view.summary, max_config_bytes=16_384), allow_nan=False)


@settings(max_examples=100, deadline=None, suppress_health_check=SLOW_OK)
@given(requests())
def test_any_request_over_http_is_answered_2xx_or_4xx(
    exporter: Exporter, request: tuple[bytes, dict[str, str]]
) -> None:
    check_answer(*post(exporter, *request))


@settings(max_examples=100, deadline=None)
@given(st.one_of(edge_numbers, st.integers(), st.floats()))
def test_any_number_as_an_iteration_is_refused_or_kept_exactly(exporter: Exporter, number: Any) -> None:
    event = {"kind": "result", "trial": "t", "iteration": number, "time": 1.0, "metrics": {"score": 1}}
    ref = {"namespace": "ml", "name": "numbers", "metric": "score", "mode": "max"}
    batch = {"experiment": ref, "sender": "numbers", "seq": 0, "events": [event]}
    status, _ = post(exporter, json.dumps(batch).encode(), JSON_MASTER)
    exact = isinstance(number, int) and not isinstance(number, bool) and 0 <= number <= MAX_EXACT_INT
    integral_float = isinstance(number, float) and number.is_integer() and 0 <= number <= MAX_EXACT_INT
    assert status == (200 if exact or integral_float else 400), number


def test_text_that_is_no_batch_is_400(exporter: Exporter) -> None:
    for text in ["", "\n", 'a"b', "\ud800", "[]", "null", '{"experiment": {}}']:
        status, _ = post(exporter, text.encode("utf-8", "surrogatepass"), JSON_MASTER)
        assert status == 400, text
