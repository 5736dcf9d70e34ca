"""``kubetune run`` as a user sees it: the exit code, one line for what went wrong, no traceback, and a console that
shows progress and the result with warnings only when something is wrong."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from kubetune.cli import main
from kubetune.engine import results
from tests.conftest import REPO, experiment_doc

pytestmark = pytest.mark.slow

ENV = {**os.environ, "RAY_AUTH_MODE": "disabled"}


def spec_file(tmp_path: Path, doc: dict[str, object]) -> Path:
    spec = dict(doc["spec"])  # type: ignore[call-overload]
    spec.setdefault("storage", {"path": str(tmp_path / "results")})
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump({**doc, "spec": spec}))
    return path


def kubetune_run(spec: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "kubetune", "run", str(spec), "--no-metrics", "--num-cpus", "2", *extra]


def test_a_run_whose_every_trial_errored_exits_non_zero(
    ray_local: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = experiment_doc(
        "all-fail",
        "tests.fixtures.trainables:failing",
        numSamples=2,
        failure={"maxFailures": 1},
        search={"algorithm": "random"},  # Optuna warns when a retried trial reports its steps again
    )
    assert main(["run", str(spec_file(tmp_path, doc)), "--no-metrics", "-q"]) == 1
    out, err = capsys.readouterr()
    assert "2 trials (2 errored)" in out
    assert ", then errored" in out
    assert "kubetune: error: no trial finished (2 errored)" in err.splitlines()


def test_a_metric_the_trainable_never_reports_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    doc = experiment_doc("typo", "tests.fixtures.trainables:misnamed", metric="loss", mode="min", numSamples=2)
    proc = subprocess.run(
        kubetune_run(spec_file(tmp_path, doc), "-q"),
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("kubetune: error:")]
    assert len(errors) == 1, proc.stderr
    assert "spec.metric 'loss'" in errors[0]
    assert "acc, los" in errors[0]


def test_sigint_stops_the_run_with_exit_130_and_the_same_command_resumes_it(tmp_path: Path) -> None:
    log = tmp_path / "trials.log"
    doc = experiment_doc(
        "interrupted",
        "tests.fixtures.trainables:epochs",
        searchSpace={"id": {"grid": [1, 2, 3, 4]}},
        config={"epochs": 60, "short": [1, 2], "sleep": 0.1, "log": str(log)},
        search={"algorithm": "grid"},
        scheduler={"type": "fifo"},
        maxConcurrentTrials=2,
    )
    cmd = kubetune_run(spec_file(tmp_path, doc))
    first = subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (log.exists() and "start 4 0" in log.read_text() and "start 3 0" in log.read_text()):
        assert first.poll() is None, "the run ended before trials 3 and 4 started"
        assert time.monotonic() < deadline, "trials 3 and 4 never started"
        time.sleep(0.2)
    # A few epochs, so trials 3 and 4 have checkpoints to resume from: every trial has a second one on storage
    # (trials 1 and 2 end after 3 epochs), however slow the machine is today.
    experiment_dir = tmp_path / "results" / "interrupted"
    while len(list(experiment_dir.glob("*/checkpoint_000001"))) < 4:
        assert first.poll() is None, "the run ended before trials 3 and 4 had checkpoints"
        assert time.monotonic() < deadline, "trials 3 and 4 never wrote a second checkpoint"
        time.sleep(0.2)
    first.send_signal(signal.SIGINT)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 130, out + err
    assert "Traceback" not in "\n".join(driver_lines(out + err))  # Ray's worker teardown noise aside
    assert "Tuner.restore" not in out + err  # Ray's hint is not how kubetune users resume
    assert "4 trials (2 finished, 2 stopped while running)" in out
    assert "2 of 4 trials did not finish: interrupted; run the same command again to resume them" in out
    assert err.splitlines()[-1] == "kubetune: interrupted"
    saved = json.loads((tmp_path / "results" / "interrupted" / results.RESULTS_FILE).read_text())
    assert saved["trials_by_state"] == {"TERMINATED": 2, "RUNNING": 2}
    assert saved["stopped_by"] == "interrupt"

    second = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300, check=False)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "4 trials (4 finished)" in second.stdout
    resumed = [line for line in log.read_text().splitlines() if line.startswith(("start 3 ", "start 4 "))][2:]
    assert len(resumed) == 2, log.read_text()
    assert all(int(line.split()[2]) > 0 for line in resumed), resumed  # from their checkpoints, not epoch 0


def driver_lines(console: str) -> list[str]:
    """The lines kubetune's own process printed (Ray prefixes a worker's lines with ``(name pid=...)``)."""
    return [line for line in console.splitlines() if not re.match(r"\S*\(\S+ pid=\d+\)", line)]


def worker_lines(console: str) -> list[str]:
    """The lines a Ray worker printed (``(name pid=...)``), but for the traceback Python prints when a worker's
    interpreter tears down a WeakSet as Ray kills it (Ray's, seen once in a few runs on a busy machine; nothing a
    run or its user did)."""
    found, teardown = [], set()
    for line in console.splitlines():
        prefix = re.match(r"\S*\((\S+ pid=\d+)\)", line)
        if prefix is None:
            continue
        if "Exception ignored in: <function WeakSet" in line:
            teardown.add(prefix.group(1))
        elif prefix.group(1) not in teardown:
            found.append(line)
    return found


def test_a_normal_run_shows_progress_and_the_result_and_no_warnings(tmp_path: Path) -> None:
    doc = experiment_doc(
        "quiet",
        "tests.fixtures.trainables:quadratic",  # a checkpoint on every iteration
        numSamples=4,
        config={"iterations": 10},
        search={"algorithm": "random", "seed": 1},
        scheduler={"type": "fifo"},
        checkpoint={"numToKeep": 1},
    )
    proc = subprocess.run(
        kubetune_run(spec_file(tmp_path, doc)),
        cwd=REPO,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one stream, in the order it was written
        text=True,
        timeout=300,
        check=False,
    )
    console = proc.stdout
    assert proc.returncode == 0, console
    assert "WARNING" not in console, console
    assert "Checkpoint successfully created" not in console
    assert worker_lines(console) == []  # no worker log lines
    assert "TensorBoard" not in console  # no hint at event files that a run without --tensorboard never writes
    last = console.rstrip().splitlines()
    assert last[-1].startswith("report: kubetune report "), "output after the summary"  # the summary's last line
    assert any(line.startswith("results: ") for line in last[-4:])
    assert "Trial status:" in console  # Ray Tune's progress
    assert "4 trials (4 finished)" in console


@pytest.mark.parametrize("command", ["operator", "run", "import-sagemaker", "best", "validate"])
def test_help_states_each_default_once_and_never_as_none(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps long help lines
    assert "(default: None)" not in text
    assert ") (default:" not in text
