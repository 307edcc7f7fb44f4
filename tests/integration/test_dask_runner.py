"""runner=dask on a real ``distributed.LocalCluster`` of 2 worker processes on 127.0.0.1.

The backtest windows run as Prefect tasks on the workers through prefect-dask's task
runner; the result must equal the in-process backtest's. The cluster's task stream says
which worker ran what; the cluster is closed at the end and its processes are gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import psutil
import pytest
from polars.testing import assert_frame_equal

from tests.support import SMALL
from tests.support.pipeline import app_config

# a cluster of worker processes, a Prefect server and several LightGBM fits: > 20 s
pytestmark = [pytest.mark.usefixtures("prefect_server"), pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as c:  # fmt: skip
        pids = [w.process.pid for w in c.workers.values()]
        yield c
    assert not [p for p in pids if psutil.pid_exists(p)], "worker processes left running"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from flows import plan
    from tasks import chain
    from tasks.data.sources.generate import ensure_dataset

    data = tmp_path_factory.mktemp("dask") / "data"
    cfg = app_config(data, [*SMALL, "data.builtin=null"])
    ensure_dataset(cfg.data.generator.to_spec(), data)
    params = plan.chain_params(cfg)
    _, panel = chain.prepare(params)
    return {"cfg": cfg, "params": params, "panel": panel.panel}


def backtest_on(address: str, inputs: dict[str, Any], cache: Path) -> Any:
    """The flow's evaluate step with runner=dask at ``address``, inside a flow run."""
    from prefect import flow

    from flows import runner
    from flows.config import RunnerConfig
    from flows.steps import Steps
    from tasks.stages import RetryPolicy

    rc = RunnerConfig(name="dask", address=address)
    p = inputs["params"]

    @flow(name="dask-backtest")
    def run() -> Any:
        steps = Steps(str(cache), refresh=True, retries=RetryPolicy(0, 0.0))
        with runner.session(rc) as dask:
            return runner.evaluate(steps, dask, panel=inputs["panel"], spec=p.features,
                                   params=p.backtest, train=p.train)  # fmt: skip

    return run()


def test_backtest_windows_run_on_several_workers_and_equal_in_process(
    cluster: Any, inputs: dict[str, Any], tmp_path: Path
) -> None:
    from distributed import Client, get_task_stream

    from tasks import chain

    p = inputs["params"]
    with Client(cluster.scheduler_address) as client, get_task_stream(client) as stream:
        distributed = backtest_on(cluster.scheduler_address, inputs, tmp_path / "cache")
    workers = {t["worker"] for t in stream.data}
    assert len(workers) > 1, f"all tasks ran on {workers}"
    local = chain.evaluate(inputs["panel"], p.features, p.backtest, p.train)
    assert distributed.predictions.height == local.predictions.height > 0
    assert_frame_equal(distributed.predictions, local.predictions)
    assert distributed.metrics == local.metrics


def test_distributed_training_uses_every_worker(cluster: Any, inputs: dict[str, Any]) -> None:
    # lightgbm.dask builds on lightgbm.sklearn; scikit-learn comes with the bench group only,
    # as long as runner.distributed_training is refused (the served model is an ensemble)
    pytest.importorskip(
        "sklearn", reason="lightgbm.dask needs scikit-learn (uv sync --group bench)"
    )
    from distributed import Client, get_task_stream

    from tasks import chain
    from tasks.model.distributed import train_model_dask
    from tasks.model.train import predict

    p = inputs["params"]
    frame = chain.features(inputs["panel"], p.features)
    with Client(cluster.scheduler_address) as client, get_task_stream(client) as stream:
        model = train_model_dask(frame, p.features, p.train, client)
    assert len({t["worker"] for t in stream.data}) > 1
    single = chain.train(frame, p.features, p.train)
    assert model.feature_names == single.feature_names
    assert model.training_rows == single.training_rows
    rows = frame.filter(pl.col("scale").is_not_null() & pl.col("revenue").is_not_null())
    a, b = predict(model, rows), predict(single, rows)
    # data-parallel trees from per-worker bins: close to the single-process model, not equal
    corr = pl.DataFrame({"a": a, "b": b}).select(pl.corr("a", "b")).item()
    assert corr > 0.95, corr


def test_the_flow_with_runner_dask_starts_and_closes_its_own_cluster(
    inputs: dict[str, Any], tmp_path: Path
) -> None:
    import json

    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.sales_forecast import sales_forecast
    from tasks import chain

    before = {c.pid for c in psutil.Process().children(recursive=True)}
    data = inputs["cfg"].data.input_path
    overrides = [*SMALL, "data.builtin=null", f"data.input_path={data}",
                 f"data.output_path={tmp_path / 'out'}", "runner=dask", "runner.n_workers=2",
                 "mode=production", "evaluation.min_improvement=-0.5",  # a champion to re-score
                 "model.hyperparameters.num_threads=1"]  # fmt: skip
    result = sales_forecast(overrides=overrides)
    assert result["steps"]["evaluate"]["state"] == "Completed"
    run_dir = Path(result["run_dir"].removeprefix("file://"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    p = inputs["params"]
    local = chain.evaluate(inputs["panel"], p.features, p.backtest, p.train)
    assert metrics["backtest"] == json.loads(json.dumps(local.metrics["backtest"]))
    left = [
        " ".join(c.cmdline())
        for c in psutil.Process().children(recursive=True)
        if c.pid not in before and "resource_tracker" not in " ".join(c.cmdline())
    ]  # multiprocessing's resource tracker lives as long as this process, by design
    assert not left, f"cluster processes left running: {left}"
    # the second run re-scores the champion (the first run) on the cluster, from the cache
    again = sales_forecast(overrides=overrides)
    assert again["steps"]["evaluate-champion"]["state"] == "Completed"
    manifest = json.loads(
        (Path(again["run_dir"].removeprefix("file://")) / "manifest.json").read_text()
    )
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[manifest["flow_run_id"]]))
        )
    windows = [r.state.name for r in runs if r.name.startswith("backtest-window") and r.state]
    assert windows
    assert set(windows) == {"Cached"}, windows
