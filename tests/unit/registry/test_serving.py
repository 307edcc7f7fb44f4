"""Unit tests for tasks.registry.serving: dated copy, latest and its pointer, latest moves on."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl

from tasks.registry import serving

DAY = dt.date(2026, 11, 24)


def forecasts(value: float) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "region": ["north", "north"],
            "product_type": ["toys", "toys"],
            "date": [dt.date(2026, 11, 25), dt.date(2026, 11, 26)],
            "forecast": [value, value + 1],
        }
    )


def test_serving_writes_a_dated_copy_then_latest_and_the_pointer(tmp_path: Path) -> None:
    pointer = serving.write_serving(
        str(tmp_path), "m", forecasts(1.0), model_version="v1", role="champion",
        run_id="20261124T000000Z-a", as_of=DAY,
    )  # fmt: skip
    root = tmp_path / "serving" / "m"
    assert pointer["latest"] is True
    assert json.loads((root / "latest.json").read_text())["model_version"] == "v1"
    dated = pl.read_parquet(root / "2026-11-24" / "20261124T000000Z-a.parquet")
    assert dated.equals(pl.read_parquet(root / "latest.parquet"))
    assert dated.columns == [
        "region", "product_type", "date", "forecast", "model_version", "model_role",
    ]  # fmt: skip
    assert set(dated["model_role"]) == {"champion"}
    assert serving.read_pointer(str(tmp_path), "m") == {
        k: v for k, v in pointer.items() if k != "latest"
    }


def test_an_older_run_finishing_late_does_not_move_latest_back(tmp_path: Path) -> None:
    new, old = "20261124T120000Z-b", "20261124T060000Z-a"
    serving.write_serving(
        str(tmp_path), "m", forecasts(5.0), model_version="v2", role="champion", run_id=new,
        as_of=DAY,
    )  # fmt: skip
    late = serving.write_serving(
        str(tmp_path), "m", forecasts(1.0), model_version="v1", role="champion", run_id=old,
        as_of=DAY,
    )  # fmt: skip
    assert late["latest"] is False
    assert late["latest_run_id"] == new
    root = tmp_path / "serving" / "m"
    assert json.loads((root / "latest.json").read_text())["run_id"] == new
    assert pl.read_parquet(root / "latest.parquet")["forecast"].to_list() == [5.0, 6.0]
    assert (root / "2026-11-24" / f"{old}.parquet").is_file()  # its dated copy is kept


def test_no_pointer_before_anything_was_served(tmp_path: Path) -> None:
    assert serving.read_pointer(str(tmp_path), "m") is None
