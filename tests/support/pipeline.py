"""The pipeline's pure chain on the default config: ingest → clean → aggregate → features →
train → forecast, without Prefect (no server, no cache): what the model tests run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from flows import config as conf
from tasks.data import aggregate, clean, ingest
from tasks.model import features, forecast, train


@dataclass(frozen=True)
class PipelineRun:
    """What one pass of the pure chain produced."""

    cfg: conf.AppConfig
    panel: pl.DataFrame
    spec: features.FeatureSpec
    model: train.TrainedModel
    forecasts: pl.DataFrame


# One LightGBM thread: on a busy 2-core machine OpenMP's spinning threads make a 2-thread
# fit take 10-80 s instead of 0.7 s. With ``deterministic`` and ``force_row_wise`` (always
# set by tasks.model.train) the trees are the same for 1 and 2 threads (checked 2026-11).
TEST_OVERRIDES = ["model.hyperparameters.num_threads=1"]


def app_config(input_path: str | Path, overrides: list[str] | None = None) -> conf.AppConfig:
    """The default config (``conf/``) reading raw files from ``input_path``."""
    composed = conf.compose_config(
        [f"data.input_path={input_path}", *TEST_OVERRIDES, *(overrides or [])]
    )
    return conf.to_app_config(composed)


def build_panel(cfg: conf.AppConfig) -> pl.DataFrame:
    """Ingest, clean (counts reconciled) and aggregate, as the flow's tasks do."""
    source = ingest.discover(cfg.data.input_path, cfg.data.file_format, conf.extra_columns(cfg))
    params = conf.clean_params(cfg)
    flagged = clean.flag_rows(ingest.scan(source), params)
    daily, quarantine, counts = pl.collect_all(
        [
            clean.rollup_daily(flagged, params.series_keys),
            clean.quarantine_rows(flagged, source.extra_columns),
            clean.row_counts(flagged),
        ]
    )
    clean.reconcile(counts.row(0, named=True), quarantine, daily)
    return aggregate.build_panel(
        daily,
        params.series_keys,
        cfg.data.frequency,
        cfg.preprocessing.missing_periods,
        cfg.preprocessing.drop_incomplete_periods,
    ).panel


def run_pipeline(input_path: str | Path, promo_plan: pl.DataFrame | None = None) -> PipelineRun:
    """One full pass, ingest → forecast, with the default config."""
    cfg = app_config(input_path)
    panel = build_panel(cfg)
    spec = conf.feature_spec(cfg)
    model = train.train_model(
        features.build_features(panel, spec),
        spec,
        conf.hyperparameters(cfg),
        cfg.model.num_boost_round,
        cfg.random_seed,
    )
    out = forecast.forecast_next(model, panel, spec, conf.horizon(cfg), promo_plan)
    return PipelineRun(cfg, panel, spec, model, out)
