"""The pipeline's chain, ingest → clean → aggregate → features → train → evaluate → forecast,
wired once (plain Python: no Prefect).

Each function is one stage exactly as the flow runs it: it calls the domain functions,
checks the result against its schema (:mod:`tasks.data.schemas`) and returns it. The
Prefect tasks in :mod:`tasks.stages` wrap these functions (cache, retries, logs); the model
tests (``tests/support/pipeline.py``) and the benchmarks (``benchmarks/ours.py``,
``benchmarks/accuracy/pipeline.py``) call them directly, so all three run the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from tasks import storage
from tasks.data import aggregate as aggregation
from tasks.data import clean as cleaning
from tasks.data import ingest as ingestion
from tasks.data.aggregate import PanelParams, PanelResult
from tasks.data.clean import CleanParams, CleanResult
from tasks.data.ingest import RawSource, SourceParams
from tasks.data.schemas import CleanDaily, Forecasts, Panel, Quarantine, validate
from tasks.data.schemas import Features as FeaturesSchema
from tasks.model import backtest as backtesting
from tasks.model import ensemble as ensembling
from tasks.model import features as featuring
from tasks.model import forecast as forecasting
from tasks.model import train as training
from tasks.model.backtest import BacktestParams, BacktestResult
from tasks.model.ensemble import Combination, Ensemble
from tasks.model.features import FeatureSpec
from tasks.model.forecast import ForecastParams
from tasks.model.train import TrainedModel, TrainParams
from tasks.monitoring.quality import null_counts_plan

Settings = storage.StorageSettings | None


@dataclass(frozen=True)
class ChainParams:
    """Every parameter of ingest → forecast (``flows.plan.chain_params`` builds it from the
    config)."""

    source: SourceParams
    clean: CleanParams
    panel: PanelParams
    features: FeatureSpec
    train: TrainParams
    backtest: BacktestParams
    forecast: ForecastParams


@dataclass(frozen=True)
class ChainRun:
    """What one pass of the chain produced."""

    source: RawSource
    cleaned: CleanResult
    panel: PanelResult
    features: pl.DataFrame
    backtest: BacktestResult
    model: Ensemble
    forecasts: pl.DataFrame


def ingest(params: SourceParams, settings: Settings = None) -> RawSource:
    """Find, fingerprint and check the raw files (columns and types); no rows are read."""
    source = ingestion.discover(
        params.input_path, params.file_format, params.extra_columns, settings, params.columns
    )
    ingestion.scan(source, settings)  # builds the plan and checks it against the schema
    return source


def clean(source: RawSource, params: CleanParams, settings: Settings = None) -> CleanResult:
    """Stream the raw rows once: quarantine bad rows with a reason, roll up the rest per day;
    counts reconciled, nulls per raw column counted on the way.

    A file whose rows cannot be decoded is named (:class:`tasks.data.ingest.UnreadableFilesError`).
    """
    with storage.io_errors(source.input_path):
        try:  # both passes read every row: a corrupt file shows here
            flagged = cleaning.flag_rows(ingestion.scan(source, settings), params)
            result, (nulls_frame,) = cleaning.collect(
                flagged, params, source.extra_columns, [null_counts_plan(flagged)]
            )
        except pl.exceptions.PolarsError as exc:
            if storage.storage_error(exc, source.input_path) is None:  # a corrupt file? name it
                bad = ingestion.unreadable_files(source, settings)
                ingestion.raise_unreadable(source.input_path, len(source.files), bad)
            raise
    where = source.input_path
    validate(result.daily, CleanDaily, stage="clean", source=where, keys=params.series_keys)
    validate(result.quarantine, Quarantine, stage="clean", source=where, unique_on_keys=False)
    nulls = {k: int(v) for k, v in nulls_frame.row(0, named=True).items() if not k.startswith("__")}
    return CleanResult(result.daily, result.quarantine, result.counts, null_counts=nulls)


def aggregate(daily: pl.DataFrame, params: PanelParams) -> PanelResult:
    """One row per (series, period): calendar completed, partial edge periods dropped."""
    result = aggregation.build_panel(
        daily, params.series_keys, params.frequency, params.missing_periods, params.drop_incomplete
    )
    keys = params.series_keys
    validate(result.panel, Panel, stage="aggregate", source="clean daily sales", keys=keys)
    return result


def features(panel: pl.DataFrame, spec: FeatureSpec) -> pl.DataFrame:
    """Lags, windows, calendar and categoricals for every panel row."""
    frame = featuring.build_features(panel, spec)
    validate(frame, FeaturesSchema, stage="features", source="panel", keys=spec.series_keys)
    return frame


def train(
    panel: pl.DataFrame,
    spec: FeatureSpec,
    params: TrainParams,
    backtest: BacktestParams,
    combination: Combination,
) -> Ensemble:
    """The served model: the LightGBM candidates refitted on the whole panel, combined as
    the backtest chose (``combination``)."""
    return ensembling.fit_ensemble(panel, spec, params, backtest.candidate_params, combination)


def train_lightgbm(frame: pl.DataFrame, spec: FeatureSpec, params: TrainParams) -> TrainedModel:
    """One LightGBM model on the feature frame: the core the scale benchmark times and
    compares with its pandas reference (the served model is :func:`train`)."""
    return training.train_model(frame, spec, params)


def forecast_lightgbm(
    model: TrainedModel, panel: pl.DataFrame, spec: FeatureSpec, params: ForecastParams
) -> pl.DataFrame:
    """The next ``horizon`` periods from one LightGBM model (see :func:`train_lightgbm`)."""
    return forecasting.forecast_next(model, panel, spec, params.horizon)


def evaluate(
    panel: pl.DataFrame, spec: FeatureSpec, params: BacktestParams, train: TrainParams
) -> BacktestResult:
    """Rolling-origin backtest of every candidate and of their combination, chosen on the
    earlier windows and scored on the later ones (the gate comes later)."""
    return backtesting.backtest(panel, spec, params, train)


def forecast(
    model: Ensemble,
    panel: pl.DataFrame,
    spec: FeatureSpec,
    params: ForecastParams,
    settings: Settings = None,
) -> pl.DataFrame:
    """The next ``horizon`` periods of every active series (with the promotion plan, if any):
    the point forecast, a column per quantile and the recipe."""
    plan = (
        ingestion.read_promo_plan(params.promo_plan_path, spec.series_keys, settings)
        if params.promo_plan_path
        else None
    )
    out = ensembling.forecast_future(model, panel, spec, params.horizon, plan)
    validate(out, Forecasts, stage="forecast", source="model", keys=spec.series_keys)
    return out


def prepare(params: ChainParams, settings: Settings = None) -> tuple[CleanResult, PanelResult]:
    """ingest → clean → aggregate: the clean result and the panel."""
    cleaned = clean(ingest(params.source, settings), params.clean, settings)
    return cleaned, aggregate(cleaned.daily, params.panel)


def run(params: ChainParams, settings: Settings = None) -> ChainRun:
    """One full pass, ingest → forecast, as the flow runs it (the backtest chooses the
    combination the final model uses)."""
    source = ingest(params.source, settings)
    cleaned = clean(source, params.clean, settings)
    panel = aggregate(cleaned.daily, params.panel)
    frame = features(panel.panel, params.features)
    scored = evaluate(panel.panel, params.features, params.backtest, params.train)
    model = train(panel.panel, params.features, params.train, params.backtest, scored.combination)
    out = forecast(model, panel.panel, params.features, params.forecast, settings)
    return ChainRun(source, cleaned, panel, frame, scored, model, out)
