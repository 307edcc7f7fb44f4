"""The backtest in process vs on a ``distributed.LocalCluster`` (runner=dask), same panel.

``python -m benchmarks.dask_speedup [--panel P --params J --workers 2]`` (defaults: the
series axis' 1,000-series panel, so run ``--series 1000`` first). Times the in-process
backtest (:func:`tasks.chain.evaluate`, LightGBM on ``num_threads`` of the config) and the
same windows on a LocalCluster of ``--workers`` processes with one thread each, LightGBM on
one thread per window: the function the flow's ``backtest-window`` tasks run, submitted
with ``distributed`` directly (the flow adds Prefect's task orchestration on top, and no
Prefect server is needed here); checks both give the same predictions; prints and writes
JSON. Cluster start-up is reported apart from the backtest time.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks import REPO, RESULTS_DIR

WORK = REPO / "data" / "bench" / "_work" / "series-1000x730"


def parse() -> argparse.Namespace:
    """The command line."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.dask_speedup")
    ap.add_argument("--panel", type=Path, default=WORK / "panel.parquet")
    ap.add_argument("--params", type=Path, default=WORK / "params.json")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--series", type=int, default=0, help="only the first N series (0: all)")
    ap.add_argument("--out", type=Path, default=RESULTS_DIR / "dask-speedup.json")
    return ap.parse_args()


def main() -> None:
    """Measure both ways, check equality, print and write the figures."""
    args = parse()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    from distributed import Client, LocalCluster  # noqa: PLC0415
    from polars.testing import assert_frame_equal  # noqa: PLC0415

    from benchmarks import ours  # noqa: PLC0415
    from benchmarks.params import BenchParams  # noqa: PLC0415
    from tasks import chain  # noqa: PLC0415
    from tasks.model import backtest as backtesting  # noqa: PLC0415

    p = ours.params(BenchParams.load(args.params).overrides)
    panel = pl.read_parquet(args.panel)
    if args.series:
        keys = p.features.series_keys
        panel = panel.join(panel.select(keys).unique().sort(keys).head(args.series), on=keys)
    threads = p.train.hyperparameters.get("num_threads")
    out: dict[str, Any] = {"panel_rows": panel.height, "workers": args.workers,
                           "cores": os.cpu_count(), "threads": threads}  # fmt: skip

    start = time.perf_counter()
    local = chain.evaluate(panel, p.features, p.backtest, p.train)
    out["in_process_s"] = time.perf_counter() - start

    one_thread = replace(p.train, hyperparameters={**p.train.hyperparameters, "num_threads": 1})
    start = time.perf_counter()
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster, \
            Client(cluster) as client:  # fmt: skip
        out["cluster_start_s"] = time.perf_counter() - start
        start = time.perf_counter()
        starts = backtesting.window_origins(panel, p.features, p.backtest)
        remote = client.scatter(panel, broadcast=True)
        futures = [client.submit(backtesting.window_predictions, remote, o, p.features,
                                 p.backtest, one_thread, pure=False) for o in starts]  # fmt: skip
        distributed = backtesting.score(client.gather(futures), starts, p.features, p.backtest)
        out["dask_backtest_s"] = time.perf_counter() - start
        out["workers_used"] = len({w for ws in client.who_has(futures).values() for w in ws})
    assert_frame_equal(distributed.predictions, local.predictions)
    out["equal"] = True
    out["speedup"] = out["in_process_s"] / out["dask_backtest_s"]
    out["load_average"] = os.getloadavg()
    print(json.dumps(out, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
