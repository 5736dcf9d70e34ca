"""The README's values table is generated from values.yaml's ``# --`` comments and never drifts; every key a user
can set is documented."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubetune.charts.values_table import UndocumentedError, render_readme, rows, table

from .conftest import CHART

VALUES = (CHART / "values.yaml").read_text()


def test_readme_values_table_is_current() -> None:
    readme = (CHART / "README.md").read_text()
    assert render_readme(readme, VALUES) == readme, "charts/kubetune/README.md is stale: run `make helm-docs`"


def test_every_value_is_documented() -> None:
    documented = {row.key for row in rows(VALUES)}
    assert {"operator.watchNamespaces", "ray.gpuPools", "raycluster.enabled", "networkPolicy.enabled"} <= documented
    assert all(row.description for row in rows(VALUES))


def test_every_schema_property_is_a_documented_value() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    documented = {row.key for row in rows(VALUES)}

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref")
        return resolve(schema["definitions"][ref.rsplit("/", 1)[1]]) if ref else node

    def uncovered(node: dict[str, Any], prefix: str) -> set[str]:
        """Schema properties under ``prefix`` that no documented value covers."""
        found = set()
        for key, sub in resolve(node).get("properties", {}).items():
            path = f"{prefix}{key}"
            if path in documented or path == "global":
                continue
            children = resolve(sub).get("properties")
            found |= uncovered(sub, f"{path}.") if children else {path}
        return found

    assert uncovered(schema, "") == set()


def test_an_undocumented_key_is_an_error() -> None:
    text = "# -- Documented.\na: 1\nb:\n  # -- Documented too.\n  c: 2\n  d: 3\n"
    with pytest.raises(UndocumentedError) as caught:
        rows(text)
    assert caught.value.keys == ["b.d"]


def test_a_documented_parent_covers_its_subtree_and_multiline_comments_join() -> None:
    text = "# -- Pools by name,\n# each a map.\npools:\n  gpu:\n    gpus: 1\n"
    assert table(text).splitlines()[2] == '| `pools` | object | `{"gpu": {"gpus": 1}}` | Pools by name, each a map. |'
