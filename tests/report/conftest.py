"""The report tests' fixtures: one real Ray Tune run through ``kubetune run`` (ASHA stops some trials early, one
trial errors, a config value is a script), and headless Chromium to open the report as a person would."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from kubetune.cli import main
from tests.conftest import experiment_doc

#: A config value that runs script if it reaches the page unescaped: it marks the document (the tests look for
#: the mark) and stands for ``</script><script>alert(1)</script>``.
PAYLOAD = (
    "</script><script>document.documentElement.dataset.pwned='script'</script>"
    "<img src=x onerror=\"document.documentElement.dataset.pwned='img'\">"
)
#: Where `make tools` (Debian's chromium package) puts the browser.
CHROMIUM = "/usr/bin/chromium"


@dataclass(frozen=True)
class ReferenceRun:
    """A finished experiment: its directory, its spec file and what ``kubetune run`` printed."""

    path: Path
    spec: Path
    output: str


@pytest.fixture(scope="session")
def reference_run(ray_local: None, tmp_path_factory: pytest.TempPathFactory) -> ReferenceRun:
    """Six trials of :func:`tests.report.trainables.ranked_curves`, one at a time in grid order: rank 1 first (one
    with ``opt: sgd``, which errors after two results; one with :data:`PAYLOAD`, the best), then ranks 2 and 3,
    which ASHA stops at its first rung."""
    root = tmp_path_factory.mktemp("report-run")
    doc = experiment_doc(
        "report-ref",
        "tests.report.trainables:ranked_curves",
        searchSpace={
            "rank": {"grid": [1, 2, 3]},
            "opt": {"grid": ["sgd", PAYLOAD]},
            "lr": {"loguniform": [1.0e-3, 1.0e-1]},
        },
        config={"iterations": 3, "fail_rank": 1, "fail_opt": "sgd"},
        search={"algorithm": "random", "seed": 7},
        scheduler={"type": "asha", "maxT": 3, "gracePeriod": 1, "reductionFactor": 2},
        maxConcurrentTrials=1,
        storage={"path": str(root / "results")},
    )
    spec = root / "experiment.yaml"
    spec.write_text(yaml.safe_dump(doc))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["run", str(spec), "--no-metrics", "-q"])
    assert code == 0, out.getvalue()
    return ReferenceRun(path=root / "results" / "report-ref", spec=spec, output=out.getvalue())


@pytest.fixture(scope="session")
def chromium() -> str:
    """The headless browser; skips when it is missing, unless ``KUBETUNE_REQUIRE_CHROMIUM`` is set (`make test`
    installs it with `make tools`)."""
    found = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
    if found is None:
        message = "chromium is not installed (`make chromium` installs Debian's package)"
        if os.environ.get("KUBETUNE_REQUIRE_CHROMIUM"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def dump_dom(browser: str, page: Path) -> str:
    """The page's DOM after its scripts ran (headless Chromium, no network, a throwaway profile)."""
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [
                browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", page.resolve().as_uri(),
            ],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout
