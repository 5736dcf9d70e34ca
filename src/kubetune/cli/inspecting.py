"""``kubetune validate``, ``kubetune best`` and ``kubetune schema``: read-only commands."""

from __future__ import annotations

import argparse
import json
from typing import Any

import yaml

from kubetune.cli import endings, fronts
from kubetune.cli.formatting import HelpFormatter
from kubetune.engine import results, warmstart
from kubetune.engine.trainables import resolve
from kubetune.spec import load_file
from kubetune.spec.schema import experiment_json_schema

_FORMAT = HelpFormatter


def register(commands: Any) -> None:
    p = commands.add_parser("validate", help="check experiment files without running them", formatter_class=_FORMAT)
    p.add_argument("files", nargs="+", metavar="FILE", help="TuneExperiment YAML files")
    p.set_defaults(handler=validate)

    p = commands.add_parser(
        "best", help="show (and optionally evaluate) an experiment's best trial", formatter_class=_FORMAT
    )
    p.add_argument("results", metavar="RESULTS_DIR", help="the experiment directory (or its kubetune-results.json)")
    p.add_argument(
        "--evaluate",
        action="store_true",
        help="load the best checkpoint with the trainable module's load_checkpoint(), then run its evaluate()",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(handler=best)

    p = commands.add_parser("schema", help="print the JSON Schema of a TuneExperiment", formatter_class=_FORMAT)
    p.set_defaults(handler=schema)


def validate(args: argparse.Namespace) -> int:
    from kubetune.spec import SpecError

    failed = 0
    for path in args.files:
        args.file = path
        try:
            exp = load_file(path)
        except SpecError as e:
            failed += 1
            print(f"{path}: invalid")
            for err in e.errors:
                print(f"  {err}")
            continue
        print(
            f"{path}: valid ({exp.name}: {exp.total_trials} trials, search {exp.algorithm}, "
            f"scheduler {exp.scheduler_type})"
        )
    return 1 if failed else 0


def best(args: argparse.Namespace) -> int:
    summary = results.read(args.results)
    evaluation: dict[str, float] | None = None
    if args.evaluate:
        evaluation = evaluate_best(summary)
    if args.json:
        print(json.dumps({**summary.to_dict(), "evaluation": evaluation}, indent=2, sort_keys=True))
        return 0 if summary.best else 1
    print(format_summary(summary))
    if evaluation is not None:
        print("evaluation of the best checkpoint:")
        for key, value in sorted(evaluation.items()):
            print(f"  {key}: {value:.6g}")
    return 0 if summary.best else 1


def evaluate_best(summary: results.RunSummary) -> dict[str, float]:
    """Load the best checkpoint through the trainable module's ``load_checkpoint`` and run ``evaluate``.

    The module must keep :class:`kubetune.engine.contract.Evaluable`; the error for one that does not names what
    it lacks.
    """
    import importlib

    from kubetune.engine import contract

    if summary.best is None or summary.best.checkpoint is None:
        raise ValueError("the experiment has no best checkpoint to evaluate")
    resolve(summary.trainable)  # same errors as a run: names the module that cannot be imported
    module = importlib.import_module(summary.trainable.partition(":")[0])
    missing = contract.missing(module, contract.Evaluable)
    if missing:
        lacks = " or ".join(f"{name}()" for name in missing)
        raise ValueError(
            f"{module.__name__} defines no {lacks}: `kubetune best --evaluate` calls load_checkpoint(path) and "
            "evaluate(model, config) of the trainable's module (kubetune.engine.contract.Evaluable)"
        )
    return dict(module.evaluate(module.load_checkpoint(summary.best.checkpoint), summary.best.config))


#: How the summary names each trial state (the results file keeps Ray's upper-case names).
_STATE_WORDS = {
    "TERMINATED": "finished",
    "ERROR": "errored",
    "RUNNING": "stopped while running",
    "PENDING": "not started",
}
#: Why trials did not finish, by ``RunSummary.stopped_by``.
_CAUSES = {
    "interrupt": "interrupted; run the same command again to resume them",
    "goal": "a trial reached the goal (spec.goal)",
    "time-budget": "the time budget (spec.timeBudgetSeconds) ran out",
    "compute-budget": "the compute budget (spec.budget) was spent",
    "fail-fast": "a trial errored and spec.failure.failFast stopped the rest",
    "stopper": "a stopper ended the experiment",
}


#: Trial ids a summary lists by name before it only counts the rest.
_LISTED = 5


def describe_states(summary: results.RunSummary) -> str:
    """``3 finished, 1 errored``: the trial counts in the order of :data:`results.STATES`."""
    counts = summary.trials_by_state
    ordered = [*results.STATES, *sorted(set(counts) - set(results.STATES))]
    return ", ".join(f"{counts[s]} {_STATE_WORDS.get(s, s.lower())}" for s in ordered if s in counts) or "no trials"


def format_summary(summary: results.RunSummary) -> str:
    lines = [f"experiment {summary.experiment}: {summary.total_trials} trials ({describe_states(summary)})"]
    if summary.unfinished_trials:
        cause = _CAUSES.get(summary.stopped_by or "", "the run ended before them")
        lines.append(f"{summary.unfinished_trials} of {summary.total_trials} trials did not finish: {cause}")
    lines += endings.lines(summary)
    lines += endings.usage_lines(summary)
    if summary.warm_start:
        lines.append(warmstart.describe(summary.warm_start))
    if summary.goal_reached_by:
        lines.append(f"goal reached by trial {summary.goal_reached_by} (spec.goal): the experiment ended there")
    if timed_out := summary.timed_out_trials:
        shown = ", ".join(timed_out[:_LISTED]) + (
            f" and {len(timed_out) - _LISTED} more" if len(timed_out) > _LISTED else ""
        )
        noun = "trial" if len(timed_out) == 1 else "trials"
        lines.append(f"{len(timed_out)} {noun} stopped by the trial timeout (spec.trialTimeoutSeconds): {shown}")
    lines += fronts.front_lines(summary)
    if summary.best is None:
        lines.append(f"no trial reported {summary.metric}")
    else:
        b = summary.best
        caveat = {"ERROR": ", then errored", "RUNNING": ", then was stopped before its end"}.get(b.state, "")
        by = " by the primary objective alone" if summary.pareto_front is not None else ""
        lines += [
            f"best trial{by} {b.trial_id}: {summary.metric} = {b.metric_value} ({summary.mode}){caveat}",
            "best config:",
            *("  " + line for line in yaml.safe_dump(b.config, sort_keys=True).splitlines()),
            f"best checkpoint: {b.checkpoint or '(none reported)'}",
            *endings.best_end(summary),
        ]
    lines += endings.logs_hint(summary)
    lines.append(f"results: {results.join(summary.experiment_path, results.RESULTS_FILE)}")
    return "\n".join(lines)


def schema(args: argparse.Namespace) -> int:
    print(json.dumps(experiment_json_schema(), indent=2, sort_keys=True))
    return 0
