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
    for target in ("deploy", "deploy-check", "undeploy", "helm", "helm-docs", "chart-tools"):
        assert f"{target} " in done.stdout, target
