"""This pipeline's chain (:mod:`tasks.chain`), called directly (no Prefect), as its tasks do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks.measure import Recorder
from flows import config as conf
from flows import plan
from tasks import chain

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


def params(overrides: list[str]) -> chain.ChainParams:
    """The chain's parameters for the default config with the benchmark's overrides."""
    return plan.chain_params(config(overrides))


def prepare(p: chain.ChainParams, rec: Recorder) -> Prepared:
    """ingest → clean → panel → features, each stage timed (schemas checked, as in the flow)."""
    with rec.stage("ingest"):
        source = chain.ingest(p.source)
    with rec.stage("clean"):
        cleaned = chain.clean(source, p.clean)
    with rec.stage("panel"):
        panel = chain.aggregate(cleaned.daily, p.panel).panel
    with rec.stage("features"):
        frame = chain.features(panel, p.features)
    return Prepared(daily=cleaned.daily, panel=panel, features=frame, counts=cleaned.counts)


def run(overrides: list[str], rec: Recorder, save_dir: str | None, with_evaluate: bool) -> None:
    """The whole direct case: prepare, train, forecast (and the backtest when asked)."""
    p = params(overrides)
    prepared = prepare(p, rec)
    with rec.stage("train"):
        model = chain.train_lightgbm(prepared.features, p.features, p.train)
    with rec.stage("forecast"):
        out = chain.forecast_lightgbm(model, prepared.panel, p.features, p.forecast)
    if with_evaluate:
        with rec.stage("evaluate"):
            chain.evaluate(prepared.panel, p.features, p.backtest, p.train)
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
