"""Benchmark harness: this pipeline vs a pandas notebook, the Polars/LightGBM floor,
mlforecast and the same stages through the Prefect flow.

Run ``python -m benchmarks --help`` (or ``make bench``); see ``benchmarks/README.md``.
Every measured case runs in a fresh subprocess (``python -m benchmarks.case``) so its
peak RSS is that of a process doing only that measurement.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
