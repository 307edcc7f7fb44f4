"""Unit tests for tasks.model.train: determinism, seeds, fixed category codes, clipping."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from tasks.model.features import SCALE, TARGET, FeatureSpec, build_features
from tasks.model.train import (
    TrainedModel,
    category_levels,
    lgb_params,
    monotone_constraints,
    predict,
    to_matrix,
    train_model,
    training_rows,
)

KEYS = ["region", "product_type"]
SPEC = FeatureSpec("1d", KEYS, lags=[1, 7], window_sizes=[7], categorical_columns=KEYS)
PLAIN = replace(SPEC, normalize=False)  # the model learns revenue itself, not a ratio
HYPER = {
    "objective": "regression",
    "learning_rate": 0.1,
    "num_leaves": 15,
    "min_data_in_leaf": 5,
    "num_threads": 1,
}
RANDOM = {**HYPER, "feature_fraction": 0.5, "bagging_fraction": 0.5, "bagging_freq": 1}
LEVELS = {"north": 100.0, "south": 60.0, "west": 20.0}


def panel(n: int = 90, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for region, level in LEVELS.items():
        promo = (rng.uniform(size=n) < 0.2).astype(float)
        revenue = level * (1 + 0.3 * np.sin(np.arange(n) * 2 * np.pi / 7)) * (1 + 0.5 * promo)
        frames.append(
            pl.DataFrame(
                {
                    "region": region,
                    "product_type": "toys",
                    "date": pl.date_range(
                        dt.date(2024, 1, 1), dt.date(2024, 1, 1) + dt.timedelta(n - 1), eager=True
                    ),
                    TARGET: (revenue * rng.uniform(0.9, 1.1, n)).round(2),
                    "promo": promo,
                }
            )
        )
    return pl.concat(frames)


@pytest.fixture(scope="module")
def features() -> pl.DataFrame:
    return build_features(panel(), SPEC)


def fit(
    features: pl.DataFrame,
    hyper: dict[str, object] = HYPER,
    seed: int = 1,
    spec: FeatureSpec = SPEC,
) -> TrainedModel:
    return train_model(features, spec, dict(hyper), num_boost_round=30, seed=seed)


def trees(model: TrainedModel) -> str:
    """The model text without its parameters section (which records the seeds)."""
    text = model.booster.model_to_string()
    return re.sub(r"\nparameters:\n.*?\nend of parameters\n", "\n", text, flags=re.S)


def test_same_inputs_give_a_bit_identical_model(features: pl.DataFrame) -> None:
    first, second = fit(features, RANDOM), fit(features, RANDOM)
    assert first.booster.model_to_string() == second.booster.model_to_string()
    a, b = predict(first, features), predict(second, features)
    assert a.tobytes() == b.tobytes()


def test_row_order_does_not_change_a_model_without_sampling(features: pl.DataFrame) -> None:
    shuffled = features.sample(fraction=1.0, shuffle=True, seed=5)
    assert trees(fit(shuffled)) == trees(fit(features))


def test_a_different_seed_changes_a_randomised_model(features: pl.DataFrame) -> None:
    a, b = fit(features, RANDOM, seed=1), fit(features, RANDOM, seed=2)
    assert trees(a) != trees(b)
    assert not np.array_equal(predict(a, features), predict(b, features))


def test_the_seed_is_irrelevant_without_sampling(features: pl.DataFrame) -> None:
    """Control for the test above: with no bagging or feature sampling only the seed differs."""
    deterministic = {**HYPER, "feature_fraction": 1.0, "bagging_fraction": 1.0}
    assert trees(fit(features, deterministic, seed=1)) == trees(
        fit(features, deterministic, seed=2)
    )


def test_every_seed_is_set_and_deterministic_mode_is_on() -> None:
    params = lgb_params({"learning_rate": 0.1, "seed": 999}, seed=7)
    for key in ("seed", "bagging_seed", "feature_fraction_seed", "data_random_seed"):
        assert params[key] == 7
    assert params["deterministic"] is True
    assert params["force_row_wise"] is True
    assert params["learning_rate"] == 0.1


def test_trains_only_on_rows_with_a_known_target_and_scale(features: pl.DataFrame) -> None:
    future = features.tail(5).with_columns(pl.lit(None, dtype=pl.Float64).alias(TARGET))
    frame = pl.concat([features, future])
    first_rows = len(LEVELS)  # a series' first row has no history, hence no scale
    assert features[SCALE].null_count() == first_rows
    assert training_rows(frame).height == features.height
    assert training_rows(frame, normalize=True).height == features.height - first_rows
    assert fit(frame).training_rows == features.height - first_rows
    assert fit(frame, spec=PLAIN).training_rows == features.height


def test_no_known_target_is_an_error(features: pl.DataFrame) -> None:
    empty = features.with_columns(pl.lit(None, dtype=pl.Float64).alias(TARGET))
    with pytest.raises(ValueError, match="no rows with a known target"):
        fit(empty)


def test_model_keeps_feature_order_and_sorted_levels(features: pl.DataFrame) -> None:
    model = fit(features)
    assert model.feature_names == SPEC.feature_names
    assert model.booster.feature_name() == SPEC.feature_names
    assert model.categories == {"region": ["north", "south", "west"], "product_type": ["toys"]}
    gains = list(model.feature_importance().values())
    assert gains == sorted(gains, reverse=True)
    assert set(model.feature_importance()) == set(SPEC.feature_names)


def test_category_codes_do_not_depend_on_the_rows_predicted(features: pl.DataFrame) -> None:
    """Predicting one series alone encodes it as training did (not as level 0 of the frame)."""
    model = fit(features)
    together = predict(model, features)
    for region in LEVELS:
        mask = (features["region"] == region).to_numpy()
        alone = predict(model, features.filter(pl.col("region") == region))
        assert np.array_equal(alone, together[mask])
    # and the level does matter to the model: a series relabelled predicts differently
    west = features.filter(pl.col("region") == "west")
    as_north = predict(model, west.with_columns(pl.lit("north").alias("region")))
    assert not np.array_equal(as_north, predict(model, west))


def test_category_encoding_is_the_training_level_index() -> None:
    frame = pl.DataFrame({"region": ["west", "north", None, "mars"], "x": [1, 2, 3, 4]})
    levels = category_levels(frame.head(2), ["region"])
    assert levels == {"region": ["north", "west"]}
    matrix = to_matrix(frame, ["x", "region"], levels)
    assert matrix.dtype == np.float64
    assert matrix[:, 0].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert matrix[:2, 1].tolist() == [1.0, 0.0]
    assert np.isnan(matrix[2:, 1]).all()  # missing and unseen levels are missing values


def test_an_unseen_category_still_gets_a_prediction(features: pl.DataFrame) -> None:
    model = fit(features)
    rows = features.tail(3).with_columns(
        pl.lit("atlantis").alias("region"), pl.lit("spaceships").alias("product_type")
    )
    out = predict(model, rows)
    assert out.shape == (3,)
    assert np.isfinite(out).all()
    assert (out >= 0).all()


def test_predictions_are_clipped_at_zero(features: pl.DataFrame) -> None:
    # Shift the target far below zero for one series so a squared-error model predicts < 0.
    shifted = features.with_columns(
        pl.when(pl.col("region") == "west")
        .then(pl.col(TARGET) - 500.0)
        .otherwise(pl.col(TARGET))
        .alias(TARGET)
    )
    model = fit(shifted, spec=PLAIN)
    raw = model.booster.predict(to_matrix(shifted, model.feature_names, model.categories))
    assert raw.min() < 0  # the test has teeth: the booster itself goes negative
    out = predict(model, shifted)
    assert out.min() == 0.0
    assert np.array_equal(out, np.clip(raw, 0.0, None))


def test_normalised_predictions_are_ratios_times_the_scale(features: pl.DataFrame) -> None:
    model = fit(features)
    assert model.normalize
    matrix = to_matrix(features, model.feature_names, model.categories, normalize=True)
    ratio = model.booster.predict(matrix)
    scale = features[SCALE].fill_null(0.0).to_numpy()
    assert np.allclose(predict(model, features), np.clip(ratio * scale, 0.0, None), rtol=1e-12)
    # lags and windows go in as ratios to the scale; calendar, promo and codes as they are
    lag_1 = model.feature_names.index("lag_1")
    expected = (features["lag_1"] / features[SCALE]).to_numpy()
    assert np.allclose(matrix[:, lag_1], expected, equal_nan=True)
    promo = model.feature_names.index("promo")
    assert np.array_equal(matrix[:, promo], features["promo"].to_numpy())
    # a series with no sales over the whole window is forecast at zero
    assert predict(model, features.head(1))[0] == 0.0  # first row: no history, no scale
    silent = features.head(3).with_columns(pl.lit(None, dtype=pl.Float64).alias(SCALE))
    assert predict(model, silent).tolist() == [0.0, 0.0, 0.0]


def test_negative_targets_give_no_scale_and_a_zero_forecast(features: pl.DataFrame) -> None:
    shifted = features.with_columns(
        pl.when(pl.col("region") == "west")
        .then(pl.col(TARGET) - 500.0)
        .otherwise(pl.col(TARGET))
        .alias(TARGET)
    )
    rebuilt = build_features(
        shifted.select(*KEYS, "date", TARGET, "promo"), SPEC
    )  # scale recomputed from the shifted target
    out = predict(fit(rebuilt), rebuilt)
    west = (rebuilt["region"] == "west").to_numpy()
    assert (out >= 0).all()
    assert (out[west] == 0).all()


def test_predicting_no_rows_gives_an_empty_array(features: pl.DataFrame) -> None:
    out = predict(fit(features), features.clear())
    assert out.shape == (0,)


def test_a_promotion_never_lowers_the_prediction() -> None:
    """Promo share 1 only on slow days (as in aggregated data): the model must not learn a drop."""
    rng = np.random.default_rng(4)
    frame = build_features(panel(n=120), SPEC)
    slow = rng.uniform(size=frame.height) < 0.1
    frame = frame.with_columns(
        pl.Series(
            "promo", np.where(slow, 1.0, np.where(rng.uniform(size=frame.height) < 0.2, 0.3, 0.0))
        ),
        pl.when(pl.Series(slow)).then(pl.col(TARGET) * 0.3).otherwise(pl.col(TARGET)).alias(TARGET),
    )
    on, off = (
        frame.with_columns(pl.lit(1.0).alias("promo")),
        frame.with_columns(pl.lit(0.0).alias("promo")),
    )
    model = fit(frame)
    assert (predict(model, on) >= predict(model, off)).all()
    assert model.booster.params["monotone_constraints"] == monotone_constraints(SPEC.feature_names)
    assert monotone_constraints(["lag_1", "promo", "region"]) == [0, 1, 0]
    # the data alone would teach the opposite: without the constraint a promotion lowers it
    free = fit(frame, {**HYPER, "monotone_constraints": [0] * len(SPEC.feature_names)})
    assert (predict(free, on) < predict(free, off)).mean() > 0.5
