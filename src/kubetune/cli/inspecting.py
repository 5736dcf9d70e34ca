"""``kubetune validate``, ``kubetune best`` and ``kubetune schema``: read-only commands."""

from __future__ import annotations

import argparse
import json
from typing import Any

import yaml

from kubetune.engine import results
from kubetune.engine.trainables import resolve
from kubetune.spec import load_file
from kubetune.spec.schema import experiment_json_schema

_FORMAT = argparse.ArgumentDefaultsHelpFormatter


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
    """Load the best checkpoint through the trainable module's ``load_checkpoint`` and run ``evaluate``."""
    import importlib

    if summary.best is None or summary.best.checkpoint is None:
        raise ValueError("the experiment has no best checkpoint to evaluate")
    resolve(summary.trainable)  # same errors as a run: names the module that cannot be imported
    module = importlib.import_module(summary.trainable.partition(":")[0])
    load, evaluate = getattr(module, "load_checkpoint", None), getattr(module, "evaluate", None)
    if load is None or evaluate is None:
        raise ValueError(f"{module.__name__} defines no load_checkpoint()/evaluate() to evaluate with")
    return dict(evaluate(load(summary.best.checkpoint), summary.best.config))


def format_summary(summary: results.RunSummary) -> str:
    states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(summary.trials_by_state.items())) or "no trials"
    lines = [f"experiment {summary.experiment}: {summary.total_trials} trials ({states})"]
    if summary.best is None:
        lines.append(f"no trial reported {summary.metric}")
    else:
        b = summary.best
        lines += [
            f"best trial {b.trial_id}: {summary.metric} = {b.metric_value} ({summary.mode})",
            "best config:",
            *("  " + line for line in yaml.safe_dump(b.config, sort_keys=True).splitlines()),
            f"best checkpoint: {b.checkpoint or '(none reported)'}",
        ]
    lines.append(f"results: {results.join(summary.experiment_path, results.RESULTS_FILE)}")
    return "\n".join(lines)


def schema(args: argparse.Namespace) -> int:
    print(json.dumps(experiment_json_schema(), indent=2, sort_keys=True))
    return 0
