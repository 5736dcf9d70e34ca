"""``kubetune logs``: what each trial printed and the errored trials' tracebacks, read from the storage path after
the run (the cluster may be gone), and ``-f`` following a trial until it ends."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import yaml

from kubetune.cli import main
from kubetune.engine import results
from tests.conftest import experiment_doc


@pytest.mark.slow
def test_logs_show_what_a_trial_printed_and_the_errored_trials_traceback(
    ray_local: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = experiment_doc(
        "talk",
        "tests.fixtures.printing:ranked",  # prints a line on stdout and on stderr; id 2 raises
        searchSpace={"id": {"grid": [1, 2]}},
        config={"iterations": 2, "fail_id": 2},
        search={"algorithm": "grid"},
        scheduler={"type": "fifo"},
        storage={"path": str(tmp_path / "results")},
    )
    spec = tmp_path / "experiment.yaml"
    spec.write_text(yaml.safe_dump(doc))
    assert main(["run", str(spec), "--no-metrics", "-q"]) == 0
    experiment = str(tmp_path / "results" / "talk")
    out = capsys.readouterr().out
    assert "why trials ended: 1 finished, 1 errored" in out
    assert f"logs: kubetune logs {experiment} [TRIAL]  (tracebacks: kubetune logs {experiment} --errors)" in out
    ends = results.read(experiment).trial_ends
    ok = next(t for t, end in ends.items() if end["reason"] == "finished")
    bad = next(t for t, end in ends.items() if end["reason"] == "errored")

    assert main(["logs", experiment, ok]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"==> trial {ok}: finished (the trainable returned after 2 results) <==\n")
    assert "--- stdout ---\ntrial with id 1 says hello\n" in out
    assert "--- stderr ---\ntrial with id 1 warns on stderr\n" in out
    assert ":actor_name:" not in out  # Ray's own line, not the trainable's

    assert main(["logs", experiment, "--errors"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"==> trial {bad}: errored (ValueError: id 2 is broken) <==\n")
    assert 'tests/fixtures/printing.py", line' in out  # the traceback, down to the trainable's line
    assert "ValueError: id 2 is broken\nthis second line stays out of the reason" in out
    assert ok not in out
    assert "\x1b[" not in out  # Ray's colour codes are left out

    assert main(["logs", experiment]) == 0  # every trial
    out = capsys.readouterr().out
    assert "trial with id 1 says hello" in out
    assert "trial with id 2 says hello" in out

    assert main(["logs", experiment, ok[-5:], "-f"]) == 0  # a unique part of the id; the trial has ended
    assert "trial with id 1 says hello" in capsys.readouterr().out


def test_follow_prints_what_a_running_trial_adds_until_the_run_writes_its_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    experiment = tmp_path / "live"
    trial = experiment / "train_abcde_00000_0_x=1_2026-01-01_00-00-00"  # Ray's name for a trial's directory
    trial.mkdir(parents=True)
    stdout = trial / "stdout"
    stdout.write_text(":actor_name:train\nepoch 1\n")
    codes: list[int] = []
    follower = threading.Thread(
        target=lambda: codes.append(main(["logs", str(experiment), "abcde_00000", "-f", "--interval", "0.05"]))
    )
    follower.start()
    time.sleep(0.3)
    with stdout.open("a") as f:
        f.write("epoch 2\n")
    time.sleep(0.3)
    assert follower.is_alive()  # the run has not ended
    summary = results.RunSummary(
        experiment="live", namespace=None, metric="score", mode="max", experiment_path=str(experiment),
        trials_by_state={"TERMINATED": 1}, best=None,
    )  # fmt: skip
    results.write(summary)
    follower.join(timeout=30)

    assert codes == [0]
    out = capsys.readouterr().out
    assert out == "==> trial abcde_00000 <==\nepoch 1\nepoch 2\n"


def test_a_trial_that_is_not_there_is_one_line_naming_the_trials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "exp" / "train_abcde_00000_0_x=1_2026-01-01_00-00-00").mkdir(parents=True)

    assert main(["logs", str(tmp_path / "exp"), "99999"]) == 1
    assert capsys.readouterr().err == (
        "kubetune: error: '99999' is no trial of this experiment (trials: abcde_00000)\n"
    )
