"""The one place the accuracy harness touches the pipeline's code (``tasks``, ``flows``).

Everything the harness needs from the pipeline goes through these functions: the bundled
data preparation (aus_retail mapping, the synthetic generator → ingest → clean →
aggregate), the aggregate step for the other real data sets, and the "ours" method (the
pipeline's features → train → recursive forecast, as its backtest runs them). When the
pipeline's modules move, only the imports and calls here need re-pointing.

Harness panels use ``unique_id``, ``region``, ``product_type``, ``date``, ``y`` and
``promo``; the pipeline's use the series keys, ``date``, ``revenue`` and ``promo``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from flows import config as conf
from tasks.data import aggregate, clean, ingest
from tasks.data.sources import datasets, generate
from tasks.model import features, forecast, train
from tasks.monitoring import quality

KEYS = ["region", "product_type"]


@dataclass(frozen=True)
class OursSettings:
    """What the pipeline's model needs besides the data: frequency, holidays, promo, model."""

    frequency: str
    holiday_country: str | None
    use_promo: bool
    hyperparameters: dict[str, Any]
    num_boost_round: int
    seed: int
    normalize: bool = True


def default_model_settings() -> tuple[dict[str, Any], int, int]:
    """The project's default LightGBM parameters, rounds and seed (``conf/``)."""
    cfg = conf.to_app_config(conf.compose_config([]))
    return conf.hyperparameters(cfg), cfg.model.num_boost_round, cfg.random_seed


def to_harness(panel: pl.DataFrame) -> pl.DataFrame:
    """A pipeline panel (series keys, date, revenue, promo) in the harness's columns."""
    return panel.select(
        pl.concat_str(KEYS, separator="|").alias("unique_id"),
        *KEYS,
        "date",
        pl.col("revenue").cast(pl.Float64).alias("y"),
        pl.col("promo").cast(pl.Float64).fill_null(0.0).alias("promo"),
    ).sort("unique_id", "date")


def to_pipeline(frame: pl.DataFrame) -> pl.DataFrame:
    """Harness rows back in the pipeline's columns (``y`` → ``revenue``)."""
    cols = [*KEYS, "date", "promo"]
    if "y" in frame.columns:
        cols.append(pl.col("y").alias("revenue"))  # type: ignore[arg-type]
    return frame.select(cols)


def panel_from_periods(raw: pl.DataFrame, frequency: str, missing_periods: str) -> pl.DataFrame:
    """Period data in the raw contract (date = period start) through the pipeline's aggregate."""
    daily = raw.select(
        *KEYS,
        "date",
        pl.col("revenue").cast(pl.Float64),
        pl.lit(None, dtype=pl.Int64).alias("units"),
        pl.lit(0.0).alias("promo"),
        pl.lit(1, dtype=pl.UInt32).alias("n_rows"),
    )
    result = aggregate.build_panel(daily, KEYS, frequency, missing_periods, drop_incomplete=True)
    return to_harness(result.panel)


def aus_retail_panel() -> pl.DataFrame:
    """aus_retail as the pipeline prepares it (5 group totals dropped), monthly panel."""
    source, _ = datasets.read_aus_retail_source()
    return panel_from_periods(datasets.aus_retail_to_raw(source), "1mo", "null")


def synthetic_panel(data_dir: Path) -> pl.DataFrame:
    """The bundled synthetic data: generate (once) → ingest → clean → daily panel."""
    root = str(data_dir / "synthetic" / "seed-42")
    cfg = conf.to_app_config(conf.compose_config([f"data.input_path={root}"]))
    generate.ensure_dataset(conf.generator_spec(cfg), root)
    source = ingest.discover(root, cfg.data.file_format, conf.extra_columns(cfg))
    params = conf.clean_params(cfg)
    flagged = clean.flag_rows(ingest.scan(source), params)
    result, _ = clean.collect(
        flagged, params, source.extra_columns, [quality.null_counts_plan(flagged)]
    )
    panel = aggregate.build_panel(
        result.daily,
        KEYS,
        cfg.data.frequency,
        cfg.preprocessing.missing_periods,
        cfg.preprocessing.drop_incomplete_periods,
    ).panel
    return to_harness(panel)


def feature_spec(s: OursSettings) -> features.FeatureSpec:
    """The pipeline's feature spec for these settings (lags/windows: per-frequency defaults)."""
    return features.resolve_spec(
        frequency=s.frequency,
        series_keys=KEYS,
        lags=None,
        window_sizes=None,
        categorical_columns=KEYS,
        calendar=True,
        holiday_country=s.holiday_country,
        use_promo=s.use_promo,
        normalize=s.normalize,
    )


def ours_forecast(history: pl.DataFrame, future: pl.DataFrame, s: OursSettings) -> pl.DataFrame:
    """The pipeline's model today: features → train → recursive forecast of ``future`` rows.

    ``history`` and ``future`` are harness frames; returns unique_id, date, forecast.
    """
    spec = feature_spec(s)
    hist = to_pipeline(history).with_columns(pl.col("revenue").cast(pl.Float64))
    frame = features.build_features(hist, spec)
    model = train.train_model(frame, spec, s.hyperparameters, s.num_boost_round, s.seed)
    out = forecast.recursive_forecast(
        model, hist, to_pipeline(future.drop("y", strict=False)), spec
    )
    return out.select(pl.concat_str(KEYS, separator="|").alias("unique_id"), "date", "forecast")


SCALINGS = ("mean", "standard")
SHIFT = (
    10.0  # standardised targets are shifted by this many s.d. so the model's zero clip never binds
)


def scaled_lgbm_forecast(
    history: pl.DataFrame, future: pl.DataFrame, s: OursSettings, scaling: str
) -> pl.DataFrame:
    """The pipeline's LightGBM on a per-series scaled target, un-scaled afterwards.

    ``mean``: y / mean(y) per series (the pipeline's own objective, tweedie);
    ``standard``: (y − mean) / s.d. per series, L2 objective (a tree model is unchanged by
    the constant shift added so that scaled values stay positive). Statistics come from
    ``history`` only; the pipeline's rolling level normalisation is off (the series
    scaling replaces it). Returns unique_id, date, forecast.
    """
    if scaling not in SCALINGS:
        raise ValueError(f"scaling={scaling!r} is not one of {SCALINGS}")
    stats = history.group_by("unique_id").agg(
        pl.col("y").mean().alias("mu"), pl.col("y").std().alias("sd")
    )
    stats = stats.with_columns(
        pl.when(pl.col("mu").abs() > 0).then(pl.col("mu")).otherwise(1.0).alias("mu"),
        pl.when(pl.col("sd") > 0).then(pl.col("sd")).otherwise(1.0).alias("sd"),
    )
    if scaling == "mean":
        forward = pl.col("y") / pl.col("mu")
        back = pl.col("forecast") * pl.col("mu")
        hyper = s.hyperparameters
    else:
        forward = (pl.col("y") - pl.col("mu")) / pl.col("sd") + SHIFT
        back = (pl.col("forecast") - SHIFT) * pl.col("sd") + pl.col("mu")
        hyper = {**s.hyperparameters, "objective": "regression"}
    scaled = history.join(stats, on="unique_id").with_columns(forward.alias("y"))
    settings = OursSettings(
        frequency=s.frequency,
        holiday_country=s.holiday_country,
        use_promo=s.use_promo,
        hyperparameters=hyper,
        num_boost_round=s.num_boost_round,
        seed=s.seed,
        normalize=False,
    )
    out = ours_forecast(scaled.drop("mu", "sd"), future, settings)
    return (
        out.join(stats, on="unique_id", how="left")
        .with_columns(back.clip(lower_bound=0.0).alias("forecast"))
        .select("unique_id", "date", "forecast")
    )
