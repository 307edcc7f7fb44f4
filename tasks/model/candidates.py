"""Candidates of the forecast: LightGBM with a per-series target scaling, and baselines.

A LightGBM candidate learns a scaled target, so one model serves large and small series
and a trend stays inside the range the trees have seen:

* ``mean``: y / μ, the pipeline's objective (tweedie);
* ``standard``: (y − μ) / σ + 10, L2 objective. The shift keeps the model's zero clip from
  binding; trees are unchanged by a constant shift.

μ and σ are each series' mean and standard deviation over the training rows only; they
are kept with the model (:class:`ScaledMember`), since the LightGBM text does not hold them.
The recursive forecast feeds back *scaled* predictions; they are un-scaled at the end,
then clipped at zero. The members' rolling level normalisation is off: the series scaling
replaces it. ``lightgbm`` is the equal-weight mean of the members.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from tasks.model import baselines
from tasks.model.features import TARGET, FeatureSpec, build_features
from tasks.model.forecast import recursive_forecast
from tasks.model.train import TrainedModel, TrainParams, train_model

SCALINGS = ("mean", "standard")
BASELINES = ("naive", "seasonal_naive", "moving_average")
STATISTICAL = ("auto_ets", "auto_theta", "mstl")
LIGHTGBM = "lightgbm"  # the candidate: mean of the LightGBM members
SHIFT = 10.0  # standardised targets are shifted by this many s.d. (see the module doc)


@dataclass(frozen=True)
class CandidateParams:
    """Which candidates run (``model.candidates``) and the baselines' season and window."""

    lightgbm: list[str]
    overrides: dict[str, dict[str, Any]]
    baselines: list[str]
    statistical: list[str]
    season_length: int
    moving_average_window: int

    def __post_init__(self) -> None:
        for key, given, allowed in (
            ("lightgbm", self.lightgbm, SCALINGS),
            ("baselines", self.baselines, BASELINES),
            ("statistical", self.statistical, STATISTICAL),
        ):
            bad = [v for v in given if v not in allowed]
            if bad:
                raise ValueError(
                    f"model.candidates.{key} has {bad}; allowed: {list(allowed)} "
                    f"(set e.g. model.candidates.{key}=[{allowed[0]}])"
                )
        if not (self.lightgbm or self.baselines or self.statistical):
            raise ValueError("model.candidates: no candidate at all; keep at least one")

    @property
    def names(self) -> list[str]:
        """Candidate names in their fixed order (ties are broken by this order)."""
        return ([LIGHTGBM] if self.lightgbm else []) + list(self.statistical) + list(self.baselines)


@dataclass(frozen=True)
class ScaledMember:
    """A LightGBM member: its booster and each series' scaling statistics (keys, mu, sd)."""

    scaling: str
    model: TrainedModel
    stats: pl.DataFrame

    @property
    def name(self) -> str:
        """``lgbm_mean`` or ``lgbm_standard``."""
        return f"lgbm_{self.scaling}"


def scaling_stats(history: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """keys, mu, sd of each series' target over ``history`` (1 where zero or undefined)."""
    y = pl.col(TARGET).cast(pl.Float64)
    stats = history.group_by(keys).agg(y.mean().alias("mu"), y.std().alias("sd"))
    return stats.with_columns(
        pl.when(pl.col("mu").abs() > 0).then(pl.col("mu")).otherwise(1.0).alias("mu"),
        pl.when(pl.col("sd") > 0).then(pl.col("sd")).otherwise(1.0).alias("sd"),
    ).sort(keys)


def scale(panel: pl.DataFrame, stats: pl.DataFrame, keys: list[str], scaling: str) -> pl.DataFrame:
    """The panel with its target scaled per series (series without stats are dropped)."""
    y = pl.col(TARGET).cast(pl.Float64)
    forward = y / pl.col("mu") if scaling == "mean" else (y - pl.col("mu")) / pl.col("sd") + SHIFT
    return (
        panel.join(stats, on=keys, how="inner").with_columns(forward.alias(TARGET)).drop("mu", "sd")
    )


def unscale(
    frame: pl.DataFrame, stats: pl.DataFrame, keys: list[str], scaling: str
) -> pl.DataFrame:
    """Forecasts back on the raw scale, clipped at zero."""
    f = pl.col("forecast")
    back = f * pl.col("mu") if scaling == "mean" else (f - SHIFT) * pl.col("sd") + pl.col("mu")
    return (
        frame.join(stats, on=keys, how="left")
        .with_columns(back.clip(lower_bound=0.0).alias("forecast"))
        .drop("mu", "sd")
    )


def member_spec(spec: FeatureSpec) -> FeatureSpec:
    """The features a member learns from: the run's, without rolling level normalisation."""
    return replace(spec, normalize=False)


def member_train_params(train: TrainParams, scaling: str, params: CandidateParams) -> TrainParams:
    """The run's LightGBM parameters with the scaling's objective and overrides."""
    hyper = dict(train.hyperparameters)
    if scaling == "standard":
        hyper["objective"] = "regression"
    hyper.update(params.overrides.get(scaling, {}))
    return replace(train, hyperparameters=hyper)


def fit_member(
    history: pl.DataFrame,
    spec: FeatureSpec,
    train: TrainParams,
    scaling: str,
    params: CandidateParams,
) -> ScaledMember:
    """Fit one member on ``history`` (its scaling statistics come from these rows only)."""
    keys = spec.series_keys
    stats = scaling_stats(history.filter(pl.col(TARGET).is_not_null()), keys)
    mspec = member_spec(spec)
    frame = build_features(scale(history, stats, keys, scaling), mspec)
    model = train_model(frame, mspec, member_train_params(train, scaling, params))
    return ScaledMember(scaling, model, stats)


def member_forecast(
    member: ScaledMember, history: pl.DataFrame, future: pl.DataFrame, spec: FeatureSpec
) -> pl.DataFrame:
    """keys, date, forecast of ``future`` rows (keys, date, promo), raw scale, never negative."""
    keys = spec.series_keys
    scaled = scale(history, member.stats, keys, member.scaling)
    out = recursive_forecast(member.model, scaled, future, member_spec(spec))
    return unscale(out, member.stats, keys, member.scaling)


def lightgbm_average(members: dict[str, pl.DataFrame], keys: list[str]) -> pl.DataFrame:
    """keys, date, forecast: the equal-weight mean of the members' forecasts."""
    names = list(members)
    base = members[names[0]].rename({"forecast": names[0]})
    for name in names[1:]:
        base = base.join(
            members[name].rename({"forecast": name}), on=[*keys, "date"], how="full", coalesce=True
        )
    mean = pl.mean_horizontal([pl.col(n) for n in names]).alias("forecast")
    return base.select(*keys, "date", mean)


def candidate_forecasts(
    history: pl.DataFrame,
    future: pl.DataFrame,
    spec: FeatureSpec,
    params: CandidateParams,
    members: list[ScaledMember],
) -> pl.DataFrame:
    """``future`` (keys, date, step, promo) with a column per candidate and per member.

    The three baselines are always computed (the report and the gate compare with them);
    a candidate missing for a row (no history for it) takes the next candidate's value.
    """
    keys = spec.series_keys
    rows = future.select(*keys, "date", "step")
    cols: dict[str, pl.DataFrame] = {}
    member_rows = {m.name: member_forecast(m, history, future.drop("step"), spec) for m in members}
    if member_rows:
        cols[LIGHTGBM] = lightgbm_average(member_rows, keys)
    for name in params.statistical:
        cols[name] = baselines.statistical(
            name, history, future, keys, params.season_length, spec.frequency
        )
    season, window = params.season_length, params.moving_average_window
    cols["naive"] = baselines.naive(history, future, keys)
    cols["seasonal_naive"] = baselines.seasonal_naive(history, future, keys, season, window)
    cols["moving_average"] = baselines.moving_average(history, future, keys, window)
    for name, frame in [*member_rows.items(), *cols.items()]:
        rows = rows.join(frame.rename({"forecast": name}), on=[*keys, "date"], how="left")
    names = params.names
    return rows.with_columns(
        [pl.coalesce(c, *[o for o in names if o != c]).alias(c) for c in names]
    )
