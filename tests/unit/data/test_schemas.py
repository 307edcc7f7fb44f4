"""Unit tests for tasks.data.schemas: each boundary model and the all-failures error report."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pandera.polars as pa
import polars as pl
import pytest

from tasks.data import schemas
from tasks.data.schemas import (
    CleanDaily,
    DataValidationError,
    Features,
    Forecasts,
    Panel,
    Quarantine,
    RawSales,
    validate,
)

D = dt.date
KEYS = ["region", "product_type"]


def _daily(**over: list[Any]) -> pl.DataFrame:
    base: dict[str, list[Any]] = {
        "region": ["north", "north", "south"],
        "product_type": ["toys", "toys", "toys"],
        "date": [D(2024, 1, 1), D(2024, 1, 2), D(2024, 1, 1)],
        "revenue": [1.0, 2.0, 3.0],
        "units": [1, None, 3],
        "promo": [0.0, 0.5, 1.0],
        "n_rows": [1, 2, 3],
    }
    return pl.DataFrame({**base, **over}, schema_overrides={"units": pl.Int64})


def _panel(**over: list[Any]) -> pl.DataFrame:
    return _daily(**over).with_columns(
        pl.col("n_rows") - 1, pl.Series("is_filled", [False, True, False])
    )


def _raw() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "date": [D(2024, 1, 1), None],
            "date_raw": ["2024-01-01", "bad"],
            "region": ["north", None],
            "product_type": ["toys", "toys"],
            "revenue": [1.0, None],
            "store_id": ["S1", None],
            "units": [1, None],
            "unit_price": [1.0, None],
            "promo": [True, None],
            "source_file": ["a/date=2024-01-01/p.csv", "b.csv"],
            "arrival_date": [D(2024, 1, 1), None],
        },
        schema_overrides={"units": pl.Int64, "promo": pl.Boolean},
    )


def _failure(stage: str, source: str, frame: pl.DataFrame, model: Any, **kw: Any) -> str:
    with pytest.raises(DataValidationError) as info:
        validate(frame, model, stage=stage, source=source, **kw)
    err = info.value
    assert (err.stage, err.source) == (stage, source)
    msg = str(err)
    assert msg.startswith(f"{stage}: {err.total} schema violation(s) in {source} ")
    assert f"({err.summary.height} distinct check(s) failed)" in msg
    assert err.total == int(err.summary["count"].sum())
    return msg


def _has(msg: str, column: str, check: str, count: int, *examples: str) -> None:
    pattern = rf"column '{re.escape(column)}' check [\"']{re.escape(check)}[\"']: {count} failure"
    assert re.search(pattern, msg), f"no {column}/{check}/{count} line in:\n{msg}"
    line = next(ln for ln in msg.splitlines() if f"'{column}'" in ln and check in ln)
    for example in examples:
        assert example in line, (example, line)


@pytest.mark.parametrize(
    ("model", "frame", "kw"),
    [
        (RawSales, _raw(), {"unique_on_keys": False}),
        (CleanDaily, _daily(), {"keys": KEYS}),
        (Panel, _panel(), {"keys": KEYS}),
        (Quarantine, pl.DataFrame({"reason": ["duplicate"], "source_file": ["a.csv"]}), {}),
        (Forecasts, _daily().select(*KEYS, "date", forecast=pl.col("revenue")), {"keys": KEYS}),
        (Features, _daily().with_columns(lag_1=pl.lit(None, pl.Float64)), {"keys": KEYS}),
    ],
    ids=["raw", "clean", "panel", "quarantine", "forecasts", "features"],
)
def test_good_frames_pass_and_come_back_unchanged(
    model: Any, frame: pl.DataFrame, kw: dict[str, Any]
) -> None:
    assert validate(frame, model, stage="s", source="src", **kw) is frame


def test_clean_daily_reports_every_failure_with_counts_and_examples() -> None:
    bad = _daily(
        region=["north", "north", None],
        date=[D(2024, 1, 1), D(2024, 1, 1), None],
        revenue=[-1.0, 2.0, -4.5],
        promo=[0.0, 1.5, 0.0],
        n_rows=[1, 0, 1],
    )
    msg = _failure("clean", "s3://bucket/raw/", bad, CleanDaily, keys=KEYS)
    _has(msg, "revenue", "greater_than_or_equal_to(0)", 2, "-1.0", "-4.5")
    _has(msg, "promo", "less_than_or_equal_to(1)", 1, "1.5")
    _has(msg, "n_rows", "greater_than_or_equal_to(1)", 1, "0")
    _has(msg, "date", "not_nullable", 1, "null")
    _has(msg, "region", "not_nullable", 1)
    _has(msg, "<frame>", "multiple_fields_uniqueness", 2)


def test_missing_columns_and_wrong_types_are_reported_with_data_failures() -> None:
    bad = (
        _daily(revenue=[-1.0, 1.0, 1.0])
        .drop("promo")
        .with_columns(pl.col("units").cast(pl.Float64))
    )
    msg = _failure("clean", "data/raw", bad, CleanDaily, keys=KEYS)
    _has(msg, "<frame>", "column_in_dataframe", 1, "promo")
    _has(msg, "units", "dtype('Int64')", 1, "Float64")
    _has(msg, "revenue", "greater_than_or_equal_to(0)", 1, "-1.0")


def test_missing_key_column_is_reported() -> None:
    msg = _failure("clean", "x", _daily().drop("product_type"), CleanDaily, keys=KEYS)
    _has(msg, "<frame>", "column_in_dataframe", 1, "product_type")


def test_raw_sales_checks_types_and_source_file() -> None:
    bad = _raw().with_columns(
        pl.col("date").cast(pl.String), pl.Series("source_file", ["a.csv", None])
    )
    msg = _failure("ingest", "data/raw", bad.drop("date_raw"), RawSales, unique_on_keys=False)
    _has(msg, "date", "dtype('Date')", 1, "String")
    _has(msg, "source_file", "not_nullable", 1)
    _has(msg, "<frame>", "column_in_dataframe", 1, "date_raw")


def test_panel_rejects_negative_revenue_and_missing_flag() -> None:
    bad = _panel(revenue=[-2.0, 0.0, 1.0], n_rows=[1, 0, 6]).drop("is_filled")  # n_rows - 1
    msg = _failure("aggregate", "clean daily sales", bad, Panel, keys=KEYS)
    _has(msg, "revenue", "greater_than_or_equal_to(0)", 1, "-2.0")
    _has(msg, "n_rows", "greater_than_or_equal_to(0)", 1, "-1")
    _has(msg, "<frame>", "column_in_dataframe", 1, "is_filled")


def test_panel_allows_null_revenue_for_filled_periods() -> None:
    frame = _panel(revenue=[1.0, None, 2.0])
    assert validate(frame, Panel, stage="aggregate", source="x", keys=KEYS) is frame


def test_quarantine_rejects_unknown_and_null_reasons() -> None:
    bad = pl.DataFrame({"reason": ["duplicate", "typo", None, "typo"], "source_file": ["a"] * 4})
    msg = _failure("clean", "data/raw", bad, Quarantine, unique_on_keys=False)
    assert "isin(" in msg
    _has(msg, "reason", "not_nullable", 1)
    line = next(ln for ln in msg.splitlines() if "isin(" in ln)
    assert "2 failure(s), e.g. typo" in line  # examples are distinct values


def test_forecasts_reject_negative_and_missing_values() -> None:
    bad = pl.DataFrame(
        {"region": ["n", "n"], "date": [D(2024, 1, 1), None], "forecast": [-1.0, None]}
    )
    msg = _failure("forecast", "model", bad, Forecasts, keys=["region"])
    _has(msg, "forecast", "greater_than_or_equal_to(0)", 1, "-1.0")
    _has(msg, "forecast", "not_nullable", 1)
    _has(msg, "date", "not_nullable", 1)


def test_features_reject_infinite_lags_but_allow_nulls() -> None:
    ok = _daily().with_columns(lag_1=pl.Series([None, 1.0, 2.0]), roll_mean_7=pl.lit(0.5))
    validate(ok, Features, stage="features", source="panel", keys=KEYS)
    bad = ok.with_columns(roll_mean_7=pl.Series([0.5, float("inf"), float("-inf")]))
    msg = _failure("features", "panel", bad, Features, keys=KEYS)
    _has(msg, "<frame>", "numeric_features_are_finite", 2)


def test_examples_are_capped() -> None:
    bad = _daily(revenue=[-1.0, -2.0, -3.0]).vstack(
        _daily(revenue=[-4.0, -5.0, -6.0]).with_columns(pl.lit("east").alias("region"))
    )
    msg = _failure("clean", "x", bad, CleanDaily, keys=KEYS)
    line = next(ln for ln in msg.splitlines() if "'revenue'" in ln)
    assert "6 failure(s)" in line
    assert line.split("e.g. ")[1].count(",") == schemas.MAX_EXAMPLES - 1


def test_uniqueness_follows_the_keys_of_each_call() -> None:
    """The schema is rebuilt per call: keys from one call never leak into the next."""
    frame = _daily(product_type=["toys", "games", "toys"], date=[D(2024, 1, 1)] * 3)
    validate(frame, CleanDaily, stage="clean", source="x", keys=KEYS)
    with pytest.raises(DataValidationError, match="multiple_fields_uniqueness"):
        validate(frame, CleanDaily, stage="clean", source="x", keys=["region"])
    validate(frame, CleanDaily, stage="clean", source="x", keys=KEYS)
    validate(frame, CleanDaily, stage="clean", source="x", keys=["region"], unique_on_keys=False)


def test_schema_for_adds_string_key_columns() -> None:
    schema = schemas.schema_for(CleanDaily, ["store_id"])
    assert schema.columns["store_id"].dtype == pa.Column(pl.String).dtype
    assert not schema.columns["store_id"].nullable
    assert list(schema.unique or []) == ["store_id", "date"]
    assert schemas.schema_for(CleanDaily, []).unique is None
    numeric_key = _daily().with_columns(pl.col("region").cast(pl.Categorical))
    with pytest.raises(DataValidationError, match="'region' check \"dtype"):
        validate(numeric_key, CleanDaily, stage="clean", source="x", keys=KEYS)


def test_every_boundary_has_a_schema_version() -> None:
    assert set(schemas.SCHEMA_VERSIONS) == {
        "raw",
        "clean",
        "panel",
        "features",
        "forecasts",
        "quarantine",
    }
