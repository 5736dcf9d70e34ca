"""``kubetune logs``: what trials printed, read from the experiment's storage path after (or while) it runs.

Each trial's ``stdout`` and ``stderr`` and Ray's ``error.txt`` lie in its directory on storage
(:mod:`kubetune.engine.trial_logs`), so they outlive the RayCluster. Without a trial every trial is shown, each
under a header that says why it ended (from the results file, once the run has written it); ``--errors`` shows
only the errored trials' tracebacks; ``-f`` keeps printing what one trial adds until the results file says it
ended (the run writes it when it ends), or Ctrl-C. Ray copies a running trial's logs to storage when it
reports, at most every 5 minutes (its ``SyncConfig.sync_period``), and when the trial ends.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from typing import Any

from kubetune.cli.formatting import HelpFormatter
from kubetune.engine import results, trial_logs

#: Colour codes Ray puts in tracebacks (``error.txt``); a file or a pipe gets plain text.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def register(commands: Any) -> None:
    p = commands.add_parser(
        "logs", help="show what trials printed, from the experiment's storage path", formatter_class=HelpFormatter
    )
    p.add_argument(
        "experiment", metavar="EXPERIMENT_DIR", help="the experiment directory (what `kubetune run` printed)"
    )
    p.add_argument("trial", metavar="TRIAL", nargs="?", help="a trial id or a unique part of it (default: every trial)")
    p.add_argument("--errors", action="store_true", help="only the errored trials, with their tracebacks")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing what TRIAL adds until it has ended")
    p.add_argument("--interval", type=float, default=1.0, metavar="SECONDS", help="how often --follow looks")
    p.set_defaults(handler=logs)


def logs(args: argparse.Namespace) -> int:
    path = args.experiment.rstrip("/")
    if path.endswith(results.RESULTS_FILE):
        path = path[: -len(results.RESULTS_FILE)].rstrip("/")
    ends = _ends(path)
    if args.follow:
        if not args.trial:
            raise ValueError("--follow needs a TRIAL")
        fs, trial = trial_logs.find(path, args.trial)
        return follow(path, fs, trial, ends.get(trial.trial_id), interval=args.interval)
    if args.trial:
        fs, found = trial_logs.find(path, args.trial)
        chosen = [found]
    else:
        fs, chosen = trial_logs.trial_dirs(path)
        if not chosen:
            raise ValueError(f"{path} holds no trial directories")
    shown = 0
    for trial in chosen:
        error = _plain(trial_logs.read(fs, trial, trial_logs.ERROR))
        end = ends.get(trial.trial_id)
        if args.errors and not error and (end or {}).get("reason") != "errored":
            continue
        shown += 1
        print(_header(trial, end))
        if args.errors:
            print(error.rstrip() or "(no traceback was stored)")
            continue
        _show(trial_logs.trainable_output(trial_logs.read(fs, trial, trial_logs.STDOUT)), "stdout")
        _show(trial_logs.trainable_output(trial_logs.read(fs, trial, trial_logs.STDERR)), "stderr")
        if error:
            _show(error, "error.txt")
    if args.errors and not shown:
        print("no trial errored")
    return 0


def follow(path: str, fs: Any, trial: trial_logs.TrialDir, end: dict[str, str] | None, *, interval: float) -> int:
    """Print ``trial``'s stdout and stderr as they grow, until it has ended: the results file says so, or the run
    (re)writes it."""
    results_file = results.join(path, results.RESULTS_FILE)
    since = _mtime(results_file)
    print(_header(trial, end), flush=True)
    offsets = dict.fromkeys((trial_logs.STDOUT, trial_logs.STDERR), 0)
    try:
        while True:
            # Checked before reading, so that what the trial wrote before it ended is printed.
            ended = end is not None or _mtime(results_file) != since
            for name, offset in offsets.items():
                text = trial_logs.read(fs, trial, name, offset=offset)
                if text:
                    offsets[name] = offset + len(text.encode("utf-8"))
                    out = trial_logs.trainable_output(text)
                    (sys.stdout if name == trial_logs.STDOUT else sys.stderr).write(out)
            sys.stdout.flush()
            if ended:
                return 0
            time.sleep(interval)
    except KeyboardInterrupt:
        return 130


def _ends(path: str) -> dict[str, dict[str, str]]:
    """Why each trial ended, from the results file (empty while the run has not written one)."""
    try:
        return results.read(path).trial_ends
    except (OSError, ValueError, TypeError):
        return {}


def _header(trial: trial_logs.TrialDir, end: dict[str, str] | None) -> str:
    why = f": {end.get('reason')} ({end.get('detail')})" if end else ""
    return f"==> trial {trial.trial_id}{why} <=="


def _show(text: str, name: str) -> None:
    if text.strip():
        print(f"--- {name} ---")
        print(_plain(text).rstrip())


def _plain(text: str) -> str:
    return _ANSI.sub("", text)


def _mtime(path: str) -> int | None:
    if "://" in path:
        import pyarrow.fs

        fs, inner = pyarrow.fs.FileSystem.from_uri(path)
        info = fs.get_file_info(inner)
        return None if info.type == pyarrow.fs.FileType.NotFound else int(info.mtime_ns)
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None
