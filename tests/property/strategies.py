"""Hypothesis strategies shared by the property tests: JSON-like junk and mutations of a valid document."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

#: Numbers at the edges: huge and tiny, non-finite, exact-integer limits, negative zero.
edge_numbers = st.sampled_from(
    [0, -1, 1, 2**53, 2**53 + 1, 2**63, 10**400, -(10**400), 1e308, -1e308, 5e-324, -0.0, 1e400, float("nan")]
)
numbers = st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True), edge_numbers, st.booleans())
#: Strings users never mean: empty, control characters, quotes, newlines, surrogates, very long.
odd_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", " ", "\n", 'a"b', "a\\b", "ä", "\x00", "\ud800", "x" * 300, "a/b", "../", "${X}", "1e3"]),
)
scalars = st.one_of(st.none(), numbers, odd_text)
json_like = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(odd_text, inner, max_size=4)),
    max_leaves=12,
)


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``doc`` (dict keys and list indexes), the root included."""
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found.extend(paths(value, (*prefix, key)))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found.extend(paths(value, (*prefix, i)))
    return found


def _is_leaf(value: Any) -> bool:
    return not isinstance(value, dict | list)


@st.composite
def mutated(draw: st.DrawFn, valid: dict[str, Any], *, max_mutations: int = 3) -> Any:
    """``valid`` with a few random edits: a number pushed to an edge, a value replaced by junk, a key deleted, an
    unknown key added, a value wrapped in a list or a mapping. Leaves are picked more often than containers and
    numbers are pushed to edges more often than replaced: that is where loaders break."""
    doc: Any = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, max_mutations))):
        everything = paths(doc)
        if draw(st.integers(0, 49)) == 0:
            doc = draw(json_like)  # now and then, not a document at all
            continue
        leaves = [p for p in everything if p and _is_leaf(_at(doc, p))]
        inner = [p for p in everything if p]
        if not inner:
            continue
        prefer_leaves: bool = draw(st.booleans())
        path = draw(st.sampled_from(leaves if leaves and prefer_leaves else inner))
        *parents, last = path
        node = _at(doc, tuple(parents))
        value = node[last]
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        actions = ["edge", "edge", "replace"] if numeric else ["replace", "delete", "add", "wrap", "edge"]
        action = draw(st.sampled_from(actions))
        if action == "replace":
            node[last] = draw(json_like)
        elif action == "delete" and isinstance(node, dict):
            del node[last]
        elif action == "add" and isinstance(value, dict):
            value[draw(odd_text)] = draw(json_like)
        elif action == "wrap":
            node[last] = draw(st.sampled_from([[value], {"x": value}]))
        elif action == "edge":
            node[last] = draw(edge_numbers)
    return doc


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc
