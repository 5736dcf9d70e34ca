"""The command line every job shares: ``python -m jobs.<name>.trainable [--smoke-test]``.

It runs one trial of the job's ``train`` through ``ray.tune.Tuner`` on a local Ray (started for the run, and shut
down after, unless one is already up) and prints a JSON summary. What differs per job (its flags, its config, what
the summary holds) stays in the job's ``trainable.py``; the parser's frame, the Ray run and the storage directory
are here.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune import Checkpoint, Result

STATE_FILE = "state.json"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Repeats every default in ``--help``, except ``None``/``False`` ones, whose help says what happens."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def parse_args(
    argv: Sequence[str] | None,
    *,
    prog: str,
    description: str,
    smoke_help: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
) -> argparse.Namespace:
    """``--smoke-test`` (``smoke_help`` says what it shrinks), the job's own flags, then ``--storage-path``."""
    parser = argparse.ArgumentParser(prog=prog, description=description, formatter_class=HelpFormatter)
    parser.add_argument("--smoke-test", action="store_true", help=smoke_help)
    add_arguments(parser)
    parser.add_argument(
        "--storage-path",
        default=None,
        help="where Ray Tune writes results (default: a temporary directory, removed at exit)",
    )
    return parser.parse_args(argv)


def in_storage(storage_path: str | None, name: str, run: Callable[[Path], int]) -> int:
    """``run(storage)`` in ``--storage-path``, or else in a temporary directory (``<name>-…``) removed after."""
    if storage_path is not None:
        return run(Path(storage_path).expanduser().absolute())
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as storage:
        return run(Path(storage))


def run_one_trial(
    trainable: Callable[[dict[str, Any]], None],
    config: dict[str, Any],
    *,
    name: str,
    smoke_test: bool,
    metric: str,
    mode: str,
    storage_path: Path,
    summarize: Callable[[Result, Checkpoint], dict[str, Any]],
    checkpoint_config: tune.CheckpointConfig | None = None,
    best_checkpoint: bool = False,
    json_default: Callable[[Any], Any] | None = None,
) -> int:
    """Run ``trainable`` once on ``config`` (one CPU) and print ``summarize(result, checkpoint)`` as JSON.

    The run is called ``name`` (``<name>-smoke`` for a smoke test, which also gets a one-CPU Ray). The
    checkpoint is the trial's last one, or with ``best_checkpoint`` its best by ``metric``. Returns 0, or 1 after
    saying on stderr why the trial failed or left no checkpoint. ``summarize`` runs while Ray is still up.
    """
    import ray

    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(num_cpus=1 if smoke_test else None, include_dashboard=False)
    try:
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": 1}),
            param_space=config,
            tune_config=tune.TuneConfig(metric=metric, mode=mode, num_samples=1),
            run_config=tune.RunConfig(
                name=f"{name}-smoke" if smoke_test else name,
                storage_path=str(storage_path),
                checkpoint_config=checkpoint_config,
            ),
        )
        result = tuner.fit().get_best_result()
        checkpoint: Checkpoint | None = None
        if result.error is None:
            checkpoint = result.get_best_checkpoint(metric, mode) if best_checkpoint else result.checkpoint
        if checkpoint is None:
            print(f"trial failed: {result.error or 'no checkpoint reported'}", file=sys.stderr)
            return 1
        print(json.dumps(summarize(result, checkpoint), indent=2, default=json_default))
        return 0
    finally:
        if started_ray:
            ray.shutdown()


def reported(result: Result, keys: Sequence[str]) -> dict[str, Any]:
    """The trial's last reported value of each of ``keys`` (``None`` where it never reported one)."""
    metrics = result.metrics or {}
    return {key: metrics.get(key) for key in keys}


def checkpoint_source(checkpoint: Checkpoint) -> Any:
    """The ``source`` (which data the model was trained on) recorded in a checkpoint's ``state.json``."""
    with checkpoint.as_directory() as directory:
        return json.loads((Path(directory) / STATE_FILE).read_text())["source"]


def metrics_and_source(keys: Sequence[str]) -> Callable[[Result, Checkpoint], dict[str, Any]]:
    """A ``summarize`` for :func:`run_one_trial`: the reported ``keys``, the data ``source`` and the checkpoint."""

    def summarize(result: Result, checkpoint: Checkpoint) -> dict[str, Any]:
        summary = reported(result, keys)
        summary.update(source=checkpoint_source(checkpoint), checkpoint=checkpoint.path)
        return summary

    return summarize
