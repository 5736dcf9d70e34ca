"""`kubetune submit`, `status` and `list` on a real API server through a kubeconfig, as a user runs them."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from kubetune.cli import main
from kubetune.cli.submitting import format_table
from kubetune_operator.settings import WatchSettings
from tests.cluster.cluster import Cluster
from tests.cluster.controlplane import ADMIN_USER

from .conftest import Run, eventually, experiment


@pytest.fixture
def kubeconfig(cluster: Cluster, ml: str, tmp_path: Path) -> str:
    """The administrator's kubeconfig with ``ml`` as the context's namespace."""
    raw = yaml.safe_load(cluster.kubeconfig.read_text())
    for context in raw["contexts"]:
        context["context"]["namespace"] = ml
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(raw))
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
    cluster: Cluster, kubeconfig: str, ml: str, namespaces: Callable[[str], str], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    file = write(tmp_path, without_namespace(experiment("mnist", ml, numSamples=4)))
    assert run(capsys, "submit", file, "--kubeconfig", kubeconfig, "--wait", "0")[:2] == (
        0, f"tuneexperiment.kubetune.io/mnist created in namespace {ml}\n",
    )  # fmt: skip
    assert cluster.get(ml, "mnist")["spec"]["numSamples"] == 4

    file = write(tmp_path, without_namespace(experiment("mnist", ml, numSamples=8)))
    code, out, _ = run(capsys, "submit", file, "--kubeconfig", kubeconfig, "--wait", "0")
    assert (code, out) == (0, f"tuneexperiment.kubetune.io/mnist updated in namespace {ml}\n")
    assert cluster.get(ml, "mnist")["spec"]["numSamples"] == 8
    assert cluster.get(ml, "mnist")["metadata"]["generation"] == 2

    assert "unchanged" in run(capsys, "submit", file, "--kubeconfig", kubeconfig)[1]
    team = namespaces("team-a")
    assert run(capsys, "submit", file, "--kubeconfig", kubeconfig, "-n", team, "--wait", "0")[0] == 0
    assert cluster.get(team, "mnist")["spec"]["numSamples"] == 8


def test_updating_a_running_experiment_says_the_run_keeps_its_spec(
    cluster: Cluster, kubeconfig: str, ml: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run(capsys, "submit", write(tmp_path, experiment("exp", ml)), "--kubeconfig", kubeconfig, "--wait", "0")[0] == 0
    )
    cluster.custom.patch_namespaced_custom_object_status(
        "kubetune.io", "v1alpha1", ml, "tuneexperiments", "exp", {"status": {"rayJobName": "exp", "phase": "Running"}}
    )
    code, out, _ = run(
        capsys, "submit", write(tmp_path, experiment("exp", ml, numSamples=9)), "--kubeconfig", kubeconfig
    )
    assert code == 0
    assert "updated" in out
    assert "RayJob exp already runs the previous spec" in out


def test_an_invalid_file_is_refused_before_anything_is_sent(
    cluster: Cluster, kubeconfig: str, ml: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = cluster.writes(user=ADMIN_USER, namespace=ml)  # the CLI's user (controllers write there too)
    code, _, err = run(
        capsys, "submit", write(tmp_path, experiment("bad", ml, numSamples=0)), "--kubeconfig", kubeconfig
    )
    assert code == 1
    assert "spec.numSamples" in err
    assert "Traceback" not in err
    assert cluster.writes(user=ADMIN_USER, namespace=ml) == before


def test_api_errors_are_one_line_and_exit_1(
    cluster: Cluster, kubeconfig: str, ml: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "status", "nope", "--kubeconfig", kubeconfig)
    assert (code, out) == (1, "")
    assert err.startswith(f"kubetune: error: get tuneexperiments.kubetune.io {ml}/nope: 404 NotFound")
    assert err.count("\n") == 1
    cluster.core.create_namespaced_service_account(
        ml, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="nobody"))
    )  # no RBAC
    nobody = str(cluster.service_account_kubeconfig(ml, "nobody"))
    code, _, err = run(capsys, "submit", write(tmp_path, experiment("exp", ml)), "--kubeconfig", nobody)
    assert code == 1
    assert "403 Forbidden" in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_a_missing_kubeconfig_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "list", "--kubeconfig", str(tmp_path / "absent"))
    assert code == 1
    assert err.startswith("kubetune: error: no Kubernetes configuration")


def test_status_and_list_show_what_the_operator_wrote(
    run_operator: Run, kubeconfig: str, ml: str, home: str, namespaces: Callable[[str], str], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    research = namespaces("research")
    run_operator(watch=WatchSettings(namespaces=(home, ml, research)))
    for name, namespace in (("alpha", ml), ("beta", ml), ("gamma", research)):
        doc = experiment(name, namespace, numSamples=3)
        code, _, err = run(capsys, "submit", write(tmp_path, doc, f"{name}.yaml"), "--kubeconfig", kubeconfig)
        assert (code, err) == (0, "")  # the operator picked it up: nothing to warn about

    def reconciled() -> str:
        code, out, _ = run(capsys, "status", "alpha", "--kubeconfig", kubeconfig)
        assert code == 0
        assert "Phase:       Pending" in out
        return out

    out = eventually(reconciled, timeout=30)
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
    mine = [line.split()[:2] for line in out.splitlines()[1:] if line.split()[0] in (ml, research)]
    assert mine == sorted([[ml, "alpha"], [ml, "beta"], [research, "gamma"]])
    empty = namespaces("empty")
    code, _, err = run(capsys, "list", "-n", empty, "--kubeconfig", kubeconfig)
    assert (code, err) == (0, f"No TuneExperiments found in namespace {empty}\n")


def test_submit_says_when_no_operator_watches_the_namespace(
    kubeconfig: str, ml: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The namespace trap: an experiment outside every watched namespace is stored and never runs."""
    code, out, err = run(capsys, "submit", write(tmp_path, experiment("lost", ml)), "--kubeconfig", kubeconfig,
                         "--wait", "1")  # fmt: skip
    assert code == 0
    assert out == f"tuneexperiment.kubetune.io/lost created in namespace {ml}\n"
    assert err.startswith("warning: no kubetune operator has picked up the experiment within 1 s")
    assert f"operator.watchNamespaces lists {ml}" in err

    monkeypatch.setattr("kubetune.cli.submitting.UNWATCHED_AFTER", 0)
    code, out, _ = run(capsys, "status", "lost", "--kubeconfig", kubeconfig)
    assert code == 0
    assert "Phase:       (not reconciled yet)" in out
    assert "Note:        no kubetune operator has picked up the experiment" in out


def test_submit_warns_that_a_local_storage_path_must_be_shared(
    kubeconfig: str, ml: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = experiment("local", ml, storage={"path": "/home/me/results"})
    code, _, err = run(capsys, "submit", write(tmp_path, doc), "--kubeconfig", kubeconfig, "--wait", "0")
    assert code == 0
    assert "warning: spec.storage.path /home/me/results is a local path" in err
    doc = experiment("remote", ml, storage={"path": "s3://bucket/kubetune"})
    assert run(capsys, "submit", write(tmp_path, doc), "--kubeconfig", kubeconfig, "--wait", "0")[2] == ""


def test_the_list_table_shows_the_best_value_and_progress() -> None:
    body = {
        "metadata": {"name": "exp", "namespace": "ml", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": {"phase": "Running", "progress": "3/8", "summary": {"bestValue": 0.98765432}},
    }
    now = datetime.datetime(2026, 1, 1, 3, 0, tzinfo=datetime.timezone.utc)
    table = format_table([body], all_namespaces=False, now=now).splitlines()
    assert table[1].split() == ["exp", "Running", "0.987654", "3/8", "3h"]
