"""Command line of the accuracy benchmark: run, score, write JSON, print the table."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import platform
import subprocess
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks.accuracy import combine, conformal, data, methods, metrics, report, runner, score
from benchmarks.accuracy.windows import make_windows

ENSEMBLE = "ensemble"
LGBM_AVERAGE = "lgbm_avg"  # mean of the pipeline's LightGBM with the two per-series scalings
LGBM_MEMBERS = ("lgbm_mean", "lgbm_standard")
CANDIDATES = (LGBM_AVERAGE, "seasonal_naive", "moving_average", "naive", "auto_ets")
MENU_TOPS = (1, 2, 99)  # best candidate | inverse-WAPE top 2 | inverse-WAPE over all
LOOKBACK = 3
SPREAD_WEIGHT = 4.0  # interval scale = mean |forecast| + 4 x the candidates' mean s.d.
RECIPE_DOC = {
    "candidates": list(CANDIDATES),
    "lgbm_avg": list(LGBM_MEMBERS),
    "menu": "best single | inverse-WAPE top 2 | inverse-WAPE all",
    "weights_from": f"the {LOOKBACK} windows before each window",
    "menu_choice_from": f"each recipe's WAPE on the {LOOKBACK} windows before (from window 1)",
    "interval_scale": f"mean |forecast| + {SPREAD_WEIGHT} x candidates' s.d., per series",
}
TABLE_METHODS = [*score.ANCHORS, "ours", *LGBM_MEMBERS, ENSEMBLE]


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Arguments."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.accuracy", description=__doc__)
    p.add_argument(
        "--datasets", nargs="+", default=list(data.DEFAULT_DATASETS), choices=list(data.DATASETS)
    )
    p.add_argument("--methods", nargs="+", default=None, help="default: all")
    p.add_argument("--windows", type=int, default=6, help="windows run (calibration + scoring)")
    p.add_argument("--score-windows", type=int, default=3, help="latest windows scored")
    p.add_argument("--data-dir", type=Path, default=Path("data"))
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/accuracy-latest.json"))
    return p.parse_args(argv)


def predictions(
    name: str, args: argparse.Namespace
) -> tuple[data.Dataset, dict[str, pl.DataFrame], dict[str, dict[int, float]]]:
    """Every selected method's predictions on every window of data set ``name``."""
    ds = data.DATASETS[name]
    panel, digest = data.load(name, args.data_dir)
    windows = make_windows(panel, ds.horizon, args.windows, 2 * ds.season)
    rows = {w.index: runner.window_rows(panel, w, ds) for w in windows}
    cache = args.data_dir / "accuracy" / "cache" / f"{name}-{digest[:12]}"
    preds, secs = {}, {}
    for m, fn in methods.registry(ds).items():
        if args.methods and m not in args.methods:
            continue
        preds[m], secs[m] = runner.run_method(m, fn, panel, windows, ds, cache, rows)
    return ds, preds, secs


def ensemble(
    preds: dict[str, pl.DataFrame],
    secs: dict[str, dict[int, float]],
    scoring: list[int],
    n_cal: int,
) -> dict[str, Any]:
    """Score the ensemble: menu choice and weights from earlier windows, conformal intervals
    from the chosen recipe's own forecasts on the windows before each scoring window."""
    preds = {**preds, LGBM_AVERAGE: combine.average(preds, LGBM_MEMBERS)}
    candidates = tuple(c for c in CANDIDATES if c in preds)
    menu = [combine.Recipe(candidates, lookback=LOOKBACK, top=t) for t in MENU_TOPS]
    result = combine.combine_menu(preds, menu, scoring, lookback=LOOKBACK)
    spread = conformal.candidate_spread(combine.wide(preds, candidates), candidates)
    parts = []
    for k in scoring:
        run = result.runs[result.choice[k]].join(spread, on=["window", "unique_id"], how="left")
        run = conformal.interval_scale(run, SPREAD_WEIGHT)
        cal = run.filter(pl.col("window").is_between(max(1, k - n_cal), k - 1))
        now = run.filter(pl.col("window") == k)
        parts.append(conformal.apply(now, conformal.step_quantiles(cal)))
    rows = pl.concat(parts)
    out: dict[str, Any] = metrics.point_metrics(rows)
    out.update(metrics.interval_metrics(rows), interval="conformal (chosen recipe)")
    out["per_horizon"] = score.per_horizon(rows)
    out["filled"] = 0
    members = [m for m in (*LGBM_MEMBERS, *candidates) if m in secs]
    out["seconds_per_window"] = sum(sum(secs[m].values()) / len(secs[m]) for m in members)
    out["choice"] = {
        str(k): {
            "recipe": ["best", "top2", "all"][result.choice[k]],
            "weights": combine.chosen(preds, menu[result.choice[k]], k).to_dicts(),
        }
        for k in scoring
    }
    return out


def evaluate(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Predictions, scores and the ensemble of one data set."""
    ds, preds, secs = predictions(name, args)
    scoring = score.scoring_windows(args.windows, args.score_windows)
    n_cal = args.windows - args.score_windows
    scored = {m: score.score_method(p, scoring, n_cal, secs[m]) for m, p in preds.items()}
    if all(m in preds for m in LGBM_MEMBERS):
        scored[ENSEMBLE] = ensemble(preds, secs, scoring, n_cal)
    first = preds[next(iter(preds))]
    origins = first.filter(pl.col("window").is_in(scoring))["date"].min()
    return {
        "frequency": ds.frequency,
        "horizon": ds.horizon,
        "season": ds.season,
        "series": first["unique_id"].n_unique(),
        "origins": [str(origins)],
        "windows_run": args.windows,
        "windows_scored": args.score_windows,
        "best_anchor": score.best_anchor(scored),
        "methods": scored,
    }


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, write the JSON and print the tables."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parse(argv)
    results = {name: evaluate(name, args) for name in args.datasets}
    payload = {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "protocol": {
            "windows_run": args.windows,
            "windows_scored": args.score_windows,
            "ensemble": RECIPE_DOC,
        },
        "datasets": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1, default=str))
    shown = [m for m in TABLE_METHODS if any(m in r["methods"] for r in results.values())]
    print(report.headline(results, shown))
    for name, r in results.items():
        print()
        print(report.dataset_table(name, r))
    return 0
