"""The JSON Schema of a TuneExperiment, generated from the models (the operator's CRD is derived from it)."""

from __future__ import annotations

from typing import Any

from kubetune.spec.models import TuneExperiment
from kubetune.spec.spaces import KINDS

#: The grammar of one dimension, for editors and docs; the parser in spaces.py is what enforces it.
DIMENSION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A distribution with exactly one key ("
    + ", ".join(KINDS)
    + ") or a nested group; a choice whose options are mappings is a choice of groups (one group per trial).",
    "minProperties": 1,
}


def experiment_json_schema() -> dict[str, Any]:
    schema = TuneExperiment.model_json_schema(by_alias=True, mode="validation")
    spec = schema["$defs"]["Spec"]["properties"]
    spec["searchSpace"]["additionalProperties"] = DIMENSION_SCHEMA
    return schema
