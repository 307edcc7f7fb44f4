"""Prefect tasks: one per stage. Each validates its boundary, calls the pure stage
functions, logs counts through the run logger and returns a result the cache can persist.

Caching is by content (:mod:`tasks.caching`); I/O tasks retry transient errors with
exponential backoff and jitter, and fail at once on everything else.
"""

from __future__ import annotations

import time
from typing import Any

import polars as pl
from prefect import Task, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.tasks import exponential_backoff

from tasks import storage
from tasks.caching import INGEST_CACHE, STAGE_CACHE, BundleSerializer, UntrustedRecordError
from tasks.data import aggregate, clean, ingest
from tasks.data.schemas import CleanDaily, Forecasts, Panel, Quarantine, validate
from tasks.data.schemas import Features as FeaturesSchema
from tasks.data.sources import datasets, generate
from tasks.model import backtest as evaluate
from tasks.model import features, forecast, train
from tasks.monitoring import quality

RESULTS = BundleSerializer()


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


IO_RETRY: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": exponential_backoff(backoff_factor=2),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": is_transient,
}
CACHED: dict[str, Any] = {
    "cache_policy": STAGE_CACHE,
    "persist_result": True,
    "result_serializer": RESULTS,
}


@task(name="generate-data", cache_policy=NO_CACHE, **IO_RETRY)
def generate_task(spec: generate.GeneratorSpec, root: str) -> generate.DatasetInfo:
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
def prepare_aus_retail_task(root: str) -> datasets.PreparedDataset:
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
    input_path: str,
    file_format: str,
    extra_columns: list[str],
    storage_settings: storage.StorageSettings | None = None,
) -> ingest.RawSource:
    """Find, fingerprint and check the raw files; no rows are read here."""
    source = ingest.discover(input_path, file_format, extra_columns, storage_settings)
    ingest.scan(source, storage_settings)  # builds the plan and checks it against the schema
    get_run_logger().info(
        "ingest: %d file(s) under %s in %d layout(s), fingerprint %s",
        len(source.files),
        input_path,
        len(source.groups),
        source.digest[:12],
    )
    return source


@task(name="clean", **CACHED, **IO_RETRY)
def clean_task(
    source: ingest.RawSource,
    params: clean.CleanParams,
    storage_settings: storage.StorageSettings | None = None,
) -> clean.CleanResult:
    """Stream the raw rows: quarantine bad rows with a reason, roll up the rest per day."""
    logger = get_run_logger()
    with storage.io_errors(source.input_path):
        try:  # both passes read every row: a corrupt file shows here
            flagged = clean.flag_rows(ingest.scan(source, storage_settings), params)
            result, (nulls_frame,) = clean.collect(
                flagged, params, source.extra_columns, [quality.null_counts_plan(flagged)]
            )
        except pl.exceptions.PolarsError as exc:
            if storage.storage_error(exc, source.input_path) is None:  # a corrupt file? name it
                bad = ingest.unreadable_files(source, storage_settings)
                ingest.raise_unreadable(source.input_path, len(source.files), bad)
            raise
    daily, quarantine, counts = result.daily, result.quarantine, result.counts
    validate(daily, CleanDaily, stage="clean", source=source.input_path, keys=params.series_keys)
    validate(quarantine, Quarantine, stage="clean", source=source.input_path, unique_on_keys=False)
    by_reason = clean.reason_counts(quarantine)
    logger.info(
        "clean: %d rows in = %d kept + %d quarantined %s; %d repaired, %d late; %d series-days",
        counts["rows_in"],
        counts["rows_kept"],
        counts["rows_quarantined"],
        by_reason,
        counts["rows_repaired"],
        counts["rows_late"],
        daily.height,
    )
    nulls = {k: int(v) for k, v in nulls_frame.row(0, named=True).items() if not k.startswith("__")}
    return clean.CleanResult(
        daily=daily, quarantine=quarantine, counts={**counts, **by_reason}, null_counts=nulls
    )


@task(name="no-clean-rows", cache_policy=NO_CACHE, **IO_RETRY)
def no_clean_rows_task(
    cleaned: clean.CleanResult,
    run_dir: str,
    storage_settings: storage.StorageSettings | None = None,
) -> None:
    """Every row was quarantined: write the run's ``quarantine.parquet``, then fail with
    the counts by reason (the run directory has no manifest: the run is incomplete)."""
    path = storage.join(run_dir, "quarantine.parquet")
    storage.write_parquet_atomic(path, cleaned.quarantine, settings=storage_settings)
    raise clean.no_clean_rows(cleaned.counts, path)


@task(name="aggregate", **CACHED)
def aggregate_task(
    daily: pl.DataFrame,
    series_keys: list[str],
    frequency: str,
    missing_periods: str,
    drop_incomplete: bool,
) -> aggregate.PanelResult:
    """Build the (series, period) panel at the configured frequency."""
    result = aggregate.build_panel(daily, series_keys, frequency, missing_periods, drop_incomplete)
    validate(result.panel, Panel, stage="aggregate", source="clean daily sales", keys=series_keys)
    n_series = result.panel.select(series_keys).unique().height
    get_run_logger().info(
        "aggregate: %d series x %s periods = %d rows (%d filled, dropped partial periods %s)",
        n_series,
        frequency,
        result.panel.height,
        result.periods_filled,
        [d.isoformat() for d in result.incomplete_periods_dropped],
    )
    return result


@task(name="features", **CACHED)
def features_task(panel: pl.DataFrame, spec: features.FeatureSpec) -> pl.DataFrame:
    """Lags, windows, calendar and categoricals for every panel row."""
    frame = features.build_features(panel, spec)
    validate(frame, FeaturesSchema, stage="features", source="panel", keys=spec.series_keys)
    get_run_logger().info(
        "features: %d rows x %d features %s",
        frame.height,
        len(spec.feature_names),
        spec.feature_names,
    )
    return frame


@task(name="train", **CACHED)
def train_task(
    frame: pl.DataFrame,
    spec: features.FeatureSpec,
    hyperparameters: dict[str, Any],
    num_boost_round: int,
    seed: int,
) -> train.TrainedModel:
    """Fit the final model on all rows with a known target."""
    start = time.perf_counter()
    model = train.train_model(frame, spec, hyperparameters, num_boost_round, seed)
    top = list(model.feature_importance())[:5]
    get_run_logger().info(
        "train: %d rows, %d rounds in %.1fs; top features by gain %s",
        model.training_rows,
        num_boost_round,
        time.perf_counter() - start,
        top,
    )
    return model


@task(name="evaluate", **CACHED)
def evaluate_task(
    panel: pl.DataFrame,
    spec: features.FeatureSpec,
    params: evaluate.BacktestParams,
    hyperparameters: dict[str, Any],
    num_boost_round: int,
    seed: int,
) -> evaluate.BacktestResult:
    """Rolling-origin backtest of the model against the baselines (the gate comes later)."""
    result = evaluate.backtest(panel, spec, params, hyperparameters, num_boost_round, seed)
    scores = result.metrics["backtest"]
    get_run_logger().info(
        "evaluate: %d windows x %d periods; WAPE model %.4f, seasonal naive %.4f, "
        "moving average %.4f",
        params.windows,
        params.horizon,
        scores["model"]["wape"],
        scores["seasonal_naive"]["wape"],
        scores["moving_average"]["wape"],
    )
    return result


@task(name="forecast", **CACHED, **IO_RETRY)
def forecast_task(
    model: train.TrainedModel,
    panel: pl.DataFrame,
    spec: features.FeatureSpec,
    horizon: int,
    promo_plan_path: str | None,
    storage_settings: storage.StorageSettings | None = None,
) -> pl.DataFrame:
    """Forecast the next ``horizon`` periods for every series."""
    plan = (
        ingest.read_promo_plan(promo_plan_path, spec.series_keys, storage_settings)
        if promo_plan_path
        else None
    )
    out = forecast.forecast_next(model, panel, spec, horizon, plan)
    validate(out, Forecasts, stage="forecast", source="model", keys=spec.series_keys)
    logger = get_run_logger()
    forecast_series = out.select(spec.series_keys).n_unique()
    all_series = panel.select(spec.series_keys).n_unique()
    if forecast_series < all_series:
        logger.warning(
            "forecast: %d of %d series stopped reporting more than %d periods ago; not forecast",
            all_series - forecast_series,
            all_series,
            horizon,
        )
    logger.info(
        "forecast: %d series x %d periods from %s, total %.2f",
        forecast_series,
        horizon,
        out["date"].min(),
        out["forecast"].sum(),
    )
    return out
