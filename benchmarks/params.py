"""The benchmark's view of the pipeline config: composed once by the harness, read by cases.

The pandas, floor and mlforecast cases get the same lags, windows, rules and LightGBM
settings as the pipeline from this JSON file, without importing Hydra or ``tasks``.
"""

# ruff: noqa: PLC0415  (imports inside functions: a case process loads only what it measures)

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class BenchParams:
    """Everything a case needs to reproduce the pipeline's semantics on one data set."""

    input_path: str
    overrides: list[str]
    series_keys: list[str]
    frequency: str
    lags: list[int]
    window_sizes: list[int]
    categorical_columns: list[str]
    holiday_country: str | None
    use_promo: bool
    normalize: bool
    feature_names: list[str]
    calendar_columns: list[str]
    lookback: int  # periods of history one forecast row needs (FeatureSpec.lookback)
    scale_window: int  # periods averaged for a row's scale (FeatureSpec.scale_window)
    min_revenue: float
    repair_revenue: bool
    allowed_categories: dict[str, list[str]]
    hyperparameters: dict[str, Any]
    num_boost_round: int
    seed: int
    horizon: int
    backtest_windows: int
    extra: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | Path) -> None:
        """Write as JSON."""
        Path(path).write_text(json.dumps(dataclasses.asdict(self), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> BenchParams:
        """Read what :meth:`save` wrote."""
        return cls(**json.loads(Path(path).read_text()))


def data_overrides(input_path: str) -> list[str]:
    """Overrides that point the default config at an existing raw data set (no generation)."""
    from flows.config import DataConfig

    names = {f.name for f in dataclasses.fields(DataConfig)}
    out = [f"data.input_path={input_path}"]
    if "generate" in names:
        out.append("data.generate=false")
    if "builtin" in names:
        out.append("data.builtin=null")
    return out


def compose(
    input_path: str, extra_overrides: list[str], backtest_windows: int | None
) -> BenchParams:
    """Compose the project's default config for ``input_path`` and map it for the cases."""
    from flows import config as conf
    from flows import plan
    from tasks.model.features import CALENDAR_COLUMNS

    overrides = [*data_overrides(input_path), *extra_overrides]
    if backtest_windows is not None:
        overrides.append(f"evaluation.backtest_windows={backtest_windows}")
    cfg = conf.to_app_config(conf.compose_config(overrides))
    chain = plan.chain_params(cfg)
    spec, clean, panel = chain.features, chain.clean, chain.panel
    calendar = (
        [c for c in CALENDAR_COLUMNS[spec.frequency] if c in spec.feature_names]
        if spec.calendar
        else []
    )
    return BenchParams(
        input_path=input_path,
        overrides=overrides,
        series_keys=list(spec.series_keys),
        frequency=spec.frequency,
        lags=list(spec.lags),
        window_sizes=list(spec.window_sizes),
        categorical_columns=list(spec.categorical_columns),
        holiday_country=spec.holiday_country,
        use_promo=spec.use_promo,
        normalize=spec.normalize,
        feature_names=list(spec.feature_names),
        calendar_columns=calendar,
        lookback=spec.lookback,
        scale_window=spec.scale_window,
        min_revenue=clean.min_revenue,
        repair_revenue=clean.repair_revenue,
        allowed_categories=dict(clean.allowed_categories),
        hyperparameters=dict(chain.train.hyperparameters),
        num_boost_round=chain.train.num_boost_round,
        seed=chain.train.seed,
        horizon=chain.forecast.horizon,
        backtest_windows=chain.backtest.windows,
        extra={
            "missing_periods": panel.missing_periods,
            "drop_incomplete_periods": panel.drop_incomplete,
        },
    )
