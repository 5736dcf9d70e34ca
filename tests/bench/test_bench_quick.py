"""The benchmarks run and write their tables (never their timings: those are the benchmarks' business).

``bench/search.py --smoke`` (one seed, tiny budget, three strategies, both workloads), the exporter and operator
benchmarks in quick mode, then ``bench/report.py`` gathering them into one table.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
SMOKE_STRATEGIES = ("random-fifo", "optuna-asha", "optuna-median")
WORKLOADS = ("mnist_torch", "bank_xgboost")


def _run(*args: str, timeout: float) -> None:
    proc = subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"{args[0]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


@pytest.mark.slow
def test_search_smoke_and_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run("bench/search.py", "--smoke", "--out", str(out / "search.json"), timeout=420)
    _run("bench/exporter.py", "--quick", "--no-pin", "--out", str(out / "exporter.json"), timeout=180)
    _run("bench/operator.py", "--quick", "--out", str(out / "operator.json"), timeout=600)
    _run("bench/report.py", "--dir", str(out), timeout=60)

    search = json.loads((out / "search.json").read_text())
    assert search["mode"] == "smoke"
    assert (out / "search.png").stat().st_size > 0
    for workload in WORKLOADS:
        summary = search["workloads"][workload]["summary"]
        assert set(summary["rows"]) == set(SMOKE_STRATEGIES)
        assert summary["rows"]["random-fifo"]["compute_ratio"] == 1.0
        for runs in search["workloads"][workload]["runs"].values():
            assert [r["spent"] for r in runs] == [search["workloads"][workload]["budget"]]

    results = json.loads((out / "results.json").read_text())
    assert results["benchmarks"]["overhead"] is None  # not run here: listed as such
    assert {r["benchmark"] for r in results["rows"]} == {"exporter", "operator", "search"}
    search_rows = [r["figure"] for r in results["rows"] if r["benchmark"] == "search"]
    for workload in WORKLOADS:
        for strategy in SMOKE_STRATEGIES:
            assert any(f.startswith(f"{workload} (") and f": {strategy}, compute to target" in f for f in search_rows)
            assert any(f.startswith(f"{workload}: {strategy}, best") for f in search_rows)
    markdown = (out / "results.md").read_text()
    assert markdown.startswith("# kubetune benchmark results")
    assert "| benchmark | figure | value |" in markdown
    assert "overhead (not run)" in markdown
    assert markdown.count("| search |") == len(search_rows)
