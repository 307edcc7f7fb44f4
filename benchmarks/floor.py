"""The floor: the least work that gets from the raw files to the same numbers.

* scan → panel: one Polars lazy query (scan, filter by the same rules, drop exact copies,
  group by series and day), collected with the streaming engine; nothing else.
* train: ``lightgbm.Dataset`` + ``lightgbm.train`` on the very matrix, label, parameters
  and rounds that ``tasks.model.train.train_model`` builds (the matrix is built before the clock
  starts), alternated in this process with ``train_model`` itself (:func:`paired_train`).
"""

# ruff: noqa: PLC0415  (imports inside functions: a case process loads only what it measures)

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import lightgbm as lgb
import polars as pl

from benchmarks.measure import Recorder
from benchmarks.params import BenchParams

TRAIN_PAIRS = 5
IDENTITY = ["date", "region", "product_type", "revenue", "store_id", "units", "unit_price", "promo"]


def daily_query(p: BenchParams) -> pl.LazyFrame:
    """scan → filter → unique → group_by(series, day), as one lazy plan."""
    keys = p.series_keys
    pattern = os.path.join(p.input_path, "**", "*.parquet")
    lf = pl.scan_parquet(pattern, hive_partitioning=False, include_file_paths="path")
    arrival = pl.col("path").str.extract(r"date=(\d{4}-\d{2}-\d{2})", 1).str.to_date()
    revenue = pl.col("revenue")
    if p.repair_revenue:
        revenue = pl.coalesce(revenue, (pl.col("units") * pl.col("unit_price")).round(2))
    folded = [  # category spellings in normal form, as clean does
        pl.col(c).str.strip_chars().str.replace_all(r"\s+", " ").str.to_lowercase()
        for c in dict.fromkeys([*keys, *p.allowed_categories])
    ]
    allowed = {
        c: sorted({" ".join(v.split()).lower() for v in vs})
        for c, vs in p.allowed_categories.items()
    }
    rules = [
        pl.col("date").is_not_null(),
        arrival.is_null() | (pl.col("date") <= arrival),
        *[pl.col(k).is_not_null() & (pl.col(k).str.strip_chars() != "") for k in keys],
        *[pl.col(c).is_in(v) for c, v in sorted(allowed.items()) if v],
        pl.col("revenue_clean").is_not_null() & pl.col("revenue_clean").is_not_nan(),
        pl.col("revenue_clean") >= max(0.0, p.min_revenue),
    ]
    return (
        lf.with_columns(*folded, revenue.alias("revenue_clean"))
        .filter(*rules)
        .unique(subset=IDENTITY, keep="any")
        .group_by([*keys, "date"])
        .agg(
            pl.col("revenue_clean").sum().alias("revenue"),
            pl.when(pl.col("units").count() > 0).then(pl.col("units").sum()).alias("units"),
            pl.col("promo").fill_null(False).cast(pl.Float64).mean().alias("promo"),
            pl.len().cast(pl.Int64).alias("n_rows"),
        )
    )


def scan_to_daily(p: BenchParams) -> pl.DataFrame:
    """The floor query, collected with the streaming engine."""
    return daily_query(p).collect(engine="streaming")


def bare_train(features: pl.DataFrame, p: BenchParams) -> float:
    """Seconds of ``lgb.Dataset`` + ``lgb.train`` alone on the pipeline's own matrix."""
    from tasks.model import train
    from tasks.model.features import SCALE, TARGET

    rows = train.training_rows(features, p.normalize)
    categories = train.category_levels(rows, p.categorical_columns)
    matrix = train.to_matrix(rows, p.feature_names, categories, p.normalize)
    label = rows[TARGET].cast(pl.Float64)
    if p.normalize:
        label = label / rows[SCALE]
    params = {"monotone_constraints": train.monotone_constraints(p.feature_names)}
    params = train.lgb_params({**params, **p.hyperparameters}, p.seed)
    label_np = label.to_numpy()
    start = time.perf_counter()
    dataset = lgb.Dataset(
        matrix,
        label=label_np,
        feature_name=p.feature_names,
        categorical_feature=[n for n in p.feature_names if n in categories],
        free_raw_data=True,
    )
    lgb.train(params, dataset, num_boost_round=p.num_boost_round)
    return time.perf_counter() - start


def ours_train(features: pl.DataFrame, p: BenchParams) -> float:
    """Seconds of ``tasks.chain.train_lightgbm`` on the same features (as the ``ours`` case)."""
    from benchmarks import ours
    from tasks import chain

    params = ours.params(p.overrides)
    start = time.perf_counter()
    chain.train_lightgbm(features, params.features, params.train)
    return time.perf_counter() - start


def paired_train(features: pl.DataFrame, p: BenchParams, rec: Recorder) -> None:
    """Bare training and ``train_model`` alternately, ``TRAIN_PAIRS`` times, in this process.

    LightGBM's time on a shared 2-core machine swings by integer factors with other load
    (its OpenMP threads spin at barriers), far more than the 1.1x the comparison is about;
    alternating both in one process and taking the median of the pairs' ratios cancels it.
    """
    bare, mine = [], []
    for _ in range(TRAIN_PAIRS):
        bare.append(bare_train(features, p))
        mine.append(ours_train(features, p))
    rec.add("train", statistics.median(bare))
    rec.add("train_ours", statistics.median(mine))
    rec.info["train_pairs"] = {"bare": bare, "ours": mine}
    rec.info["train_ratio"] = statistics.median(m / b for m, b in zip(mine, bare, strict=True))


def run(p: BenchParams, rec: Recorder, work_dir: str) -> None:
    """The floor case: the scan → panel query, then bare training on saved features."""
    with rec.stage("scan_to_panel"):
        out = scan_to_daily(p)
    rec.info["daily_rows"] = out.height
    features = Path(work_dir) / "features.parquet"
    if features.exists():
        paired_train(pl.read_parquet(features), p, rec)
