"""The pipeline's chain (:mod:`tasks.chain`) on the default config, without Prefect (no
server, no cache): ingest → clean → aggregate → features → train → forecast, exactly as
the flow's tasks run it (the backtest chooses the combination). What the model tests run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from flows import config as conf
from flows import plan
from tasks import chain
from tasks.chain import ChainParams
from tasks.model.ensemble import Ensemble
from tasks.model.features import FeatureSpec


@dataclass(frozen=True)
class PipelineRun:
    """What one pass of the chain produced, with the config and parameters it ran on."""

    cfg: conf.AppConfig
    params: ChainParams
    panel: pl.DataFrame
    spec: FeatureSpec
    model: Ensemble
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


def run_pipeline(input_path: str | Path, overrides: list[str] | None = None) -> PipelineRun:
    """One full pass of the chain, ingest → forecast, with the default config."""
    cfg = app_config(input_path, overrides)
    params = plan.chain_params(cfg)
    run = chain.run(params)
    return PipelineRun(cfg, params, run.panel.panel, params.features, run.model, run.forecasts)
