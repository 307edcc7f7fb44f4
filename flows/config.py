"""Structured config for the pipeline: one dataclass per Hydra group, composed from ``conf/``.

Every default lives here, once: a YAML option in ``conf/`` lists only what it changes
(``conf/data/aus_retail.yaml``) or what it reads from the environment. Priority, highest
first: the run's overrides (command line) → environment (``SALES_FORECAST__*`` variables,
:mod:`flows.layers`; and ``${oc.env:...}`` in YAML) → YAML option → dataclass default.
Secrets never live here.

``conf/`` is read from the source checkout when there is one, else from the copy the wheel
carries (``flows/conf``). Users add their own group options (``data=mydata``) from folders
on Hydra's search path: ``--config-dir DIR`` on the command line, or
``$SALES_FORECAST_CONFIG_DIR`` (folders separated by ``:``) for every way of composing,
deployed runs included.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf, open_dict

from flows import config_checks, config_schema, layers
from tasks.data.sources.defects import DefectRates
from tasks.data.sources.generate import GeneratorSpec
from tasks.errors import ConfigError, Problem
from tasks.model import hyperparameters


def _conf_dir() -> Path:
    """``conf/`` of the source checkout this module is in, else the wheel's copy beside it."""
    here = Path(__file__).resolve().parent
    checkout = here.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "conf" / "config.yaml").is_file():
        return checkout / "conf"
    return here / "conf"


CONF_DIR = _conf_dir()
CONFIG_NAME = "config"
CONFIG_DIR_ENV = "SALES_FORECAST_CONFIG_DIR"
SEARCH_PATH_RESOLVER = "sales_forecast_config_dirs"  # conf/config.yaml: hydra.searchpath
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
class ColumnsConfig:
    """The name of each raw-contract column in your files (``data.columns.date=order_date``).

    Each defaults to the contract's own name; ingest renames the named column to it.
    """

    date: str = "date"
    region: str = "region"
    product_type: str = "product_type"
    revenue: str = "revenue"
    units: str = "units"
    unit_price: str = "unit_price"
    promo: str = "promo"
    store_id: str = "store_id"


@dataclass
class DataConfig:
    """Where the raw sales come from, where outputs go, and the time grain."""

    name: str = MISSING
    input_path: str = MISSING
    output_path: str = "${oc.env:SALES_OUTPUT_PATH,outputs}"
    file_format: str = "auto"  # auto, parquet or csv
    frequency: str = "1d"  # 1d, 1w or 1mo
    series_keys: list[str] = field(default_factory=lambda: ["region", "product_type"])
    columns: ColumnsConfig = field(default_factory=ColumnsConfig)  # your names for the columns
    # column -> allowed values ({}: any value); open: data.allowed_categories.region=[a,b]
    allowed_categories: dict[str, list[str]] = field(default_factory=dict)
    late_tolerance_days: int = 1  # rows arriving later than this after their date count as late
    builtin: str | None = None  # synthetic or aus_retail: a bundled data set, prepared on first use
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)


@dataclass
class PreprocessingConfig:
    """Cleaning rules and panel construction."""

    min_revenue: float = 0.0
    repair_revenue: bool = True  # null revenue = units x unit_price where both are known
    # category values trimmed, inner spaces collapsed, lower-cased (a counted clean rule)
    normalize_categories: bool = True
    # column -> {variant: value}, applied after normalising (no `+` needed):
    # preprocessing.category_aliases.region.nord=north
    category_aliases: dict[str, dict[str, str]] = field(default_factory=dict)
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
class CandidatesConfig:
    """What the combination chooses from (``tasks.model.candidates``). LightGBM per target
    scaling: mean = y / series mean (tweedie), standard = (y - mean) / sd + 10 (L2)."""

    lightgbm: list[str] = field(default_factory=lambda: ["mean", "standard"])  # target scalings
    overrides: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"mean": {"min_data_in_leaf": 100}}
    )  # LightGBM parameters per scaling, over model.hyperparameters
    baselines: list[str] = field(
        default_factory=lambda: ["seasonal_naive", "moving_average", "naive"]
    )
    statistical: list[str] = field(default_factory=list)  # auto_ets, auto_theta, mstl (costly)


@dataclass
class CombinationConfig:
    """How candidates are combined: recipes tried (best: the best candidate; top2: the best
    two; all: every candidate; weighted 1/WAPE), windows weights and choice look back on."""

    recipes: list[str] = field(default_factory=lambda: ["best", "top2", "all"])
    lookback: int = 3


@dataclass
class ModelConfig:
    """The forecasting model (LightGBM) and the registry line it is registered under."""

    model_name: str = "sales-forecast-${data.name}"  # one registry line per data set
    num_boost_round: int = 300
    hyperparameters: LightGBMHyperparameters = field(default_factory=LightGBMHyperparameters)
    candidates: CandidatesConfig = field(default_factory=CandidatesConfig)
    combination: CombinationConfig = field(default_factory=CombinationConfig)


@dataclass
class EvaluationConfig:
    """Rolling-origin backtest (``backtest_windows`` windows of ``forecast.horizon`` periods),
    baselines and the promotion gate."""

    backtest_windows: int = 6  # the combination is chosen on 3 earlier windows, scored on 3
    season_length: int | None = None  # null: 7 (1d), 52 (1w), 12 (1mo)
    moving_average_window: int | None = None  # null: the season length
    segment_by: str = "product_type"
    min_improvement: float = 0.0  # model WAPE must beat the best baseline by this fraction
    max_regression: float = 0.05  # ... and be at most this fraction worse than the champion's
    tolerance_reference_champions: int = 5  # max_regression is from the best of the last N


@dataclass
class ForecastConfig:
    """What to forecast."""

    horizon: int | None = None  # null: 28 (1d), 13 (1w), 6 (1mo) periods
    promo_plan_path: str | None = None  # parquet/CSV of planned promotions: keys, date, promo
    quantiles: list[float] = field(default_factory=lambda: [0.1, 0.5, 0.9])  # p10, p50, p90
    interval_calibration_windows: int = 3  # backtest windows the conformal quantiles come from
    interval_spread_weight: float = 4.0  # interval scale: mean |forecast| + this x candidates' sd


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
    report_link_expiry_seconds: int = 604800  # pre-signed report links on S3 (7 days: the most)


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
    mode: str = "experiment"  # "production" promotes and serves; "experiment" only registers


# Maps whose keys are the user's (column names): set without Hydra's ``+``.
OPEN_MAPS = ("data.allowed_categories", "preprocessing.category_aliases")


@functools.cache
def schema_node() -> DictConfig:
    """The structured schema, with the :data:`OPEN_MAPS` accepting new keys (built once;
    read it, do not change it).

    Hydra puts the whole config in struct mode (a new key needs ``+``); a node's own flag
    wins over the one it inherits, so ``data.allowed_categories.region=[a,b]`` just works
    while a mistyped key elsewhere is still refused.
    """
    node: DictConfig = OmegaConf.structured(AppConfig)
    for key in OPEN_MAPS:
        OmegaConf.set_struct(OmegaConf.select(node, key), False)
    return node


def register_configs() -> None:
    """Register the structured schema and the search-path resolver of ``conf/config.yaml``."""
    ConfigStore.instance().store(name="base_config", node=schema_node())
    if not OmegaConf.has_resolver(SEARCH_PATH_RESOLVER):
        OmegaConf.register_new_resolver(SEARCH_PATH_RESOLVER, user_config_dirs)


def user_config_dirs() -> list[str]:
    """Hydra search-path entries (``file://...``) for the folders in ``$SALES_FORECAST_CONFIG_DIR``.

    Relative folders resolve against the current directory. A folder that does not exist
    is an error naming it, instead of a group option that silently is not found.
    """
    entries = []
    for part in os.environ.get(CONFIG_DIR_ENV, "").split(os.pathsep):
        if not part.strip():
            continue
        folder = Path(part.strip()).expanduser().resolve()
        if not folder.is_dir():
            raise ConfigError(
                f"{CONFIG_DIR_ENV} names {part.strip()!r} ({folder}), which is not a folder: "
                "point it at the folder that holds your config groups (e.g. DIR/data/mydata.yaml)"
            )
        entries.append(f"file://{folder}")
    return entries


def config_groups() -> list[str]:
    """The config groups (``conf/<group>/``)."""
    return sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir())


def env_overrides() -> dict[str, str]:
    """The environment's layer: ``SALES_FORECAST__*`` variables as overrides, by variable
    (:mod:`flows.layers`)."""
    return layers.env_overrides(schema_node(), config_groups(), OPEN_MAPS)


def compose_config(overrides: list[str] | None = None) -> DictConfig:
    """Compose ``conf/config.yaml`` with the environment's layer (``SALES_FORECAST__*``)
    and then Hydra override strings (which win), inside or outside a Hydra app."""
    register_configs()
    env = env_overrides()
    layered = [*env.values(), *(overrides or [])]
    try:
        if GlobalHydra.instance().is_initialized():
            return compose(config_name=CONFIG_NAME, overrides=layered)
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(config_name=CONFIG_NAME, overrides=layered)
    except Exception as exc:
        culprit = next((v for v, o in env.items() if o in str(exc)), None)
        if culprit is None:
            raise
        rule = f"does not fit the config ({exc})"
        fix = "give it a value of the key's type, or unset it"
        raise ConfigError([Problem(culprit, os.environ[culprit], rule, fix)]) from exc


def config_sources(node: DictConfig, overrides: list[str]) -> dict[str, str]:
    """Which layer (``cli``, ``env``, ``yaml``) set each key of ``node`` that differs from
    its dataclass default; ``overrides`` are the run's own (:func:`layers.config_sources`)."""
    return layers.config_sources(node, schema_node(), overrides, env_overrides(), config_groups())


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


RUN_ONLY_KEYS = ("mode",)  # say how a run acts, not what it builds: not in the config digest


def config_digest(config_yaml: str) -> str:
    """SHA-256 of a resolved config (:func:`resolved_yaml`) without :data:`RUN_ONLY_KEYS`:
    the registry's config identity (an experiment and a production run of the same config
    build the same model)."""
    loaded = OmegaConf.to_container(OmegaConf.create(config_yaml), resolve=False)
    assert isinstance(loaded, dict)
    values = {k: v for k, v in loaded.items() if k not in RUN_ONLY_KEYS}
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def as_dict(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as a plain JSON-able dict."""
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    return {str(k): v for k, v in container.items()}


def from_resolved_yaml(text: str, where: str) -> AppConfig:
    """A run's resolved ``config.yaml`` as typed dataclasses (:func:`load_stored`, keys this
    code does not know set aside)."""
    return load_stored(text, where, config_schema.CONFIG_SCHEMA_VERSION)[0]


def load_stored(text: str, where: str, schema_version: int | None) -> tuple[AppConfig, list[str]]:
    """A stored resolved ``config.yaml`` (e.g. a registered champion's) as typed dataclasses,
    and the keys this code does not know, which were set aside.

    The text is migrated from its ``schema_version`` (None: before versions recorded one)
    to this code's (:mod:`flows.config_schema`); keys still unknown after that are left
    out, so a renamed or removed key never makes an old champion unusable. Extra LightGBM
    parameters under ``model.hyperparameters`` are kept when LightGBM knows their name;
    keys this code retired (:data:`RETIRED_KEYS`) are dropped without a word.
    Any ``${...}`` is an error naming ``where``: a resolved config has none, and resolving
    one from a stored file would let whoever wrote it read this process's environment.

    Raises
    ------
    ValueError
        The text is not a YAML mapping, holds an interpolation, or a value breaks its rule.
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
            plain = OmegaConf.to_container(loaded, resolve=False)
            if not isinstance(plain, dict):
                raise ValueError("not a mapping")
            migrated = config_schema.migrate({str(k): v for k, v in plain.items()}, schema_version)
            kept, dropped = config_schema.split_unknown(
                migrated, AppConfig(), {hyperparameters.KEY: _lightgbm_name}
            )
            base = OmegaConf.structured(AppConfig)
            with open_dict(base.model.hyperparameters):
                node = OmegaConf.merge(base, kept)
    except Exception as exc:
        raise ValueError(f"config at {where} does not fit this code's config: {exc}") from exc
    if interpolated is not None:
        raise ValueError(
            f"config at {where} holds an interpolation at {interpolated}: a resolved config "
            "has none; it is not loaded (rewrite the file from the run's config.yaml)"
        )
    try:
        return to_app_config(node), dropped  # type: ignore[arg-type]
    except ConfigError as exc:
        raise ValueError(f"config at {where} breaks this code's rules: {exc}") from exc


def _lightgbm_name(name: str) -> bool:
    return not hyperparameters.name_problems({name: None})


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
    cfg: AppConfig, text: str, where: str, name: str, schema_version: int | None = None
) -> tuple[AppConfig | None, str | None, list[str]]:
    """Another run's stored config (e.g. the champion's, :func:`load_stored`), why it cannot
    be compared (or None), and the keys this code does not know, which were set aside."""
    try:
        other, dropped = load_stored(text, where, schema_version)
    except (ValueError, TypeError) as exc:
        return None, f"{name}: {exc}", []
    return other, comparison_problem(cfg, other, name), dropped


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
