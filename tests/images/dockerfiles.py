"""A small Dockerfile reader: what the image tests need to know of ``images/*/Dockerfile`` without a Docker engine.

The Ray images of every framework family come from one Dockerfile, ``images/ray/Dockerfile``, whose ``FAMILY``
build argument picks the framework in a shell ``case``; :func:`framework_requirement` runs that very ``case`` in a
real shell, so the tests read the requirement the build would install rather than a copy of it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import tomllib

from kubetune import versions

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "images"
RAY_DOCKERFILE = IMAGES / "ray" / "Dockerfile"
DOCKERFILES = sorted(IMAGES.glob("*/Dockerfile"))


def dockerfile_of(family: str) -> Path:
    """The Dockerfile ``make images`` builds ``family`` from: the Ray one for the Ray families, else its own."""
    return RAY_DOCKERFILE if family in versions.RAY_FAMILIES else IMAGES / family / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, USER, ...
    value: str  # the rest of the instruction, continuation lines joined


def instructions(path: Path) -> list[Instruction]:
    """The instructions of a Dockerfile: comments dropped, ``\\`` continuations joined."""
    result: list[Instruction] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, value = (pending + line).partition(" ")
        result.append(Instruction(keyword.upper(), value.strip()))
        pending = ""
    return result


def final_stage(path: Path) -> list[Instruction]:
    """The instructions of the last build stage, the one the image is made of, from its ``FROM`` on."""
    found = instructions(path)
    start = max(i for i, ins in enumerate(found) if ins.keyword == "FROM")
    return found[start:]


def base_images(path: Path) -> list[str]:
    """The external images the stages build ``FROM`` (stage aliases such as ``FROM build`` left out)."""
    images: list[str] = []
    aliases: set[str] = set()
    for ins in instructions(path):
        if ins.keyword != "FROM":
            continue
        words = [w for w in ins.value.split() if not w.startswith("--")]
        if words[0] not in aliases:
            images.append(words[0])
        if len(words) == 3 and words[1].upper() == "AS":
            aliases.add(words[2])
    return images


def arg_defaults(path: Path) -> dict[str, str]:
    return dict(ins.value.split("=", 1) for ins in instructions(path) if ins.keyword == "ARG" and "=" in ins.value)


def exec_form(value: str) -> list[str] | None:
    """The JSON array of an exec-form ENTRYPOINT/CMD, or None for the shell form."""
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, list) and all(isinstance(word, str) for word in parsed) else None


def runs(path: Path) -> list[str]:
    return [ins.value for ins in instructions(path) if ins.keyword == "RUN"]


def installed_extras(path: Path) -> set[str]:
    """The kubetune extras the image pip-installs, from ``./kubetune[a,b]`` or ``.[a,b]``."""
    groups = re.findall(r"(?<![\w.])\.(?:/[\w.-]+)*\[([\w,\s-]+)\]", " ".join(runs(path)))
    return {extra.strip() for group in groups for extra in group.split(",")}


def families(path: Path = RAY_DOCKERFILE) -> list[str]:
    """The families the Ray Dockerfile's ``case "${FAMILY}"`` knows, in its order."""
    return re.findall(r"(\w+)\) framework=", _family_case(path))


def _family_case(path: Path) -> str:
    (run,) = [run for run in runs(path) if 'case "${FAMILY}"' in run]
    return run[: run.index("esac") + len("esac")]


def framework_requirement(family: str, path: Path = RAY_DOCKERFILE) -> str:
    """The pip requirement of ``family``'s framework: the Dockerfile's own ``case``, run by ``sh`` with its ARGs.

    Raises ``subprocess.CalledProcessError`` (with the Dockerfile's message on stderr) for a family it refuses.
    """
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **arg_defaults(path), "FAMILY": family}
    script = f'{_family_case(path)}\nprintf "%s" "$framework"'
    done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=10, check=True)
    return done.stdout


def kubetune_requirements(path: Path = RAY_DOCKERFILE) -> list[str]:
    """What ``pip install ./kubetune[extras]`` installs besides kubetune itself: pyproject's dependencies and those
    of the extras the Dockerfile names."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return [*project["dependencies"], *(dep for extra in sorted(installed_extras(path)) for dep in extras[extra])]
