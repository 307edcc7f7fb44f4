"""This pipeline's stage functions, called directly (no Prefect), as ``clean_task`` etc. do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks.measure import Recorder
from flows import config as conf
from tasks.data import aggregate, clean, ingest
from tasks.model import backtest as evaluate
from tasks.model import features, forecast, train
from tasks.monitoring import quality

PREP_STAGES = ("ingest", "clean", "panel", "features")
E2E_STAGES = (*PREP_STAGES, "train", "forecast")


@dataclass(frozen=True)
class Prepared:
    """What data preparation produced."""

    daily: pl.DataFrame
    panel: pl.DataFrame
    features: pl.DataFrame
    counts: dict[str, int]


def config(overrides: list[str]) -> conf.AppConfig:
    """The project's default config with the benchmark's overrides."""
    return conf.to_app_config(conf.compose_config(overrides))


def clean_daily(
    source: ingest.RawSource, params: clean.CleanParams
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Exactly as ``tasks.stages.clean_task`` collects it (less validation and logging)."""
    flagged = clean.flag_rows(ingest.scan(source), params)
    result, _ = clean.collect(
        flagged, params, source.extra_columns, [quality.null_counts_plan(flagged)]
    )
    return result.daily, result.counts


def prepare(cfg: conf.AppConfig, rec: Recorder) -> Prepared:
    """ingest → clean → panel → features, each stage timed."""
    keys = list(cfg.data.series_keys)
    with rec.stage("ingest"):
        source = ingest.discover(cfg.data.input_path, cfg.data.file_format, conf.extra_columns(cfg))
        ingest.scan(source)
    with rec.stage("clean"):
        daily, counts = clean_daily(source, conf.clean_params(cfg))
    with rec.stage("panel"):
        panel = aggregate.build_panel(
            daily,
            keys,
            cfg.data.frequency,
            cfg.preprocessing.missing_periods,
            cfg.preprocessing.drop_incomplete_periods,
        ).panel
    with rec.stage("features"):
        frame = features.build_features(panel, conf.feature_spec(cfg))
    return Prepared(daily=daily, panel=panel, features=frame, counts=counts)


def run(overrides: list[str], rec: Recorder, save_dir: str | None, with_evaluate: bool) -> None:
    """The whole direct case: prepare, train, forecast (and the backtest when asked)."""
    cfg = config(overrides)
    spec = conf.feature_spec(cfg)
    params = conf.hyperparameters(cfg)
    prepared = prepare(cfg, rec)
    with rec.stage("train"):
        model = train.train_model(
            prepared.features, spec, params, cfg.model.num_boost_round, cfg.random_seed
        )
    with rec.stage("forecast"):
        out = forecast.forecast_next(model, prepared.panel, spec, conf.horizon(cfg))
    if with_evaluate:
        with rec.stage("evaluate"):
            evaluate.backtest(
                prepared.panel,
                spec,
                conf.backtest_params(cfg),
                params,
                cfg.model.num_boost_round,
                cfg.random_seed,
            )
    rec.info.update(summary(prepared, out))
    if save_dir:
        save(Path(save_dir), prepared, out)


def summary(prepared: Prepared, out: pl.DataFrame) -> dict[str, Any]:
    """Row counts for the result JSON."""
    return {
        "rows_in": prepared.counts["rows_in"],
        "rows_kept": prepared.counts["rows_kept"],
        "panel_rows": prepared.panel.height,
        "feature_rows": prepared.features.height,
        "forecast_rows": out.height,
        "forecast_total": float(out["forecast"].sum()),
    }


def save(directory: Path, prepared: Prepared, out: pl.DataFrame) -> None:
    """Write the daily roll-up, panel, features and forecasts for the cases that start there."""
    directory.mkdir(parents=True, exist_ok=True)
    prepared.daily.write_parquet(directory / "daily.parquet")
    prepared.panel.write_parquet(directory / "panel.parquet")
    prepared.features.write_parquet(directory / "features.parquet")
    out.write_parquet(directory / "forecasts.parquet")
