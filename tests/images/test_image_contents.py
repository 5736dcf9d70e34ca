"""Each image holds what its jobs import: every job runs its smoke test with exactly its image's Python packages.

The image of a job is the family it names (``jobs/<name>/__init__.py``: ``IMAGE_FAMILY``; its experiment files
name the same image, test_contract.py). Without a Docker engine, the image's packages are a virtualenv built from
its Dockerfile (:mod:`tests.images.venvs`, which says what it assumes of the Ray base image); the job runs there
as the image runs it, ``python -m jobs.<name>.trainable --smoke-test``, with the repository's ``jobs`` and
``kubetune`` on ``PYTHONPATH`` and a Ray of its own. The first run builds the three venvs (minutes; cached after).
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
from pathlib import Path

import pytest

from kubetune import versions
from tests.images.venvs import image_env, image_requirements, image_site, image_venv, installed
from tests.jobs.cases import CASES, JobCase

FAMILY_OF = {case.name: importlib.import_module(f"jobs.{case.name}").IMAGE_FAMILY for case in CASES}
# The module each family's framework is imported as: an image holds its own framework and no other.
FRAMEWORK_MODULES = {"torch": "torch", "tensorflow": "tensorflow", "xgboost": "xgboost"}
CPU_FRAMEWORKS = {
    "torch": f"torch=={versions.TORCH_VERSION}",
    "tensorflow": f"tensorflow-cpu=={versions.TENSORFLOW_VERSION}",
    "xgboost": f"xgboost-cpu=={versions.XGBOOST_VERSION}",
}
# Building a venv the first time downloads and unpacks gigabytes: more than pytest's default limit.
FIRST_BUILD_TIMEOUT_S = 3000


def test_every_ray_image_runs_a_job_and_every_job_runs_in_a_ray_image() -> None:
    assert sorted(set(FAMILY_OF.values())) == sorted(versions.RAY_FAMILIES)


@pytest.mark.parametrize("family", versions.RAY_FAMILIES)
def test_image_venv_is_the_cpu_build_of_the_dockerfiles_framework_and_kubetunes_dependencies(family: str) -> None:
    requirements = image_requirements(family)

    assert requirements[0] == CPU_FRAMEWORKS[family]
    assert f"ray[tune]=={versions.RAY_VERSION}" in requirements  # the base image's Ray, kubetune's pin
    assert not any(r.startswith(tuple(FRAMEWORK_MODULES)) for r in requirements[1:])  # no other framework


@pytest.mark.slow
@pytest.mark.timeout(FIRST_BUILD_TIMEOUT_S)
@pytest.mark.parametrize("family", versions.RAY_FAMILIES)
def test_image_holds_its_own_framework_and_no_other(family: str) -> None:
    packages = installed(image_venv(family))

    holds = {name for name, module in FRAMEWORK_MODULES.items() if any(p.startswith(module) for p in packages)}
    assert holds == {family}
    assert packages["ray"] == versions.RAY_VERSION


def last_json_object(text: str) -> dict[str, object]:
    """The JSON summary a job's CLI prints last (Ray Tune's progress output comes before it)."""
    starts = [m.start() for m in re.finditer(r"^\{$", text, re.MULTILINE)]
    assert starts, f"no JSON summary in the output: {text[-2000:]}"
    summary: dict[str, object] = json.loads(text[starts[-1] :])
    return summary


@pytest.mark.slow
@pytest.mark.timeout(FIRST_BUILD_TIMEOUT_S)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_job_runs_its_smoke_test_with_only_the_packages_of_its_image(case: JobCase, tmp_path: Path) -> None:
    venv = image_venv(FAMILY_OF[case.name])
    command = [
        str(venv / "bin" / "python"),
        "-m",
        f"jobs.{case.name}.trainable",
        "--smoke-test",
        "--data-dir",
        str(case.make_data(tmp_path / "data")),
        "--storage-path",
        str(tmp_path / "results"),
    ]
    env = image_env(image_site(tmp_path / "site"))

    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False)

    assert done.returncode == 0, done.stderr[-4000:]
    summary = last_json_object(done.stdout)
    assert all(summary[key] is not None for key in case.module().METRIC_KEYS)
    assert Path(str(summary["checkpoint"])).is_relative_to(tmp_path / "results")
