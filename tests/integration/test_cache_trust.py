"""Planted task results under a Prefect test server: no code runs, no planted value is used.

A clean run fills the cache; then three records are replaced at the exact files the next
identical run reads (``<data.output_path>/cache/<the task run's cache key>``):

* ingest: a record naming Prefect's pickle serializer whose payload creates a marker file;
* train: the real record, truncated;
* forecast: a project-format record whose forecasts are doubled, signed with another key.

The next run must not create the marker, must warn once per record naming its file, must
recompute exactly those three steps (the rest stay Cached), must replace the three records
with valid ones and must publish the clean run's forecasts.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.support import SMALL
from tests.support.cache_records import (
    bundle_record,
    forged,
    pickle_record,
    record_content,
    record_value,
    storage_key,
)

STAGES = ["ingest", "clean", "aggregate", "features", "train", "evaluate", "forecast"]
PLANTED = ["ingest", "train", "forecast"]
COLUMNS = ["region", "product_type", "date", "forecast"]  # the rest names the version

pytestmark = pytest.mark.usefixtures("prefect_server")


def run_flow(data_dir: Path, out_dir: Path) -> dict[str, Any]:
    from flows.sales_forecast import sales_forecast

    overrides = [*SMALL, f"data.input_path={data_dir}", f"data.output_path={out_dir}"]
    return sales_forecast(overrides=overrides)


def run_dir(result: dict[str, Any]) -> Path:
    return Path(result["run_dir"].removeprefix("file://"))


def task_runs(result: dict[str, Any]) -> dict[str, Any]:
    """The task runs of a flow run as the server recorded them, by step name."""

    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, TaskRunFilter

    manifest = json.loads((run_dir(result) / "manifest.json").read_text())
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[manifest["flow_run_id"]])),
            task_run_filter=TaskRunFilter(),
        )
    return {r.name.rsplit("-", 1)[0]: r for r in runs}


def forecasts(result: dict[str, Any]) -> pl.DataFrame:
    return pl.read_parquet(run_dir(result) / "forecasts.parquet").select(COLUMNS)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cache-trust")
    return {"data": root / "data", "out": root / "out", "marker": root / "marker"}


@pytest.fixture(scope="module")
def clean_run(workspace: dict[str, Path]) -> dict[str, Any]:
    return run_flow(workspace["data"], workspace["out"])


@pytest.fixture(scope="module")
def attacked(
    clean_run: dict[str, Any], workspace: dict[str, Path]
) -> tuple[dict[str, Any], dict[str, Path], dict[str, bytes], list[str]]:
    """The rerun after planting; its result, the planted files and bytes, and its warnings."""
    keys = {step: storage_key(run) for step, run in task_runs(clean_run).items()}
    files = {step: workspace["out"] / "cache" / keys[step] for step in PLANTED}
    assert all(path.is_file() for path in files.values()), files
    real = record_value(record_content(files["forecast"].read_bytes()))
    doubled = real.with_columns(pl.col("forecast") * 2)
    planted = {
        "ingest": pickle_record(workspace["marker"], keys["ingest"]),
        "train": files["train"].read_bytes()[: files["train"].stat().st_size // 2],
        "forecast": forged(bundle_record(doubled, keys["forecast"]), keys["forecast"]),
    }
    for step, blob in planted.items():
        files[step].write_bytes(blob)

    handler = _Collect()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        result = run_flow(workspace["data"], workspace["out"])
    finally:
        root.removeHandler(handler)
    return result, files, planted, handler.warnings


class _Collect(logging.Handler):
    """Every warning logged anywhere in this process during the rerun."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.warnings: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.warnings.append(record.getMessage())


def test_no_planted_code_runs(attacked: Any, workspace: dict[str, Path]) -> None:
    assert not workspace["marker"].exists()


def test_each_planted_record_is_named_in_a_warning_with_the_reason(attacked: Any) -> None:
    _, files, _, warnings = attacked
    reasons = {
        "ingest": "no signature header",
        "train": "truncated",
        "forecast": "signature does not match",
    }
    for step, why in reasons.items():
        named = [w for w in warnings if str(files[step]) in w]
        assert len(named) == 1, (step, warnings)
        assert why in named[0]
        assert "not deserialized" in named[0]


def test_exactly_the_planted_steps_are_recomputed(attacked: Any) -> None:
    result = attacked[0]
    runs = task_runs(result)
    states = {step: runs[step].state.name for step in STAGES}
    expected = {s: "Completed" if s in PLANTED else "Cached" for s in STAGES}
    assert states == expected
    assert all(runs[step].run_count == 1 for step in STAGES)  # a miss, not a failed attempt


def test_the_run_publishes_the_clean_runs_forecasts(
    attacked: Any, clean_run: dict[str, Any]
) -> None:
    assert forecasts(attacked[0]).equals(forecasts(clean_run))


def test_the_planted_records_are_replaced_by_valid_ones(attacked: Any) -> None:
    from tasks.caching.records import SignedLocalFileSystem, signing_key

    _, files, planted, _ = attacked
    folder = next(iter(files.values())).parent
    block = SignedLocalFileSystem(basepath=str(folder))
    block.use_key(signing_key(None, str(folder), shared=False)[0])
    for step, path in files.items():
        assert path.read_bytes() != planted[step], step
        block.read_path(path.name)  # verifies, or raises naming the file


def test_the_key_can_come_from_a_secret_block_that_is_never_copied(tmp_path: Path) -> None:
    from prefect import get_client
    from prefect.blocks.system import Secret

    from tasks.caching import result_storage
    from tasks.caching.records import signing_key

    value = "integration-test-cache-key-from-a-block-0000"
    Secret(value=value).save("cache-trust-test-key", overwrite=True)
    key, source = signing_key("cache-trust-test-key", "s3://any/cache", shared=True)
    assert key == value.encode()
    assert "cache-trust-test-key" in source
    result_storage(str(tmp_path / "cache"), key_block="cache-trust-test-key")
    with get_client(sync_client=True) as client:
        docs = client.read_block_documents(include_secrets=True)
    [doc] = [d for d in docs if d.data.get("basepath") == str(tmp_path / "cache")]
    assert doc.data["key_block"] == "cache-trust-test-key"
    assert value not in json.dumps(doc.data, default=str)
    with pytest.raises(ValueError, match=re.escape("output.cache_key_block='no-such-cache-key'")):
        signing_key("no-such-cache-key", "s3://any/cache", shared=True)
