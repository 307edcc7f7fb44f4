"""The "after" notebook explores a finished run: a real flow run, then the notebook on it."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from tests.support import SMALL
from tests.support.notebooks import AFTER, execute

# A real flow run (about a minute on 2 cores) before the notebook: slow.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]


def test_after_notebook_reads_a_finished_run_and_the_registry(tmp_path: Path) -> None:
    from flows.sales_forecast import sales_forecast

    out = tmp_path / "out"
    result = sales_forecast(
        overrides=[*SMALL, f"data.input_path={tmp_path / 'data'}", f"data.output_path={out}"]
    )
    workdir = tmp_path / "notebook"
    workdir.mkdir()
    nb = execute(AFTER, workdir, {"OUTPUT_PATH": str(out)})
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [o for c in code for o in c.outputs if o.output_type == "error"] == []
    printed = "".join(
        o.get("text", "") for c in code for o in c.outputs if o.output_type == "stream"
    )
    run_dir = Path(result["run_dir"].removeprefix("file://"))
    assert str(run_dir) in printed  # the latest complete run is the one just made
    assert result["model_version"] in printed  # the registry table lists its version
    shown = "".join(str(o.get("data", {}).get("text/plain", "")) for c in code for o in c.outputs)
    for table_entry in ("Completed", "seasonal_naive", "moving_average", "lag_7"):
        assert table_entry in shown  # step states, the backtest table, feature importance
    manifest = json.loads((run_dir / "manifest.json").read_text())
    reasons = {q["reason"] for q in pl.read_parquet(run_dir / "quarantine.parquet").to_dicts()}
    assert manifest["row_counts"]["clean"]["rows_quarantined"] > 0
    assert all(reason in shown for reason in reasons)  # the quarantine by reason
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1
