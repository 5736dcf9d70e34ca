"""Virtualenvs that hold exactly the Python packages an image's Dockerfile installs, cached by their package list.

No Docker engine runs here, so an image's contents are rebuilt as a virtualenv: the Dockerfile's framework
requirement for the family (:func:`tests.images.dockerfiles.framework_requirement`, the Dockerfile's own ``case``)
and what ``pip install ./kubetune[extras]`` pulls in (pyproject's dependencies and the extras the Dockerfile names).
kubetune and the jobs themselves are not installed: the tests put the repository's ``src/kubetune`` and ``jobs``
on ``PYTHONPATH``, as the image copies them.

What the venv assumes of the image:

- The Ray base image (``rayproject/ray:2.60.0-py311-gpu``) ships Ray with all its extras (``ray[all]``); of Ray
  the jobs import only Tune, so ``ray[tune]==2.60.0`` (kubetune's own pin, among its dependencies) stands for it.
  ``ray[all]`` holds more packages, never fewer: a job that runs in the venv runs in the image, and a job that
  imports a package only ``ray[all]`` brings fails here first, on the safe side. The base's conda Python is
  3.11, like the interpreter the venvs are made from.
- Where the image installs a CUDA build, the venv has the CPU build of the same version, which has the same Python
  API: ``tensorflow[and-cuda]`` -> ``tensorflow-cpu``, ``xgboost`` -> ``xgboost-cpu``, ``torch`` -> ``torch``
  (pip takes the CPU wheel from this machine's local wheel directory, as the project's own venv does).

A venv is built once per package list and Python version (the directory name holds their hash) under
``~/.cache/kubetune/image-venvs`` (``$KUBETUNE_IMAGE_VENVS`` elsewhere); a finished one has a ``.ready`` file, and
a change to the Dockerfile or to pyproject's dependencies makes a new one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tests.images.dockerfiles import REPO, framework_requirement, kubetune_requirements

CACHE = Path(os.environ.get("KUBETUNE_IMAGE_VENVS", "~/.cache/kubetune/image-venvs")).expanduser()
# The CPU build of each framework the images install as a CUDA build (same version, same API).
CPU_BUILDS = {"tensorflow[and-cuda]": "tensorflow-cpu", "xgboost": "xgboost-cpu", "torch": "torch"}
# Seconds pip may take for one venv on a fresh 2-core machine (TensorFlow alone is a 250 MB wheel).
INSTALL_TIMEOUT_S = 1500


def cpu_build(requirement: str) -> str:
    """``tensorflow[and-cuda]==2.21.0`` -> ``tensorflow-cpu==2.21.0``; other requirements unchanged."""
    match = re.fullmatch(r"([\w.-]+(?:\[[\w,-]+\])?)(==.+)", requirement)
    if match is None or match.group(1) not in CPU_BUILDS:
        return requirement
    return CPU_BUILDS[match.group(1)] + match.group(2)


def image_requirements(family: str) -> list[str]:
    """The packages of ``family``'s image as pip requirements, CPU builds for CUDA ones (see the module)."""
    return [cpu_build(framework_requirement(family)), *kubetune_requirements()]


def venv_dir(family: str) -> Path:
    """Where ``family``'s venv lives: named by a hash of its requirements and of this Python's version."""
    key = json.dumps({"python": list(sys.version_info[:2]), "requirements": image_requirements(family)})
    return CACHE / f"{family}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path``, so that two test runs never build the same venv at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def image_venv(family: str) -> Path:
    """``family``'s venv, built now unless a finished one is cached; its ``.ready`` file records the build."""
    venv = venv_dir(family)
    ready = venv / ".ready"
    with _locked(CACHE / f"{venv.name}.lock"):
        if ready.is_file():
            return venv
        shutil.rmtree(venv, ignore_errors=True)  # a build that was interrupted
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
        requirements = image_requirements(family)
        # This pip, installing into the venv's Python: no pip of its own needed there. --no-compile: modules are
        # compiled when first imported, not all of TensorFlow's at install time.
        install = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install"]
        flags = ["--quiet", "--no-compile", "--disable-pip-version-check", "--no-input"]
        subprocess.run([*install, *flags, *requirements], check=True, timeout=INSTALL_TIMEOUT_S)
        seconds = round(time.monotonic() - started)
        ready.write_text(json.dumps({"requirements": requirements, "seconds": seconds}, indent=2) + "\n")
    return venv


def installed(venv: Path) -> dict[str, str]:
    """The distributions of ``venv``, by normalised name: their versions."""
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return {re.sub(r"[-_.]+", "-", d["name"]).lower(): d["version"] for d in json.loads(listing.stdout)}


def image_site(directory: Path) -> Path:
    """A directory that holds kubetune and the jobs as the image copies them (links into the repository)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "kubetune").symlink_to(REPO / "src" / "kubetune")
    (directory / "jobs").symlink_to(REPO / "jobs")
    return directory


def image_env(site: Path) -> dict[str, str]:
    """The environment of a process "in the image": only ``site`` on the path, a Ray of its own."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    # RAY_ADDRESS=local: a Ray of the process's own, never the test session's. Token authentication off, as for the
    # session's: a throwaway cluster on 127.0.0.1.
    env.update(PYTHONPATH=str(site), RAY_ADDRESS="local", RAY_AUTH_MODE="disabled")
    return env
