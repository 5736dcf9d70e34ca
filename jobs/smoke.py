"""The command line every job shares: ``python -m jobs.<name>.trainable [--smoke-test] [--<setting> VALUE ...]``.

It runs one trial of the job's ``train`` through ``ray.tune.Tuner`` on a local Ray (started for the run, and shut
down after, unless one is already up) and prints a JSON summary. A job describes its command with a
:class:`Command`: its flags are its settings' (:meth:`jobs.settings.Settings.add_arguments`), ``--smoke-test``
shrinks the trial with the command's ``smoke`` overrides, and the summary is the command's ``summarize``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune import Checkpoint, Result

from jobs.settings import Settings

STATE_FILE = "state.json"

Summarize = Callable[[Result, Checkpoint], dict[str, Any]]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Repeats every default in ``--help``, except ``None``/``False`` ones, whose help says what happens."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


@dataclass(frozen=True)
class Command:
    """What ``python -m jobs.<name>.trainable`` runs: one trial of the job's ``train``, summarised as JSON."""

    #: The run's name (``<name>-smoke`` for a smoke test) and the prefix of its temporary storage directory.
    name: str
    #: The first line of ``--help``.
    description: str
    #: The job's settings: one flag each.
    settings: type[Settings]
    #: Config overrides of ``--smoke-test``: one tiny trial on the CPU.
    smoke: Mapping[str, Any]
    #: The metric the trial is ranked by, and its mode.
    metric: str
    mode: str
    #: What to print of the finished trial (runs while Ray is still up).
    summarize: Summarize
    checkpoint_config: tune.CheckpointConfig | None = field(default=None)
    #: Summarise the trial's best checkpoint by ``metric`` rather than its last.
    best_checkpoint: bool = False

    def smoke_help(self) -> str:
        shrunk = ", ".join(f"{key} {value}" for key, value in self.smoke.items())
        return f"one tiny CPU trial ({shrunk}) to check the job end to end"


def build_parser(command: Command, *, prog: str) -> argparse.ArgumentParser:
    """``--smoke-test``, one flag per setting, then ``--storage-path``."""
    parser = argparse.ArgumentParser(prog=prog, description=command.description, formatter_class=HelpFormatter)
    parser.add_argument("--smoke-test", action="store_true", help=command.smoke_help())
    command.settings.add_arguments(parser)
    parser.add_argument(
        "--storage-path",
        default=None,
        help="where Ray Tune writes results (default: a temporary directory, removed at exit)",
    )
    return parser


def main(command: Command, train: Callable[[dict[str, Any]], None], argv: Sequence[str] | None = None) -> int:
    """Parse the flags, run one trial of ``train`` and print its summary; 0 on success, 1 if the trial failed."""
    train = _importable(train)
    args = build_parser(command, prog=f"python -m {train.__module__}").parse_args(argv)
    config = command.settings.config_from_args(args)
    if args.smoke_test:
        config.update(command.smoke)

    def run(storage: Path) -> int:
        return run_one_trial(train, config, command=command, smoke_test=args.smoke_test, storage_path=storage)

    return in_storage(args.storage_path, command.name, run)


def _importable(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` as its module's import name holds it.

    Under ``python -m jobs.<name>.trainable`` the job's module runs as ``__main__``: Ray would ship its ``train``
    to the trial by value, and could not ship the module-level caches (``functools.cache``) ``train`` uses. The same
    function imported by name is shipped by reference, and the trial imports the job as any other trial does.
    """
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if function.__module__ != "__main__" or spec is None:
        return function
    imported: Callable[..., Any] = getattr(importlib.import_module(spec.name), function.__name__)
    return imported


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
    command: Command,
    smoke_test: bool,
    storage_path: Path,
) -> int:
    """Run ``trainable`` once on ``config`` (one CPU) and print ``command.summarize(result, checkpoint)`` as JSON.

    The run is called ``command.name`` (``<name>-smoke`` for a smoke test, which also gets a one-CPU Ray). The
    checkpoint is the trial's last one, or with ``best_checkpoint`` its best by the metric. Returns 0, or 1 after
    saying on stderr why the trial failed or left no checkpoint.
    """
    import ray

    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(num_cpus=1 if smoke_test else None, include_dashboard=False)
    try:
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": 1}),
            param_space=config,
            tune_config=tune.TuneConfig(metric=command.metric, mode=command.mode, num_samples=1),
            run_config=tune.RunConfig(
                name=f"{command.name}-smoke" if smoke_test else command.name,
                storage_path=str(storage_path),
                checkpoint_config=command.checkpoint_config,
            ),
        )
        result = tuner.fit().get_best_result()
        checkpoint: Checkpoint | None = None
        if result.error is None:
            best = command.best_checkpoint
            checkpoint = result.get_best_checkpoint(command.metric, command.mode) if best else result.checkpoint
        if checkpoint is None:
            print(f"trial failed: {result.error or 'no checkpoint reported'}", file=sys.stderr)
            return 1
        print(json.dumps(command.summarize(result, checkpoint), indent=2, default=_plain))
        return 0
    finally:
        if started_ray:
            ray.shutdown()


def _plain(value: Any) -> Any:
    """What ``json.dumps`` cannot write itself: numpy scalars as numbers, paths as strings."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def reported(result: Result, keys: Sequence[str]) -> dict[str, Any]:
    """The trial's last reported value of each of ``keys`` (``None`` where it never reported one)."""
    metrics = result.metrics or {}
    return {key: metrics.get(key) for key in keys}


def checkpoint_source(checkpoint: Checkpoint) -> Any:
    """The ``source`` (which data the model was trained on) recorded in a checkpoint's ``state.json``."""
    with checkpoint.as_directory() as directory:
        return json.loads((Path(directory) / STATE_FILE).read_text())["source"]


def metrics_and_source(keys: Sequence[str]) -> Summarize:
    """A ``summarize``: the reported ``keys``, the data ``source`` and the checkpoint."""

    def summarize(result: Result, checkpoint: Checkpoint) -> dict[str, Any]:
        summary = reported(result, keys)
        summary.update(source=checkpoint_source(checkpoint), checkpoint=checkpoint.path)
        return summary

    return summarize
