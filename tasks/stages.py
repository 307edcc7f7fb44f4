"""Prefect tasks: one per stage. Each runs its stage of :mod:`tasks.chain` (which checks
the boundary), logs counts through the run logger and returns a result the cache can
persist. Tasks take keyword arguments only.

Caching is by content (:mod:`tasks.caching`); I/O tasks retry transient errors with
exponential backoff and jitter, and fail at once on everything else.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import polars as pl
from prefect import Task, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.tasks import exponential_backoff

from tasks import chain, storage
from tasks.caching import (
    INGEST_CACHE,
    STAGE_CACHE,
    BundleSerializer,
    UntrustedRecordError,
)
from tasks.data import clean as cleaning
from tasks.data.aggregate import PanelParams, PanelResult
from tasks.data.clean import CleanParams, CleanResult
from tasks.data.ingest import RawSource, SourceParams
from tasks.data.sources import datasets, generate
from tasks.model import backtest as backtesting
from tasks.model.backtest import BacktestParams, BacktestResult
from tasks.model.ensemble import Combination, Ensemble
from tasks.model.features import FeatureSpec
from tasks.model.forecast import ForecastParams
from tasks.model.train import TrainParams

RESULTS = BundleSerializer()
P = ParamSpec("P")
R = TypeVar("R")


def is_transient(_task: Task[..., Any], _run: TaskRun, state: State[Any]) -> bool:
    """Retry only I/O-shaped failures; a bad value or bad data fails at once.

    Transient (retried): S3 5xx, throttling (``SlowDown``), timeouts, connection resets,
    other ``OSError``. Permanent (fail at once): no such bucket/key, access denied, other
    4xx, missing local files, permissions, and every non-I/O error. The classification of
    botocore/s3fs/aiohttp/Polars errors is :func:`tasks.storage.is_transient_error`.
    A cached result rejected while it was read (replaced after Prefect found it) is retried
    too: the retry finds no valid record and recomputes.
    """
    try:
        state.result(raise_on_failure=True)
    except UntrustedRecordError:
        return True
    except Exception as exc:
        return storage.is_transient_error(exc)
    return False


# What an I/O task retries; how often and after how long comes from the config
# (output.task_retries, output.task_retry_delay_seconds) through :func:`with_retries`.
IO_RETRY: dict[str, Any] = {"retry_jitter_factor": 0.5, "retry_condition_fn": is_transient}


@dataclass(frozen=True)
class RetryPolicy:
    """How often an I/O task retries a transient failure, and the first delay (seconds),
    doubling each time (2, 4, 8 s for 3 retries after 2 s)."""

    retries: int
    delay_seconds: float

    def delays(self) -> list[float]:
        """The delay before each retry."""
        return list(exponential_backoff(backoff_factor=self.delay_seconds)(self.retries))


def with_retries(stage: Task[P, R], policy: RetryPolicy) -> Task[P, R]:
    """``stage`` retrying as ``policy`` says, if it is an I/O task (``IO_RETRY``); else as is."""
    if stage.retry_condition_fn is not is_transient:
        return stage
    return stage.with_options(retries=policy.retries, retry_delay_seconds=policy.delays())


CACHED: dict[str, Any] = {
    "cache_policy": STAGE_CACHE,
    "persist_result": True,
    "result_serializer": RESULTS,
}


@task(name="generate-data", cache_policy=NO_CACHE, **IO_RETRY)
def generate_task(*, spec: generate.GeneratorSpec, root: str) -> generate.DatasetInfo:
    """Make sure the synthetic data set for ``spec`` exists at ``root`` (generated once)."""
    info = generate.ensure_dataset(spec, root)
    get_run_logger().info(
        "synthetic data at %s: %d rows in %d files (%s)",
        info.root,
        info.rows,
        info.files,
        "reused" if info.reused else "generated",
    )
    return info


@task(name="prepare-data", cache_policy=NO_CACHE, **IO_RETRY)
def prepare_aus_retail_task(*, root: str) -> datasets.PreparedDataset:
    """Write the bundled ABS retail data set under ``root`` in the raw contract (once)."""
    info = datasets.prepare_aus_retail(root)
    get_run_logger().info(
        "aus_retail at %s: %d rows, %d series; %d rows of double-counting group totals "
        "dropped (%s)",
        info.root,
        info.rows,
        info.series,
        info.dropped_rows,
        "reused" if info.reused else "prepared",
    )
    return info


@task(name="ingest", **{**CACHED, "cache_policy": INGEST_CACHE}, **IO_RETRY)
def ingest_task(
    *, params: SourceParams, storage_settings: storage.StorageSettings | None = None
) -> RawSource:
    """Find, fingerprint and check the raw files; no rows are read here."""
    source = chain.ingest(params, storage_settings)
    get_run_logger().info(
        "ingest: %d file(s) under %s in %d layout(s), fingerprint %s",
        len(source.files),
        params.input_path,
        len(source.groups),
        source.digest[:12],
    )
    return source


@task(name="clean", **CACHED, **IO_RETRY)
def clean_task(
    *,
    source: RawSource,
    params: CleanParams,
    storage_settings: storage.StorageSettings | None = None,
) -> CleanResult:
    """Stream the raw rows: quarantine bad rows with a reason, roll up the rest per day."""
    result = chain.clean(source, params, storage_settings)
    counts = result.counts
    get_run_logger().info(
        "clean: %d rows in = %d kept + %d quarantined %s; %d repaired, %d late, %d with a "
        "category spelling normalised; %d series-days",
        counts["rows_in"],
        counts["rows_kept"],
        counts["rows_quarantined"],
        cleaning.reason_counts(result.quarantine),
        counts["rows_repaired"],
        counts["rows_late"],
        counts.get("rows_normalised", 0),
        result.daily.height,
    )
    return result


@task(name="no-clean-rows", cache_policy=NO_CACHE, **IO_RETRY)
def no_clean_rows_task(
    *,
    cleaned: CleanResult,
    run_dir: str,
    storage_settings: storage.StorageSettings | None = None,
) -> None:
    """Every row was quarantined: write the run's ``quarantine.parquet``, then fail with
    the counts by reason (the run directory has no manifest: the run is incomplete)."""
    path = storage.join(run_dir, "quarantine.parquet")
    storage.write_parquet_atomic(path, cleaned.quarantine, settings=storage_settings)
    raise cleaning.no_clean_rows(cleaned.counts, path)


@task(name="aggregate", **CACHED)
def aggregate_task(*, daily: pl.DataFrame, params: PanelParams) -> PanelResult:
    """Build the (series, period) panel at the configured frequency."""
    result = chain.aggregate(daily, params)
    n_series = result.panel.select(params.series_keys).unique().height
    get_run_logger().info(
        "aggregate: %d series x %s periods = %d rows (%d filled, dropped partial periods %s)",
        n_series,
        params.frequency,
        result.panel.height,
        result.periods_filled,
        [d.isoformat() for d in result.incomplete_periods_dropped],
    )
    return result


@task(name="features", **CACHED)
def features_task(*, panel: pl.DataFrame, spec: FeatureSpec) -> pl.DataFrame:
    """Lags, windows, calendar and categoricals for every panel row."""
    frame = chain.features(panel, spec)
    get_run_logger().info(
        "features: %d rows x %d features %s",
        frame.height,
        len(spec.feature_names),
        spec.feature_names,
    )
    return frame


@task(name="train", **CACHED)
def train_task(
    *,
    panel: pl.DataFrame,
    spec: FeatureSpec,
    params: TrainParams,
    backtest: BacktestParams,
    combination: Combination,
) -> Ensemble:
    """Refit the LightGBM candidates on the whole panel, combined as the backtest chose."""
    start = time.perf_counter()
    model = chain.train(panel, spec, params, backtest, combination)
    top = list(model.feature_importance())[:5]
    get_run_logger().info(
        "train: %d member(s) on %d rows, %d rounds in %.1fs; recipe %s weights %s; "
        "top features by gain %s",
        len(model.members),
        model.training_rows,
        params.num_boost_round,
        time.perf_counter() - start,
        combination.recipe,
        {k: round(v, 3) for k, v in combination.weights.items()},
        top,
    )
    return model


@task(name="evaluate", **CACHED)
def evaluate_task(
    *, panel: pl.DataFrame, spec: FeatureSpec, params: BacktestParams, train: TrainParams
) -> BacktestResult:
    """Rolling-origin backtest of every candidate and their combination (the gate comes later)."""
    result = chain.evaluate(panel, spec, params, train)
    scores = result.metrics["backtest"]
    get_run_logger().info(
        "evaluate: %d windows x %d periods, %d scored; WAPE %s; model coverage %s",
        params.windows,
        params.horizon,
        len(result.metrics["windows"]["scored"]),
        {m: None if v["wape"] is None else round(v["wape"], 4) for m, v in scores.items()},
        {k: v for k, v in scores["model"].items() if k.startswith("coverage")},
    )
    return result


@task(name="forecast", **CACHED, **IO_RETRY)
def forecast_task(
    *,
    model: Ensemble,
    panel: pl.DataFrame,
    spec: FeatureSpec,
    params: ForecastParams,
    storage_settings: storage.StorageSettings | None = None,
) -> pl.DataFrame:
    """Forecast the next ``horizon`` periods for every series."""
    out = chain.forecast(model, panel, spec, params, storage_settings)
    logger = get_run_logger()
    forecast_series = out.select(spec.series_keys).n_unique()
    all_series = panel.select(spec.series_keys).n_unique()
    if forecast_series < all_series:
        logger.warning(
            "forecast: %d of %d series stopped reporting more than %d periods ago; not forecast",
            all_series - forecast_series,
            all_series,
            params.horizon,
        )
    logger.info(
        "forecast: %d series x %d periods from %s, total %.2f",
        forecast_series,
        params.horizon,
        out["date"].min(),
        out["forecast"].sum(),
    )
    return out


@task(name="backtest-window", **CACHED)
def backtest_window_task(
    *,
    panel: pl.DataFrame,
    origin: dt.date,
    spec: FeatureSpec,
    params: BacktestParams,
    train: TrainParams,
) -> pl.DataFrame:
    """One backtest window (train before ``origin``, forecast, baselines): runs on any worker."""
    start = time.perf_counter()
    rows = backtesting.window_predictions(panel, origin, spec, params, train)
    get_run_logger().info(
        "backtest window %s: %d rows in %.1fs", origin, rows.height, time.perf_counter() - start
    )
    return rows
