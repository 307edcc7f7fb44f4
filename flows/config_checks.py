"""Rules for every numeric, name and path value of the composed config, checked before any work.

Hydra and the dataclasses of :mod:`flows.config` check keys and types; these rules check
values: ranges, non-empty lists, safe names (a model or data-set name becomes a folder)
and paths that must stay under ``data.output_path``. Every problem is collected and
raised together as one :class:`tasks.errors.ConfigError` naming the key, the value, the
rule and an example fix. Nothing here reads a file or the network.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import posixpath
import re
from typing import TYPE_CHECKING, Any

from tasks.data.aggregate import FREQUENCIES
from tasks.data.sources.generate import country_supported
from tasks.errors import ConfigError, Problem, shown
from tasks.model import hyperparameters
from tasks.model.candidates import BASELINES, SCALINGS, STATISTICAL
from tasks.model.combination import RECIPES
from tasks.model.features import DEFAULT_HORIZON, DEFAULT_LAGS, DEFAULT_SEASON, DEFAULT_WINDOWS

if TYPE_CHECKING:
    from flows.config import AppConfig

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_NAME_LENGTH = 100
MAX_SEED = 2**31 - 1  # LightGBM seeds are C ints
FILE_FORMATS = ("auto", "parquet", "csv")
MISSING_PERIODS = ("zero", "null")
FRACTION_CHECKS = (
    "quarantine_rate",
    "null_rate",
    "duplicate_rate",
    "late_rate",
    "vanished_series_rate",
    "filled_rate",
    "volume_drop",
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class _Checks:
    """Collects the problems found; :meth:`need` records one when its condition is false."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def need(self, ok: bool, key: str, value: object, rule: str, example: object) -> None:
        """Record ``key=value`` breaking ``rule`` unless ``ok``; ``example`` is a valid value."""
        if not ok:
            self.problems.append(Problem(key, value, rule, f"e.g. {key}={shown(example)}"))

    def integer(
        self, key: str, value: int | None, low: int, example: object, null: str = ""
    ) -> None:
        """``value`` is an integer >= ``low`` (or null, when ``null`` says what null means)."""
        if value is None and null:
            return
        rule = f"must be an integer >= {low}" + (f" (or null: {null})" if null else "")
        self.need(_is_int(value) and value is not None and value >= low, key, value, rule, example)

    def number(
        self, key: str, value: float | None, low: float, high: float, example: object, **kw: bool
    ) -> None:
        """``low <= value <= high``; ``open_low`` / ``open_high`` make that end strict."""
        open_low, open_high, null = kw.get("open_low"), kw.get("open_high"), kw.get("null")
        if value is None and null:
            return
        ok = _is_num(value) and value is not None and math.isfinite(value)
        if ok and value is not None:
            ok = (value > low if open_low else value >= low) and (
                value < high if open_high else value <= high
            )
        left, right = "(" if open_low else "[", ")" if open_high else "]"
        above = f"{'>' if open_low else '>='} {low:g}"
        span = above if high == math.inf else f"in {left}{low:g}, {high:g}{right}"
        self.need(ok, key, value, f"must be a number {span}", example)

    def one_of(self, key: str, value: object, allowed: tuple[object, ...]) -> None:
        """``value`` is one of ``allowed``."""
        rule = f"must be one of {', '.join(shown(a) for a in allowed)}"
        self.need(value in allowed, key, value, rule, allowed[0])

    def periods(self, key: str, value: list[int] | None, default: list[int]) -> None:
        """A non-empty list of integers >= 1, or null for the frequency's ``default``."""
        if value is None:
            return
        ok = bool(value) and all(_is_int(v) and v >= 1 for v in value)
        rule = f"must be a non-empty list of integers >= 1 (or null: {shown(default)})"
        self.need(ok, key, value, rule, default)

    def name(self, key: str, value: str, example: str) -> None:
        """A name that is safe as one folder name: letters, digits, '.', '_', '-'; no '..'."""
        ok = _safe(value)
        rule = (
            "must be a folder-safe name: letters, digits, '.', '_', '-', starting with a "
            f"letter or digit, no '..', at most {MAX_NAME_LENGTH} characters"
        )
        self.need(ok, key, value, rule, example)

    def pattern(self, key: str, value: str | None, regex: str, rule: str, example: str) -> None:
        """``value`` is null or matches ``regex``."""
        ok = value is None or re.match(regex, value) is not None
        self.need(ok, key, value, rule, example)

    def path(self, key: str, value: str | None, example: str, null: bool = False) -> None:
        """A non-empty path or URL without control characters."""
        if value is None and null:
            return
        ok = isinstance(value, str) and value.strip() != "" and not _CONTROL.search(value)
        self.need(ok, key, value, "must be a non-empty path or URL", example)

    def inside(self, key: str, value: str, root: str, example: str) -> None:
        """A path written under ``root`` (``data.output_path``) must not climb out of it."""
        prefix = root.rstrip("/") + "/"
        if not value.startswith(prefix):
            return  # set to somewhere else on purpose: that is allowed
        if any(p.key == "model.model_name" for p in self.problems):
            return  # the model name (part of the default paths) is already reported
        rest = posixpath.normpath(value[len(prefix) :].replace("\\", "/"))
        ok = rest != ".." and not rest.startswith("../")
        rule = f"is under data.output_path ({root}) but climbs out of it with '..'"
        self.need(ok, key, value, rule, example)


_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"  # a Kubernetes resource quantity


def _runner(c: _Checks, cfg: AppConfig) -> None:
    r, k = cfg.runner, cfg.runner.kubernetes
    c.one_of("runner.name", r.name, ("local", "dask"))
    c.one_of("runner.cluster", r.cluster, ("local", "kubernetes"))
    c.pattern("runner.address", r.address, r"^(tcp|tls)://[^\s/]+:[0-9]+$",
              "must be a scheduler address tcp://host:port", "tcp://127.0.0.1:8786")  # fmt: skip
    c.integer("runner.n_workers", r.n_workers, 1, 2)
    c.integer("runner.threads_per_worker", r.threads_per_worker, 1, 1)
    c.need(
        not r.distributed_training,
        "runner.distributed_training",
        r.distributed_training,
        "is not available with the served combination of candidates yet (its LightGBM members "
        "train on per-series scaled targets, in the flow's process; the windows still run on "
        "the cluster)",
        False,
    )
    c.integer("runner.kubernetes.n_workers", k.n_workers, 1, 4)
    c.name("runner.kubernetes.name", k.name, "sales-forecast-dask")
    for key in ("worker_cpu", "worker_memory", "scheduler_cpu", "scheduler_memory"):
        value = getattr(k, key)
        rule = "must be a Kubernetes quantity (2, 500m, 16Gi)"
        c.pattern(f"runner.kubernetes.{key}", value, _QUANTITY, rule, "16Gi")


def check(cfg: AppConfig) -> None:
    """Raise :class:`ConfigError` listing every value of ``cfg`` that breaks its rule."""
    problems = unknown_keys(cfg)
    c = _Checks()
    _data(c, cfg)
    _features_and_model(c, cfg)
    _evaluation_and_output(c, cfg)
    _monitoring(c, cfg)
    _runner(c, cfg)
    problems += c.problems
    params = dict(vars(cfg.model.hyperparameters))
    names = hyperparameters.name_problems(params)
    problems += names
    if not problems:  # LightGBM's own value checks, once names and ranges are sound
        problems = hyperparameters.value_problems(params, cfg.random_seed)
    if problems:
        raise ConfigError(problems)


def unknown_keys(cfg: AppConfig) -> list[Problem]:
    """Keys added with Hydra's ``+``/``++`` that no dataclass declares.

    ``model.hyperparameters`` is open to any LightGBM parameter; those names are checked
    against LightGBM's own (:mod:`tasks.model.hyperparameters`).
    """
    problems: list[Problem] = []

    def walk(node: Any, prefix: str) -> None:
        declared = [f.name for f in dataclasses.fields(node)]
        if prefix != f"{hyperparameters.KEY}.":
            for extra in sorted(set(vars(node)) - set(declared)):
                guess = difflib.get_close_matches(extra, declared, n=1)
                hint = f"did you mean {prefix}{guess[0]}?" if guess else "remove it"
                problems.append(Problem(f"{prefix}{extra}", vars(node)[extra], "no such key", hint))
        for name in declared:
            child = getattr(node, name)
            if dataclasses.is_dataclass(child) and not isinstance(child, type):
                walk(child, f"{prefix}{name}.")

    walk(cfg, "")
    return problems


def _data(c: _Checks, cfg: AppConfig) -> None:
    d = cfg.data
    c.name("data.name", d.name, "my-sales")
    c.path("data.input_path", d.input_path, "/data/sales/")
    c.path("data.output_path", d.output_path, "outputs")
    c.one_of("data.file_format", d.file_format, FILE_FORMATS)
    c.one_of("data.frequency", d.frequency, FREQUENCIES)
    keys = list(d.series_keys)
    ok = bool(keys) and len(set(keys)) == len(keys) and all(k.strip() for k in keys)
    c.need(
        ok,
        "data.series_keys",
        keys,
        "must be a non-empty list of distinct column names",
        ["region", "product_type"],
    )
    c.integer("data.late_tolerance_days", d.late_tolerance_days, 0, 1)
    c.need(
        all(isinstance(v, list) for v in d.allowed_categories.values()),
        "data.allowed_categories",
        dict(d.allowed_categories),
        "must map a column to a list of allowed values",
        {"region": ["north", "south"]},
    )
    names = vars(d.columns)
    for column, name in names.items():
        c.need(
            bool(name.strip()) and list(names.values()).count(name) == 1,
            f"data.columns.{column}",
            name,
            "must name a column of your files, one not mapped to another column too",
            f"my_{column}",
        )
    if d.builtin == "synthetic":
        _generator(c, cfg)
    pre = cfg.preprocessing
    c.number("preprocessing.min_revenue", pre.min_revenue, 0, math.inf, 0.0)
    c.one_of("preprocessing.missing_periods", pre.missing_periods, MISSING_PERIODS)


def _generator(c: _Checks, cfg: AppConfig) -> None:
    try:
        cfg.data.generator.to_spec().validate()
    except (ValueError, TypeError) as exc:
        found = re.match(r"GeneratorSpec\.([\w.]+):? (.*?)(?:, got (.*))?$", str(exc))
        name = found[1] if found else ""
        rule = found[2] if found else str(exc)
        value: Any = cfg.data.generator
        default: Any = type(cfg.data.generator)()
        for part in name.split(".") if name else []:
            value, default = getattr(value, part, None), getattr(default, part, None)
        key = f"data.generator.{name}" if name else "data.generator"
        c.need(False, key, value, rule, default)


def _features_and_model(c: _Checks, cfg: AppConfig) -> None:
    f, m, freq = cfg.features, cfg.model, cfg.data.frequency
    c.periods("features.lags", f.lags, DEFAULT_LAGS.get(freq, [1]))
    c.periods("features.window_sizes", f.window_sizes, DEFAULT_WINDOWS.get(freq, [7]))
    cats = list(f.categorical_columns)
    c.need(
        len(set(cats)) == len(cats),
        "features.categorical_columns",
        cats,
        "must not repeat a column",
        sorted(set(cats)),
    )
    country = f.holiday_country
    c.need(
        not country or country_supported(country),
        "features.holiday_country",
        country,
        "must be a country code the holidays package knows (or null: no holiday features)",
        "US",
    )
    default_name = f"sales-forecast-{cfg.data.name}"
    c.name("model.model_name", m.model_name, default_name if _safe(default_name) else "sales")
    c.integer("model.num_boost_round", m.num_boost_round, 1, 300)
    h, key = m.hyperparameters, hyperparameters.KEY
    c.number(f"{key}.learning_rate", h.learning_rate, 0, math.inf, 0.05, open_low=True)
    c.integer(f"{key}.num_leaves", h.num_leaves, 2, 31)
    c.integer(f"{key}.min_data_in_leaf", h.min_data_in_leaf, 0, 20)
    c.number(f"{key}.feature_fraction", h.feature_fraction, 0, 1, 0.9, open_low=True)
    c.number(f"{key}.bagging_fraction", h.bagging_fraction, 0, 1, 1.0, open_low=True)
    c.integer(f"{key}.bagging_freq", h.bagging_freq, 0, 0)
    c.number(f"{key}.lambda_l2", h.lambda_l2, 0, math.inf, 0.0)
    c.integer(f"{key}.num_threads", h.num_threads, 0, 2)
    _candidates(c, cfg)
    c.integer("random_seed", cfg.random_seed, 0, 42)
    c.need(
        cfg.random_seed <= MAX_SEED,
        "random_seed",
        cfg.random_seed,
        f"must be at most {MAX_SEED} (LightGBM seeds are 32-bit)",
        42,
    )


def _subset(c: _Checks, key: str, value: list[str], allowed: tuple[str, ...], empty: bool) -> None:
    """A list of distinct names from ``allowed`` (empty only when ``empty``)."""
    ok = (bool(value) or empty) and len(set(value)) == len(value)
    ok = ok and all(v in allowed for v in value)
    rule = f"must be a list of distinct names from {list(allowed)}"
    c.need(ok, key, list(value), rule, list(allowed[:1]))


def _candidates(c: _Checks, cfg: AppConfig) -> None:
    cand, comb, fc = cfg.model.candidates, cfg.model.combination, cfg.forecast
    _subset(c, "model.candidates.lightgbm", list(cand.lightgbm), SCALINGS, True)
    _subset(c, "model.candidates.baselines", list(cand.baselines), BASELINES, True)
    _subset(c, "model.candidates.statistical", list(cand.statistical), STATISTICAL, True)
    some = bool(cand.lightgbm or cand.baselines or cand.statistical)
    c.need(some, "model.candidates.baselines", [], "no candidate at all", list(BASELINES))
    for scaling, params in cand.overrides.items():
        c.need(
            scaling in SCALINGS and isinstance(params, dict),
            f"model.candidates.overrides.{scaling}",
            params,
            f"must map a scaling of {list(SCALINGS)} to LightGBM parameters",
            {"min_data_in_leaf": 100},
        )
    _subset(c, "model.combination.recipes", list(comb.recipes), tuple(RECIPES), False)
    c.integer("model.combination.lookback", comb.lookback, 1, 3)
    qs = list(fc.quantiles)
    ok = len(qs) >= 2 and len(set(qs)) == len(qs) and all(_is_num(q) and 0 < q < 1 for q in qs)
    rule = "must be at least two distinct numbers in (0, 1)"
    c.need(ok, "forecast.quantiles", qs, rule, [0.1, 0.5, 0.9])
    c.integer("forecast.interval_calibration_windows", fc.interval_calibration_windows, 1, 3)
    c.number("forecast.interval_spread_weight", fc.interval_spread_weight, 0, math.inf, 4.0)


def _evaluation_and_output(c: _Checks, cfg: AppConfig) -> None:
    e, fc, o, freq = cfg.evaluation, cfg.forecast, cfg.output, cfg.data.frequency
    keys = list(cfg.data.series_keys)
    default_h = DEFAULT_HORIZON.get(freq, 1)
    c.integer("forecast.horizon", fc.horizon, 1, default_h, null=f"{default_h} for {freq}")
    c.path("forecast.promo_plan_path", fc.promo_plan_path, "plans/promo.parquet", null=True)
    c.integer("evaluation.backtest_windows", e.backtest_windows, 1, 6)
    season = DEFAULT_SEASON.get(freq, 1)
    c.integer("evaluation.season_length", e.season_length, 1, season, null=f"{season} for {freq}")
    c.integer(
        "evaluation.moving_average_window",
        e.moving_average_window,
        1,
        season,
        null="the season length",
    )
    c.need(
        e.segment_by in keys,
        "evaluation.segment_by",
        e.segment_by,
        f"must be one of data.series_keys {keys}",
        keys[-1] if keys else "product_type",
    )
    c.number(
        "evaluation.min_improvement", e.min_improvement, -1, 1, 0.0, open_low=True, open_high=True
    )
    c.number("evaluation.max_regression", e.max_regression, 0, math.inf, 0.05)
    c.integer("evaluation.tolerance_reference_champions", e.tolerance_reference_champions, 1, 5)
    c.one_of("mode", cfg.mode, ("experiment", "production"))
    c.path("output.result_storage", o.result_storage, f"{cfg.data.output_path}/cache")
    c.inside(
        "output.result_storage",
        o.result_storage,
        cfg.data.output_path,
        f"{cfg.data.output_path}/cache",
    )
    c.integer("output.task_retries", o.task_retries, 0, 3)
    c.number("output.task_retry_delay_seconds", o.task_retry_delay_seconds, 0, math.inf, 2.0)
    c.integer("output.report_top_n", o.report_top_n, 0, 3)
    c.integer("output.report_link_expiry_seconds", o.report_link_expiry_seconds, 1, 604800)
    c.need(
        o.report_link_expiry_seconds <= 604800,
        "output.report_link_expiry_seconds",
        o.report_link_expiry_seconds,
        "must be at most 604800 (7 days: S3's limit for pre-signed links)",
        604800,
    )
    chosen = o.report_series
    c.need(
        chosen is None or set(chosen) == set(keys),
        "output.report_series",
        chosen,
        f"must give a value for exactly the series keys {keys} (or null)",
        dict.fromkeys(keys, "..."),
    )
    c.pattern(
        "storage.endpoint_url",
        cfg.storage.endpoint_url,
        r"^https?://[^\s/]+",
        "must be an http(s):// URL (or null)",
        "http://127.0.0.1:9000",
    )


def _monitoring(c: _Checks, cfg: AppConfig) -> None:
    mon = cfg.monitoring
    c.integer("monitoring.trailing_runs", mon.trailing_runs, 1, 7)
    c.path("monitoring.history_path", mon.history_path, f"{cfg.data.output_path}/monitoring")
    c.inside(
        "monitoring.history_path",
        mon.history_path,
        cfg.data.output_path,
        f"{cfg.data.output_path}/monitoring/{cfg.model.model_name}",
    )
    for name, limit in vars(mon.quality).items():
        key = f"monitoring.quality.{name}"
        high = 1.0 if name in FRACTION_CHECKS else math.inf
        for level in ("warn", "hard"):
            value = getattr(limit, level)
            c.number(f"{key}.{level}", value, 0, high, 0.1 if high == 1 else 1, null=True)
    d, a = mon.drift, mon.accuracy
    c.integer("monitoring.drift.bins", d.bins, 2, 10)
    c.number("monitoring.drift.warn", d.warn, 0, math.inf, 0.1)
    c.number("monitoring.drift.alert", d.alert, 0, math.inf, 0.25)
    c.number("monitoring.drift.epsilon", d.epsilon, 0, 0.5, 1e-4, open_low=True, open_high=True)
    c.integer("monitoring.drift.window_periods", d.window_periods, 1, 56, null="per frequency")
    c.integer("monitoring.drift.min_rows", d.min_rows, 1, 200)
    usable = list(dict.fromkeys([*cfg.data.series_keys, *cfg.features.categorical_columns]))
    c.need(
        set(d.segment_by) <= set(usable),
        "monitoring.drift.segment_by",
        list(d.segment_by),
        f"must name series keys or categorical columns ({usable})",
        usable[-1:],
    )
    c.number("monitoring.accuracy.margin", a.margin, 0, math.inf, 0.25)
    c.integer("monitoring.accuracy.min_points", a.min_points, 1, 50)
    c.integer("monitoring.accuracy.recent_runs", a.recent_runs, 1, 7)
    c.integer("monitoring.accuracy.max_forecast_age_days", a.max_forecast_age_days, 1, 120)
    c.name("monitoring.alerts.event_prefix", mon.alerts.event_prefix, "sales-forecast")


def _safe(name: object) -> bool:
    return (
        isinstance(name, str)
        and bool(SAFE_NAME.match(name))
        and ".." not in name
        and len(name) <= MAX_NAME_LENGTH
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_num(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
