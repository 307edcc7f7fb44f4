"""Assess a notebook before it becomes pipeline code (plain Python: no Prefect, no Hydra).

``cells`` parses a notebook (nbformat, then ``ast`` per code cell) and maps which names
each cell defines and uses; ``checks`` (hard-coded paths, credentials, unseeded
randomness), ``habits`` (side effects, scattered imports, pandas traps) and ``state``
(execution order, hidden state) find the anti-patterns that block production;
``config_keys`` maps magic
numbers to the pipeline's config keys; ``stages`` proposes which cells become which stage;
``render`` writes the report as markdown or a self-contained HTML page.
``python -m flows.assess notebook.ipynb`` is the command line.
"""

from __future__ import annotations

from tasks.notebook.assess import Assessment, assess
from tasks.notebook.findings import Finding
from tasks.notebook.render import render_html, render_markdown, summary_line

__all__ = [
    "Assessment",
    "Finding",
    "assess",
    "render_html",
    "render_markdown",
    "summary_line",
]
