"""The backtest in process vs on a ``distributed.LocalCluster`` (runner=dask), same panel.

``python -m benchmarks.dask_speedup [--panel P --params J --workers 2]`` (defaults: the
series axis' 1,000-series panel, so run ``--series 1000`` first). Times the in-process
backtest (:func:`tasks.chain.evaluate`, LightGBM on ``num_threads`` of the config) and the
flow's ``runner=dask`` path (one Prefect task per window through prefect-dask's task
runner on a LocalCluster of ``--workers`` processes with one thread each, LightGBM on one
thread per window); checks that both give the same predictions; prints and writes JSON.
Cluster start-up and the Prefect server's are reported apart from the backtest time.
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


def main() -> None:
    """Measure both ways, check equality, print and write the figures."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.dask_speedup")
    ap.add_argument("--panel", type=Path, default=WORK / "panel.parquet")
    ap.add_argument("--params", type=Path, default=WORK / "params.json")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS_DIR / "dask-speedup.json")
    args = ap.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    from distributed import LocalCluster  # noqa: PLC0415
    from polars.testing import assert_frame_equal  # noqa: PLC0415
    from prefect import flow  # noqa: PLC0415

    from benchmarks import ours  # noqa: PLC0415
    from benchmarks.params import BenchParams  # noqa: PLC0415
    from flows import runner  # noqa: PLC0415
    from flows.config import RunnerConfig  # noqa: PLC0415
    from flows.steps import Steps  # noqa: PLC0415
    from tasks import chain  # noqa: PLC0415
    from tasks.stages import RetryPolicy  # noqa: PLC0415

    p = ours.params(BenchParams.load(args.params).overrides)
    panel = pl.read_parquet(args.panel)
    threads = p.train.hyperparameters.get("num_threads")
    out: dict[str, Any] = {"panel_rows": panel.height, "workers": args.workers,
                           "cores": os.cpu_count(), "threads": threads}  # fmt: skip

    start = time.perf_counter()
    local = chain.evaluate(panel, p.features, p.backtest, p.train)
    out["in_process_s"] = time.perf_counter() - start

    one_thread = replace(p.train, hyperparameters={**p.train.hyperparameters, "num_threads": 1})
    start = time.perf_counter()
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster:  # fmt: skip
        out["cluster_start_s"] = time.perf_counter() - start
        rc = RunnerConfig(name="dask", address=cluster.scheduler_address)
        cache = REPO / "data" / "bench" / "_work" / "dask-cache"

        @flow(name="dask-speedup")
        def backtest_on_cluster() -> tuple[Any, float]:
            steps = Steps(str(cache), refresh=True, retries=RetryPolicy(0, 0.0))
            with runner.session(rc) as dask:
                t0 = time.perf_counter()
                result = runner.evaluate(steps, dask, panel=panel, spec=p.features,
                                         params=p.backtest, train=one_thread)  # fmt: skip
                return result, time.perf_counter() - t0

        start = time.perf_counter()
        distributed, seconds = backtest_on_cluster()
        out["flow_call_s"] = time.perf_counter() - start
        out["dask_backtest_s"] = seconds
    assert_frame_equal(distributed.predictions, local.predictions)
    out["equal"] = True
    out["speedup"] = out["in_process_s"] / out["dask_backtest_s"]
    out["load_average"] = os.getloadavg()
    print(json.dumps(out, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
