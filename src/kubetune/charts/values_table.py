"""The values table of a chart's README, generated from the ``# --`` comments of its ``values.yaml``.

helm-docs' convention without helm-docs (a Go binary, not installable here): a comment block that starts with
``# --`` documents the key right below it; further ``#`` lines continue the description. A documented key
covers its whole subtree (its default is shown as JSON); an undocumented mapping is descended into; an
undocumented key with nothing documented below it is an error, so every value a user can set is explained.

``python -m kubetune.charts.values_table charts/kubetune`` rewrites the table between the README's
``<!-- values-table:start -->`` / ``<!-- values-table:end -->`` markers; ``--check`` only reports drift (exit 1).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Row", "UndocumentedError", "document", "render_readme", "rows", "table"]

START = "<!-- values-table:start -->"
END = "<!-- values-table:end -->"
_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.\-/]+|\"[^\"]+\"):(?:\s|$)")
_DOC = "# --"


@dataclass(frozen=True)
class Row:
    key: str  # dotted path, e.g. ``operator.image.tag``
    type: str
    default: str  # JSON
    description: str


class UndocumentedError(ValueError):
    """Keys of values.yaml that no ``# --`` comment covers."""

    def __init__(self, keys: Sequence[str]) -> None:
        super().__init__("undocumented values (add a `# --` comment): " + ", ".join(keys))
        self.keys = list(keys)


def _type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "null"
    return "object"


def _docs(text: str) -> dict[str, str]:
    """Dotted key path → description, for every key preceded by a ``# --`` block."""
    docs: dict[str, str] = {}
    stack: list[tuple[int, str]] = []  # (indent, key) of the open mappings
    comment: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped)
            continue
        match = _KEY.match(line)
        if not match or stripped.startswith("- "):
            comment = []
            continue
        indent, key = len(match["indent"]), match["key"].strip('"')
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([*(k for _, k in stack), key])
        stack.append((indent, key))
        start = next((i for i, c in enumerate(comment) if c.startswith(_DOC)), None)
        if start is not None:
            first = comment[start][len(_DOC) :].strip()
            rest = [c.lstrip("#").strip() for c in comment[start + 1 :]]
            docs[path] = " ".join(part for part in [first, *rest] if part)
        comment = []
    return docs


def rows(values_yaml: str) -> list[Row]:
    """The table's rows in file order; raises :class:`UndocumentedError` for uncovered keys."""
    values = yaml.safe_load(values_yaml) or {}
    docs = _docs(values_yaml)
    found: list[Row] = []
    missing: list[str] = []

    def walk(node: Any, path: str) -> None:
        if path in docs:
            found.append(Row(path, _type(node), json.dumps(node, separators=(", ", ": ")), docs[path]))
            if isinstance(node, dict):  # documented children add their own rows
                for key, value in node.items():
                    child = f"{path}.{key}"
                    if any(d == child or d.startswith(child + ".") for d in docs):
                        walk(value, child)
            return
        if isinstance(node, dict) and node:
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif path:
            missing.append(path)

    walk(values, "")
    if missing:
        raise UndocumentedError(missing)
    return found


def table(values_yaml: str) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| Key | Type | Default | Description |", "|-----|------|---------|-------------|"]
    for row in rows(values_yaml):
        lines.append(f"| `{row.key}` | {row.type} | `{cell(row.default)}` | {cell(row.description)} |")
    return "\n".join(lines) + "\n"


def render_readme(readme: str, values_yaml: str) -> str:
    """``readme`` with the text between the markers replaced by the generated table."""
    head, sep, rest = readme.partition(START)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise ValueError(f"the README needs the markers {START} and {END}")
    return f"{head}{START}\n{table(values_yaml)}{END}{tail}"


def document(chart: Path, *, check: bool = False) -> bool:
    """Regenerate (or with ``check`` only compare) ``chart/README.md``; True when it is up to date."""
    readme = chart / "README.md"
    current = readme.read_text(encoding="utf-8")
    wanted = render_readme(current, (chart / "values.yaml").read_text(encoding="utf-8"))
    if wanted == current:
        return True
    if not check:
        readme.write_text(wanted, encoding="utf-8")
    return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("charts", nargs="+", type=Path, help="chart directories")
    parser.add_argument("--check", action="store_true", help="report drift instead of rewriting (exit 1)")
    args = parser.parse_args(argv)
    ok = True
    for chart in args.charts:
        try:
            fresh = document(chart, check=args.check)
        except (UndocumentedError, ValueError) as e:
            print(f"{chart}: {e}", file=sys.stderr)
            return 1
        if not fresh:
            ok = False
            print(f"{chart}/README.md: {'out of date (make helm-docs)' if args.check else 'regenerated'}")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
