"""A driver killed mid-run (a head pod dying) and the same command run again: every unfinished trial continues
from its newest checkpoint on storage, whatever Ray's experiment snapshot, written every ~10 s, recorded."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kubetune.engine import results
from tests.conftest import REPO, experiment_doc

pytestmark = pytest.mark.slow

EPOCHS = 40


def newest_checkpoint_epoch(trial_dir: Path) -> int | None:
    """The epoch saved in the trial's highest-numbered checkpoint directory on storage (None: there is none)."""
    checkpoints = sorted(p for p in trial_dir.iterdir() if re.fullmatch(r"checkpoint_\d{6}", p.name))
    if not checkpoints:
        return None
    return int(json.loads((checkpoints[-1] / "state.json").read_text())["epoch"])


def test_a_killed_run_resumes_each_unfinished_trial_from_its_newest_checkpoint_on_storage(tmp_path: Path) -> None:
    log, kill_file, freeze_file = tmp_path / "trials.log", tmp_path / "kill", tmp_path / "freeze"
    storage = tmp_path / "results"
    doc = experiment_doc(
        "killed",
        "tests.fixtures.trainables:epochs",
        # Trials 1 and 2 finish quickly; trial 3 kills the driver while 3 and 4 run, 2 s after a checkpoint.
        searchSpace={"id": {"grid": [1, 2, 3, 4]}},
        config={
            "epochs": EPOCHS,
            "short": [1, 2],
            "log": str(log),
            "kill_file": str(kill_file),
            "freeze_file": str(freeze_file),
            "killer": 3,
            "kill_at": 25,  # odd: Ray deletes its checkpoint when the next one lands, after snapshotting it
            "kill_after": 2,
            "state_dir": str(storage / "killed"),
            "kill_delay": 2.0,
            "sleep": 0.1,
        },
        scheduler={"type": "fifo"},
        search={"algorithm": "grid"},
        maxConcurrentTrials=2,
        checkpoint={"numToKeep": 2},
        failure={"maxFailures": 1},
        storage={"path": str(storage)},
    )
    spec_file = tmp_path / "experiment.yaml"
    spec_file.write_text(yaml.safe_dump(doc))
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    cmd = [sys.executable, "-m", "kubetune", "run", str(spec_file), "--no-metrics", "--num-cpus", "2", "-q"]

    first = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    kill_file.write_text(str(first.pid))
    out = first.communicate(timeout=300)[0].decode()
    assert first.returncode == -9, out
    lines = log.read_text().splitlines()
    assert sorted(line for line in lines if line.startswith("done")) == ["done 1", "done 2"], lines
    newest = {
        int(re.search(r"id=(\d)", d.name).group(1)): newest_checkpoint_epoch(d)  # type: ignore[union-attr]
        for d in (storage / "killed").iterdir()
        if d.is_dir() and re.search(r"id=[34]", d.name)
    }
    assert newest[3] == 26, newest  # the one after the snapshotted 25
    # Trial 4 may not have checkpointed yet when the driver died (a slow start on a busy machine): then it starts
    # over, which is also resuming from its newest checkpoint on storage (none).

    freeze_file.unlink()
    second = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Could not recover from checkpoint" not in second.stderr
    resumed = log.read_text().splitlines()[len(lines) :]
    for ident in (3, 4):
        expected = 0 if newest[ident] is None else newest[ident] + 1  # type: ignore[operator]
        assert f"start {ident} {expected}" in resumed, (ident, newest, resumed)
        assert f"done {ident}" in resumed
    summary = results.read(str(storage / "killed"))
    assert summary.resumed
    assert summary.trials_by_state == {"TERMINATED": 4}
