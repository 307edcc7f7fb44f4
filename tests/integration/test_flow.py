"""The sales-forecast flow under a Prefect test server: artifacts, and caching by content.

One flow run per scenario on a small generated data set; every task's final state is read
back from the server, so "Cached" here is what Prefect recorded, not what the flow claims.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.support import SMALL

# evaluate chooses how the candidates are combined; train refits them with that choice
STAGES = ["ingest", "clean", "aggregate", "features", "evaluate", "train", "forecast"]

pytestmark = pytest.mark.usefixtures("prefect_server")


def run_flow(data_dir: Path, out_dir: Path, *extra: str) -> dict[str, Any]:
    from flows.sales_forecast import sales_forecast

    overrides = [*SMALL, f"data.input_path={data_dir}", f"data.output_path={out_dir}", *extra]
    return sales_forecast(overrides=overrides)


def server_states(flow_run_id: str) -> dict[str, str]:
    """Final state name of each task run of a flow run, as the server recorded it."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, TaskRunFilter

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            task_run_filter=TaskRunFilter(),
        )
    return {r.name.rsplit("-", 1)[0]: r.state.name for r in runs if r.state is not None}


def stage_states(result: dict[str, Any]) -> dict[str, str]:
    run_dir = Path(result["run_dir"].removeprefix("file://"))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    states = server_states(manifest["flow_run_id"])
    assert {k: v["state"] for k, v in result["steps"].items()} == states
    return {s: states[s] for s in STAGES}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("flow")
    return {"data": root / "data", "out": root / "out"}


@pytest.fixture(scope="module")
def first_run(workspace: dict[str, Path]) -> dict[str, Any]:
    return run_flow(workspace["data"], workspace["out"])


def test_first_run_computes_every_stage_and_writes_the_run_directory(
    first_run: dict[str, Any],
) -> None:
    assert set(stage_states(first_run).values()) == {"Completed"}
    run_dir = Path(first_run["run_dir"].removeprefix("file://"))
    for name in [
        "config.yaml",
        "manifest.json",
        "metrics.json",
        "forecasts.parquet",
        "model.txt",
        "quarantine.parquet",
    ]:
        assert (run_dir / name).is_file(), name
    manifest = json.loads((run_dir / "manifest.json").read_text())
    counts = manifest["row_counts"]["clean"]
    assert counts["rows_in"] == counts["rows_kept"] + counts["rows_quarantined"]
    assert pl.read_parquet(run_dir / "quarantine.parquet").height == counts["rows_quarantined"]
    forecasts = pl.read_parquet(run_dir / "forecasts.parquet")
    assert forecasts.height == 6 * 14
    assert forecasts["forecast"].min() >= 0  # type: ignore[operator]


def test_first_run_writes_quantiles_candidates_and_the_named_baseline(
    first_run: dict[str, Any], workspace: dict[str, Path]
) -> None:
    run_dir = Path(first_run["run_dir"].removeprefix("file://"))
    forecasts = pl.read_parquet(run_dir / "forecasts.parquet")
    assert {"p10", "p50", "p90", "recipe"} <= set(forecasts.columns)
    assert forecasts.select("p10", "p50", "p90").null_count().sum_horizontal().item() == 0
    assert (forecasts["p10"] <= forecasts["p50"]).all()
    assert (forecasts["p50"] <= forecasts["p90"]).all()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    blocks = metrics["backtest"]
    assert {"model", "lightgbm", "lgbm_mean", "lgbm_standard", "naive", "seasonal_naive"} <= set(
        blocks
    )
    assert {"coverage_80", "pinball_p10", "pinball_p50", "pinball_p90"} <= set(blocks["model"])
    assert all("coverage_80" in row["model"] for row in metrics["per_horizon"])
    assert metrics["ensemble"]["final"]["recipe"] == forecasts["recipe"][0]
    baseline = metrics["gate"]["baseline"]
    anchors = ("naive", "seasonal_naive", "moving_average")
    assert baseline["name"] == min(anchors, key=lambda m: blocks[m]["wape"])
    assert baseline["name"].replace("_", " ") in metrics["gate"]["reasons"][0]
    if first_run["promoted"]:  # a production run whose gate passed serves its quantiles too
        served = pl.read_parquet(
            workspace["out"] / "serving" / "sales-forecast-synthetic" / "latest.parquet"
        )
        assert {"p10", "p50", "p90", "recipe"} <= set(served.columns)
    report = (run_dir / "report.html").read_text()
    assert baseline["name"].replace("_", " ") in report


def test_identical_second_run_takes_every_stage_from_the_cache(
    first_run: dict[str, Any], workspace: dict[str, Path]
) -> None:
    second = run_flow(workspace["data"], workspace["out"])
    assert stage_states(second) == dict.fromkeys(STAGES, "Cached")
    assert second["run_dir"] != first_run["run_dir"]
    a = pl.read_parquet(Path(first_run["run_dir"].removeprefix("file://")) / "forecasts.parquet")
    b = pl.read_parquet(Path(second["run_dir"].removeprefix("file://")) / "forecasts.parquet")
    columns = ["region", "product_type", "date", "forecast"]  # the rest names the version
    assert a.select(columns).equals(b.select(columns))


@pytest.mark.parametrize(
    ("override", "first_rerun"),
    [
        ("forecast.horizon=7", "evaluate"),
        ("model.hyperparameters.max_depth=4", "evaluate"),
        ("forecast.interval_spread_weight=2.0", "evaluate"),
        ("features.window_sizes=[3,14]", "features"),
        ("data.frequency=1w", "aggregate"),
        ("preprocessing.min_revenue=1.0", "clean"),
    ],
)
def test_changing_one_value_reruns_only_downstream_stages(
    first_run: dict[str, Any], workspace: dict[str, Path], override: str, first_rerun: str
) -> None:
    extra = [override]
    if override == "data.frequency=1w":
        extra += ["forecast.horizon=4", "features.lags=[1,2,4]", "features.window_sizes=[4]"]
    result = run_flow(workspace["data"], workspace["out"], *extra)
    states = stage_states(result)
    cut = STAGES.index(first_rerun)
    upstream = {s: states[s] for s in STAGES[:cut]}
    assert upstream == dict.fromkeys(STAGES[:cut], "Cached"), states
    assert states[first_rerun] == "Completed", states
    if first_rerun == "evaluate":
        assert states["train"] == "Completed"
        assert states["forecast"] == "Completed"


def test_a_changed_input_file_invalidates_ingest_and_clean(
    first_run: dict[str, Any], workspace: dict[str, Path]
) -> None:
    victim = sorted(workspace["data"].rglob("*.parquet"))[-1]
    frame = pl.read_parquet(victim)
    frame.with_columns(pl.col("revenue") * 2).write_parquet(victim)
    stat = victim.stat()
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    result = run_flow(workspace["data"], workspace["out"], "data.builtin=null")
    states = stage_states(result)
    assert states["ingest"] == "Completed"
    assert states["clean"] == "Completed"
