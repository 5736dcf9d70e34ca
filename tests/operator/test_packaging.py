"""The operator package lives in operator/ without shadowing the standard library's `operator` module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def python(code: str, *, cwd: Path) -> str:
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True, timeout=60)
    return proc.stdout.strip()


def test_kubetune_operator_imports_from_any_directory(tmp_path: Path) -> None:
    found = python("import kubetune_operator; print(kubetune_operator.__file__)", cwd=tmp_path)
    assert Path(found) == REPO / "operator" / "kubetune_operator" / "__init__.py"


def test_import_operator_from_the_repository_root_is_the_standard_library() -> None:
    found = Path(python("import operator; print(operator.__file__)", cwd=REPO))
    assert found.name == "operator.py"
    assert REPO not in found.parents, found
    assert not (REPO / "operator" / "__init__.py").exists(), "operator/ must stay a plain folder, not a package"


def test_the_operator_folder_holds_only_the_kubetune_operator_package() -> None:
    packages = [p.name for p in (REPO / "operator").iterdir() if (p / "__init__.py").exists()]
    assert packages == ["kubetune_operator"]


def test_the_operator_command_loads_neither_ray_nor_the_ml_stack(tmp_path: Path) -> None:
    """What `kubetune operator` imports stays small (memory), and Ray's logging set-up (which adds
    `_ray_timestamp_ns` to every log record) never reaches the operator's JSON logs."""
    code = (
        "import sys; from kubetune.cli import build_parser; import kubetune_operator; "
        "build_parser().parse_args(['operator']); "
        "print(sorted(m for m in ('ray', 'pandas', 'pyarrow', 'torch', 'optuna') if m in sys.modules))"
    )
    assert python(code, cwd=tmp_path) == "[]"


def test_the_operators_log_lines_carry_only_its_own_fields() -> None:
    import json
    import logging

    from kubetune_operator.logs import JsonFormatter

    record = logging.LogRecord("kubetune_operator", logging.INFO, "f.py", 1, "created", (), None)
    fields = json.loads(JsonFormatter().format(record))
    assert not [k for k in fields if k.startswith("_")], fields
