"""``kubetune operator`` as a separate process, as the chart's Deployment runs it (its settings file, its token
file, a kubeconfig of the chart's ServiceAccount): for tests that kill it, and for the whole loop."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.cluster.controlplane import free_port

REPO = Path(__file__).resolve().parents[2]


class OperatorProcess:
    """Start with :meth:`start`; :meth:`kill` (SIGKILL: a crash) or :meth:`stop` (SIGTERM: a rollout)."""

    def __init__(
        self,
        *,
        kubeconfig: Path,
        workdir: Path,
        namespace: str,
        watch: tuple[str, ...],
        settings: Mapping[str, Any],
        token: str,
        port: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "token").write_text(token + "\n")
        (workdir / "config.yaml").write_text(
            json.dumps({"namespace": namespace, "watch": {"namespaces": list(watch)}, **settings})
        )
        self.argv = [
            sys.executable,
            "-m",
            "kubetune",
            "operator",
            "--config",
            str(workdir / "config.yaml"),
            "--kubeconfig",
            str(kubeconfig),
            "--token-file",
            str(workdir / "token"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self.proc: subprocess.Popen[bytes] | None = None
        self._runs = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / f"operator-{self._runs}.log"

    def start(self, *, timeout: float = 60) -> None:
        self._runs += 1
        with self.log.open("wb") as log:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}
            self.proc = subprocess.Popen(self.argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"the operator exited with {self.proc.returncode}:\n{self.log.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the operator was not ready within {timeout} s:\n{self.log.read_text()}")
            time.sleep(0.1)

    def ready(self) -> bool:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as answer:
            return bool(answer.status == 200)
        return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def stop(self, *, timeout: float = 60) -> int:
        """SIGTERM and wait; the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        return int(self.proc.returncode)

    def logs(self) -> list[dict[str, Any]]:
        """Every JSON log line of every run so far."""
        found = []
        for run in range(1, self._runs + 1):
            for line in (self.workdir / f"operator-{run}.log").read_text().splitlines():
                with contextlib.suppress(ValueError):
                    found.append(json.loads(line))
        return found
