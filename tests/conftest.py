"""Shared fixtures: one local Ray per test session for the tests that run real Tune experiments, and real
Prometheus servers (and promtool) for the exporter and operator tests."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
#: The Kubernetes fixtures (`cluster`, `namespaces`, `operator_identity`): tests/cluster/fixtures.py.
pytest_plugins = ["tests.cluster.fixtures"]


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """A 2-CPU local Ray, its workers able to import ``tests.fixtures`` and ``jobs`` like the driver."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a throwaway local cluster on 127.0.0.1
    if not ray.is_initialized():
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={
                "env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}
            },
        )
    yield
    ray.shutdown()


def experiment_doc(name: str, trainable: str, **spec: object) -> dict[str, object]:
    """A TuneExperiment document for tests, with the given spec fields on top of a minimal valid one."""
    base: dict[str, object] = {
        "trainable": trainable,
        "metric": "score",
        "mode": "max",
        "searchSpace": {"x": {"uniform": [0.0, 1.0]}},
    }
    base.update(spec)
    return {"apiVersion": "kubetune.io/v1alpha1", "kind": "TuneExperiment", "metadata": {"name": name}, "spec": base}


# -- Prometheus and promtool (the exporter's and the operator's tests) ----------------------------------------

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"


def _binary(path: str, name: str) -> str:
    found = path if Path(path).is_file() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (expected at {path}; `make test` installs it)")
    return found


@pytest.fixture
def promtool() -> Callable[[bytes], subprocess.CompletedProcess[str]]:
    """``check(text)`` runs ``promtool check metrics`` on an exposition and returns the finished process."""
    binary = _binary(PROMTOOL, "promtool")

    def check(exposition: bytes) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, "check", "metrics"],
            check=False,
            input=exposition.decode(),
            capture_output=True,
            text=True,
            timeout=30,
        )

    return check


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def prometheus_server(targets: Sequence[str], workdir: Path, *, binary: str = PROMETHEUS) -> Iterator[str]:
    """Run Prometheus scraping ``targets`` (``host:port``, path ``/metrics``) every second; yields its URL.

    The server is killed on exit. Its log is ``workdir/prometheus.log`` (printed into a failure message by
    :func:`query_prometheus` callers if needed).
    """
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "kubetune", "static_configs": [{"targets": list(targets)}]}],
    }
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    url = f"http://127.0.0.1:{port}"
    with (workdir / "prometheus.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=log,
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"prometheus exited: {(workdir / 'prometheus.log').read_text()[-2000:]}")
                with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/-/ready", timeout=1) as ready:
                    if ready.status == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("prometheus did not become ready within 20 s")
                time.sleep(0.2)
            yield url
        finally:
            proc.kill()
            proc.wait(timeout=10)


def query_prometheus(url: str, promql: str, *, timeout: float = 20.0) -> list[dict[str, Any]]:
    """Poll an instant query until it returns a non-empty vector (or ``timeout`` seconds pass: then [])."""
    deadline = time.monotonic() + timeout
    query = urllib.parse.urlencode({"query": promql})
    while True:
        with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=5) as response:
            answer = json.load(response)
        found: list[dict[str, Any]] = answer["data"]["result"]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


class Prometheuses:
    """What the ``prometheus`` fixture yields: ``start(targets) -> base URL`` and ``query(url, promql)``."""

    query = staticmethod(query_prometheus)

    def __init__(self, stack: contextlib.ExitStack, workdir: Path, binary: str) -> None:
        self._stack, self._workdir, self._binary = stack, workdir, binary

    def start(self, targets: Sequence[str]) -> str:
        workdir = self._workdir / f"prometheus-{free_port()}"
        return self._stack.enter_context(prometheus_server(targets, workdir, binary=self._binary))


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Prometheuses]:
    """Starts real Prometheus servers for a test (killed after it); skips when the binary is missing."""
    binary = _binary(PROMETHEUS, "prometheus")
    with contextlib.ExitStack() as stack:
        yield Prometheuses(stack, tmp_path, binary)
