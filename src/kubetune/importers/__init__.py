"""Importers: other platforms' tuning configurations → a ``TuneExperiment`` document.

An importer is a pure function from the foreign JSON to an :class:`ImportResult`: the experiment document (already
validated with :func:`kubetune.spec.load_object`, so an import never hands out a spec ``kubetune run`` would
refuse) and the list of places where the translation is approximate or drops something. Errors are
:class:`kubetune.spec.SpecError` whose paths use the *foreign* field names, because those are the names the user
has in front of them.

Only the result type lives here, so that each importer module (``sagemaker``) imports it without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ImportResult:
    """A validated TuneExperiment document (YAML-ready, camelCase) and the import's warnings, in the order found."""

    document: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


__all__ = ["ImportResult"]
