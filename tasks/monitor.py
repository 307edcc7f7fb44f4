"""Prefect tasks that monitor a run: data quality (fails fast), drift, realised accuracy.

The computations are pure (:mod:`tasks.monitoring.quality`, :mod:`tasks.monitoring.drift`,
:mod:`tasks.monitoring.realised`); these tasks read and append the history tables
(:mod:`tasks.monitoring.store`), log the figures and decisions, and emit alert events
(:mod:`tasks.alerts`). None is cached: each depends on history that other runs append to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import polars as pl
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks import alerts, storage
from tasks.data.clean import CleanResult
from tasks.model import train
from tasks.monitoring import drift, quality, realised
from tasks.monitoring import store as monitoring_store
from tasks.stages import IO_RETRY
from tasks.storage import state

Settings = storage.StorageSettings | None
T = TypeVar("T")


@dataclass(frozen=True)
class AlertTarget:
    """Where alerts about this run go, and whether they are sent at all."""

    enabled: bool
    dataset: str
    run_id: str
    flow_run_id: str | None
    prefix: str
    model_name: str
    model_version: str | None = None

    def emit(
        self,
        quality: dict[str, Any] | None = None,
        drift: dict[str, Any] | None = None,
        accuracy: dict[str, Any] | None = None,
    ) -> list[str]:
        """Emit the events the reports call for; returns their names."""
        if not self.enabled:
            return []
        return alerts.emit_alerts(
            dataset=self.dataset,
            run_id=self.run_id,
            prefix=self.prefix,
            flow_run_id=self.flow_run_id,
            model=(self.model_name, self.model_version),
            quality=quality,
            drift=drift,
            accuracy=accuracy,
        )

    def report_ready(self, url: str, summary: dict[str, Any]) -> str | None:
        """Announce the written report (``{prefix}.report.ready``); None when alerts are off."""
        if not self.enabled:
            return None
        return alerts.emit_report_ready(
            dataset=self.dataset,
            run_id=self.run_id,
            url=url,
            summary=summary,
            prefix=self.prefix,
            flow_run_id=self.flow_run_id,
            model=(self.model_name, self.model_version),
        )


@task(name="quality", cache_policy=NO_CACHE, **IO_RETRY)
def quality_task(
    *,
    cleaned: CleanResult,
    panel: pl.DataFrame,
    params: quality.QualityParams,
    history_root: str,
    run_dir: str,
    target: AlertTarget,
    settings: Settings = None,
) -> dict[str, Any]:
    """Check the run's data against thresholds and earlier runs; a hard breach fails the run.

    The history row is appended and alerts are emitted before failing, and a failing run
    leaves its ``quality.json`` in its (manifest-less, so incomplete) run directory.
    """
    logger = get_run_logger()
    name = monitoring_store.QUALITY_HISTORY
    history = healed(
        history_root,
        name,
        settings,
        lambda: monitoring_store.read_table(history_root, name, settings=settings),
    )
    report = quality.quality_report(
        target.run_id, cleaned, panel, params, history, cleaned.null_counts
    )
    monitoring_store.append_table(
        history_root,
        monitoring_store.QUALITY_HISTORY,
        quality.history_row(report),
        ["run_id"],
        settings=settings,
    )
    levels = [c["level"] for c in report["checks"]]
    logger.info(
        "quality: %s; %d checks: %d ok, %d warn, %d breach; compared with run %s",
        report["status"],
        len(levels),
        levels.count("ok"),
        levels.count("warn"),
        levels.count("breach"),
        report["compared_with_run"] or "none (first run)",
    )
    for message in quality.warning_messages(report):
        logger.warning("quality warning: %s", message)
    emitted = target.emit(quality=report)
    if emitted:
        logger.info("quality: emitted %s", emitted)
    if quality.hard_breaches(report):
        path = storage.join(run_dir, "quality.json")
        storage.write_json_atomic(path, report, settings=settings)
        logger.error("quality: hard threshold breached; report at %s", storage.uri(path))
    quality.raise_on_breach(report)
    return report


@task(name="drift", cache_policy=NO_CACHE, **IO_RETRY)
def drift_task(
    *,
    features: pl.DataFrame,
    reference_folder: str | None,
    window: int,
    params: drift.DriftParams,
    target: AlertTarget,
    settings: Settings = None,
) -> dict[str, Any] | None:
    """PSI of the latest ``window`` periods against the champion's training profile."""
    logger = get_run_logger()
    try:
        profile = (
            monitoring_store.load_profile(reference_folder, settings=settings)
            if reference_folder
            else None
        )
    except state.CorruptStateError as exc:
        logger.warning("drift: not measured: %s", exc)
        return None
    if profile is None:
        logger.info("drift: no reference profile (no champion yet, or one without a profile)")
        return None
    missing = [c for c in profile["columns"] if c not in features.columns]
    if missing:
        logger.info(
            "drift: reference columns %s are not features of this run; not compared", missing
        )
        profile = drift.restrict_profile(profile, features.columns)
    report = drift.psi_against(profile, drift.latest_periods(features, window), params)
    summary = report["summary"]
    logger.info(
        "drift: %s against %s; max PSI %.3f at %s; %d alert(s), %d warning(s)",
        summary["level"],
        report["reference"]["model_version"],
        summary["max_psi"],
        summary["max_at"],
        len(summary["alerts"]),
        len(summary["warnings"]),
    )
    emitted = target.emit(drift=report)
    if emitted:
        logger.warning("drift: emitted %s", emitted)
    return report


@task(name="realised-accuracy", cache_policy=NO_CACHE, **IO_RETRY)
def realised_task(
    *,
    panel: pl.DataFrame,
    series_keys: list[str],
    output_path: str,
    history_root: str,
    backtest_metrics: dict[str, Any],
    params: realised.AccuracyParams,
    target: AlertTarget,
    settings: Settings = None,
) -> dict[str, Any] | None:
    """Join actuals that have arrived to the forecasts earlier runs served; track accuracy."""
    logger = get_run_logger()
    since = dt.date.today() - dt.timedelta(days=params.max_forecast_age_days)
    published = monitoring_store.read_serving_history(
        output_path,
        target.model_name,
        since=since,
        on_damaged=lambda exc: logger.warning("realised accuracy: skipped %s", exc),
        settings=settings,
    )
    new_pairs = (
        realised.realised_pairs(
            published, panel, series_keys, realised_by=target.run_id, exclude_run=target.run_id
        )
        if published is not None
        else None
    )
    name, keys = monitoring_store.REALISED_HISTORY, ["run_id", *series_keys, "date"]
    history: pl.DataFrame | None
    if new_pairs is not None and new_pairs.height:
        pairs = new_pairs
        history = healed(
            history_root,
            name,
            settings,
            lambda: monitoring_store.append_table(
                history_root, name, pairs, keys, settings=settings
            ),
        )
    else:
        history = healed(
            history_root,
            name,
            settings,
            lambda: monitoring_store.read_table(history_root, name, settings=settings),
        )
    if history is None or history.height == 0:
        logger.info("realised accuracy: no served forecast has been realised yet")
        return None
    check = realised.accuracy_check(history, backtest_metrics, params)
    logger.info(
        "realised accuracy: %d new pairs, %d in history; recent WAPE %s vs backtest %s: %s",
        0 if new_pairs is None else new_pairs.height,
        history.height,
        _fmt(check["realised_wape"]),
        _fmt(check["backtest_wape"]),
        "degraded" if check["degraded"] else ("ok" if check["judged"] else "not judged yet"),
    )
    emitted = target.emit(accuracy=check)
    if emitted:
        logger.warning("realised accuracy: emitted %s", emitted)
    metrics = realised.realised_metrics(history, params.segment_by)
    return {"metrics": metrics, "check": check}


def healed(root: str, name: str, settings: Settings, action: Callable[[], T]) -> T:
    """``action()`` (a read or append of a history table); if the table is damaged, set it
    aside (renamed, never deleted), log a warning naming it, and do ``action`` again."""
    try:
        return action()
    except state.CorruptStateError as exc:
        moved = monitoring_store.set_aside_table(root, name, settings=settings)
        get_run_logger().warning(
            "monitoring: %s is damaged (%s); kept as %s, a new history starts with this run",
            exc.path,
            exc.problem,
            moved or "(already replaced by another run)",
        )
        return action()


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


@task(name="profile", cache_policy=NO_CACHE)
def profile_task(
    *,
    features: pl.DataFrame,
    normalize: bool,
    columns: list[str],
    bins: int,
    segment_by: list[str],
    model_version: str,
    window: int,
) -> dict[str, Any]:
    """The drift profile of the model's latest ``window`` periods of training data, kept with
    the model as the next runs' reference.

    The reference window has the length of the window later runs compare, so a yearly or
    weekly season inside two years of history does not read as drift every day.
    """
    rows = drift.latest_periods(train.training_rows(features, normalize), window)
    profile = drift.build_profile(rows, columns, bins, segment_by=segment_by)
    get_run_logger().info(
        "profile: %d training rows, %d columns, %d segments",
        rows.height,
        len(profile["columns"]),
        len(profile["segments"]),
    )
    return {**profile, "model_version": model_version}


@task(name="save-profile", cache_policy=NO_CACHE, **IO_RETRY)
def save_profile_task(*, profile: dict[str, Any], folder: str, settings: Settings = None) -> str:
    """Write ``profile.json`` next to a registered model."""
    return storage.uri(monitoring_store.save_profile(folder, profile, settings=settings))
