"""Structured config for the pipeline: one dataclass per Hydra group, composed from ``conf/``.

Every default lives here, once: a YAML option in ``conf/`` lists only what it changes
(``conf/data/aus_retail.yaml``) or what it reads from the environment. Priority, highest
first: CLI override → environment variable (``${oc.env:...}`` in YAML) → YAML option →
dataclass default. Secrets never live here.
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
# Keys this code no longer has; a stored config (a champion's config.yaml) may still hold them.
RETIRED_KEYS = ("model.name", "monitoring.alerts.notify_block")
_GEN = GeneratorSpec()  # the generator's defaults are its own (``python -m tasks.generate``)
_RATES = _GEN.defects


@dataclass
class DefectRatesConfig:
    """Rates of each defect the synthetic generator injects (fractions of rows)."""

    null_revenue: float = _RATES.null_revenue
    negative_revenue: float = _RATES.negative_revenue
    duplicate: float = _RATES.duplicate
    bad_date: float = _RATES.bad_date
    unknown_category: float = _RATES.unknown_category
    late: float = _RATES.late


@dataclass
class GeneratorConfig:
    """Synthetic data generator settings (``data.builtin=synthetic``); defaults: GeneratorSpec."""

    seed: int = _GEN.seed
    start: str = _GEN.start
    days: int = _GEN.days
    regions: list[str] = field(default_factory=lambda: list(_GEN.regions))
    product_types: list[str] = field(default_factory=lambda: list(_GEN.product_types))
    stores_per_region: int = _GEN.stores_per_region
    transactions_per_day: float = _GEN.transactions_per_day
    promo_rate: float = _GEN.promo_rate
    promo_lift: float = _GEN.promo_lift
    late_max_days: int = _GEN.late_max_days
    holiday_country: str = _GEN.holiday_country
    file_format: str = _GEN.file_format
    defects: DefectRatesConfig = field(default_factory=DefectRatesConfig)

    def to_spec(self) -> GeneratorSpec:
        """The generator's own spec (its checks: :meth:`GeneratorSpec.validate`)."""
        values: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(GeneratorSpec)}
        values["regions"], values["product_types"] = tuple(self.regions), tuple(self.product_types)
        rates = {f.name: getattr(self.defects, f.name) for f in fields(DefectRates)}
        values["defects"] = DefectRates(**rates)
        return GeneratorSpec(**values)


@dataclass
class DataConfig:
    """Where the raw sales come from, where outputs go, and the time grain."""

    name: str = MISSING
    input_path: str = MISSING
    output_path: str = "${oc.env:SALES_OUTPUT_PATH,outputs}"
    file_format: str = "auto"  # auto, parquet or csv
    frequency: str = "1d"  # 1d, 1w or 1mo
    series_keys: list[str] = field(default_factory=lambda: ["region", "product_type"])
    allowed_categories: dict[str, list[str]] = field(default_factory=dict)  # {} = any value
    late_tolerance_days: int = 1  # rows arriving later than this after their date count as late
    builtin: str | None = None  # synthetic or aus_retail: a bundled data set, prepared on first use
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)


@dataclass
class PreprocessingConfig:
    """Cleaning rules and panel construction."""

    min_revenue: float = 0.0
    repair_revenue: bool = True  # null revenue = units x unit_price where both are known
    missing_periods: str = "zero"  # a period without sales rows: zero sales, or "null" (unknown)
    drop_incomplete_periods: bool = True  # partly covered periods at either end are dropped


@dataclass
class FeaturesConfig:
    """Lags and windows in periods of ``data.frequency`` (``null``: the frequency's default,
    1d: lags [1, 7, 14, 28], windows [7, 28]; 1w: [1, 2, 4, 52], [4, 13]; 1mo: [1, 2, 3, 12],
    [3, 12]), calendar, holidays, promotions and categoricals."""

    lags: list[int] | None = None
    window_sizes: list[int] | None = None
    categorical_columns: list[str] = field(default_factory=lambda: ["region", "product_type"])
    calendar: bool = True
    holiday_country: str | None = "US"
    use_promo: bool = True
    normalize: bool = True  # learn in units of each series' recent level (longest window's mean)


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
    """The forecasting model (LightGBM) and the registry line it is registered under."""

    model_name: str = "sales-forecast-${data.name}"  # one registry line per data set
    num_boost_round: int = 300
    hyperparameters: LightGBMHyperparameters = field(default_factory=LightGBMHyperparameters)


@dataclass
class EvaluationConfig:
    """Rolling-origin backtest (``backtest_windows`` windows of ``forecast.horizon`` periods),
    baselines and the promotion gate."""

    backtest_windows: int = 3
    season_length: int | None = None  # null: 7 (1d), 52 (1w), 12 (1mo)
    moving_average_window: int | None = None  # null: the season length
    segment_by: str = "product_type"
    min_improvement: float = 0.0  # model WAPE must beat seasonal naive by this fraction
    max_regression: float = 0.05  # ... and be at most this fraction worse than the champion's


@dataclass
class ForecastConfig:
    """What to forecast."""

    horizon: int | None = None  # null: 28 (1d), 13 (1w), 6 (1mo) periods
    promo_plan_path: str | None = None  # parquet/CSV of planned promotions: keys, date, promo


@dataclass
class OutputConfig:
    """Where task results are cached, how tasks retry, and the run report."""

    cache: bool = True
    result_storage: str = "${data.output_path}/cache"
    cache_key_block: str | None = None  # Secret block with the cache's HMAC key (a name only)
    task_retries: int = 3  # I/O tasks retry transient failures this often ...
    task_retry_delay_seconds: float = 2.0  # ... after this, doubling each time (2, 4, 8 s)
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

    # quarantined / rows in
    quarantine_rate: ThresholdConfig = field(default_factory=lambda: ThresholdConfig(0.05, 0.20))
    # per required column
    null_rate: ThresholdConfig = field(default_factory=lambda: ThresholdConfig(0.02, 0.10))
    # exact duplicate rows / rows in
    duplicate_rate: ThresholdConfig = field(default_factory=lambda: ThresholdConfig(0.02, 0.10))
    # rows arriving late
    late_rate: ThresholdConfig = field(default_factory=lambda: ThresholdConfig(0.05, None))
    # 1 - rows in / trailing median
    volume_drop: ThresholdConfig = field(default_factory=lambda: ThresholdConfig(0.20, 0.50))
    # rows in / trailing median - 1
    volume_rise: ThresholdConfig = field(default_factory=lambda: ThresholdConfig(1.00, None))
    # series of the last run gone
    vanished_series_rate: ThresholdConfig = field(
        default_factory=lambda: ThresholdConfig(0.0, 0.25)
    )
    # series not seen in the previous run
    new_series: ThresholdConfig = field(default_factory=lambda: ThresholdConfig(0.0, None))
    # new values of the series keys
    new_categories: ThresholdConfig = field(default_factory=lambda: ThresholdConfig(0.0, None))
    # periods in the span with no data
    coverage_gaps: ThresholdConfig = field(default_factory=lambda: ThresholdConfig(0.0, None))
    # panel periods filled in
    filled_rate: ThresholdConfig = field(default_factory=lambda: ThresholdConfig(0.10, 0.50))


@dataclass
class DriftConfig:
    """Population stability index of features and target against the champion's profile:
    below ``warn`` stable, above ``alert`` a major shift (emits the drift alert)."""

    bins: int = 10  # quantile bins of each numeric feature in the reference profile
    warn: float = 0.1
    alert: float = 0.25
    epsilon: float = 1e-4  # floor for empty bins
    window_periods: int | None = None  # latest periods compared; null: 56 (1d), 13 (1w), 6 (1mo)
    segment_by: list[str] = field(default_factory=lambda: ["product_type"])
    min_rows: int = 200  # a frame or segment with fewer current rows is not judged
    alert_on_segments: bool = False  # true: a segment's alert alone raises the drift alert
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

    margin: float = 0.25  # realised WAPE > backtest WAPE x (1 + margin): degraded
    min_points: int = 50  # realised (forecast, actual) pairs needed before judging
    recent_runs: int = 7  # realised WAPE of the forecasts of the latest runs is judged
    max_forecast_age_days: int = 120  # serving forecasts older than this are not re-read
    segment_by: str = "product_type"


@dataclass
class AlertsConfig:
    """Prefect events for breaches (``<prefix>.quality.breach``, ``.drift.alert``, ...); who
    is notified is set with the automations (``make automations``), not here."""

    enabled: bool = True
    event_prefix: str = "sales-forecast"


@dataclass
class MonitoringConfig:
    """Data quality, drift, realised accuracy and alerts (``conf/monitoring``)."""

    enabled: bool = True
    trailing_runs: int = 7  # volume is compared with the median of this many runs
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
    # Kubernetes Secret objects the pods read their environment from (names only; created
    # out of band, like the flow-run Job's)
    env_from: list[str] = field(
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
    parameters under ``model.hyperparameters`` (added with ``+``) are kept; keys this code
    retired (:data:`RETIRED_KEYS`), which older runs wrote, are dropped.
    """
    try:
        loaded = OmegaConf.create(text)
        for key in RETIRED_KEYS:
            parent, _, leaf = key.rpartition(".")
            section = OmegaConf.select(loaded, parent)
            if isinstance(section, DictConfig) and leaf in section:
                section.pop(leaf)
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
