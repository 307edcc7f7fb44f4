"""Damaged state on S3 (moto): errors name the s3:// URL and the repair, repairs work there."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import polars as pl
import pytest

from tasks import registry, storage
from tasks.monitoring import store as monitoring_store
from tasks.registry import serving
from tasks.storage import state
from tests.s3.support import BUCKET

MODEL = "m"
V1, V2 = "20261101T000000Z-aaaaaaaa", "20261102T000000Z-bbbbbbbb"


@pytest.fixture
def settings(moto_endpoint: str) -> storage.StorageSettings:
    return storage.StorageSettings(endpoint_url=moto_endpoint, region="us-east-1")


@pytest.fixture
def out(s3: Any, prefix: str) -> str:
    return f"s3://{BUCKET}/{prefix}"


def _key(out: str, *parts: str) -> str:
    return "/".join([out.removeprefix(f"s3://{BUCKET}/"), *parts])


def _registry(out: str, settings: storage.StorageSettings) -> None:
    block = {"wape": 0.1}
    for v in (V1, V2):
        registry.register(
            out, MODEL, v, model_text=f"tree {v}\n",
            metrics={"backtest": {"model": block, "seasonal_naive": {"wape": 0.2}},
                     "gate": {"passed": True}},
            config_yaml="a: 1\n", manifest={"run_id": v}, data_digest="d", git_commit="c",
            actor="t", settings=settings,
        )  # fmt: skip
    registry.promote(out, MODEL, V1, actor="t", reason="r", expected=None, settings=settings)


def test_a_truncated_champion_pointer_on_s3_names_its_url_and_the_rollback(
    s3: Any, out: str, settings: storage.StorageSettings, moto_endpoint: str
) -> None:
    _registry(out, settings)
    key = _key(out, "registry", MODEL, "champion.json")
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    s3.put_object(Bucket=BUCKET, Key=key, Body=body[:30])
    with pytest.raises(state.CorruptStateError) as caught:
        registry.champion(out, MODEL, settings=settings)
    message = str(caught.value)
    assert f"s3://{BUCKET}/{key}" in message
    assert "truncated" in message
    assert f"--endpoint-url {moto_endpoint} rollback {V1}" in message
    new = registry.rollback(out, MODEL, V1, actor="al", reason="repair", settings=settings)
    assert registry.champion(out, MODEL, settings=settings) == new


def test_a_damaged_version_on_s3_is_listed_as_damaged_and_can_be_forgotten(
    s3: Any, out: str, settings: storage.StorageSettings
) -> None:
    _registry(out, settings)
    key = _key(out, "registry", MODEL, V2, "version.json")
    s3.put_object(Bucket=BUCKET, Key=key, Body=b'{"version": "')
    found = registry.inventory(out, MODEL, settings=settings)
    assert [v.version for v in found.versions] == [V1]
    assert [(d.version, d.path) for d in found.damaged] == [(V2, f"s3://{BUCKET}/{key}")]
    registry.forget(out, MODEL, V2, actor="al", reason="damaged", settings=settings)
    assert registry.inventory(out, MODEL, settings=settings).damaged == []
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=key)


def test_an_edited_model_on_s3_is_refused(
    s3: Any, out: str, settings: storage.StorageSettings
) -> None:
    _registry(out, settings)
    key = _key(out, "registry", MODEL, V1, "model.txt")
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"tree planted\n")
    with pytest.raises(state.CorruptStateError) as caught:
        registry.read_model_text(out, MODEL, V1, settings=settings)
    assert f"s3://{BUCKET}/{key}" in str(caught.value)
    assert hashlib.sha256(f"tree {V1}\n".encode()).hexdigest() in str(caught.value)
    assert hashlib.sha256(b"tree planted\n").hexdigest() in str(caught.value)


def test_a_garbled_serving_pointer_on_s3_is_named_then_replaced(
    s3: Any, out: str, settings: storage.StorageSettings
) -> None:
    frame = pl.DataFrame({"date": [dt.date(2026, 11, 25)], "forecast": [1.0]})
    day = dt.date(2026, 11, 24)
    serving.write_dated(
        out, MODEL, frame, model_version="v", run_id="r1", as_of=day, settings=settings
    )
    serving.sync_latest(out, MODEL, lambda: "v", settings=settings)
    key = _key(out, "serving", MODEL, "latest.json")
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"\x00\x01")
    with pytest.raises(state.CorruptStateError, match=f"s3://{BUCKET}/{key}"):
        serving.read_pointer(out, MODEL, settings=settings)
    done = serving.sync_latest(out, MODEL, lambda: "v", settings=settings)
    assert f"s3://{BUCKET}/{key}" in str(done["replaced_damaged"])
    assert serving.read_pointer(out, MODEL, settings=settings)["run_id"] == "r1"  # type: ignore[index]


def test_a_zero_byte_history_table_on_s3_is_named_and_set_aside(
    s3: Any, out: str, settings: storage.StorageSettings
) -> None:
    root, name = storage.join(out, "monitoring"), monitoring_store.REALISED_HISTORY
    s3.put_object(Bucket=BUCKET, Key=_key(out, "monitoring", name), Body=b"")
    with pytest.raises(state.CorruptStateError) as caught:
        monitoring_store.read_table(root, name, settings=settings)
    assert f"s3://{BUCKET}/{_key(out, 'monitoring', name)}" in str(caught.value)
    assert "empty (0 bytes)" in str(caught.value)
    moved = monitoring_store.set_aside_table(root, name, settings=settings)
    assert moved is not None
    assert moved.startswith(f"s3://{BUCKET}/{_key(out, 'monitoring', name)}.damaged-")
    assert monitoring_store.read_table(root, name, settings=settings) is None
    assert storage.read_bytes(moved, settings=settings) == b""
