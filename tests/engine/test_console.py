"""The trial processes' console: an exit Python has to ignore (raised inside a weakref callback while Ray stops the
process) is not printed as a traceback; any other ignored exception still is."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

_IGNORED = """
import weakref
from kubetune.engine.console import quiet_worker
quiet_worker()

class Thing:
    pass

def raise_{kind}(ref):
    raise {error}

thing = Thing()
ref = weakref.ref(thing, raise_{kind})
del thing  # the callback runs now; Python prints what it raised as "Exception ignored in"
print("still running")
"""


def run(kind: str, error: str) -> subprocess.CompletedProcess[str]:
    code = _IGNORED.format(kind=kind, error=error)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    )


def test_an_exit_python_ignores_in_a_trial_process_prints_no_traceback() -> None:
    for kind, error in (("exit", "SystemExit(1)"), ("interrupt", "KeyboardInterrupt()")):
        done = run(kind, error)
        assert "Traceback" not in done.stderr, done.stderr
        assert done.stdout.strip() == "still running"


def test_any_other_ignored_exception_is_still_printed() -> None:
    done = run("bug", "ValueError('a real bug')")
    assert "Exception ignored in" in done.stderr
    assert "ValueError: a real bug" in done.stderr
