"""The operator's RBAC is exactly what its code calls, plus the few permissions the API server demands without a
call (listed in ``IMPLIED`` with the reason).

What the code calls is read from the source, not declared by hand:

1. ``api.py``'s ``KubeAPI`` is the operator's only door to the API server. Each of its methods maps to verbs
   through the ``kubernetes`` client methods it calls (``list_*_custom_object`` → list, or watch when called with
   ``"watch": True``; ``patch_namespaced_custom_object_status`` → patch on ``<plural>/status``;
   ``create_namespaced_event`` → create on core ``events``; ...).
2. The operator process is the modules reachable by imports from ``kubetune_operator.running`` (the CLI's
   ``kubetune submit`` runs with the user's credentials and is left out).
3. In those modules, every call ``<...api>.<method>(RESOURCE, ...)`` names a ``Resource`` constant of ``api.py``;
   a call on a variable resource (a Watcher's ``self.resource``) stands for every constant the modules that
   construct that class name.
4. The calls of the leader election (``leading.py``: the ``LEASES`` resource) are made in the Lease's namespace,
   the release namespace, whatever the operator watches: the chart grants them in a Role of their own there
   (``kubetune.leaderElectionRules``), rendered only when replicas elect a leader. Every other call is granted in
   each watched namespace (``kubetune.operatorRules``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .conftest import NAMESPACE, REPO, find, render

PACKAGE = REPO / "operator" / "kubetune_operator"
#: The API layer the operator shares with the CLI (``kubetune.kube.api``).
API = "kubetune.kube.api"
ENTRY = "kubetune_operator.running"
#: The module whose calls go to the Lease in the release namespace.
LEADER = "kubetune_operator.leading"

Permission = tuple[str, str, str]  # (apiGroup, resource, verb)

#: Needed without a matching call, and why.
IMPLIED: dict[Permission, str] = {
    ("kubetune.io", "tuneexperiments/finalizers", "update"): (
        "the RayJob's ownerReference sets blockOwnerDeletion, which the OwnerReferencesPermissionEnforcement "
        "admission plugin only allows to whoever may update the owner's finalizers"
    ),
}


def source(module: str) -> Path:
    """The file of ``kubetune_operator.*`` (under operator/) or ``kubetune.*`` (under src/)."""
    if module.startswith("kubetune_operator"):
        return PACKAGE / (module.removeprefix("kubetune_operator.").replace(".", "/") + ".py")
    return REPO / "src" / (module.replace(".", "/") + ".py")


if not source(API).is_file() or not source(ENTRY).is_file():
    pytest.skip("the operator's API layer is not there yet", allow_module_level=True)


# --- reading the operator's code ----------------------------------------------------------------------------------

_CLIENT_METHOD = re.compile(
    r"^(?P<verb>list|get|read|create|replace|patch|delete)_(?:namespaced_|cluster_)?(?P<what>[a-z_]+?)(?P<status>_status)?$"
)
_VERBS = {"list": "list", "get": "get", "read": "get", "create": "create", "replace": "update", "patch": "patch",
          "delete": "delete"}  # fmt: skip
#: Core kinds by the client method's noun (custom objects take their resource from the call's argument).
_CORE = {"event": ("", "events"), "secret": ("", "secrets"), "config_map": ("", "configmaps"), "pod": ("", "pods")}


@dataclass(frozen=True)
class ApiMethod:
    verbs: frozenset[str]
    subresource: str  # "" or "status"
    core: tuple[str, str] | None  # a fixed core resource (events), else the call's Resource argument


def parse(module: str) -> ast.Module:
    path = source(module)
    return ast.parse(path.read_text(), filename=str(path))


def resource_constants() -> dict[str, tuple[str, str]]:
    """``NAME = Resource(group, version, plural, kind)`` in api.py → (group, plural)."""
    found = {}
    for node in parse(API).body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "Resource"
        ):
            group, _, plural = (ast.literal_eval(a) for a in node.value.args[:3])
            for target in node.targets:
                assert isinstance(target, ast.Name)
                found[target.id] = (group, plural)
    return found


def api_methods() -> dict[str, ApiMethod]:
    """KubeAPI's public methods and what each asks of the API server."""
    tree = parse(API)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "KubeAPI")
    methods = {}
    for fn in cls.body:
        if not isinstance(fn, ast.FunctionDef) or fn.name.startswith("_"):
            continue
        watches = any(
            isinstance(d, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == "watch" for k in d.keys)
            for d in ast.walk(fn)
        )
        verbs, subresource, core = set(), "", None
        for call in ast.walk(fn):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
                continue
            match = _CLIENT_METHOD.match(call.func.attr)
            receiver = ast.unparse(call.func.value)
            if not match or not receiver.startswith("self._"):
                continue
            verb = _VERBS[match["verb"]]
            verbs.add("watch" if verb == "list" and watches else verb)
            subresource = "status" if match["status"] else subresource
            if match["what"] != "custom_object":
                core = _CORE[match["what"]]
        if verbs:
            methods[fn.name] = ApiMethod(frozenset(verbs), subresource, core)
    return methods


def operator_modules() -> list[str]:
    """Modules of kubetune_operator reachable by imports from the operator's entry point."""
    seen, todo = set(), [ENTRY]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for node in ast.walk(parse(module)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kubetune_operator"):
                todo.append(node.module)
            elif isinstance(node, ast.Import):
                todo += [a.name for a in node.names if a.name.startswith("kubetune_operator.")]
    return sorted(m for m in seen if m != "kubetune_operator")


def _class_of(tree: ast.Module, target: ast.AST) -> str | None:
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        if any(n is target for n in ast.walk(cls)):
            return cls.name
    return None


def code_permissions() -> dict[Permission, list[str]]:
    """Every permission the operator's calls need → where (module:line) it is called."""
    constants = resource_constants()
    methods = api_methods()
    modules = {m: parse(m) for m in operator_modules()}
    calls: list[tuple[str, int, str, str | None, str | None]] = []  # module, line, method, constant, class
    for name, tree in modules.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in methods or not ast.unparse(node.func.value).rstrip("_").endswith("api"):
                continue
            args = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "resource")]
            constant = next((a.id for a in args if isinstance(a, ast.Name) and a.id in constants), None)
            calls.append((name, node.lineno, node.func.attr, constant, _class_of(tree, node)))

    def constructed_with(cls: str) -> set[str]:
        """The Resource constants named by the modules that construct ``cls``."""
        found = set()
        for tree in modules.values():
            builds = any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == cls
                         for n in ast.walk(tree))  # fmt: skip
            if builds:
                found |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in constants}
        return found

    needed: dict[Permission, list[str]] = {}
    for module, line, method, constant, cls in calls:
        spec = methods[method]
        if spec.core is not None:
            resources = [spec.core]
        elif constant is not None:
            resources = [constants[constant]]
        else:
            assert cls is not None, f"{module}:{line}: {method}() on a resource the test cannot resolve"
            resources = [constants[c] for c in sorted(constructed_with(cls))]
            assert resources, f"{module}:{line}: nothing constructs {cls} with a Resource constant"
        for group, plural in resources:
            resource = f"{plural}/{spec.subresource}" if spec.subresource else plural
            for verb in spec.verbs:
                needed.setdefault((group, resource, verb), []).append(f"{module}:{line}")
    return needed


def split_by_namespace(needed: dict[Permission, list[str]]) -> tuple[set[Permission], set[Permission]]:
    """(permissions the operator needs in each watched namespace, those of the leader election in its Lease's
    namespace), from where each permission is called."""
    leader = {p for p, where in needed.items() if any(w.startswith(f"{LEADER}:") for w in where)}
    work = {p for p, where in needed.items() if any(not w.startswith(f"{LEADER}:") for w in where)}
    assert leader & work == set(), f"called by the leader election and elsewhere: {leader & work}"
    return work, leader


# --- reading the chart ------------------------------------------------------------------------------------------


def granted(rules: list[dict[str, list[str]]]) -> Iterator[Permission]:
    for rule in rules:
        assert "resourceNames" not in rule, "a rule narrowed by name would be counted as granting the whole resource"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    yield group, resource, verb


def operator_roles(scenario: str, *sets: str) -> list[dict[str, Any]]:
    """The operator's Roles or ClusterRole for its work in watched namespaces (not the leader election's Role, not
    the ones aggregated into `view`/`edit` for people)."""
    objects = render(scenario, sets=sets)
    roles = find(objects, "Role") + find(objects, "ClusterRole")
    return [r for r in roles if r["metadata"]["labels"]["app.kubernetes.io/component"] == "operator"
            and not r["metadata"]["name"].endswith("-leader-election")]  # fmt: skip


def leader_roles(scenario: str, *sets: str) -> list[dict[str, Any]]:
    return [r for r in find(render(scenario, sets=sets), "Role") if r["metadata"]["name"].endswith("-leader-election")]


# --- the tests -------------------------------------------------------------------------------------------------


def test_the_code_reading_finds_the_operators_calls() -> None:
    """Guards the reader itself: the calls the operator cannot work without are found."""
    needed = code_permissions()
    assert ("kubetune.io", "tuneexperiments", "watch") in needed
    assert ("ray.io", "rayjobs", "create") in needed
    assert ("kubetune.io", "tuneexperiments/status", "patch") in needed
    assert ("", "events", "create") in needed
    work, leader = split_by_namespace(needed)
    assert leader == {("coordination.k8s.io", "leases", verb) for verb in ("get", "create", "update")}
    assert ("ray.io", "rayjobs", "create") in work
    assert "kubetune.kube.submitting" not in operator_modules()  # the CLI's, run with the user's credentials


@pytest.mark.parametrize("scenario", ["defaults", "networkpolicy", "cluster-wide"])
def test_rbac_grants_exactly_what_the_operator_calls(scenario: str) -> None:
    needed = code_permissions()
    work, _ = split_by_namespace(needed)
    roles = operator_roles(scenario)
    assert roles
    for role in roles:
        where = f"{role['kind']} {role['metadata'].get('namespace', '')}"
        rules = set(granted(role["rules"]))
        missing = {p: needed[p] for p in work if p not in rules}
        assert missing == {}, f"{where}: the operator calls these without permission: {missing}"
        extra = rules - work - set(IMPLIED)
        assert extra == set(), f"{where}: granted but never called (here): {sorted(extra)}"
        assert set(IMPLIED) <= rules, f"{where}: missing implied permissions"


@pytest.mark.parametrize("scenario", ["defaults", "networkpolicy", "cluster-wide"])
def test_the_lease_is_granted_exactly_as_leading_calls_it_in_the_release_namespace_only(scenario: str) -> None:
    _, leader = split_by_namespace(code_permissions())
    (role,) = leader_roles(scenario)
    assert role["metadata"]["namespace"] == NAMESPACE
    assert set(granted(role["rules"])) == leader
    (binding,) = [b for b in find(render(scenario), "RoleBinding") if b["roleRef"]["name"] == role["metadata"]["name"]]
    assert binding["metadata"]["namespace"] == NAMESPACE
    (account,) = binding["subjects"]
    assert account["kind"] == "ServiceAccount"
    assert account["namespace"] == NAMESPACE
    for other in operator_roles(scenario):  # never in a watched namespace's Role or the ClusterRole
        assert not leader & set(granted(other["rules"])), other["metadata"]


def test_a_single_replica_elects_no_leader_and_gets_no_lease_permissions() -> None:
    assert leader_roles("defaults", "operator.replicas=1") == []
    for role in operator_roles("defaults", "operator.replicas=1"):
        assert all(resource != "leases" for _, resource, _ in granted(role["rules"]))


def test_no_wildcards_and_no_secrets() -> None:
    for scenario in ("defaults", "cluster-wide", "existing-secret"):
        for role in operator_roles(scenario):
            for group, resource, verb in granted(role["rules"]):
                assert "*" not in (group, resource, verb)
                assert resource != "secrets", "the token is a mounted file: the operator reads no Secret"


def test_scope_follows_watch_namespaces() -> None:
    defaults = operator_roles("defaults")
    assert [(r["kind"], r["metadata"]["namespace"]) for r in defaults] == [("Role", NAMESPACE)]
    spread = operator_roles("networkpolicy")
    assert sorted(r["metadata"]["namespace"] for r in spread) == ["kubetune", "team-a", "team-b"]
    (cluster,) = operator_roles("cluster-wide")
    assert cluster["kind"] == "ClusterRole"
    objects = render("cluster-wide")
    (binding,) = find(objects, "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "tune", "namespace": NAMESPACE}]
    for b in find(render("networkpolicy"), "RoleBinding"):
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": "kubetune", "namespace": NAMESPACE}]
