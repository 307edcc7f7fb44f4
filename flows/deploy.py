"""``python -m flows.deploy``: kept as the command users, the Makefile and deploy/ run; the
code is in :mod:`flows.ops.deploy`."""

from __future__ import annotations

import runpy

if __name__ == "__main__":
    runpy.run_module("flows.ops.deploy", run_name="__main__", alter_sys=True)
