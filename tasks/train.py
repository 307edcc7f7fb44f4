"""Train: a deterministic, seeded LightGBM model on the feature frame.

Categorical columns are encoded with codes fixed at training time (sorted levels), kept
with the model so forecasting encodes new rows the same way; an unseen level is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl

from tasks.features import TARGET, FeatureSpec


@dataclass(frozen=True)
class TrainedModel:
    """A booster with what is needed to feed it: feature order and category levels."""

    booster: lgb.Booster
    feature_names: list[str]
    categories: dict[str, list[str]]
    training_rows: int

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


def category_levels(frame: pl.DataFrame, columns: list[str]) -> dict[str, list[str]]:
    """Sorted distinct values of each categorical column."""
    return {c: sorted(frame[c].drop_nulls().unique().cast(pl.String).to_list()) for c in columns}


def to_matrix(
    frame: pl.DataFrame, feature_names: list[str], categories: dict[str, list[str]]
) -> np.ndarray:
    """Float64 matrix in ``feature_names`` order; categoricals as their level index."""
    exprs = []
    for name in feature_names:
        if name in categories:
            code = (
                pl.col(name)
                .cast(pl.String)
                .replace_strict(categories[name], list(range(len(categories[name]))), default=None)
            )
            exprs.append(code.cast(pl.Float64).alias(name))
        else:
            exprs.append(pl.col(name).cast(pl.Float64))
    return frame.select(exprs).to_numpy().astype(np.float64, copy=False)


def training_rows(features: pl.DataFrame) -> pl.DataFrame:
    """Rows with a known target."""
    return features.filter(pl.col(TARGET).is_not_null())


def train_model(
    features: pl.DataFrame,
    spec: FeatureSpec,
    hyperparameters: dict[str, Any],
    num_boost_round: int,
    seed: int,
) -> TrainedModel:
    """Fit LightGBM on every row with a known target; same inputs give the same model."""
    rows = training_rows(features)
    if rows.height == 0:
        raise ValueError("train: no rows with a known target to train on")
    names = spec.feature_names
    categories = category_levels(rows, list(spec.categorical_columns))
    dataset = lgb.Dataset(
        to_matrix(rows, names, categories),
        label=rows[TARGET].cast(pl.Float64).to_numpy(),
        feature_name=names,
        categorical_feature=[n for n in names if n in categories],
        free_raw_data=True,
    )
    booster = lgb.train(lgb_params(hyperparameters, seed), dataset, num_boost_round=num_boost_round)
    return TrainedModel(
        booster=booster,
        feature_names=names,
        categories=categories,
        training_rows=rows.height,
    )


def predict(model: TrainedModel, frame: pl.DataFrame) -> np.ndarray:
    """Predictions for the rows of a feature frame, clipped at zero."""
    if frame.height == 0:
        return np.zeros(0)
    raw = model.booster.predict(to_matrix(frame, model.feature_names, model.categories))
    return np.clip(np.asarray(raw, dtype=np.float64), 0.0, None)
