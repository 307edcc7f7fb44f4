"""Train: a deterministic, seeded LightGBM model on the feature frame.

Categorical columns are encoded with codes fixed at training time (sorted levels), kept
with the model so forecasting encodes new rows the same way; an unseen level is missing.
The forecast may only rise with ``promo`` (a monotone constraint): in aggregated data a
promo share of 1 mostly marks low-traffic periods (a few transactions, all on promotion),
and an unconstrained model learns that a full promotion halves revenue.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl

from tasks.errors import DataError
from tasks.model.features import SCALE, SCALED_PREFIXES, TARGET, FeatureSpec

INCREASING = ("promo",)  # features the prediction must never fall with


@dataclass(frozen=True)
class TrainParams:
    """How to fit: LightGBM parameters, boosting rounds and the seed (every seed is fixed)."""

    hyperparameters: dict[str, Any]
    num_boost_round: int
    seed: int


@dataclass(frozen=True)
class TrainedModel:
    """A booster with what is needed to feed it: feature order and category levels."""

    booster: lgb.Booster
    feature_names: list[str]
    categories: dict[str, list[str]]
    training_rows: int
    normalize: bool = False

    def feature_importance(self) -> dict[str, float]:
        """Total gain per feature, largest first."""
        gains = self.booster.feature_importance(importance_type="gain")
        pairs = sorted(zip(self.feature_names, gains, strict=True), key=lambda p: -p[1])
        return {name: float(g) for name, g in pairs}


def lgb_params(hyperparameters: dict[str, Any], seed: int) -> dict[str, Any]:
    """LightGBM parameters with every seed fixed and deterministic mode on."""
    return {
        **hyperparameters,
        "seed": seed,
        "bagging_seed": seed,
        "feature_fraction_seed": seed,
        "data_random_seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }


def monotone_constraints(feature_names: list[str]) -> list[int]:
    """LightGBM ``monotone_constraints``: +1 for the features in ``INCREASING``, else 0."""
    return [1 if name in INCREASING else 0 for name in feature_names]


def category_levels(frame: pl.DataFrame, columns: list[str]) -> dict[str, list[str]]:
    """Sorted distinct values of each categorical column."""
    return {c: sorted(frame[c].drop_nulls().unique().cast(pl.String).to_list()) for c in columns}


def _column(name: str, categories: dict[str, list[str]], normalize: bool) -> pl.Expr:
    if normalize and name.startswith(SCALED_PREFIXES):
        return (pl.col(name).cast(pl.Float64) / pl.col(SCALE)).alias(name)
    if name in categories:
        code = (
            pl.col(name)
            .cast(pl.String)
            .replace_strict(categories[name], list(range(len(categories[name]))), default=None)
        )
        return code.cast(pl.Float64).alias(name)
    return pl.col(name).cast(pl.Float64)


def to_matrix(
    frame: pl.DataFrame,
    feature_names: list[str],
    categories: dict[str, list[str]],
    normalize: bool = False,
) -> np.ndarray:
    """Float64 matrix in ``feature_names`` order; categoricals as their level index.

    With ``normalize``, lag and window columns are divided by the row's ``scale``. Filled
    one column at a time into a column-major array (LightGBM reads it without a copy), so
    at most one column is held twice.
    """
    out = np.empty((frame.height, len(feature_names)), dtype=np.float64, order="F")
    for j, name in enumerate(feature_names):
        column = frame.select(_column(name, categories, normalize)).to_series()
        out[:, j] = column.to_numpy()
    return out


def training_rows(
    features: pl.DataFrame, normalize: bool = False, before: dt.date | None = None
) -> pl.DataFrame:
    """Rows with a known target (and, when normalising, a known scale), dated before
    ``before`` if given; ``features`` itself (no copy) when every row qualifies."""
    known = pl.col(TARGET).is_not_null()
    if normalize:
        known = known & pl.col(SCALE).is_not_null()
    if before is not None:
        known = known & (pl.col("date") < before)
    elif features.select(known.all()).item():
        return features
    return features.filter(known)


def train_model(features: pl.DataFrame, spec: FeatureSpec, params: TrainParams) -> TrainedModel:
    """Fit LightGBM on every row with a known target; same inputs give the same model."""
    rows = training_rows(features, spec.normalize)
    if rows.height == 0:
        scale = " and a recent level above zero (features.normalize)" if spec.normalize else ""
        raise DataError(
            f"train: no rows with a known target{scale} to train on",
            fix="provide more history, or series with sales over their longest window",
        )
    names = spec.feature_names
    categories = category_levels(rows, list(spec.categorical_columns))
    label = rows[TARGET].cast(pl.Float64)
    if spec.normalize:
        label = label / rows[SCALE]
    dataset = lgb.Dataset(
        to_matrix(rows, names, categories, spec.normalize),
        label=label.to_numpy(),
        feature_name=names,
        categorical_feature=[n for n in names if n in categories],
        free_raw_data=True,
    )
    hyper = {"monotone_constraints": monotone_constraints(names), **params.hyperparameters}
    booster = lgb.train(
        lgb_params(hyper, params.seed), dataset, num_boost_round=params.num_boost_round
    )
    return TrainedModel(
        booster=booster,
        feature_names=names,
        categories=categories,
        training_rows=rows.height,
        normalize=spec.normalize,
    )


def predict(model: TrainedModel, frame: pl.DataFrame) -> np.ndarray:
    """Predictions for the rows of a feature frame, clipped at zero."""
    if frame.height == 0:
        return np.zeros(0)
    matrix = to_matrix(frame, model.feature_names, model.categories, model.normalize)
    raw = np.asarray(model.booster.predict(matrix), dtype=np.float64)
    if model.normalize:
        # no scale = no sales over the whole window: the level to forecast from is zero
        raw = raw * frame[SCALE].cast(pl.Float64).fill_null(0.0).to_numpy()
    return np.clip(raw, 0.0, None)


def model_meta(model: TrainedModel) -> dict[str, Any]:
    """What a model needs besides its LightGBM text to be used again (kept in the manifest)."""
    return {
        "feature_names": list(model.feature_names),
        "categories": {k: list(v) for k, v in model.categories.items()},
        "normalize": model.normalize,
        "training_rows": model.training_rows,
    }


def model_from_text(text: str, meta: dict[str, Any]) -> TrainedModel:
    """Rebuild a model from its LightGBM text and :func:`model_meta` (e.g. from the registry)."""
    missing = [k for k in ("feature_names", "categories", "normalize") if k not in meta]
    if missing:
        raise ValueError(f"model metadata lacks {missing}; it was not written by model_meta()")
    booster = lgb.Booster(model_str=text)
    names = [str(n) for n in meta["feature_names"]]
    if booster.feature_name() != names:
        raise ValueError(
            f"model text has features {booster.feature_name()}, its metadata says {names}"
        )
    return TrainedModel(
        booster=booster,
        feature_names=names,
        categories={str(k): [str(x) for x in v] for k, v in meta["categories"].items()},
        training_rows=int(meta.get("training_rows", 0)),
        normalize=bool(meta["normalize"]),
    )
