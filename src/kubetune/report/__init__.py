"""``kubetune report``: one self-contained HTML file that shows what an experiment found, for anyone to open.

The page opens offline, from a file, in any current browser: best-so-far against compute (trial-iterations, and
GPU-hours when the results file holds them), every trial's learning curve coloured by how it ended, parallel
coordinates of the hyperparameters against the objective, hyperparameter importance (Optuna's default evaluator),
how trials ended, a table of every trial and the best config with its checkpoint path; for a run with several
objectives, first the Pareto front (:mod:`.pareto`: a scatter of the first two objectives and a table).

Charts: Apache ECharts 6.1.0 (``assets/echarts.min.js``, vendored unmodified from npm with its Apache-2.0 license
and NOTICE; ``assets/echarts.VERSION`` says how to update it), inlined into every report: 1,121,883 bytes, nearly all
of the page (the 12-trial reference report is 1.14 MB; a trial adds well under a kilobyte). Why ECharts:

* one file of plain JavaScript with no other dependency and nothing fetched at view time;
* parallel coordinates, line, bar and visual-map colouring in the one build, all of which can render to SVG:
  Plotly's parallel coordinates need WebGL, which a headless or remote browser often lacks, and its full bundle
  is several times larger (about 4 MB); uPlot (about 50 kB) has line charts only;
* SVG output makes every chart text and vectors, sharp when printed and checkable in the DOM by the tests.

Modules: :mod:`.reading` (kubetune's results file and Ray's trial data), :mod:`.space` (the hyperparameters as
Optuna distributions), :mod:`.figures` and :mod:`.importance` (the charts' data), :mod:`.rendering` (the page),
:mod:`.building` (all of it, for the CLI).
"""

from __future__ import annotations

from kubetune.report.building import build

#: The chart containers of every report, by element id: each is drawn, also when its data is empty (it then says
#: why), so a page with fewer drawn charts than this has failed.
CHARTS = ("chart-progress", "chart-curves", "chart-parallel", "chart-importance", "chart-reasons")
#: Drawn as well in the report of a run with several objectives: the Pareto front (:mod:`.pareto`).
MULTI_OBJECTIVE_CHARTS = ("chart-pareto",)

__all__ = ["CHARTS", "MULTI_OBJECTIVE_CHARTS", "build"]
