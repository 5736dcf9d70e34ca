"""Settings are parsed once, from YAML and flags, into grouped dataclasses; a typo names the setting."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubetune_operator import SettingsError, load_settings, read_token
from tests.conftest import REPO

CONFIG = {
    "namespace": "kubetune",
    "watch": {"namespaces": ["ml", "research"], "resyncSeconds": 120},
    "status": {"summaryIntervalSeconds": 5},
    "api": {"qps": 20, "burst": 40},
    "store": {"maxExperiments": 50},
    "ingest": {"url": "http://kubetune.kubetune.svc:8080", "tokenFile": "/run/token"},
    "rayjob": {
        "defaultStoragePath": "/mnt/kubetune/results",
        "storage": {"claimName": "kubetune-storage", "mountPath": "/mnt/kubetune"},
        "pools": [{"name": "a100", "gpus": 1, "cpu": "8", "memory": "32Gi", "maxReplicas": 8,
                   "nodeSelector": {"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"},
                   "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]}],
    },
}  # fmt: skip


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_settings_file_fills_every_group(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, CONFIG), environ={})
    assert settings.watch.namespaces == ("ml", "research")
    assert settings.watch.resync_seconds == 120.0
    assert (settings.api.qps, settings.api.burst) == (20.0, 40)
    assert settings.status.summary_interval_seconds == 5.0
    assert settings.store.max_experiments == 50
    assert settings.ingest_url == "http://kubetune.kubetune.svc:8080"
    (pool,) = settings.rayjob.pools
    assert (pool.name, pool.gpus, pool.max_replicas) == ("a100", 1, 8)
    assert pool.node_selector == {"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"}
    assert settings.rayjob.storage is not None
    assert settings.rayjob.storage.claim_name == "kubetune-storage"


def test_flags_override_the_file_and_defaults_fill_the_rest(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, CONFIG), overrides={"watch.namespaces": ["ml"], "server.port": 9090},
                             environ={})  # fmt: skip
    assert settings.watch.namespaces == ("ml",)
    assert settings.server.port == 9090
    assert settings.reconcile.workers == 4


def test_the_own_namespace_comes_from_the_pod_and_shapes_the_ingest_url() -> None:
    settings = load_settings(environ={"POD_NAMESPACE": "tuning"})
    assert settings.namespace == "tuning"
    assert settings.ingest_url == "http://kubetune.tuning.svc:8080"
    assert settings.watch.namespaces == ()  # all namespaces


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"watch": {"namespace": ["ml"]}}, "watch.namespace: unknown setting (did you mean namespaces?)"),
        ({"rayjob": {"pools": [{"name": "a", "gpu": 1}]}}, "rayjob.pools[0].gpu: unknown setting (did you mean gpus?)"),
        ({"api": {"qps": "fast"}}, "api.qps: expected a number, got 'fast'"),
        ({"reconcile": {"workers": True}}, "reconcile.workers: expected int, got True"),
        ({"reconcile": {"workers": 0}}, "reconcile.workers: out of range"),
        ({"watch": {"namespaces": "ml"}}, "watch.namespaces: expected a list, got str"),
        ({"rayjob": {"headCpu": 2}}, "rayjob.headCpu: expected str, got 2"),
        ({"rayjob": {"ingest": {"url": "http://x"}}}, "rayjob.ingest: set by the operator"),
        ({"store": {"maxExperiments": -1}}, "store: StoreLimits.max_experiments must be >= 0"),
        (
            {"rayjob": {"pools": [{"name": "a100", "minReplicas": 5, "maxReplicas": 2}]}},
            "rayjob.pools[0]: worker pool a100: minReplicas (5) is above maxReplicas (2)",
        ),
        (
            {"rayjob": {"cpuPool": {"name": "cpu", "gpus": 0, "minReplicas": 9, "maxReplicas": 8}}},
            "rayjob.cpuPool: worker pool cpu: minReplicas (9) is above maxReplicas (8)",
        ),
        (["not", "a", "mapping"], "must hold a mapping of settings"),
    ],
)
def test_a_bad_setting_is_an_error_naming_it(tmp_path: Path, data: object, message: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(write(tmp_path, data), environ={})
    assert message in str(error.value)


def test_the_token_file_must_hold_a_token(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("  s3cret\n")
    assert read_token(str(tmp_path / "token")) == "s3cret"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(SettingsError, match="is empty"):
        read_token(str(tmp_path / "empty"))
    with pytest.raises(SettingsError, match="cannot read"):
        read_token(str(tmp_path / "absent"))


def test_the_readme_example_is_a_valid_settings_file(tmp_path: Path) -> None:
    readme = (REPO / "operator" / "README.md").read_text()
    section = readme[readme.index("## Settings") :]
    example = section[section.index("```yaml") + len("```yaml") : section.index("```", section.index("```yaml") + 7)]
    settings = load_settings(write(tmp_path, yaml.safe_load(example)), environ={})
    assert settings.watch.namespaces == ("ml", "research")
    assert [p.name for p in settings.rayjob.pools] == ["gpu-a100"]
    defaults = load_settings(environ={"POD_NAMESPACE": "kubetune"})
    for group in ("api", "reconcile", "status", "server"):  # the example states the defaults
        assert getattr(settings, group) == getattr(defaults, group), group
