"""One measured case in this process: ``python -m benchmarks.case NAME --params P --out O``.

The harness runs every case in a fresh subprocess, so the peak RSS reported here is that
of a process doing only this measurement (plus its imports, reported as the baseline).
"""

# ruff: noqa: PLC0415  (imports inside functions: a case process loads only what it measures)

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable, Sequence

from benchmarks.measure import Recorder, Sampler, write_json
from benchmarks.params import BenchParams

CASES = ("check", "ours", "pandas", "floor", "mlforecast", "flow")


def _dispatch(name: str, args: argparse.Namespace, p: BenchParams) -> Callable[[Recorder], object]:
    if name == "ours":
        from benchmarks import ours

        return lambda rec: ours.run(p.overrides, rec, args.save_dir, args.with_evaluate)
    if name == "pandas":
        from benchmarks import pandas_ref

        return lambda rec: pandas_ref.run(p, rec)
    if name == "floor":
        from benchmarks import floor

        return lambda rec: floor.run(p, rec, args.work_dir)
    if name == "mlforecast":
        from benchmarks import mlf

        return lambda rec: mlf.run(p, rec, args.work_dir)
    if name == "flow":
        from benchmarks import flowcase

        return lambda rec: flowcase.run(p, rec, args.output_path)
    from benchmarks import check

    return lambda rec: check.run(p, rec)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one case and write its measurements as JSON to ``--out``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.case")
    parser.add_argument("name", choices=CASES)
    parser.add_argument("--params", required=True, help="BenchParams JSON written by the harness")
    parser.add_argument("--out", required=True, help="where to write this run's JSON")
    parser.add_argument("--work-dir", default="", help="saved panel/features of this size")
    parser.add_argument("--save-dir", default=None, help="ours: save panel/features here")
    parser.add_argument("--output-path", default="", help="flow: data.output_path")
    parser.add_argument("--with-evaluate", action="store_true", help="ours: time the backtest")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    params = BenchParams.load(args.params)
    with Sampler() as sampler:
        try:
            body = _dispatch(args.name, args, params)
            rec = Recorder(args.name, sampler)
            rec.info["import_seconds"] = time.perf_counter() - started
            body(rec)
        except Exception:
            write_json(args.out, {"case": args.name, "error": traceback.format_exc()})
            traceback.print_exc()
            return 1
    result = rec.result()
    result["process_seconds"] = time.perf_counter() - started
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
