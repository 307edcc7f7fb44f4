"""``python -m flows.automations``: kept as the command users, the Makefile and deploy/ run; the
code is in :mod:`flows.ops.automations`."""

from __future__ import annotations

import runpy

if __name__ == "__main__":
    runpy.run_module("flows.ops.automations", run_name="__main__", alter_sys=True)
