"""`kubetune submit`, `status` and `list` against the API emulator through a kubeconfig, as a user runs them."""

from __future__ import annotations

import datetime
import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from kubetune.cli import main
from kubetune.cli.submitting import format_table
from tests.conftest import REPO, free_port

from .conftest import Start, create, eventually, experiment, get
from .kube import Emulator


@pytest.fixture
def kubeconfig(emulator: Emulator, tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(emulator.kubeconfig(namespace="ml")))
    return str(path)


def write(tmp_path: Path, doc: dict[str, Any], name: str = "exp.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def without_namespace(doc: dict[str, Any]) -> dict[str, Any]:
    del doc["metadata"]["namespace"]
    return doc


def test_submit_creates_then_updates_then_reports_no_change(
    kubeconfig: str, kube: client.CustomObjectsApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write(tmp_path, without_namespace(experiment("mnist", numSamples=4)))
    assert run(capsys, "submit", file, "--kubeconfig", kubeconfig)[:2] == (
        0,
        "tuneexperiment.kubetune.io/mnist created in namespace ml\n",
    )
    assert get(kube, "ml", "mnist")["spec"]["numSamples"] == 4

    file = write(tmp_path, without_namespace(experiment("mnist", numSamples=8)))
    code, out, _ = run(capsys, "submit", file, "--kubeconfig", kubeconfig)
    assert (code, out) == (0, "tuneexperiment.kubetune.io/mnist updated in namespace ml\n")
    assert get(kube, "ml", "mnist")["spec"]["numSamples"] == 8
    assert get(kube, "ml", "mnist")["metadata"]["generation"] == 2

    assert "unchanged" in run(capsys, "submit", file, "--kubeconfig", kubeconfig)[1]
    assert run(capsys, "submit", file, "--kubeconfig", kubeconfig, "-n", "team-a")[0] == 0
    assert get(kube, "team-a", "mnist")["spec"]["numSamples"] == 8


def test_updating_a_running_experiment_says_the_run_keeps_its_spec(
    kubeconfig: str, kube: client.CustomObjectsApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "submit", write(tmp_path, experiment("exp")), "--kubeconfig", kubeconfig)[0] == 0
    kube.patch_namespaced_custom_object_status(
        "kubetune.io", "v1alpha1", "ml", "tuneexperiments", "exp", {"status": {"rayJobName": "exp", "phase": "Running"}}
    )
    code, out, _ = run(capsys, "submit", write(tmp_path, experiment("exp", numSamples=9)), "--kubeconfig", kubeconfig)
    assert code == 0
    assert "updated" in out
    assert "RayJob exp already runs the previous spec" in out


def test_an_invalid_file_is_refused_before_anything_is_sent(
    kubeconfig: str, emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    served = dict(emulator.server.served)
    code, _, err = run(capsys, "submit", write(tmp_path, experiment("bad", numSamples=0)), "--kubeconfig", kubeconfig)
    assert code == 1
    assert "spec.numSamples" in err
    assert "Traceback" not in err
    assert emulator.server.served == served


def test_api_errors_are_one_line_and_exit_1(
    kubeconfig: str, emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "status", "nope", "--kubeconfig", kubeconfig)
    assert (code, out) == (1, "")
    assert err.startswith("kubetune: error: get tuneexperiments.kubetune.io ml/nope: 404 NotFound")
    assert err.count("\n") == 1
    emulator.fail("create", "tuneexperiments", 500)
    code, _, err = run(capsys, "submit", write(tmp_path, experiment("exp")), "--kubeconfig", kubeconfig)
    assert code == 1
    assert "500" in err
    assert "Traceback" not in err


def test_a_missing_kubeconfig_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "list", "--kubeconfig", str(tmp_path / "absent"))
    assert code == 1
    assert err.startswith("kubetune: error: no Kubernetes configuration")


def test_status_and_list_show_what_the_operator_wrote(
    start_operator: Start, kubeconfig: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start_operator()
    for name, namespace in (("alpha", "ml"), ("beta", "ml"), ("gamma", "research")):
        doc = experiment(name, namespace=namespace, numSamples=3)
        assert run(capsys, "submit", write(tmp_path, doc, f"{name}.yaml"), "--kubeconfig", kubeconfig)[0] == 0

    def reconciled() -> str:
        code, out, _ = run(capsys, "status", "alpha", "--kubeconfig", kubeconfig)
        assert code == 0
        assert "Phase:       Pending" in out
        return out

    out = eventually(reconciled)
    assert "RayJob:      alpha" in out
    assert "Trials:      0/3 finished" in out
    assert "Valid        True" in out
    code, out, _ = run(capsys, "status", "alpha", "--kubeconfig", kubeconfig, "-o", "json")
    assert code == 0
    assert yaml.safe_load(out)["status"]["rayJobName"] == "alpha"

    code, out, _ = run(capsys, "list", "--kubeconfig", kubeconfig)
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["NAME", "PHASE", "BEST", "TRIALS", "AGE"]
    assert [line.split()[0] for line in lines[1:]] == ["alpha", "beta"]
    code, out, _ = run(capsys, "list", "-A", "--kubeconfig", kubeconfig)
    assert [line.split()[:2] for line in out.splitlines()[1:]] == [
        ["ml", "alpha"],
        ["ml", "beta"],
        ["research", "gamma"],
    ]
    code, _, err = run(capsys, "list", "-n", "empty", "--kubeconfig", kubeconfig)
    assert (code, err) == (0, "No TuneExperiments found in namespace empty\n")


def test_the_list_table_shows_the_best_value_and_progress() -> None:
    body = {
        "metadata": {"name": "exp", "namespace": "ml", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": {"phase": "Running", "progress": "3/8", "summary": {"bestValue": 0.98765432}},
    }
    now = datetime.datetime(2026, 1, 1, 3, 0, tzinfo=datetime.timezone.utc)
    table = format_table([body], all_namespaces=False, now=now).splitlines()
    assert table[1].split() == ["exp", "Running", "0.987654", "3/8", "3h"]


def test_the_operator_command_serves_until_sigterm_and_logs_json(
    emulator: Emulator, kubeconfig: str, kube: client.CustomObjectsApi, tmp_path: Path
) -> None:
    (tmp_path / "token").write_text("s3cret\n")
    config = write(tmp_path, {"rayjob": {"defaultStoragePath": "s3://bucket/kubetune"}}, "config.yaml")
    port = free_port()
    command = [sys.executable, "-m", "kubetune", "operator", "--config", config, "--kubeconfig", kubeconfig,
               "--token-file", str(tmp_path / "token"), "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
                    return answer.status == 200
            except OSError:
                assert proc.poll() is None, proc.communicate()[1]
                return False

        eventually(ready, timeout=60, interval=0.2)
        create(kube, experiment("exp"))
        eventually(lambda: [j["metadata"]["name"] for j in emulator.objects("rayjobs")] == ["exp"])
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    logs = [json.loads(line) for line in err.splitlines() if line.strip()]  # every line is a JSON object
    messages = [entry["message"] for entry in logs]
    assert "operator started" in messages
    assert messages[-1] == "operator stopped"
    created = next(entry for entry in logs if entry["message"] == "created RayJob ml/exp")
    assert (created["level"], created["namespace"], created["experiment"]) == ("info", "ml", "exp")
