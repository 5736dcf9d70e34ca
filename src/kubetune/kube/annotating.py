"""Comment lines in generated YAML: optional fields shown, commented out, next to where they would go."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

_LINE = re.compile(r"^(?P<indent> *)(?P<dash>- )?(?P<key>[A-Za-z0-9_.\-/]+):(?:\s|$)")


def annotate(text: str, notes: Mapping[str, Sequence[str]]) -> str:
    """Insert ``notes[path]`` as comment lines after the key at ``path`` and everything nested under it.

    Paths are dotted keys with ``[i]`` for sequence items (``spec.rayClusterSpec.workerGroupSpecs[0].groupName``).
    Each comment is indented like the key it follows, so it reads as a sibling field; block scalars are skipped
    over. Raises KeyError when a path is not found, so a renamed field cannot silently lose its documentation.
    """
    out: list[str] = []
    stack: list[tuple[int, str]] = []  # (indent of the key, path component)
    counters: dict[tuple[str, int], int] = {}
    block_indent: int | None = None
    found: set[str] = set()
    pending: list[tuple[int, Sequence[str]]] = []  # notes waiting for the end of their key's subtree

    def flush(upto: int) -> None:
        while pending and pending[-1][0] >= upto:
            key_indent, lines = pending.pop()
            out.extend(" " * key_indent + "# " + note for note in lines)

    for line in text.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        if line.strip() and block_indent is None:
            flush(indent + (2 if line.lstrip().startswith("- ") else 0))
        if block_indent is not None:
            if line.strip() and indent <= block_indent:
                block_indent = None
            else:
                out.append(line)
                continue
        match = _LINE.match(line)
        if not match:
            out.append(line)
            continue
        key_indent = indent + (2 if match["dash"] else 0)
        if match["dash"]:  # a new item: close deeper keys and the previous item (PyYAML puts "- " at the key's indent)
            while stack and (stack[-1][0] > indent or (stack[-1][0] == indent and stack[-1][1].startswith("["))):
                stack.pop()
        else:
            while stack and stack[-1][0] >= key_indent:
                stack.pop()
        if match["dash"]:
            parent = ".".join(p for _, p in stack)
            index = counters.get((parent, indent), -1) + 1
            counters[(parent, indent)] = index
            stack.append((indent, f"[{index}]"))
        stack.append((key_indent, match["key"]))
        path = _join([p for _, p in stack])
        out.append(line)
        if line.rstrip().endswith(("|", "|-", ">", ">-")):
            block_indent = key_indent
        if path in notes:
            pending.append((key_indent, notes[path]))
            found.add(path)
    flush(0)
    missing = set(notes) - found
    if missing:
        raise KeyError(f"annotated paths not in the document: {sorted(missing)}")
    return "\n".join(out) + "\n"


def _join(parts: list[str]) -> str:
    path = ""
    for part in parts:
        path += part if part.startswith("[") or not path else f".{part}"
    return path
