"""``python -m tasks.generate``: kept as the generator's command; the code is in
:mod:`tasks.data.sources.generate`."""

from __future__ import annotations

import runpy

if __name__ == "__main__":
    runpy.run_module("tasks.data.sources.generate", run_name="__main__", alter_sys=True)
