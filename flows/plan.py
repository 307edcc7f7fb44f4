"""The run plan: every task parameter, built once from the composed config.

The config (:mod:`flows.config`) says what a user may set; this module turns it into the
typed parameter objects the tasks take, filling per-frequency defaults (lags, windows,
horizon, season length, drift window) on the way. Nothing here reads data or talks to
Prefect. :func:`chain_params` is the ingest → forecast part, which the model tests and
the benchmarks use too; :func:`build_plan` the whole run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from omegaconf import DictConfig

from flows.config import AppConfig, resolved_yaml
from tasks import storage
from tasks.chain import ChainParams
from tasks.data.aggregate import PanelParams
from tasks.data.clean import CleanParams
from tasks.data.ingest import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, SourceParams
from tasks.data.sources.generate import GeneratorSpec
from tasks.model.backtest import BacktestParams
from tasks.model.features import DEFAULT_HORIZON, DEFAULT_SEASON, FeatureSpec, resolve_spec
from tasks.model.forecast import ForecastParams
from tasks.model.train import TrainParams
from tasks.monitor import AlertTarget
from tasks.monitoring.drift import DriftParams, window_periods
from tasks.monitoring.quality import Limit, QualityParams
from tasks.monitoring.realised import AccuracyParams
from tasks.publish import RunInfo, make_run_id
from tasks.registry import registry_path
from tasks.registry.serving import serving_root
from tasks.stages import RetryPolicy
from tasks.storage import StorageSettings


@dataclass(frozen=True)
class Preparation:
    """A built-in data set to prepare on local disk before ingest (``data.builtin``)."""

    builtin: str  # "synthetic" or "aus_retail"
    root: str
    generator: GeneratorSpec | None  # for "synthetic"


@dataclass(frozen=True)
class DriftPlan:
    """What the drift profile holds and how the latest periods are compared with it."""

    params: DriftParams
    columns: list[str]
    bins: int
    segment_by: list[str]
    window: int  # periods


@dataclass(frozen=True)
class MonitoringPlan:
    """Data quality, drift and realised accuracy (``monitoring``; None when disabled)."""

    quality: QualityParams
    drift: DriftPlan
    accuracy: AccuracyParams
    history_path: str
    alerts: bool
    event_prefix: str


def source_params(cfg: AppConfig) -> SourceParams:
    """What ingest reads: ``data.input_path``, its format and the extra columns in use."""
    wanted = {*cfg.data.series_keys, *cfg.features.categorical_columns}
    extra = sorted(wanted - {*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS})
    return SourceParams(cfg.data.input_path, cfg.data.file_format, extra)


def clean_params(cfg: AppConfig) -> CleanParams:
    """Cleaning rules from ``data`` and ``preprocessing``."""
    return CleanParams(
        series_keys=list(cfg.data.series_keys),
        min_revenue=cfg.preprocessing.min_revenue,
        repair_revenue=cfg.preprocessing.repair_revenue,
        allowed_categories={k: list(v) for k, v in cfg.data.allowed_categories.items()},
        late_tolerance_days=cfg.data.late_tolerance_days,
    )


def panel_params(cfg: AppConfig) -> PanelParams:
    """The panel's series keys and period, and what to do with gaps and partial periods."""
    return PanelParams(
        series_keys=list(cfg.data.series_keys),
        frequency=cfg.data.frequency,
        missing_periods=cfg.preprocessing.missing_periods,
        drop_incomplete=cfg.preprocessing.drop_incomplete_periods,
    )


def feature_spec(cfg: AppConfig) -> FeatureSpec:
    """Feature settings, with per-frequency defaults filled in."""
    f = cfg.features
    return resolve_spec(
        frequency=cfg.data.frequency,
        series_keys=list(cfg.data.series_keys),
        lags=None if f.lags is None else list(f.lags),
        window_sizes=None if f.window_sizes is None else list(f.window_sizes),
        categorical_columns=list(f.categorical_columns),
        calendar=f.calendar,
        holiday_country=f.holiday_country,
        use_promo=f.use_promo,
        normalize=f.normalize,
    )


def train_params(cfg: AppConfig) -> TrainParams:
    """LightGBM parameters (``model.hyperparameters``), rounds and ``random_seed``."""
    hyper: dict[str, Any] = dict(vars(cfg.model.hyperparameters))
    return TrainParams(hyper, cfg.model.num_boost_round, cfg.random_seed)


def horizon(cfg: AppConfig) -> int:
    """``forecast.horizon``, or the default for ``data.frequency`` when unset (null)."""
    h = cfg.forecast.horizon
    return DEFAULT_HORIZON[cfg.data.frequency] if h is None else h


def backtest_params(cfg: AppConfig) -> BacktestParams:
    """Backtest settings, with per-frequency season length and moving-average window."""
    e = cfg.evaluation
    season = DEFAULT_SEASON[cfg.data.frequency] if e.season_length is None else e.season_length
    window = season if e.moving_average_window is None else e.moving_average_window
    return BacktestParams(horizon(cfg), e.backtest_windows, season, window, e.segment_by)


def chain_params(cfg: AppConfig) -> ChainParams:
    """Every parameter of ingest → forecast."""
    return ChainParams(
        source=source_params(cfg),
        clean=clean_params(cfg),
        panel=panel_params(cfg),
        features=feature_spec(cfg),
        train=train_params(cfg),
        backtest=backtest_params(cfg),
        forecast=ForecastParams(horizon(cfg), cfg.forecast.promo_plan_path),
    )


def for_champion(params: ChainParams, champion: AppConfig) -> ChainParams:
    """This run's chain with the champion's model: its features and training settings."""
    return replace(params, features=feature_spec(champion), train=train_params(champion))


def retry_policy(cfg: AppConfig) -> RetryPolicy:
    """How I/O tasks retry transient failures (``output.task_retries``, ``..._delay_seconds``)."""
    return RetryPolicy(cfg.output.task_retries, cfg.output.task_retry_delay_seconds)


def preparation(cfg: AppConfig) -> Preparation | None:
    """The built-in data set to prepare, if any (a URL input is read as it is)."""
    builtin = cfg.data.builtin
    if builtin is None or storage.is_remote(cfg.data.input_path):
        return None
    generator = cfg.data.generator.to_spec() if builtin == "synthetic" else None
    return Preparation(builtin, cfg.data.input_path, generator)


def quality_params(cfg: AppConfig) -> QualityParams:
    """Data-quality thresholds from ``monitoring.quality``, per check name."""
    limits = {
        name: Limit(warn=value.warn, hard=value.hard)
        for name, value in vars(cfg.monitoring.quality).items()
    }
    return QualityParams(list(cfg.data.series_keys), limits, cfg.monitoring.trailing_runs)


def drift_plan(cfg: AppConfig, spec: FeatureSpec | None = None) -> DriftPlan:
    """PSI thresholds, the profiled columns (features less the excluded) and the window;
    ``spec``: the run's feature spec, when built already."""
    d = cfg.monitoring.drift
    excluded = set(d.exclude_columns)
    spec = feature_spec(cfg) if spec is None else spec
    return DriftPlan(
        params=DriftParams(d.warn, d.alert, d.epsilon, d.min_rows, d.alert_on_segments),
        columns=[c for c in spec.feature_names if c not in excluded],
        bins=d.bins,
        segment_by=list(d.segment_by),
        window=window_periods(cfg.data.frequency, d.window_periods),
    )


def monitoring_plan(cfg: AppConfig, spec: FeatureSpec | None = None) -> MonitoringPlan | None:
    """What the monitoring tasks need, or None with ``monitoring.enabled=false``."""
    mon = cfg.monitoring
    if not mon.enabled:
        return None
    a = mon.accuracy
    return MonitoringPlan(
        quality=quality_params(cfg),
        drift=drift_plan(cfg, spec),
        accuracy=AccuracyParams(
            a.margin, a.min_points, a.recent_runs, a.max_forecast_age_days, a.segment_by
        ),
        history_path=mon.history_path,
        alerts=mon.alerts.enabled,
        event_prefix=mon.alerts.event_prefix,
    )


@dataclass(frozen=True)
class CachePlan:
    """Where task results are cached (``output.result_storage``) and with which signing key."""

    result_storage: str
    refresh: bool  # ``output.cache=false``: compute every cached task again
    key_block: str | None


@dataclass(frozen=True)
class GateParams:
    """The promotion gate's margins (``evaluation.min_improvement``, ``max_regression``)."""

    min_improvement: float
    max_regression: float


@dataclass(frozen=True)
class ReportParams:
    """The series report.html plots (``output.report_top_n``, ``output.report_series``)."""

    top_n: int
    chosen_series: dict[str, str] | None


@dataclass(frozen=True)
class RunPlan:
    """Everything one run needs, built once from the config (:func:`build_plan`)."""

    config: AppConfig  # a champion's stored config is compared with this one
    config_yaml: str  # the resolved config, as the run directory and the registry keep it
    run: RunInfo
    model_name: str
    storage: StorageSettings
    cache: CachePlan
    retries: RetryPolicy
    preparation: Preparation | None
    chain: ChainParams
    gate: GateParams
    monitoring: MonitoringPlan | None
    report: ReportParams
    alerts: AlertTarget
    trigger: dict[str, str] | None  # the upload that started the run

    @property
    def output_path(self) -> str:
        """``data.output_path``: root of runs, registry, serving and monitoring."""
        return self.run.output_path

    @property
    def series_keys(self) -> list[str]:
        """``data.series_keys``."""
        return self.chain.panel.series_keys

    def for_champion(self, champion: AppConfig) -> ChainParams:
        """This run's chain with the champion's features and training (:func:`for_champion`)."""
        return for_champion(self.chain, champion)

    def state_folders(self) -> list[str]:
        """The folders of shared state a killed run may have left temp files in."""
        out = self.output_path
        folders = [
            storage.join(out, "runs"),
            registry_path(out, self.model_name),
            serving_root(out, self.model_name),
        ]
        return [*folders, self.config.monitoring.history_path]


def build_plan(
    node: DictConfig,
    cfg: AppConfig,
    flow_run_id: str | None,
    started: dt.datetime,
    trigger: dict[str, str] | None = None,
) -> RunPlan:
    """The run plan of ``cfg`` (composed as ``node``) for the flow run ``flow_run_id``."""
    run = RunInfo(
        run_id=make_run_id(started, str(flow_run_id or "local")),
        flow_run_id=str(flow_run_id),
        started_at=started,
        output_path=cfg.data.output_path,
    )
    chain = chain_params(cfg)
    return RunPlan(
        config=cfg,
        config_yaml=resolved_yaml(node),
        run=run,
        model_name=cfg.model.model_name,
        storage=StorageSettings.from_config(cfg.storage),
        cache=CachePlan(
            cfg.output.result_storage, not cfg.output.cache, cfg.output.cache_key_block
        ),
        retries=retry_policy(cfg),
        preparation=preparation(cfg),
        chain=chain,
        gate=GateParams(cfg.evaluation.min_improvement, cfg.evaluation.max_regression),
        monitoring=monitoring_plan(cfg, chain.features),
        report=ReportParams(cfg.output.report_top_n, cfg.output.report_series),
        alerts=alert_target(cfg, run),
        trigger=trigger,
    )


def alert_target(cfg: AppConfig, run: RunInfo) -> AlertTarget:
    """Where this run's alert events go (``monitoring.alerts``)."""
    return AlertTarget(
        enabled=cfg.monitoring.enabled and cfg.monitoring.alerts.enabled,
        dataset=cfg.data.name,
        run_id=run.run_id,
        flow_run_id=run.flow_run_id,
        prefix=cfg.monitoring.alerts.event_prefix,
        model_name=cfg.model.model_name,
        model_version=run.run_id,
    )
