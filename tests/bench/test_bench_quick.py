"""The benchmarks run and write their tables (never their timings: those are the benchmarks' business).

``bench/search.py --smoke`` (one seed, tiny budgets, three strategies, the Hartmann function and both reference
jobs), the exporter and operator benchmarks in quick mode, then ``bench/report.py`` gathering them into one table.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
SMOKE_STRATEGIES = ("random-fifo", "optuna-asha", "optuna-direct-sha")
WORKLOADS = ("hartmann", "bank_xgboost", "mnist_torch")


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
    assert search["default"] == "optuna-asha"
    for workload in WORKLOADS:
        summary = search["workloads"][workload]["summary"]
        assert set(summary["rows"]) == set(SMOKE_STRATEGIES)
        assert summary["rows"]["random-fifo"]["compute_ratio"] == 1.0
        for runs in search["workloads"][workload]["runs"].values():
            assert [r["spent"] for r in runs] == [search["workloads"][workload]["budget"]]
        for row in summary["rows"].values():  # medians come with intervals that hold them
            assert row["best_ci"][0] <= row["best_median"] <= row["best_ci"][1]
        targets = search["workloads"][workload]["targets"]
        assert set(targets) == {"strategy", "compute_vs_random", "compute_vs_direct", "best_vs_direct"}
        assert 0 <= targets["best_vs_direct"]["p"] <= 1

    operator = json.loads((out / "operator.json").read_text())
    assert set(operator["backends"]) == {"emulator", "apiserver"}
    assert operator["memory"]["idle_mib"] > 0
    assert operator["memory"]["loaded_mib"] >= operator["memory"]["idle_mib"] * 0.9
    assert operator["failover"]["no_duplicate"], operator["failover"]  # behaviour, not timing: one RayJob each
    assert operator["emulator_creates"]["objects"] >= 2000

    results = json.loads((out / "results.json").read_text())
    assert results["benchmarks"]["overhead"] is None  # not run here: listed as such
    assert {r["benchmark"] for r in results["rows"]} == {"exporter", "operator", "search"}
    judged = [r for r in results["rows"] if r["benchmark"] == "operator" and r["target"] and r["met"] is not None]
    for backend in ("emulator", "apiserver"):  # the targets are reported on both servers
        assert any(r["figure"].startswith(f"{backend}: TuneExperiment -> RayJob") and "median" in r["figure"]
                   for r in judged)  # fmt: skip
        assert any(r["figure"].startswith(f"{backend}: burst of") for r in judged)
    assert any(r["figure"].startswith("operator process RSS, idle") for r in judged)
    assert any(r["figure"].startswith("failover") for r in judged)
    search_rows = [r["figure"] for r in results["rows"] if r["benchmark"] == "search"]
    for workload in WORKLOADS:
        for strategy in SMOKE_STRATEGIES:
            assert any(f.startswith(f"{workload} (") and f": {strategy}, compute to target" in f for f in search_rows)
            assert any(f.startswith(f"{workload}: {strategy}, best") for f in search_rows)
        search_judged = [r for r in results["rows"] if r["benchmark"] == "search" and r["met"] is not None]
        targets = [r["target"] for r in search_judged if r["figure"].startswith(f"{workload} (")]
        assert targets == ["<= 1/3 of random search", "<= 0.9 x Optuna direct",
                           "not worse than Optuna direct (p < 0.05); better on one workload"]  # fmt: skip
    markdown = (out / "results.md").read_text()
    assert markdown.startswith("# kubetune benchmark results")
    assert "| benchmark | figure | value |" in markdown
    assert "overhead (not run)" in markdown
    assert markdown.count("| search |") == len(search_rows)
