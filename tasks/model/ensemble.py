"""The served model: candidates combined by a recipe chosen on the backtest, with
conformal quantiles.

:func:`combine_backtest` turns the backtest's candidate forecasts into the model's
out-of-sample forecasts on the scored windows (and the :class:`Combination` the final
forecast uses); :func:`forecast_ensemble` forecasts the future with an :class:`Ensemble`.
The registry keeps an ensemble as text only: the members' LightGBM text in ``model.txt``
(:func:`model_text`) and everything else as JSON (:func:`ensemble_meta`): scaling
statistics, candidate set, recipe, weights and residual quantiles. No pickles.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from tasks.model import combination as combining
from tasks.model import forecast as forecasting
from tasks.model import intervals
from tasks.model.candidates import CandidateParams, ScaledMember, candidate_forecasts, fit_member
from tasks.model.features import FeatureSpec
from tasks.model.train import TrainParams, model_from_text, model_meta

MEMBER_HEADER = "# sales-forecast member: "


@dataclass(frozen=True)
class CombinationParams:
    """``model.combination`` and the interval settings of ``forecast``."""

    recipes: list[str]
    lookback: int
    calibration_windows: int
    spread_weight: float
    quantiles: list[float]

    def __post_init__(self) -> None:
        combining.check_recipes(self.recipes)
        intervals.check_quantiles(self.quantiles)
        if self.lookback < 1 or self.calibration_windows < 1:
            raise ValueError(
                f"model.combination.lookback={self.lookback} and "
                f"forecast.interval_calibration_windows={self.calibration_windows} must be >= 1"
            )


@dataclass(frozen=True)
class Combination:
    """How the final forecast combines the candidates and sizes its quantiles."""

    recipe: str
    weights: dict[str, float]
    candidates: list[str]
    quantiles: list[float]
    residuals: dict[str, list[float]]  # step ("0": pooled) -> scaled residual quantiles
    spread_weight: float


@dataclass(frozen=True)
class CombinedBacktest:
    """The model's rows on the scored windows, each window's choice, the final combination."""

    rows: pl.DataFrame
    choices: list[dict[str, Any]]
    combination: Combination


@dataclass(frozen=True)
class Ensemble:
    """The LightGBM members (fitted on all history), the candidate set and the combination."""

    members: list[ScaledMember]
    candidates: CandidateParams
    combination: Combination

    @property
    def feature_names(self) -> list[str]:
        """The members' input columns (empty without LightGBM members)."""
        return list(self.members[0].model.feature_names) if self.members else []

    @property
    def training_rows(self) -> int:
        """Rows each member learned from."""
        return self.members[0].model.training_rows if self.members else 0

    def feature_importance(self) -> dict[str, float]:
        """Total gain per feature over the members, largest first."""
        total: dict[str, float] = {}
        for m in self.members:
            for name, gain in m.model.feature_importance().items():
                total[name] = total.get(name, 0.0) + gain
        return dict(sorted(total.items(), key=lambda p: -p[1]))


def scored_windows(n_windows: int, lookback: int) -> list[int]:
    """Windows whose choice had ``lookback`` earlier windows (at least the last one)."""
    return list(range(min(lookback, n_windows - 1), n_windows))


def _calibrated(
    run: pl.DataFrame, window: int, params: CombinationParams
) -> dict[str, list[float]]:
    lo, hi = combining.earlier(window, params.calibration_windows, first=1 if window >= 2 else 0)
    cal = run.filter(pl.col("window").is_between(lo, hi))
    return intervals.residual_quantiles(cal, params.quantiles)


def combine_backtest(
    table: pl.DataFrame, candidates: list[str], keys: list[str], params: CombinationParams
) -> CombinedBacktest:
    """The model's forecasts and quantiles on the scored windows, and the final combination.

    ``table``: window, keys, date, step, actual and a column per candidate, every window.
    """
    runs = {r: combining.run_recipe(table, candidates, r, params.lookback) for r in params.recipes}
    by = ["window", *keys]
    spreads = intervals.spread(table, candidates, by)
    scaled = {
        r: intervals.with_scale(run.rows.join(spreads, on=by, how="left"), by, params.spread_weight)
        for r, run in runs.items()
    }
    n = table["window"].n_unique()
    parts, choices = [], []
    for k in scored_windows(n, params.lookback):
        recipe = combining.choose(runs, k, params.lookback)
        now = scaled[recipe].filter(pl.col("window") == k)
        rows = intervals.apply_quantiles(
            now, _calibrated(scaled[recipe], k, params), params.quantiles
        )
        parts.append(rows.with_columns(pl.lit(recipe).alias("recipe")))
        choices.append({"window": k, "recipe": recipe, "weights": runs[recipe].weights[k]})
    recipe = combining.choose(runs, n, params.lookback)
    final = Combination(
        recipe=recipe,
        weights=combining.weights_for(
            table, candidates, combining.RECIPES[recipe], n, params.lookback
        ),
        candidates=list(candidates),
        quantiles=list(params.quantiles),
        residuals=_calibrated(scaled[recipe], n, params),
        spread_weight=params.spread_weight,
    )
    return CombinedBacktest(pl.concat(parts).drop("spread", "iscale"), choices, final)


def forecast_ensemble(
    model: Ensemble, history: pl.DataFrame, future: pl.DataFrame, spec: FeatureSpec
) -> pl.DataFrame:
    """keys, date, forecast, a column per quantile and ``recipe`` for ``future`` rows
    (keys, date, promo)."""
    keys = spec.series_keys
    future = future.with_columns(pl.col("date").rank("dense").cast(pl.Int32).alias("step"))
    table = candidate_forecasts(history, future, spec, model.candidates, model.members)
    c = model.combination
    rows = table.with_columns(combining.weighted(c.weights))
    rows = rows.join(intervals.spread(table, c.candidates, keys), on=keys, how="left")
    rows = intervals.with_scale(rows, keys, c.spread_weight)
    out = intervals.apply_quantiles(rows, c.residuals, c.quantiles)
    names = [intervals.qcol(q) for q in c.quantiles]
    return out.select(*keys, "date", "forecast", *names, pl.lit(c.recipe).alias("recipe")).sort(
        [*keys, "date"]
    )


def fit_ensemble(
    panel: pl.DataFrame,
    spec: FeatureSpec,
    train: TrainParams,
    candidates: CandidateParams,
    combination: Combination,
) -> Ensemble:
    """Refit the LightGBM members on the whole panel; keep the backtest's combination."""
    members = [fit_member(panel, spec, train, s, candidates) for s in candidates.lightgbm]
    return Ensemble(members, candidates, combination)


def forecast_future(
    model: Ensemble,
    panel: pl.DataFrame,
    spec: FeatureSpec,
    horizon: int,
    promo_plan: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The ``horizon`` periods after the panel's last one, for every active series
    (:func:`tasks.model.forecast.active_series`), with quantiles and the recipe."""
    keys = spec.series_keys
    panel = panel.join(forecasting.active_series(panel, spec, horizon), on=keys, how="semi")
    future = forecasting.future_periods(panel, keys, spec.frequency, horizon)
    future = forecasting.attach_promo(future, keys, promo_plan)
    last = panel["date"].max()
    return forecast_ensemble(model, panel, future, spec).filter(pl.col("date") > last)


def model_text(model: Ensemble) -> str:
    """Every member's LightGBM text, each after a ``# sales-forecast member: <scaling>`` line."""
    return "".join(
        f"{MEMBER_HEADER}{m.scaling}\n{m.model.booster.model_to_string()}" for m in model.members
    )


def ensemble_meta(model: Ensemble) -> dict[str, Any]:
    """Everything besides the LightGBM text needed to forecast again (JSON-able)."""
    return {
        "kind": "ensemble",
        "feature_names": model.feature_names,
        "training_rows": model.training_rows,
        "members": [
            {"scaling": m.scaling, "model": model_meta(m.model), "stats": m.stats.to_dicts()}
            for m in model.members
        ],
        "candidates": asdict(model.candidates),
        "combination": asdict(model.combination),
    }


def ensemble_from_text(text: str, meta: dict[str, Any]) -> Ensemble:
    """Rebuild an ensemble from :func:`model_text` and :func:`ensemble_meta` (e.g. the registry).

    Raises ``ValueError`` naming what does not fit (a model registered before candidates
    existed, a member without its text, statistics that are not numbers).
    """
    if meta.get("kind") != "ensemble":
        raise ValueError(
            "model metadata is not an ensemble's (registered by an older version of the "
            "pipeline); a new run replaces it"
        )
    texts = {}
    for chunk in text.split(MEMBER_HEADER)[1:]:
        scaling, _, body = chunk.partition("\n")
        texts[scaling.strip()] = body
    members = []
    for entry in meta["members"]:
        scaling = str(entry["scaling"])
        if scaling not in texts:
            raise ValueError(f"model text has no member {scaling!r} (has {sorted(texts)})")
        stats = pl.DataFrame(entry["stats"])
        if stats.height == 0 or not {"mu", "sd"} <= set(stats.columns):
            raise ValueError(f"member {scaling!r}: scaling statistics lack mu/sd")
        stats = stats.with_columns(pl.col("mu", "sd").cast(pl.Float64))
        members.append(
            ScaledMember(scaling, model_from_text(texts[scaling], entry["model"]), stats)
        )
    cand = CandidateParams(**meta["candidates"])
    comb = meta["combination"]
    combination = Combination(
        recipe=str(comb["recipe"]),
        weights={str(k): float(v) for k, v in comb["weights"].items()},
        candidates=[str(c) for c in comb["candidates"]],
        quantiles=[float(q) for q in comb["quantiles"]],
        residuals={str(k): [float(x) for x in v] for k, v in comb["residuals"].items()},
        spread_weight=float(comb["spread_weight"]),
    )
    unknown = set(combination.weights) - set(cand.names)
    if unknown:
        raise ValueError(f"combination weights name unknown candidates {sorted(unknown)}")
    return Ensemble(members, cand, combination)
