"""Train: one global LightGBM model across the workers of a Dask cluster (``lightgbm.dask``).

For training frames that do not fit one worker (``runner.distributed_training``). The
feature frame is split by series into one partition per worker; each worker turns its
partition into the model's matrix and label, and LightGBM's data-parallel learner builds
every tree from the workers' histograms. The model is the same kind of
:class:`~tasks.model.train.TrainedModel` as :func:`~tasks.model.train.train_model`'s; it is
not bit-identical to it (bins come from each worker's own sample of rows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from tasks.errors import DataError
from tasks.model.features import SCALE, TARGET, FeatureSpec
from tasks.model.train import (
    TrainedModel,
    TrainParams,
    category_levels,
    lgb_params,
    monotone_constraints,
    to_matrix,
    training_rows,
)

if TYPE_CHECKING:
    from distributed import Client


def series_partitions(frame: pl.DataFrame, keys: list[str], n: int) -> list[pl.DataFrame]:
    """``frame`` split into at most ``n`` parts, each holding whole series."""
    ids = frame.select(keys).unique().sort(keys).with_row_index("_part")
    ids = ids.with_columns(pl.col("_part") % max(n, 1))
    tagged = frame.join(ids, on=keys, how="left")
    return [p.drop("_part") for p in tagged.partition_by("_part", maintain_order=True)]


def _matrix(
    rows: pl.DataFrame, names: list[str], categories: dict[str, list[str]], normalize: bool
) -> np.ndarray:
    return to_matrix(rows, names, categories, normalize)


def _label(rows: pl.DataFrame, normalize: bool) -> np.ndarray:
    label = rows[TARGET].cast(pl.Float64)
    if normalize:
        label = label / rows[SCALE]
    return label.to_numpy()


def train_model_dask(
    features: pl.DataFrame, spec: FeatureSpec, params: TrainParams, client: Client
) -> TrainedModel:
    """Fit one LightGBM model with ``lightgbm.dask`` over the workers of ``client``."""
    import dask.array as da  # noqa: PLC0415  (heavy; only a distributed run needs it)
    import lightgbm.dask as lgb_dask  # noqa: PLC0415
    from dask.delayed import delayed  # noqa: PLC0415

    rows = training_rows(features, spec.normalize)
    if rows.height == 0:
        raise DataError("train: no rows with a known target to train on", fix="add history")
    names = spec.feature_names
    categories = category_levels(rows, list(spec.categorical_columns))
    workers = list(client.scheduler_info()["workers"])
    parts = series_partitions(rows, list(spec.series_keys), len(workers))
    futures = client.scatter(parts, workers=workers)  # type: ignore[no-untyped-call]
    blocks_x, blocks_y = [], []
    for future, part in zip(futures, parts, strict=True):
        matrix = delayed(_matrix)(future, names, categories, spec.normalize)
        label = delayed(_label)(future, spec.normalize)
        shape = (part.height, len(names))
        blocks_x.append(da.from_delayed(matrix, shape, dtype=np.float64))  # type: ignore[no-untyped-call]
        blocks_y.append(da.from_delayed(label, shape[:1], dtype=np.float64))  # type: ignore[no-untyped-call]
    x = da.concatenate(blocks_x)  # type: ignore[no-untyped-call]
    y = da.concatenate(blocks_y)  # type: ignore[no-untyped-call]
    hyper: dict[str, Any] = {
        "monotone_constraints": monotone_constraints(names),
        **params.hyperparameters,
    }
    hyper.pop("num_threads", None)  # lightgbm.dask uses each worker's threads
    regressor = lgb_dask.DaskLGBMRegressor(
        client=client, n_estimators=params.num_boost_round, **lgb_params(hyper, params.seed)
    )
    regressor.fit(
        x,
        y,
        feature_name=names,
        categorical_feature=[n for n in names if n in categories],
    )
    return TrainedModel(
        booster=regressor.booster_,
        feature_names=names,
        categories=categories,
        training_rows=rows.height,
        normalize=spec.normalize,
    )
