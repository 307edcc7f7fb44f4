"""Test hook: kill this process at a named point, to prove that a crash leaves usable state.

Set ``SALES_FORECAST_FAULT_AT`` to a point (or an ``fnmatch`` pattern of points) and the
process SIGKILLs itself the first time it reaches a matching point; unset, every
checkpoint is a no-op (one environment lookup). The kill-matrix test
(``tests/e2e/test_kill_matrix.py``) uses it; nothing else should. Points:

``after:<step>``
    the flow's step runner (:mod:`flows.steps`) has finished step ``<step>``
    (``after:promote``, ``after:publish``);
``publish:<file>``
    publish has written ``<file>`` of the run directory and not yet the next one
    (``publish:forecasts.parquet``);
``tmp:<path>``
    a local atomic write of ``<path>`` has its complete temp file on disk but has not
    renamed it into place (``tmp:*/runs/*/manifest.json``).
"""

from __future__ import annotations

import fnmatch
import os
import signal

ENV_VAR = "SALES_FORECAST_FAULT_AT"


def checkpoint(point: str) -> None:
    """SIGKILL this process if ``$SALES_FORECAST_FAULT_AT`` matches ``point``; else nothing."""
    pattern = os.environ.get(ENV_VAR)
    if pattern and fnmatch.fnmatchcase(point, pattern):
        os.kill(os.getpid(), signal.SIGKILL)
