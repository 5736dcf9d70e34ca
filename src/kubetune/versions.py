"""The pinned versions of the whole project, in one place.

Everything that names a version (the Dockerfiles under ``images/``, the RayJob manifests under ``jobs/``, the
charts, the code that renders RayJobs) must agree with this module; ``tests/images/test_dockerfiles.py`` fails on
drift. Change a version here first, then follow the failing tests.

Two pins cannot import this module and are checked against it instead: pyproject's ``ray[tune]==`` pin (the
driver's Ray) and the ``ARG *_VERSION`` defaults in the Dockerfiles (the framework builds in the images).
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from kubetune import __version__

# Ray in every image must equal the driver's Ray (pyproject's `ray[tune]==` pin): Ray refuses mixed versions.
RAY_VERSION: Final = "2.60.0"
# The KubeRay operator and CRDs (ray.io/v1) the manifests and charts are written and validated against.
KUBERAY_VERSION: Final = "1.7.0"
# The Python of the images (rayproject's `-py311` tags, `python:3.11-slim-bookworm`); the CLI runs on >=3.10.
PYTHON_VERSION: Final = "3.11"
# Where `make images push` pushes and where manifests pull from; override with `REGISTRY=` at build time.
IMAGE_REGISTRY: Final = "ghcr.io/kubetune"
# Every image is tagged with the kubetune version it was built from: image and code move together.
KUBETUNE_VERSION: Final = __version__

# PyTorch in the torch image (CUDA build from PyPI); the tests run the CPU build of the same version (Makefile).
TORCH_VERSION: Final = "2.13.0"
# TensorFlow in the tensorflow image (`tensorflow[and-cuda]`, CUDA 12 wheels); Keras 3 comes with it.
TENSORFLOW_VERSION: Final = "2.21.0"
# XGBoost in the xgboost image (the PyPI Linux wheel has CUDA built in); checked here against Ray 2.60.
XGBOOST_VERSION: Final = "3.2.0"

Family = Literal["torch", "tensorflow", "xgboost", "operator"]
# The image families: `images/ray/Dockerfile` with `--build-arg FAMILY=<family>`, and `images/operator/Dockerfile`.
FAMILIES: Final[tuple[Family, ...]] = get_args(Family)
# The families whose images run Ray pods (head, workers, the Tune driver); `operator` runs no Ray.
RAY_FAMILIES: Final[tuple[Family, ...]] = ("torch", "tensorflow", "xgboost")


def image(family: str) -> str:
    """The kubetune image of ``family`` at the current version, e.g. ``ghcr.io/kubetune/torch:0.1.0``.

    Raises ``ValueError`` for a family without an image, so a typo in a spec fails before anything is deployed.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown image family {family!r}: expected one of {', '.join(FAMILIES)}")
    return f"{IMAGE_REGISTRY}/{family}:{KUBETUNE_VERSION}"


def ray_image(gpu: bool) -> str:
    """The rayproject base image our Ray images build on, e.g. ``rayproject/ray:2.60.0-py311-gpu``.

    Also the image for a plain RayCluster without kubetune's frameworks: its Ray matches the driver's.
    """
    python_tag = "py" + PYTHON_VERSION.replace(".", "")
    return f"rayproject/ray:{RAY_VERSION}-{python_tag}{'-gpu' if gpu else ''}"
