"""Data errors in the flow under a Prefect test server: named, counted, early, not retried."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import polars as pl
import pytest

from tasks.data.clean import NoCleanRowsError
from tasks.data.ingest import UnreadableFilesError
from tasks.model.backtest import ShortHistoryError
from tests.support import SMALL

pytestmark = pytest.mark.usefixtures("prefect_server")


def failed_run(*overrides: str) -> tuple[BaseException, dict[str, str]]:
    """Run the flow, expect it to fail; the exception and each task's state on the server."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, TaskRunFilter

    from flows.sales_forecast import sales_forecast

    state = sales_forecast(overrides=[*SMALL, *overrides], return_state=True)
    assert state.is_failed(), state
    exc = state.result(raise_on_failure=False)
    assert isinstance(exc, BaseException)
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
            ),
            task_run_filter=TaskRunFilter(),
        )
    states = {r.name.rsplit("-", 1)[0]: r.state.name for r in runs if r.state is not None}
    return exc, states


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from flows import config as conf
    from tasks.data.sources.generate import ensure_dataset

    root = tmp_path_factory.mktemp("flow-errors")
    ensure_dataset(
        conf.to_app_config(conf.compose_config(SMALL)).data.generator.to_spec(), str(root / "data")
    )
    return {"data": root / "data", "out": root / "out", "root": root}


def on(dirs: dict[str, Path]) -> list[str]:
    return [f"data.input_path={dirs['data']}", f"data.output_path={dirs['out']}"]


def test_all_quarantined_fails_with_counts_and_leaves_the_quarantine(
    dirs: dict[str, Path],
) -> None:
    exc, states = failed_run(*on(dirs), "preprocessing.min_revenue=1e12")
    assert isinstance(exc, NoCleanRowsError)
    counts = dict(
        item.rsplit(" ", 1) for item in str(exc).split("(", 1)[1].split(")", 1)[0].split(", ")
    )
    rows_in = int(str(exc).split("all ", 1)[1].split(" ", 1)[0])
    assert sum(int(n) for n in counts.values()) == rows_in
    assert "below_min_revenue" in counts
    assert "lower preprocessing.min_revenue" in str(exc)
    (run_dir,) = (dirs["out"] / "runs").glob("*/*/")
    assert pl.read_parquet(run_dir / "quarantine.parquet").height == rows_in
    assert not (run_dir / "manifest.json").exists()
    assert states["no-clean-rows"] == "Failed"
    assert "aggregate" not in states


def test_short_history_fails_before_training(dirs: dict[str, Path]) -> None:
    exc, states = failed_run(*on(dirs), "forecast.horizon=200")
    assert isinstance(exc, ShortHistoryError)
    assert "this run needs 429" in str(exc)  # 29 + 2 windows x 200
    assert "forecast.horizon" in str(exc)
    assert "aggregate" in states
    assert "train" not in states
    assert "quality" not in states


def _copy_of_data(dirs: dict[str, Path], name: str) -> Path:
    copy = dirs["root"] / name
    shutil.copytree(dirs["data"], copy)
    return copy


def test_a_zero_byte_file_among_many_is_named_by_ingest(dirs: dict[str, Path]) -> None:
    data = _copy_of_data(dirs, "zero-byte")
    empty = next(data.glob("date=*/part-0.parquet"))
    empty.write_bytes(b"")
    out = dirs["root"] / "out-zero-byte"
    exc, states = failed_run("data=local", f"data.input_path={data}", f"data.output_path={out}")
    assert isinstance(exc, UnreadableFilesError)
    assert f"{empty}: empty file (0 bytes)" in str(exc)
    assert "1 of " in str(exc)
    assert states["ingest"] == "Failed"


def test_a_corrupt_file_is_named_when_its_rows_are_read(dirs: dict[str, Path]) -> None:
    data = _copy_of_data(dirs, "corrupt")
    corrupt = sorted(data.glob("date=*/part-0.parquet"))[-1]
    pl.DataFrame(
        {"date": ["2024-01-01"] * 2000, "region": ["north"] * 2000, "product_type": ["toys"] * 2000}
        | {"revenue": [float(i) for i in range(2000)]}
    ).write_parquet(corrupt, compression="uncompressed")
    raw = bytearray(corrupt.read_bytes())
    raw[200:8000] = b"\xff" * 7800
    corrupt.write_bytes(bytes(raw))
    out = dirs["root"] / "out-corrupt"
    exc, states = failed_run("data=local", f"data.input_path={data}", f"data.output_path={out}")
    assert isinstance(exc, UnreadableFilesError)
    assert f"{corrupt}: ComputeError" in str(exc)
    assert states["ingest"] == "Completed"
    assert states["clean"] == "Failed"


@pytest.mark.parametrize(
    ("error", "attempts"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "/out/x"), 1),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/out/runs/x"), 1),
        (OSError(errno.EIO, "Input/output error"), 3),
    ],
    ids=["ENOSPC", "ENOTDIR", "EIO"],
)
def test_io_tasks_retry_only_transient_errors(error: OSError, attempts: int) -> None:
    from prefect import flow, task

    from tasks.stages import IO_RETRY

    calls: list[int] = []

    @task(**{**IO_RETRY, "retries": 2, "retry_delay_seconds": 0, "retry_jitter_factor": None})
    def write() -> None:
        calls.append(1)
        raise error

    @flow
    def run() -> bool:
        return bool(write(return_state=True).is_failed())

    assert run()
    assert len(calls) == attempts


@pytest.mark.parametrize(("retries", "attempts"), [(2, 3), (0, 1)], ids=["retries=2", "retries=0"])
def test_a_flows_io_tasks_retry_as_the_config_says(
    tmp_path: Path, retries: int, attempts: int
) -> None:
    """``output.task_retries`` reaches the task through the flow's step runner; 0: no retry."""
    from prefect import flow, task

    from flows import config as conf
    from flows import plan
    from flows.steps import Steps
    from tasks.stages import IO_RETRY

    cfg = conf.to_app_config(
        conf.compose_config([f"output.task_retries={retries}", "output.task_retry_delay_seconds=0"])
    )
    calls: list[int] = []

    @task(name="flaky-write", **IO_RETRY)
    def write() -> None:
        calls.append(1)
        raise OSError(errno.EIO, "Input/output error")

    @flow
    def run() -> None:
        steps = Steps(str(tmp_path / "cache"), refresh=True, retries=plan.retry_policy(cfg))
        steps.run(write)

    with pytest.raises(OSError, match="Input/output error"):
        run()
    assert len(calls) == attempts
