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

CASES = (
    "check",
    "ours",
    "pandas",
    "floor",
    "mlforecast",
    "flow",
    "series-check",
    "series-ours",
    "series-mlforecast",
)


def _dispatch(name: str, args: argparse.Namespace, p: BenchParams) -> Callable[[Recorder], object]:
    if name.startswith("series-"):
        from benchmarks import series_cases as sc

        if name == "series-ours":
            return lambda rec: sc.run_ours(p, rec, args.profile)
        if name == "series-mlforecast":
            return lambda rec: sc.run_mlforecast(p, rec, args.work_dir)
        return lambda rec: sc.run_check(p, rec, args.work_dir)
    if name == "ours":
        from benchmarks import ours

        return lambda rec: ours.run(p.overrides, rec, args.save_dir, with_evaluate=False)
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

        return lambda rec: flowcase.run(p, rec, args.output_path, args.replay)
    from benchmarks import check

    return lambda rec: check.run(p, rec)


def warm_holidays(p: BenchParams) -> float:
    """Load the holiday calendars before any clock starts; return the seconds it took.

    The first ``holidays.country_holidays`` call imports every country module of the
    package (hundreds; seconds without cached bytecode), inside whichever stage builds
    calendar features first. Imports are not timed in any case, so they happen here, in
    every case alike.
    """
    import holidays

    start = time.perf_counter()
    if p.holiday_country:
        holidays.country_holidays(p.holiday_country, years=[2000])
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    """Run one case and write its measurements as JSON to ``--out``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.case")
    parser.add_argument("name", choices=CASES)
    parser.add_argument("--params", required=True, help="BenchParams JSON written by the harness")
    parser.add_argument("--out", required=True, help="where to write this run's JSON")
    parser.add_argument("--work-dir", default="", help="saved panel/features of this size")
    parser.add_argument("--save-dir", default=None, help="ours: save panel/features here")
    parser.add_argument("--output-path", default="", help="flow: data.output_path")
    parser.add_argument(
        "--replay",
        choices=("before", "after"),
        default="",
        help="flow: also the same stages directly, timed, before or after the flow",
    )
    parser.add_argument("--profile", action="store_true", help="series-ours: cProfile the stages")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    params = BenchParams.load(args.params)
    with Sampler() as sampler:
        try:
            body = _dispatch(args.name, args, params)
            holidays_seconds = warm_holidays(params)
            rec = Recorder(args.name, sampler)
            rec.info["import_seconds"] = time.perf_counter() - started
            rec.info["holidays_import_seconds"] = holidays_seconds
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
