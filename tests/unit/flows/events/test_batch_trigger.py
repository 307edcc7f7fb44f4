"""A run started by an upload batch: the bridge's batch payload is accepted as it is made,
anything altered or unsafe is refused naming the field, and the run reads the prefix."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest

from flows import config as conf
from flows.events.batch_trigger import checked_batch, from_parameters
from flows.events.batching import Batch
from flows.events.landing import Landing, UnsafeValueError
from flows.events.notifications import S3Object
from flows.events.trigger import check_composed
from tasks.storage import DATA_SUFFIXES

BUCKET = "sales-landing"
LANDING = Landing((BUCKET,), "landing/", DATA_SUFFIXES)
KEYS = [f"landing/date=2024-05-0{d}/part-0.parquet" for d in (1, 2, 3)] + ["landing/extra.csv"]
BASE = ["data=s3", "data.output_path=s3://out/forecast"]


def payload(keys: list[str] = KEYS, closed_by: str = "debounce") -> dict[str, Any]:
    """The s3_batch parameter the trigger renders from a batch event the bridge made."""
    objects = tuple(
        S3Object(
            BUCKET, k, hashlib.md5(k.encode(), usedforsecurity=False).hexdigest(), 7, "x", None
        )
        for k in keys
    )
    event_payload: dict[str, Any] = Batch(
        BUCKET, "landing/", objects, closed_by, len(keys)
    ).event()["payload"]
    return event_payload


@pytest.fixture
def landing_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALES_LANDING_BUCKET", BUCKET)
    monkeypatch.setenv("SALES_LANDING_PREFIX", "landing/")


def test_a_batch_from_the_bridge_is_read_from_its_landing_prefix(landing_env: None) -> None:
    upload, overrides, record = from_parameters(None, payload(), BASE)
    assert upload is not None
    assert overrides == [*BASE, f"data.input_path=s3://{BUCKET}/landing/", "data.file_format=auto"]
    cfg = conf.to_app_config(conf.compose_config(overrides))
    check_composed(upload, overrides, cfg.data.input_path)
    assert record is not None
    assert record["kind"] == "batch"
    assert record["batch_id"] == payload()["batch_id"]
    assert record["object_count"] == 4
    assert record["closed_by"] == "debounce"
    assert [o["key"] for o in record["objects"]] == sorted(KEYS)


def test_a_single_object_and_no_trigger_still_work(landing_env: None) -> None:
    _, overrides, record = from_parameters({"bucket": BUCKET, "key": KEYS[0]}, None, BASE)
    assert record == {"bucket": BUCKET, "key": KEYS[0], "etag": ""}
    assert overrides[-2] == f"data.input_path=s3://{BUCKET}/landing/"
    assert from_parameters(None, None, BASE) == (None, BASE, None)
    with pytest.raises(UnsafeValueError, match="not both"):
        from_parameters({"bucket": BUCKET, "key": KEYS[0]}, payload(), BASE)


def altered(change: str) -> dict[str, Any]:
    batch = copy.deepcopy(payload())
    if change == "id":
        batch["batch_id"] = payload(KEYS[:2])["batch_id"]
    elif change == "dropped object":
        batch["objects"].pop()
    elif change == "other prefix":
        batch["prefix"] = "landing/date=2024-05-01/"
    elif change == "injected key":
        batch["objects"][1]["key"] = "landing/${oc.env:SALES_TEST_CANARY}.csv"
    elif change == "other bucket":
        batch["bucket"] = "someone-elses"
    elif change == "unknown field":
        batch["command"] = "rm -rf"
    elif change == "duplicate":
        batch["objects"].append(batch["objects"][0])
    elif change == "closed_by":
        batch["closed_by"] = "whenever"
    elif change == "notifications":
        batch["notifications"] = 1
    elif change == "no objects":
        batch["objects"] = []
    elif change == "bad etag":
        batch["objects"][0]["etag"] = "not-an-etag"
    return batch


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("id", "s3_batch['batch_id']"),
        ("dropped object", "s3_batch['batch_id']"),
        ("other prefix", "s3_batch['prefix']"),
        ("injected key", "s3_batch['objects'][1]"),
        ("other bucket", "is not a landing bucket"),
        ("unknown field", "unexpected field(s) 'command'"),
        ("duplicate", "twice"),
        ("closed_by", "s3_batch['closed_by']"),
        ("notifications", "s3_batch['notifications']"),
        ("no objects", "s3_batch['objects']"),
        ("bad etag", "s3_batch['objects'][0]"),
    ],
)
def test_an_altered_or_unsafe_batch_is_refused_naming_the_field(change: str, named: str) -> None:
    with pytest.raises(UnsafeValueError) as caught:
        checked_batch(altered(change), LANDING)
    assert named in str(caught.value)


def test_user_overrides_must_read_every_object_of_the_batch(landing_env: None) -> None:
    with pytest.raises(ValueError, match="would skip the uploaded parquet object"):
        from_parameters(None, payload(), [*BASE, "data.file_format=csv"])
    with pytest.raises(ValueError, match="does not include the uploaded object"):
        from_parameters(
            None,
            payload(),
            [*BASE, "data.input_path='s3://sales-landing/landing/date=2024-05-01/'"],
        )


def test_without_the_landing_variables_a_batch_run_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SALES_LANDING_BUCKET", raising=False)
    monkeypatch.delenv("SALES_LANDING_PREFIX", raising=False)
    with pytest.raises(UnsafeValueError, match="s3_batch given but set SALES_LANDING_BUCKET"):
        from_parameters(None, payload(), BASE)
