"""Structured config for the pipeline: one dataclass per Hydra group, composed from ``conf/``.

Priority, highest first: CLI override → environment variable (``${oc.env:...}`` in YAML)
→ YAML option → dataclass default. Secrets never live here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf, open_dict

from flows import config_checks
from tasks.data.sources.defects import DefectRates
from tasks.data.sources.generate import GeneratorSpec
from tasks.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
CONFIG_NAME = "config"
BUILTIN_DATASETS = (None, "synthetic", "aus_retail")


@dataclass
class DefectRatesConfig:
    """Rates of each defect the synthetic generator injects (fractions of rows)."""

    null_revenue: float = 0.004
    negative_revenue: float = 0.003
    duplicate: float = 0.003
    bad_date: float = 0.002
    unknown_category: float = 0.002
    late: float = 0.01


@dataclass
class GeneratorConfig:
    """Synthetic data generator settings (used when ``data.builtin`` is ``synthetic``)."""

    seed: int = 42
    start: str = "2023-01-01"
    days: int = 730
    regions: list[str] = field(default_factory=lambda: ["north", "south", "east", "west"])
    product_types: list[str] = field(
        default_factory=lambda: [
            "grocery",
            "electronics",
            "clothing",
            "home",
            "toys",
            "sports",
        ]
    )
    stores_per_region: int = 3
    transactions_per_day: float = 3.0
    promo_rate: float = 0.08
    promo_lift: float = 0.35
    late_max_days: int = 7
    holiday_country: str = "US"
    file_format: str = "parquet"
    defects: DefectRatesConfig = field(default_factory=DefectRatesConfig)

    def to_spec(self) -> GeneratorSpec:
        """The generator's own spec (its checks: :meth:`GeneratorSpec.validate`)."""
        values: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(GeneratorSpec)}
        values["regions"], values["product_types"] = tuple(self.regions), tuple(self.product_types)
        values["defects"] = DefectRates(
            **{f.name: getattr(self.defects, f.name) for f in fields(DefectRates)}
        )
        return GeneratorSpec(**values)


@dataclass
class DataConfig:
    """Where the raw sales come from, where outputs go, and the time grain."""

    name: str = MISSING
    input_path: str = MISSING
    output_path: str = "outputs"
    file_format: str = "auto"
    frequency: str = "1d"
    series_keys: list[str] = field(default_factory=lambda: ["region", "product_type"])
    allowed_categories: dict[str, list[str]] = field(default_factory=dict)
    late_tolerance_days: int = 1
    builtin: str | None = None
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)


@dataclass
class PreprocessingConfig:
    """Cleaning rules and panel construction."""

    min_revenue: float = 0.0
    repair_revenue: bool = True
    missing_periods: str = "zero"
    drop_incomplete_periods: bool = True


@dataclass
class FeaturesConfig:
    """Lags and windows in periods (``null``: per-frequency default), calendar, categoricals."""

    lags: list[int] | None = None
    window_sizes: list[int] | None = None
    categorical_columns: list[str] = field(default_factory=lambda: ["region", "product_type"])
    calendar: bool = True
    holiday_country: str | None = "US"
    use_promo: bool = True
    normalize: bool = True


@dataclass
class LightGBMHyperparameters:
    """LightGBM parameters. Others are added with ``+model.hyperparameters.<name>=<value>``;
    every name and value is checked against LightGBM's own (:mod:`tasks.model.hyperparameters`)."""

    objective: str = "tweedie"
    learning_rate: float = 0.05
    num_leaves: int = 31
    max_depth: int = -1
    min_data_in_leaf: int = 20
    feature_fraction: float = 0.9
    bagging_fraction: float = 1.0
    bagging_freq: int = 0
    lambda_l2: float = 0.0
    num_threads: int = 2


@dataclass
class ModelConfig:
    """The forecasting model."""

    name: str = "lightgbm"
    model_name: str = "sales-forecast"
    num_boost_round: int = 300
    hyperparameters: LightGBMHyperparameters = field(default_factory=LightGBMHyperparameters)


@dataclass
class EvaluationConfig:
    """Rolling-origin backtest, baselines and the promotion gate."""

    backtest_windows: int = 3
    season_length: int | None = None
    moving_average_window: int | None = None
    segment_by: str = "product_type"
    min_improvement: float = 0.0
    max_regression: float = 0.05


@dataclass
class ForecastConfig:
    """What to forecast."""

    horizon: int | None = None
    promo_plan_path: str | None = None


@dataclass
class OutputConfig:
    """Where task results are cached and how runs are written."""

    cache: bool = True
    result_storage: str = "${data.output_path}/cache"
    cache_key_block: str | None = None  # Secret block with the cache's HMAC key (a name only)
    task_retries: int = 3
    task_retry_delay_seconds: float = 2.0
    report_top_n: int = 3  # series plotted in report.html, by total revenue
    report_series: dict[str, str] | None = None  # one more, always plotted: {region: north, ...}


@dataclass
class StorageConfig:
    """How to reach object storage; no secrets (those come from the environment or a block)."""

    endpoint_url: str | None = None
    region: str | None = None
    aws_credentials_block: str | None = None


@dataclass
class ThresholdConfig:
    """A warn level and a hard level (null: not checked); a value above hard fails the run."""

    warn: float | None = None
    hard: float | None = None


@dataclass
class QualityThresholdsConfig:
    """Data-quality checks: rates are fractions of raw rows, counts are plain numbers."""

    quarantine_rate: ThresholdConfig = field(default_factory=lambda: ThresholdConfig(0.05, 0.20))
    null_rate: ThresholdConfig = field(default_factory=lambda: ThresholdConfig(0.02, 0.10))
    duplicate_rate: ThresholdConfig = field(default_factory=lambda: ThresholdConfig(0.02, 0.10))
    late_rate: ThresholdConfig = field(default_factory=lambda: ThresholdConfig(0.05, None))
    volume_drop: ThresholdConfig = field(default_factory=lambda: ThresholdConfig(0.20, 0.50))
    volume_rise: ThresholdConfig = field(default_factory=lambda: ThresholdConfig(1.00, None))
    vanished_series_rate: ThresholdConfig = field(
        default_factory=lambda: ThresholdConfig(0.0, 0.25)
    )
    new_series: ThresholdConfig = field(default_factory=lambda: ThresholdConfig(0.0, None))
    new_categories: ThresholdConfig = field(default_factory=lambda: ThresholdConfig(0.0, None))
    coverage_gaps: ThresholdConfig = field(default_factory=lambda: ThresholdConfig(0.0, None))
    filled_rate: ThresholdConfig = field(default_factory=lambda: ThresholdConfig(0.10, 0.50))


@dataclass
class DriftConfig:
    """Population stability index of features and target against the champion's profile."""

    bins: int = 10
    warn: float = 0.1
    alert: float = 0.25
    epsilon: float = 1e-4
    window_periods: int | None = None
    segment_by: list[str] = field(default_factory=lambda: ["product_type"])
    min_rows: int = 200
    alert_on_segments: bool = False
    exclude_columns: list[str] = field(
        default_factory=lambda: [
            "day_of_week",
            "day_of_month",
            "week_of_year",
            "month",
            "is_holiday",
            "holidays_in_period",
        ]
    )


@dataclass
class AccuracyConfig:
    """Realised accuracy of published forecasts against the actuals that have arrived since."""

    margin: float = 0.25
    min_points: int = 50
    recent_runs: int = 7
    max_forecast_age_days: int = 120
    segment_by: str = "product_type"


@dataclass
class AlertsConfig:
    """Prefect events for breaches; the notification block is named by env, never a secret."""

    enabled: bool = True
    event_prefix: str = "sales-forecast"
    notify_block: str | None = None


@dataclass
class MonitoringConfig:
    """Data quality, drift, realised accuracy and alerts (``conf/monitoring``)."""

    enabled: bool = True
    trailing_runs: int = 7
    history_path: str = "${data.output_path}/monitoring/${model.model_name}"
    quality: QualityThresholdsConfig = field(default_factory=QualityThresholdsConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    accuracy: AccuracyConfig = field(default_factory=AccuracyConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)


@dataclass
class KubernetesClusterConfig:
    """The Dask cluster a large run creates on Kubernetes (dask-kubernetes' operator)."""

    name: str = "sales-forecast-dask"
    namespace: str = "${oc.env:SALES_DASK_NAMESPACE,default}"
    image: str = "${oc.env:SALES_DASK_IMAGE,sales-forecast:latest}"  # same image as the flow
    n_workers: int = 4
    worker_cpu: str = "2"  # requests = limits: a guaranteed pod, LightGBM threads match
    worker_memory: str = "16Gi"
    scheduler_cpu: str = "1"
    scheduler_memory: str = "2Gi"
    service_account: str | None = "sales-forecast-dask"
    # Secrets the workers read their environment from (names only: created out of band)
    secrets: list[str] = field(
        default_factory=lambda: ["sales-forecast-aws", "sales-forecast-cache-key"]
    )


@dataclass
class RunnerConfig:
    """Where the heavy work runs: ``local`` (in the flow's process) or ``dask``."""

    name: str = "local"  # local | dask
    address: str | None = None  # dask: join this scheduler (tcp://host:8786), else start one
    cluster: str = "local"  # dask without address: local (LocalCluster) | kubernetes
    n_workers: int = 2  # LocalCluster worker processes
    threads_per_worker: int = 1
    distributed_training: bool = False  # the final model with lightgbm.dask across workers
    kubernetes: KubernetesClusterConfig = field(default_factory=KubernetesClusterConfig)


@dataclass
class AppConfig:
    """The whole composed config."""

    data: DataConfig = field(default_factory=DataConfig)
    preprocessing: PreprocessingConfig = field(default_factory=PreprocessingConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    forecast: ForecastConfig = field(default_factory=ForecastConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    random_seed: int = 42


def register_configs() -> None:
    """Register the structured schema that ``conf/config.yaml`` builds on (idempotent)."""
    ConfigStore.instance().store(name="base_config", node=AppConfig)


def compose_config(overrides: list[str] | None = None) -> DictConfig:
    """Compose ``conf/config.yaml`` with Hydra override strings, inside or outside a Hydra app."""
    register_configs()
    overrides = list(overrides or [])
    if GlobalHydra.instance().is_initialized():
        return compose(config_name=CONFIG_NAME, overrides=overrides)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=CONFIG_NAME, overrides=overrides)


def to_app_config(cfg: DictConfig) -> AppConfig:
    """Resolve interpolations, turn a composed config into typed dataclasses and check values.

    Raises
    ------
    ConfigError
        Listing every value that breaks its rule (:mod:`flows.config_checks`), with the
        key, the value, the rule and an example fix; nothing has been read or written yet.
    """
    obj = OmegaConf.to_object(cfg)
    if not isinstance(obj, AppConfig):
        raise TypeError(f"composed config is {type(obj).__name__}, expected AppConfig")
    if obj.data.builtin not in BUILTIN_DATASETS:
        raise ConfigError(
            f"data.builtin={obj.data.builtin!r} is not one of {BUILTIN_DATASETS} (null: no "
            "built-in data set; read data.input_path as it is)"
        )
    config_checks.check(obj)
    return obj


def resolved_yaml(cfg: DictConfig) -> str:
    """The resolved config as YAML text, as written to ``config.yaml`` of a run."""
    return OmegaConf.to_yaml(cfg, resolve=True)


def as_dict(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as a plain JSON-able dict."""
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    return {str(k): v for k, v in container.items()}


def from_resolved_yaml(text: str, where: str) -> AppConfig:
    """A run's resolved ``config.yaml`` (e.g. a registered champion's) as typed dataclasses.

    Keys this code no longer knows are an error naming ``where`` the text came from, and so
    is any ``${...}``: a resolved config has none, and resolving one from a stored file
    would let whoever wrote it read this process's environment (``oc.env``). Extra LightGBM
    parameters under ``model.hyperparameters`` (added with ``+``) are kept.
    """
    try:
        loaded = OmegaConf.create(text)
        interpolated = interpolation_in(loaded)
        if interpolated is None:
            base = OmegaConf.structured(AppConfig)
            with open_dict(base.model.hyperparameters):
                node = OmegaConf.merge(base, loaded)
    except Exception as exc:
        raise ValueError(f"config at {where} does not fit this code's config: {exc}") from exc
    if interpolated is not None:
        raise ValueError(
            f"config at {where} holds an interpolation at {interpolated}: a resolved config "
            "has none; it is not loaded (rewrite the file from the run's config.yaml)"
        )
    return to_app_config(node)  # type: ignore[arg-type]


def interpolation_in(node: Any, path: str = "") -> str | None:
    """The dotted path of the first ``${...}`` value in an OmegaConf ``node``, or None."""
    if isinstance(node, DictConfig):
        keys: list[Any] = list(node.keys())
    elif isinstance(node, ListConfig):
        keys = list(range(len(node)))
    else:
        return None
    for key in keys:
        where = f"{path}.{key}" if path else str(key)
        if OmegaConf.is_interpolation(node, key):
            return where
        if OmegaConf.is_missing(node, key):
            continue
        found = interpolation_in(node[key], where)
        if found is not None:
            return found
    return None


def load_comparable(
    cfg: AppConfig, text: str, where: str, name: str
) -> tuple[AppConfig | None, str | None]:
    """Another run's config (e.g. the champion's) and, when it cannot be compared, why not."""
    try:
        other = from_resolved_yaml(text, where)
    except (ValueError, TypeError) as exc:
        return None, f"{name}: {exc}"
    return other, comparison_problem(cfg, other, name)


def comparison_problem(cfg: AppConfig, other: AppConfig, other_name: str) -> str | None:
    """Why ``other`` (e.g. the champion's config) cannot be scored on ``cfg``'s data, or None."""
    mine = (cfg.data.name, cfg.data.frequency, list(cfg.data.series_keys))
    theirs = (other.data.name, other.data.frequency, list(other.data.series_keys))
    if mine == theirs:
        return None
    return (
        f"{other_name} was trained on data {theirs[0]!r} at {theirs[1]} by {theirs[2]}, this "
        f"run on {mine[0]!r} at {mine[1]} by {mine[2]}: not comparable (set "
        "model.model_name to start a separate registry line, or promote by hand)"
    )
