"""Frame builders: raw rows as ingest produces them, and clean daily rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

# The raw contract as ingest.scan produces it (tasks.data.schemas.RawSales).
RAW_SCHEMA: dict[str, pl.DataType] = {
    "date_raw": pl.String(),
    "date": pl.Date(),
    "region": pl.String(),
    "product_type": pl.String(),
    "revenue": pl.Float64(),
    "store_id": pl.String(),
    "units": pl.Int64(),
    "unit_price": pl.Float64(),
    "promo": pl.Boolean(),
    "source_file": pl.String(),
    "arrival_date": pl.Date(),
}
GOOD_RAW_ROW: dict[str, Any] = {
    "date_raw": "2024-01-01",
    "date": dt.date(2024, 1, 1),
    "region": "north",
    "product_type": "toys",
    "revenue": 10.0,
    "store_id": "S1",
    "units": 2,
    "unit_price": 5.0,
    "promo": False,
    "source_file": "raw/date=2024-01-01/part-0.parquet",
    "arrival_date": dt.date(2024, 1, 1),
}
DAILY_SCHEMA: dict[str, pl.DataType] = {
    "region": pl.String(),
    "product_type": pl.String(),
    "date": pl.Date(),
    "revenue": pl.Float64(),
    "units": pl.Int64(),
    "promo": pl.Float64(),
    "n_rows": pl.Int64(),
}


def raw_frame(*overrides: dict[str, Any]) -> pl.LazyFrame:
    """A raw ``LazyFrame``: each argument overrides fields of one good row.

    A ``date`` override without ``date_raw`` also sets ``date_raw`` to its ISO text.
    """
    rows = []
    for over in overrides:
        row = {**GOOD_RAW_ROW, **over}
        if "date" in over and "date_raw" not in over and over["date"] is not None:
            row["date_raw"] = over["date"].isoformat()
        rows.append(row)
    return pl.DataFrame(rows, schema=RAW_SCHEMA).lazy()


def daily_frame(*rows: tuple[Any, ...]) -> pl.DataFrame:
    """A clean daily frame from ``(region, product_type, date, revenue)`` tuples.

    ``units`` is ``round(revenue)``, ``promo`` 0.0 and ``n_rows`` 1 unless a 5th item
    (a dict of overrides) says otherwise.
    """
    records = []
    for region, product, day, revenue, *rest in rows:
        record = {
            "region": region,
            "product_type": product,
            "date": day,
            "revenue": revenue,
            "units": round(revenue),
            "promo": 0.0,
            "n_rows": 1,
        }
        records.append({**record, **(rest[0] if rest else {})})
    return pl.DataFrame(records, schema=DAILY_SCHEMA)
