"""``make deploy`` checks its prerequisites before touching anything: without a reachable cluster it stops at once
with a message that says what is wrong and what to do. (``test_install.py`` runs it against the tests' API
server.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, helm_binary, require

UNREACHABLE_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: nowhere, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: someone, user: {token: not-a-token}}]
contexts: [{name: nowhere, context: {cluster: nowhere, user: someone}}]
current-context: nowhere
"""


def make(target: str, tmp_path: Path, **variables: str) -> tuple[subprocess.CompletedProcess[str], float]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    helm = require(helm_binary(), "helm")
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "kubeconfig")}
    args = ["make", "--no-print-directory", "-C", str(REPO), target, f"HELM={helm}"]
    args += [f"{k}={v}" for k, v in variables.items()]
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120, check=False)
    return done, time.monotonic() - started


def test_deploy_without_a_kube_context_says_so(tmp_path: Path) -> None:
    (tmp_path / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    done, _ = make("deploy", tmp_path)
    assert done.returncode != 0
    assert "make deploy: no kube-context" in done.stderr
    assert "KUBE_CONTEXT=" in done.stderr
    assert "helm upgrade" not in done.stdout + done.stderr  # nothing was attempted


def test_deploy_to_an_unreachable_cluster_fails_fast_naming_the_context(tmp_path: Path) -> None:
    (tmp_path / "kubeconfig").write_text(UNREACHABLE_KUBECONFIG)
    done, seconds = make("deploy", tmp_path)
    assert done.returncode != 0
    assert "make deploy: cannot reach the cluster of kube-context 'nowhere'" in done.stderr
    assert "127.0.0.1:9" in done.stderr  # kubectl's own reason is shown
    assert "==> KubeRay" not in done.stdout
    assert seconds < 60


def test_deploy_to_an_unknown_context_fails(tmp_path: Path) -> None:
    (tmp_path / "kubeconfig").write_text(UNREACHABLE_KUBECONFIG)
    done, _ = make("deploy", tmp_path, KUBE_CONTEXT="prod")
    assert done.returncode != 0
    assert "kube-context 'prod'" in done.stderr
    assert 'context "prod" does not exist' in done.stderr


@pytest.mark.parametrize("variable", ["KUBERAY_INSTALL", "HELM_WAIT"])
def test_a_switch_that_is_neither_true_nor_false_is_refused(variable: str, tmp_path: Path) -> None:
    """`KUBERAY_INSTALL=no` must not be read as "install": nothing is attempted."""
    (tmp_path / "kubeconfig").write_text(UNREACHABLE_KUBECONFIG)
    done, _ = make("deploy", tmp_path, **{variable: "no"})
    assert done.returncode != 0
    assert "KUBERAY_INSTALL and HELM_WAIT take true or false" in done.stderr
    assert "cannot reach" not in done.stderr  # refused before even looking at the cluster


def test_help_lists_the_deploy_targets(tmp_path: Path) -> None:
    done, _ = make("help", tmp_path)
    for target in ("deploy", "deploy-check", "kuberay-template", "undeploy", "helm", "helm-docs", "chart-tools"):
        assert f"{target} " in done.stdout, target
    assert "KUBERAY_VALUES/KUBERAY_SET" in done.stdout


# --- values for the KubeRay operator chart ----------------------------------------------------------------------


def kuberay_stand_in(directory: Path) -> Path:
    """A kuberay-operator chart as a mirror would hold it, whose one object shows the values it was given."""
    chart = directory / "kuberay-operator"
    (chart / "templates").mkdir(parents=True)
    meta = {"apiVersion": "v2", "name": "kuberay-operator", "version": "1.7.0", "appVersion": "v1.7.0"}
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta))
    (chart / "values.yaml").write_text(yaml.safe_dump({"batchScheduler": {"name": ""}, "logging": {"level": "info"}}))
    (chart / "templates" / "values.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kuberay-values}\n"
        "data: {scheduler: {{ .Values.batchScheduler.name | quote }}, level: {{ .Values.logging.level | quote }}}\n"
    )
    return chart


def test_kuberay_values_files_and_sets_reach_the_kuberay_chart_sets_winning(tmp_path: Path) -> None:
    """`make deploy` installs KubeRay with the flags `make kuberay-template` renders it with (one Makefile
    variable): a values file, then each KUBERAY_SET pair (Volcano needs batchScheduler.name=volcano)."""
    chart = kuberay_stand_in(tmp_path)
    values = tmp_path / "kuberay-values.yaml"
    values.write_text(yaml.safe_dump({"batchScheduler": {"name": "yunikorn"}, "logging": {"level": "debug"}}))
    done, _ = make("kuberay-template", tmp_path, KUBERAY_CHART=str(chart), KUBERAY_VALUES=str(values),
                   KUBERAY_SET="batchScheduler.name=volcano")  # fmt: skip
    assert done.returncode == 0, done.stderr
    (config,) = [d for d in yaml.safe_load_all(done.stdout[done.stdout.index("---") :]) if d]
    assert config["data"] == {"scheduler": "volcano", "level": "debug"}
    packaged = tmp_path / "kuberay-operator-1.7.0.tgz"
    subprocess.run(["tar", "-czf", str(packaged), "-C", str(tmp_path), "kuberay-operator"], check=True)
    done, _ = make("kuberay-template", tmp_path, KUBERAY_CHART=str(packaged), KUBERAY_SET="logging.level=warn")
    assert done.returncode == 0, done.stderr
    assert 'level: "warn"' in done.stdout


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"KUBERAY_VALUES": "/nowhere/kuberay.yaml"}, "KUBERAY_VALUES=/nowhere/kuberay.yaml: no such file"),
        ({"KUBERAY_SET": "batchScheduler.name"}, "KUBERAY_SET=batchScheduler.name: expected key=value"),
        (
            {"KUBERAY_INSTALL": "false", "KUBERAY_SET": "batchScheduler.name=volcano"},
            "which KUBERAY_INSTALL=false leaves alone",
        ),
    ],
    ids=["missing-file", "not-a-pair", "kuberay-not-installed"],
)
def test_bad_kuberay_values_are_refused_before_anything_else(
    variables: dict[str, str], message: str, tmp_path: Path
) -> None:
    (tmp_path / "kubeconfig").write_text(UNREACHABLE_KUBECONFIG)
    done, _ = make("deploy", tmp_path, **variables)
    assert done.returncode != 0
    assert message in done.stderr
    assert "cannot reach" not in done.stderr  # refused before even looking at the cluster
