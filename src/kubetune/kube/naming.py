"""Deterministic object names within Kubernetes' and KubeRay's limits."""

from __future__ import annotations

import hashlib
import re

#: KubeRay derives `<rayjob>-<5 chars>` cluster names and `<cluster>-head` services from the RayJob name, so it
#: caps RayJob names at 53 - 6 = 47 characters (`MaxRayJobNameLength`) and requires a DNS-1035 label.
MAX_RAYJOB_NAME = 47
#: Hex digits of the name's SHA-256 in a mapped name (40 bits: two names in one namespace collide with
#: probability ~1e-12).
DIGEST = 10
_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
#: The shape of a mapped name; a name of this shape is never used as it is, so no experiment can take the RayJob
#: name another experiment's name maps to.
_MAPPED = re.compile(rf".*-[0-9a-f]{{{DIGEST}}}")


def rayjob_name(experiment: str) -> str:
    """The RayJob name for an experiment, injective and deterministic (an operator restart must find the RayJob
    it created, never create a second one, and two experiments never share one).

    A TuneExperiment may have any DNS-1123 subdomain name (dots, a digit first, up to 253 characters); a RayJob
    needs a DNS-1035 label of at most 47. A name that already is one, and does not end like a mapped name, is
    used as it is. Any other is mapped to ``<stem>-<10 hex digits of its SHA-256>``: the stem is the name with
    every run of other characters turned into ``-``, prefixed ``kt-`` when it does not start with a letter, cut
    to fit. Identity names never have the mapped shape and mapped names always do, so no identity name equals a
    mapped one; two mapped names differ in their digest.
    """
    if len(experiment) <= MAX_RAYJOB_NAME and _LABEL.fullmatch(experiment) and not _MAPPED.fullmatch(experiment):
        return experiment
    digest = hashlib.sha256(experiment.encode()).hexdigest()[:DIGEST]
    stem = re.sub(r"[^a-z0-9]+", "-", experiment.lower()).strip("-")
    if not stem[:1].isalpha():
        stem = f"kt-{stem}".rstrip("-")
    stem = stem[: MAX_RAYJOB_NAME - DIGEST - 1].rstrip("-")
    return f"{stem}-{digest}"
