"""Unit tests for tasks.caching: content digests, cache keys and the non-pickle serializer."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import io
import json
import os
import pickle
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
import pytest
from prefect import task

from tasks import caching
from tasks.caching import BundleSerializer, ContentInputs, InputFiles, frame_digest, stable_form
from tasks.data.aggregate import PanelResult
from tasks.data.clean import CleanResult
from tasks.data.ingest import FileGroup, RawSource, SourceParams
from tasks.model.train import TrainedModel
from tasks.storage import InputNotFoundError
from tests.support import defaults

D = dt.date
# One thread: LightGBM spends ~0.3 s spinning up a thread pool for a 60-row model.
BOOSTER_PARAMS = {
    "objective": "regression",
    "num_leaves": 4,
    "min_data_in_leaf": 5,
    "verbosity": -1,
    "num_threads": 1,
}


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "region": ["north", "south", "north"],
            "date": [D(2024, 1, 3), D(2024, 1, 1), D(2024, 1, 2)],
            "revenue": [3.5, None, 1.25],
            "n_rows": [3, 1, 2],
        }
    )


def _parquet_round_trip(frame: pl.DataFrame) -> pl.DataFrame:
    buf = io.BytesIO()
    frame.write_parquet(buf)
    buf.seek(0)
    return pl.read_parquet(buf)


def _booster() -> lgb.Booster:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = x[:, 0] * 2 + rng.normal(size=60) * 0.1
    return lgb.train(BOOSTER_PARAMS, lgb.Dataset(x, y), num_boost_round=3)


def _task_ctx(name: str = "clean") -> Any:
    return SimpleNamespace(task=SimpleNamespace(name=name))


def test_digest_survives_a_parquet_round_trip_that_drops_the_sorted_flag() -> None:
    frame = _frame().sort("date")
    back = _parquet_round_trip(frame)
    assert frame["date"].flags["SORTED_ASC"]
    assert not back["date"].flags["SORTED_ASC"]
    assert pickle.dumps(frame) != pickle.dumps(back)  # what a pickle-based key would see
    assert frame_digest(back) == frame_digest(frame)
    assert frame_digest(frame.clone()) == frame_digest(frame)


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f.with_columns(
            pl.when(pl.col("n_rows") == 2).then(2.5).otherwise(pl.col("revenue")).alias("revenue")
        ),
        lambda f: f.with_columns(pl.col("revenue").fill_null(0.0)),
        lambda f: f.reverse(),
        lambda f: f.head(2),
        lambda f: f.rename({"n_rows": "rows"}),
        lambda f: f.with_columns(pl.col("n_rows").cast(pl.Int32)),
        lambda f: f.select("date", "region", "revenue", "n_rows"),
        lambda f: f.with_columns(pl.lit(None, pl.String).alias("extra")),
    ],
    ids=["value", "null", "order", "rows", "name", "dtype", "column_order", "column"],
)
def test_digest_changes_with_content(change: Any) -> None:
    frame = _frame()
    assert frame_digest(change(frame)) != frame_digest(frame)


def test_digest_of_empty_frames_depends_on_schema() -> None:
    empty = _frame().clear()
    assert frame_digest(empty) == frame_digest(_frame().head(0))
    assert frame_digest(empty) != frame_digest(empty.drop("n_rows"))
    assert frame_digest(pl.DataFrame()) != frame_digest(empty)


def test_stable_form_rejects_lazy_frames() -> None:
    with pytest.raises(TypeError, match="LazyFrame"):
        stable_form(_frame().lazy())
    with pytest.raises(TypeError, match="LazyFrame"):
        stable_form({"inputs": [_frame().lazy()]})


def test_stable_form_is_content_based_and_json_able() -> None:
    params = defaults.clean(series_keys=["region"], allowed_categories={"b": ["x"], "a": ["y"]})
    value = {"b": [_frame(), (1, "x")], "a": params, "booster": _booster()}
    form = stable_form(value)
    json.dumps(form)  # hashable by Prefect without cloudpickle
    assert list(form) == ["a", "b", "booster"]
    assert form["a"]["__dataclass__"] == "CleanParams"
    assert form["b"][0] == {"__frame__": frame_digest(_frame())}
    assert form["b"][1] == [1, "x"]
    swapped = {
        "booster": value["booster"],
        "a": params,
        "b": [_parquet_round_trip(_frame()), (1, "x")],
    }
    assert stable_form(swapped) == form
    other = dataclasses.replace(params, min_revenue=1.0)
    assert stable_form({**value, "a": other}) != form


def test_booster_form_follows_the_model() -> None:
    a, b = _booster(), _booster()
    assert stable_form(a) == stable_form(b)
    other = lgb.train(
        BOOSTER_PARAMS,
        lgb.Dataset(np.arange(60, dtype=float).reshape(20, 3), np.arange(20.0)),
        num_boost_round=2,
    )
    assert stable_form(other) != stable_form(a)


def test_content_inputs_key() -> None:
    policy = ContentInputs()

    def key(daily: Any, n: int = 1, task: str = "clean", p: ContentInputs = policy) -> Any:
        return p.compute_key(_task_ctx(task), {"daily": daily, "n": n}, {})

    first = key(_frame().sort("date"))
    assert isinstance(first, str)
    assert key(_parquet_round_trip(_frame().sort("date"))) == first
    assert key(_frame().head(2)) != first
    assert key(_frame().sort("date"), n=2) != first
    assert key(_frame().sort("date"), task="aggregate") != first
    ignoring = ContentInputs(exclude=["n"])
    assert key(_frame(), n=1, p=ignoring) == key(_frame(), n=2, p=ignoring)
    with pytest.raises(TypeError, match="LazyFrame"):
        key(_frame().lazy())


def test_a_renamed_copy_of_a_task_shares_its_cache_key() -> None:
    """``evaluate-champion`` is ``evaluate`` renamed: same inputs, same result, one key."""

    @task(name="evaluate")
    def evaluate(daily: pl.DataFrame) -> int:
        return daily.height

    @task(name="other")
    def other(daily: pl.DataFrame) -> int:
        return daily.height

    def key(t: Any) -> Any:
        ctx = SimpleNamespace(task=t)
        return ContentInputs().compute_key(ctx, {"daily": _frame()}, {})

    assert key(evaluate.with_options(name="evaluate-champion")) == key(evaluate)
    assert key(other) != key(evaluate)
    assert caching.task_identity(evaluate).endswith("evaluate")


def test_stage_code_is_the_task_functions_digest() -> None:
    from tasks.caching.digest import stage_digest
    from tasks.stages import features_task

    key = caching.StageCode().compute_key(SimpleNamespace(task=features_task), {}, {})
    assert key == stage_digest(features_task.fn)
    assert len(key) == 64


def test_input_files_key_follows_the_files(tmp_path: Path) -> None:
    folder = tmp_path / "raw" / "date=2024-01-01"
    folder.mkdir(parents=True)
    part = folder / "part-0.csv"
    part.write_text("date,region,product_type,revenue\n2024-01-01,n,t,1\n")
    os.utime(part, ns=(10**18, 10**18))
    policy = InputFiles()
    raw = str(tmp_path / "raw")
    inputs = {"params": SourceParams(raw, "auto", [])}

    def key() -> str | None:
        return policy.compute_key(_task_ctx("ingest"), inputs, {})

    first = key()
    assert key() == first
    (folder / "_SUCCESS").write_text("")  # not data: same key
    (tmp_path / "raw" / ".tmp.csv").write_text("x")
    assert key() == first
    os.utime(part, ns=(10**18, 10**18 + 1))  # touched
    touched = key()
    assert touched != first
    part.write_text("date,region,product_type,revenue\n2024-01-01,n,t,2\n")
    os.utime(part, ns=(10**18, 10**18 + 1))  # same size and stamp: same identity
    assert key() == touched
    with part.open("a") as fh:
        fh.write("2024-01-01,n,t,3\n")
    os.utime(part, ns=(10**18, 10**18 + 1))
    grown = key()
    assert grown != touched
    (folder / "part-1.csv").write_text("date,region,product_type,revenue\n")
    assert key() != grown
    with pytest.raises(InputNotFoundError):
        policy.compute_key(_task_ctx("ingest"), {"params": SourceParams(raw, "parquet", [])}, {})


def test_ingest_cache_includes_the_input_files() -> None:
    kinds = {type(p) for p in caching.INGEST_CACHE.policies}
    assert {ContentInputs, caching.StageCode, InputFiles} <= kinds
    assert InputFiles not in {type(p) for p in caching.STAGE_CACHE.policies}


# --- BundleSerializer ---------------------------------------------------------------------


def _round_trip(obj: Any) -> Any:
    serializer = BundleSerializer()
    blob = serializer.dumps(obj)
    assert isinstance(blob, bytes)
    return serializer.loads(blob)


def test_bundle_round_trips_frames_exactly() -> None:
    frame = _frame().with_columns(pl.col("region").cast(pl.Categorical), flag=pl.lit(True))
    back = _round_trip(frame)
    assert back.equals(frame)
    assert back.schema == frame.schema


def test_bundle_round_trips_plain_values_and_dates() -> None:
    value = {"n": 3, "x": 0.1, "s": "a", "none": None, "ok": True, "days": [D(2024, 2, 29)]}
    assert _round_trip(value) == value
    assert _round_trip(D(2024, 1, 1)) == D(2024, 1, 1)


def test_bundle_round_trips_boosters() -> None:
    booster = _booster()
    back = _round_trip(booster)
    assert isinstance(back, lgb.Booster)
    assert back.model_to_string() == booster.model_to_string()
    x = np.random.default_rng(1).normal(size=(5, 3))
    np.testing.assert_array_equal(back.predict(x), booster.predict(x))


def test_bundle_round_trips_nested_pipeline_results() -> None:
    source = RawSource(
        input_path="s3://bucket/raw",
        groups=[FileGroup("csv", ["a.csv", "b.csv"], ["date", "revenue"])],
        fingerprints=[{"path": "a.csv", "size": 1, "stamp": "e"}],
        digest="abc",
        extra_columns=["channel"],
    )
    assert _round_trip(source) == source
    panel = PanelResult(_frame(), 2, [D(2024, 1, 1), D(2024, 3, 4)])
    back = _round_trip(panel)
    assert isinstance(back, PanelResult)
    assert back.panel.equals(panel.panel)
    assert back.incomplete_periods_dropped == panel.incomplete_periods_dropped
    assert back.periods_filled == 2
    result = CleanResult(_frame(), _frame().head(0), {"rows_in": 3, "duplicate": 0})
    back_clean = _round_trip({"result": result, "n": [result.counts]})
    assert back_clean["result"].daily.equals(result.daily)
    assert back_clean["result"].quarantine.schema == result.quarantine.schema
    assert back_clean["result"].counts == result.counts
    model = TrainedModel(_booster(), ["a", "b", "c"], {"region": ["n", "s"]}, 60)
    back_model = _round_trip(model)
    assert back_model.booster.model_to_string() == model.booster.model_to_string()
    assert (back_model.feature_names, back_model.categories, back_model.training_rows) == (
        ["a", "b", "c"],
        {"region": ["n", "s"]},
        60,
    )


def test_bundle_is_a_zip_of_parquet_text_and_json_never_pickle() -> None:
    blob = BundleSerializer().dumps({"frame": _frame(), "model": _booster(), "n": 1})
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(blob))) as zf:
        names = sorted(zf.namelist())
        assert names == ["result.frame.parquet", "result.json", "result.model.txt"]
        assert pl.read_parquet(io.BytesIO(zf.read("result.frame.parquet"))).equals(_frame())
        assert json.loads(zf.read("result.json"))["n"] == 1


def test_bundle_is_deterministic() -> None:
    value = {"frame": _frame(), "d": D(2024, 1, 1)}
    assert BundleSerializer().dumps(value) == BundleSerializer().dumps(value)


@dataclasses.dataclass
class _Foreign:
    x: int


def test_bundle_refuses_to_write_other_classes() -> None:
    with pytest.raises(TypeError, match="_Foreign is not a pipeline result type"):
        BundleSerializer().dumps({"a": [_Foreign(1)]})


@pytest.mark.parametrize("target", ["os:system", "subprocess:Popen", "tests_x:Thing", "task:X"])
def test_bundle_refuses_to_build_other_classes(target: str) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        root = {"__dataclass__": target, "fields": {"args": "echo"}}
        zf.writestr("result.json", json.dumps(root))
    with pytest.raises(TypeError, match="refusing to build"):
        BundleSerializer().loads(base64.b64encode(buf.getvalue()))
