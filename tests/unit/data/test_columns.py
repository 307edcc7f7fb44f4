"""Your own column names: ``data.columns.<contract column>=<your column>``, applied at ingest."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from flows import plan
from tasks.data import ingest
from tasks.data.ingest import RawSchemaError
from tasks.errors import ConfigError
from tests.support.pipeline import app_config

MAPPING = {
    "date": "order_date",
    "region": "area",
    "product_type": "category",
    "revenue": "amount",
    "units": "qty",
}
THEIRS = (
    "order_date,area,category,amount,qty,date\n"
    "2024-01-02,north,toys,7.5,3,not a date\n"
    "2024-01-03,south,games,2.0,1,\n"
)
OURS = "date,region,product_type,revenue,units\n2024-01-02,north,toys,7.5,3\n2024-01-03,south,games,2.0,1\n"


def _scan(folder: Path, columns: dict[str, str]) -> pl.DataFrame:
    source = ingest.discover(str(folder), "auto", [], columns=columns)
    return ingest.scan(source).drop(ingest.SOURCE_COLUMN).collect()


def test_mapped_columns_read_like_the_contracts_own(tmp_path: Path) -> None:
    (tmp_path / "theirs").mkdir()
    (tmp_path / "ours").mkdir()
    (tmp_path / "theirs" / "sales.csv").write_text(THEIRS)
    (tmp_path / "ours" / "sales.csv").write_text(OURS)
    mapped = _scan(tmp_path / "theirs", MAPPING)
    assert mapped.equals(_scan(tmp_path / "ours", {}))
    assert mapped["date"].to_list() == [dt.date(2024, 1, 2), dt.date(2024, 1, 3)]  # not `date`


def test_a_missing_mapped_column_names_the_column_and_the_key(tmp_path: Path) -> None:
    (tmp_path / "sales.csv").write_text(THEIRS)
    with pytest.raises(RawSchemaError) as info:
        ingest.discover(str(tmp_path), "auto", [], columns={**MAPPING, "revenue": "total"})
    msg = str(info.value)
    assert "no column 'total' for revenue (set data.columns.revenue)" in msg
    assert "'amount'" in msg  # what the file has
    with pytest.raises(RawSchemaError) as plain:
        ingest.discover(str(tmp_path), "auto", [])  # no mapping: every contract name missing
    assert "no column 'date' for date" not in str(plain.value)  # `date` is there (unmapped)
    assert "no column 'revenue' for revenue (set data.columns.revenue)" in str(plain.value)


def test_an_optional_column_mapped_to_nothing_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "sales.csv").write_text(THEIRS)
    with pytest.raises(RawSchemaError) as info:
        ingest.discover(str(tmp_path), "auto", [], columns={**MAPPING, "units": "quantity"})
    assert "data.columns.units=quantity: no file under" in str(info.value)


def test_the_config_maps_only_what_differs_and_refuses_one_column_twice() -> None:
    cfg = app_config("data", [f"data.columns.{k}={v}" for k, v in MAPPING.items()])
    assert plan.source_params(cfg).columns == MAPPING
    assert plan.source_params(app_config("data")).columns == {}
    with pytest.raises(ConfigError) as info:
        app_config("data", ["data.columns.revenue=amount", "data.columns.unit_price=amount"])
    assert "data.columns.revenue" in str(info.value)
    assert "data.columns.unit_price" in str(info.value)
