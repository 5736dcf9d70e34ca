"""What one client can hold of the exporter: the token is checked before the body, connections and request time
are bounded, and a client that goes away is no error. Real sockets on 127.0.0.1; waits are bounded, and nothing
asserts a duration."""

from __future__ import annotations

import http.client
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from kubetune.exporter import ConnectionLimits, ExperimentStore, Exporter, Response

from ._support import Sender, result
from .test_server import TOKEN, call

BODY_BYTES = 2_800_000


def refuse_all(token: bytes, *, namespace: str, name: str) -> bool:
    return False


@pytest.fixture
def store() -> ExperimentStore:
    return ExperimentStore()


def big_body() -> bytes:
    """A valid-looking batch of about 2.8 MB, experiment first (as senders write it)."""
    events = [result(f"t{i % 100}", i, {f"m{k}": 0.5 for k in range(40)}) for i in range(5000)]
    body = Sender().body(*events)
    return body[:BODY_BYTES]


def eventually(check: Callable[[], bool], *, within: float = 15.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed ``sock`` (EOF or reset); False while it is open."""
    sock.settimeout(0.05)
    try:
        return sock.recv(4096) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


def post_headers(port: int, headers: dict[str, str], *, length: int) -> http.client.HTTPConnection:
    """Headers of a POST to the ingest path sent, its body not (yet)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("POST", "/api/v1/ingest")
    for name, value in {"Content-Type": "application/json", **headers, "Content-Length": str(length)}.items():
        connection.putheader(name, value)
    connection.endheaders()
    return connection


@pytest.mark.parametrize("experiment", [{"Kubetune-Experiment": "ml/exp"}, {}], ids=["header", "no-header"])
def test_a_scoped_token_is_refused_before_the_body_is_read(
    store: ExperimentStore, registry: CollectorRegistry, experiment: dict[str, str]
) -> None:
    body = big_body()
    with Exporter(store=store, registry=registry, token=TOKEN, authorize=refuse_all) as exporter:
        connection = post_headers(exporter.port, {"Authorization": "Bearer scoped", **experiment}, length=len(body))
        try:
            if not experiment:  # the experiment is looked for in the first 4 KiB only
                connection.send(body[:4096])
            response = connection.getresponse()  # never sent the rest: the answer must not wait for it
            assert response.status == 401
            assert "invalid_token" in (response.getheader("WWW-Authenticate") or "")
        finally:
            connection.close()
    assert store.snapshot().experiments == ()


def test_a_refused_sender_reads_its_401_even_while_it_is_still_sending_the_body(
    store: ExperimentStore, registry: CollectorRegistry
) -> None:
    """The server answers early, then reads and drops the rest for a moment instead of resetting the connection."""
    body = big_body()
    with Exporter(store=store, registry=registry, token=TOKEN, authorize=refuse_all) as exporter:
        for _ in range(3):
            connection = http.client.HTTPConnection("127.0.0.1", exporter.port, timeout=10)
            headers = {"Authorization": "Bearer scoped", "Content-Type": "application/json"}
            try:
                connection.request(
                    "POST", "/api/v1/ingest", body=body, headers={**headers, "Kubetune-Experiment": "ml/x"}
                )
                assert connection.getresponse().status == 401
            finally:
                connection.close()


def test_a_client_trickling_its_request_is_closed_at_the_deadline_while_others_are_served(
    store: ExperimentStore, registry: CollectorRegistry
) -> None:
    limits = ConnectionLimits(max_connections=4, request_timeout_seconds=1.0, idle_timeout_seconds=5.0)
    with Exporter(store=store, registry=registry, token=TOKEN, connections=limits) as exporter:
        loris = socket.create_connection(("127.0.0.1", exporter.port), timeout=5)
        try:
            loris.sendall(b"POST /api/v1/ingest HTTP/1.1\r\nX-Slow: ")
            served = call(exporter.url + "/healthz").status  # while the slow client holds its connection

            def trickled_until_closed() -> bool:
                try:
                    loris.send(b"a")  # a byte every 50 ms: every single read is quick, the request never ends
                except OSError:
                    return True
                return closed_by_server(loris)

            assert eventually(trickled_until_closed), "the trickling client was never disconnected"
        finally:
            loris.close()
        assert served == 200
        assert call(exporter.url + "/healthz").status == 200


def test_connections_beyond_the_limit_get_503_at_once_and_no_thread(
    store: ExperimentStore, registry: CollectorRegistry
) -> None:
    limits = ConnectionLimits(max_connections=2, request_timeout_seconds=2.0, idle_timeout_seconds=30.0)
    with Exporter(store=store, registry=registry, token=TOKEN, connections=limits) as exporter:
        before = {t.ident for t in threading.enumerate()}
        idle = [socket.create_connection(("127.0.0.1", exporter.port), timeout=5) for _ in range(2)]
        extra = [socket.create_connection(("127.0.0.1", exporter.port), timeout=5) for _ in range(20)]
        try:
            for sock in extra:
                assert sock.recv(64).startswith(b"HTTP/1.1 503 "), "an extra connection was not refused"
            handlers = [t for t in threading.enumerate() if t.ident not in before]
            assert len(handlers) <= 2
        finally:
            for sock in idle + extra:
                sock.close()
        assert eventually(lambda: call(exporter.url + "/healthz").status == 200)


def test_a_slow_body_is_408_and_counted(store: ExperimentStore, registry: CollectorRegistry) -> None:
    limits = ConnectionLimits(request_timeout_seconds=1.0)
    body = Sender().body(result("a", 1, {"mean_accuracy": 0.5}))
    with Exporter(store=store, registry=registry, token=TOKEN, connections=limits) as exporter:
        connection = post_headers(exporter.port, {"Authorization": f"Bearer {TOKEN}"}, length=len(body))
        try:
            connection.send(body[:10])  # and never the rest
            assert connection.getresponse().status == 408
        finally:
            connection.close()
    assert registry.get_sample_value("kubetune_ingest_requests_total", {"code": "408"}) == 1
    assert store.snapshot().experiments == ()


def test_a_client_that_goes_away_mid_response_is_no_error(
    store: ExperimentStore, registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """What Prometheus does when a scrape hits its timeout: it resets the connection while the body is sent."""
    caplog.set_level(logging.DEBUG, logger="kubetune.exporter")
    with Exporter(store=store, registry=registry, token=TOKEN) as exporter:
        exporter.add_route("GET", "/big", lambda request: Response(200, b"#" * 64 * 1024 * 1024))
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect(("127.0.0.1", exporter.port))
        client.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.recv(64).startswith(b"HTTP/1.1 200")
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # a reset, with most of the body unsent

        def reported() -> bool:
            return any("connection from" in r.getMessage() for r in caplog.records)

        assert eventually(reported), "the server never noticed the reset"
        assert call(exporter.url + "/healthz").status == 200

    noticed = [r for r in caplog.records if r.name == "kubetune.exporter" and r.levelno >= logging.WARNING]
    assert noticed == []
    assert not any(r.exc_info for r in caplog.records)


def test_an_idle_client_closing_its_connection_logs_nothing_above_debug(
    store: ExperimentStore, registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="kubetune.exporter")
    with Exporter(store=store, registry=registry, token=TOKEN) as exporter:
        for linger in (False, True):
            client = socket.create_connection(("127.0.0.1", exporter.port))
            if linger:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
        reply = call(exporter.url + "/healthz")
        assert reply.status == 200
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
