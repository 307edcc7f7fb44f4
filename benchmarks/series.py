"""The series axis: ours vs mlforecast as the number of series grows at fixed history.

``python -m benchmarks --series 1000 10000 [--days 730] [--m5-shape]`` (see the README):
for each size the project's generator writes raw sales for ``n`` series (region ×
product_type × store_id, ``stores_per_region`` raised) once under ``data/bench/``; an
untimed check builds the panel and compares our features with mlforecast's
``preprocess``; then ours (:mod:`tasks.chain`: ingest → … → backtest → forecast) and
mlforecast (``cross_validation`` + ``fit`` + ``predict`` with the same lags, windows, date
features, LightGBM parameters and windows) run one after the other, each in a fresh
subprocess with its own peak RSS.
"""

# ruff: noqa: PLC0415  (imports inside functions: a case process loads only what it measures)

from __future__ import annotations

import argparse
import datetime as dt
import math
from pathlib import Path
from typing import Any

from benchmarks import mlf
from benchmarks.markdown import md_table
from benchmarks.params import compose
from benchmarks.runner import CaseRun, CaseSpec, run_case

SERIES_KEYS = "data.series_keys=[region,product_type,store_id]"
COMBOS = 24  # 4 regions × 6 product types of the default generator, per store
M5_SERIES, M5_DAYS = 30_490, 1_941
STAGES = ("ingest", "clean", "aggregate", "features", "train", "evaluate", "forecast")
COLUMNS = (  # (header, stage names summed)
    ("ingest+clean+panel s", ("ingest", "clean", "aggregate")),
    ("features s", ("features",)),
    ("backtest s", ("evaluate",)),
    ("final train s", ("train",)),
    ("forecast s", ("forecast",)),
)


def sizes(args: argparse.Namespace) -> list[tuple[int, int]]:
    """(series, days) to run: ``--series`` × ``--days``, plus the M5 shape when asked."""
    out = [(n, args.days) for n in args.series]
    if args.m5_shape:
        out.append((M5_SERIES, M5_DAYS))
    return out


def ensure_data(series: int, days: int, args: argparse.Namespace, log: Any) -> Path:
    """Raw sales for about ``series`` series × ``days`` days, generated once and reused."""
    from tasks.data.sources.generate import GeneratorSpec, ensure_dataset

    stores = math.ceil(series / COMBOS)
    spec = GeneratorSpec(
        days=days, stores_per_region=stores, transactions_per_day=args.transactions_per_day
    )
    root = args.data_dir / f"series-{series}x{days}"
    log(f"data: {stores * COMBOS:,} series x {days} days at {root} ...")
    info = ensure_dataset(spec, root)
    log(f"data: {info.rows:,} raw rows ({'reused' if info.reused else 'generated'})")
    return root.resolve()


def run(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    """Every size: data, params, the feature check, then ours and mlforecast, timed."""
    limit = args.mem_limit_gib * 1024
    out: dict[str, Any] = {}
    for series, days in sizes(args):
        root = ensure_data(series, days, args, log)
        work = args.data_dir / "_work" / f"series-{series}x{days}"
        work.mkdir(parents=True, exist_ok=True)
        params = work / "params.json"
        compose(str(root), [SERIES_KEYS], args.backtest_windows).save(params)
        common = ["--work-dir", str(work)]
        check_spec = CaseSpec("series-check", "series-check", common)
        check = run_case(check_spec, series, 0, params, work, limit)
        failed = {"passed": False, "error": check.result.get("error")}
        eq = check.result.get("info", {}).get("equivalence") or failed
        log(f"{series:,} series: feature check {'PASS' if eq.get('passed') else 'FAIL'} {eq}")
        runs: list[CaseRun] = []
        cases = [
            CaseSpec("ours", "series-ours", [*common, *(["--profile"] if args.profile else [])])
        ]
        if mlf.available() and "mlforecast" in args.cases and eq.get("passed"):
            cases.append(CaseSpec("mlforecast", "series-mlforecast", common))
        for spec in [c for c in cases if c.label in args.cases]:
            run = run_case(spec, series, 1, params, work, limit)
            state = "ok" if run.ok else "FAILED " + str(run.result.get("error", ""))[-300:]
            peak = float(run.result.get("peak_rss_mib", math.nan))
            log(
                f"{series:,} series {spec.label}: {run.wall_seconds:.1f} s, {peak:.0f} MiB, {state}"
            )
            runs.append(run)
        out[f"{series}x{days}"] = {
            "series": series,
            "days": days,
            "equivalence": eq,
            "runs": [r.to_dict() for r in runs],
        }
    return out


def row(label: str, run: dict[str, Any]) -> list[Any]:
    """One table row: stage seconds, total, peak RSS, backtest WAPE."""
    res = run["result"]
    if not run["ok"]:
        return [label, *["–"] * (len(COLUMNS) + 2), f"failed: {str(res.get('error'))[-80:]}"]
    stages = res["stages"]
    cells = [sum(stages[s]["seconds"] for s in names if s in stages) for _, names in COLUMNS]
    cells = [c if c else None for c in cells]
    total = sum(stages[s]["seconds"] for s in stages if s != "load")
    wape = res["info"].get("backtest_wape")
    return [label, *cells, total, res["peak_rss_mib"], None if wape is None else round(wape, 4)]


def markdown(sizes_out: dict[str, Any]) -> str:
    """The series-axis table (one row per size and method) and the feature checks."""
    header = ["series × days", "method", *(h for h, _ in COLUMNS)]
    header += ["total s", "peak RSS MiB", "backtest WAPE"]
    rows, notes = [], []
    for key, entry in sizes_out.items():
        for run in entry["runs"]:
            rows.append([f"{entry['series']:,} × {entry['days']}", *row(f"`{run['label']}`", run)])
        eq = entry["equivalence"]
        notes.append(
            f"{key}: features {'equal' if eq.get('passed') else 'NOT equal'} "
            f"({eq.get('rows_compared', 0):,} rows of {eq.get('series', 0)} series, "
            f"max rel diff {eq.get('max_rel_diff', float('nan')):.2g})"
        )
    return md_table(header, rows) + "\n\nFeature check: " + "; ".join(notes) + "\n"


def main(args: argparse.Namespace, log: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """Run the series axis, print the table, return the JSON payload."""
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    result = {**meta, "created": started, "series_axis": run(args, log)}
    result["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    result["markdown"] = markdown(result["series_axis"])
    print(result["markdown"])
    return result
