"""The command line of ``python -m benchmarks`` (see ``benchmarks/README.md``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import psutil

from benchmarks import REPO, RESULTS_DIR

DEFAULT_SIZES = (1_000_000, 10_000_000)
BIG = 100_000_000
CASE_NAMES = ("ours", "pandas", "floor", "mlforecast", "flow")
BIG_CASES = ("ours",)  # pandas and the floor's unique() hold every raw row: not at 100M
QUICK_DAYS = 120
QUICK_SKIPS = ("mlforecast", "flow")
QUICK_ROUNDS = 20


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Benchmarks: see benchmarks/README.md"
    )
    p.add_argument(
        "--sizes",
        type=lambda s: int(float(s)),
        nargs="+",
        default=list(DEFAULT_SIZES),
        help="raw row counts to generate and run (default: 1e6 1e7)",
    )
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds per size")
    p.add_argument(
        "--include-100m",
        action="store_true",
        help=f"also run {BIG:,} rows ({', '.join(BIG_CASES)} only, one round)",
    )
    p.add_argument("--cases", nargs="+", choices=CASE_NAMES, default=list(CASE_NAMES))
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "latest.json")
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_DAYS} days of data, {QUICK_ROUNDS} boosting rounds, no mlforecast "
        "or flow unless --cases names them (what the test suite runs)",
    )
    p.add_argument("--data-dir", type=lambda s: Path(s).resolve(), default=REPO / "data" / "bench")
    p.add_argument(
        "--backtest-windows",
        type=int,
        default=None,
        help="evaluation.backtest_windows for the flow and the direct backtest",
    )
    p.add_argument(
        "--pandas-max-rows",
        type=int,
        default=10_000_000,
        help="skip the pandas reference above this size (it loads everything)",
    )
    p.add_argument(
        "--flow-max-rows",
        type=int,
        default=10_000_000,
        help="run the Prefect flow cases only up to this size",
    )
    p.add_argument(
        "--mem-limit-gib",
        type=float,
        default=min(23.0, psutil.virtual_memory().total / 2**30 * 0.95),
        help="kill a case whose process tree RSS passes this",
    )
    p.add_argument(
        "--no-save-dated", action="store_true", help="do not also write results/<date>-<sizes>.json"
    )
    p.add_argument(
        "--generate-only",
        action="store_true",
        help="generate (or check) the data of every size, then stop: nothing is timed",
    )
    axis = p.add_argument_group("series axis (see benchmarks/README.md, 'Series axis')")
    axis.add_argument(
        "--series",
        type=lambda s: int(float(s)),
        nargs="+",
        default=None,
        help="run the series axis instead: series counts (e.g. 1000 10000 30000)",
    )
    axis.add_argument("--days", type=int, default=730, help="series axis: days of history")
    axis.add_argument(
        "--m5-shape", action="store_true", help="series axis: also 30,490 series x 1,941 days"
    )
    axis.add_argument(
        "--transactions-per-day",
        type=float,
        default=1.0,
        help="series axis: mean raw rows per series-day",
    )
    axis.add_argument("--profile", action="store_true", help="series axis: cProfile ours")
    args = p.parse_args(argv)
    if args.series is not None and "--out" not in (argv if argv is not None else sys.argv):
        args.out = RESULTS_DIR / "series-latest.json"
    if args.quick and "--cases" not in (argv if argv is not None else sys.argv):
        args.cases = [c for c in args.cases if c not in QUICK_SKIPS]
    if args.include_100m and BIG not in args.sizes:
        args.sizes.append(BIG)
    args.sizes = sorted(set(args.sizes))
    return args
