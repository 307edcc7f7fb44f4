"""Upload batches (flows/events/batching.py): when a batch closes, what it holds, which
messages it lets go, and that the same messages give the same batch after a restart."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import pytest

from flows.events.batching import BATCH_EVENT, Batch, Batcher, BatchPolicy
from flows.events.notifications import S3Object

BUCKET = "sales-landing"
VISIBILITY = 120.0


def obj(key: str, body: str = "") -> S3Object:
    etag = hashlib.md5((body or key).encode(), usedforsecurity=False).hexdigest()
    return S3Object(BUCKET, key, etag, 10, "ObjectCreated:Put", None)


def message(n: int, receipt: str | None = None) -> dict[str, Any]:
    return {"MessageId": f"m{n}", "ReceiptHandle": receipt or f"r{n}", "Body": "{}"}


def batcher(**policy: Any) -> Batcher:
    return Batcher(BatchPolicy(**{"debounce_seconds": 10.0, **policy}), VISIBILITY)


def drop(b: Batcher, keys: list[str], start: float, step: float, first: int = 0) -> float:
    """One message per key, ``step`` seconds apart; returns the time of the last one."""
    t = start
    for i, key in enumerate(keys):
        t = start + i * step
        b.add(message(first + i), [obj(key)], [], t)
    return t


KEYS = [f"landing/date=2024-05-{d:02d}/part-{p}.parquet" for d in range(1, 11) for p in range(3)]


def test_thirty_files_make_one_batch_once_the_prefix_is_quiet() -> None:
    b = batcher()
    last = drop(b, KEYS, start=0.0, step=1.0)
    assert b.due(last + 9.9) == []  # still inside the quiet period
    assert b.seconds_to_next(last + 9.0) == pytest.approx(1.0)
    (batch,) = b.due(last + 10.0)
    assert (batch.bucket, batch.prefix, batch.closed_by) == (BUCKET, "landing/", "debounce")
    assert [o.key for o in batch.objects] == sorted(KEYS)
    assert batch.notifications == 30
    released = b.done(batch)
    assert sorted(m["MessageId"] for m in released) == sorted(f"m{i}" for i in range(30))
    assert b.due(last + 100) == []
    assert b.held == {}
    # A later file opens the next batch.
    b.add(message(99), [obj("landing/date=2024-05-11/part-0.parquet")], [], last + 200)
    (later,) = b.due(last + 210)
    assert [o.key for o in later.objects] == ["landing/date=2024-05-11/part-0.parquet"]
    assert later.batch_id != batch.batch_id


def test_the_batch_does_not_depend_on_the_order_messages_arrive_in() -> None:
    ids = set()
    for seed in range(3):
        keys = KEYS.copy()
        random.Random(seed).shuffle(keys)
        b = batcher()
        (batch,) = b.due(drop(b, keys, 0.0, 0.5) + 10)
        assert [o.key for o in batch.objects] == sorted(KEYS)
        ids.add(batch.batch_id)
    assert len(ids) == 1


def test_duplicate_notifications_are_one_object_and_do_not_extend_the_quiet_period() -> None:
    b = batcher()
    key = "landing/date=2024-05-01/part-0.parquet"
    b.add(message(1), [obj(key)], [], 0.0)
    b.add(message(2), [obj(key)], [], 8.0)  # the same bytes again / a second delivery
    (batch,) = b.due(10.0)
    assert [o.key for o in batch.objects] == [key]
    assert batch.notifications == 2
    assert {m["MessageId"] for m in b.done(batch)} == {"m1", "m2"}
    # The same key with new bytes is a new upload: it is listed and restarts the quiet period.
    b.add(message(3), [obj(key)], [], 20.0)
    b.add(message(4), [obj(key, body="v2")], [], 25.0)
    assert b.due(34.0) == []
    (batch,) = b.due(35.0)
    assert len(batch.objects) == 2


def test_a_message_received_again_keeps_its_place_and_gets_its_new_receipt() -> None:
    b = batcher()
    b.add(message(1), [obj(KEYS[0])], [], 0.0)
    b.add(message(1, receipt="r1-again"), [obj(KEYS[0])], [], 9.0)
    (batch,) = b.due(10.0)  # quiet since 0.0, not since the redelivery
    assert batch.notifications == 1
    (released,) = b.done(batch)
    assert released["ReceiptHandle"] == "r1-again"


def test_after_a_restart_the_redelivered_messages_make_the_same_batch() -> None:
    before = batcher()
    (batch,) = before.due(drop(before, KEYS, 0.0, 1.0) + 10)
    after = batcher()  # a new process; SQS hands the same messages out again, all at once
    for i, key in enumerate(reversed(KEYS)):
        after.add(message(29 - i, receipt=f"new-{i}"), [obj(key)], [], 500.0)
    assert after.due(505.0) == []  # the quiet period starts again from the redelivery
    (again,) = after.due(510.0)
    assert again.batch_id == batch.batch_id
    assert again.event()["id"] == batch.event()["id"]  # the server de-duplicates it


def test_with_a_marker_files_wait_for_it_and_late_notifications_still_join() -> None:
    b = batcher(marker="_SUCCESS", debounce_seconds=5.0, max_seconds=600.0)
    marker = obj("landing/date=2024-05-10/_SUCCESS")
    assert b.is_marker(marker)
    assert not b.is_marker(obj(KEYS[0]))
    last = drop(b, KEYS[:-1], 0.0, 1.0)
    assert b.due(last + 300) == []  # quiet, but no marker yet
    b.add(message(100), [], [marker], last + 301)  # S3 does not order its notifications:
    b.add(message(101), [obj(KEYS[-1])], [], last + 303)  # the last file comes after it
    assert b.due(last + 307) == []
    (batch,) = b.due(last + 308)
    assert batch.closed_by == "marker"
    assert [o.key for o in batch.objects] == sorted(KEYS)
    assert "m100" in {m["MessageId"] for m in b.done(batch)}


def test_a_marker_without_new_files_closes_an_empty_batch() -> None:
    b = batcher(marker="manifest.json", debounce_seconds=0.0)
    b.add(message(1), [], [obj("landing/manifest.json")], 0.0)
    (batch,) = b.due(0.0)
    assert (batch.prefix, batch.objects, batch.closed_by) == ("landing/", (), "marker")
    assert [m["MessageId"] for m in b.done(batch)] == ["m1"]


def test_a_steady_trickle_or_a_missing_marker_closes_at_the_maximum_wait() -> None:
    for policy in ({}, {"marker": "_SUCCESS"}):
        b = batcher(max_seconds=60.0, **policy)
        for i in range(20):  # a file every 5 s: never 10 s quiet
            b.add(message(i), [obj(f"landing/f{i}.csv")], [], i * 5.0)
            due = b.due(i * 5.0)
            if due:
                break
        (batch,) = due
        assert batch.closed_by == "max-wait"
        assert len(batch.objects) == 13  # t = 0, 5, ..., 60


def test_a_full_batch_closes_at_once() -> None:
    b = batcher(max_objects=5)
    drop(b, KEYS[:5], 0.0, 0.1)
    (batch,) = b.due(0.5)
    assert batch.closed_by == "max-objects"
    assert len(batch.objects) == 5


def test_prefixes_batch_apart_and_a_message_is_released_by_its_last_batch() -> None:
    b = batcher()
    one, two = obj("landing/a.csv"), obj("other/date=2024-05-01/b.csv")
    b.add(message(1), [one, two], [], 0.0)  # a message may hold several records
    b.add(message(2), [obj("landing/c.csv")], [], 5.0)
    first, second = b.due(15.0)
    assert {(first.prefix, len(first.objects)), (second.prefix, len(second.objects))} == {
        ("landing/", 2),
        ("other/", 1),
    }
    landing, other = (first, second) if first.prefix == "landing/" else (second, first)
    assert [m["MessageId"] for m in b.done(landing)] == ["m2"]  # m1 still feeds other/
    assert [m["MessageId"] for m in b.done(other)] == ["m1"]


def test_held_messages_are_extended_before_they_reappear() -> None:
    b = batcher(debounce_seconds=300.0, max_seconds=900.0)
    b.add(message(1), [obj(KEYS[0])], [], 0.0)
    assert b.to_extend(59.0) == []
    (held,) = b.to_extend(61.0)
    assert held.receipt == "r1"
    assert held.deadline == 61.0 + VISIBILITY
    assert b.to_extend(62.0) == []


def test_the_batch_event_names_the_prefix_and_its_objects() -> None:
    batch = Batch(BUCKET, "landing/", (obj(KEYS[0]),), "debounce", 1)
    event = batch.event()
    assert event["event"] == BATCH_EVENT
    assert event["id"] == event["payload"]["batch_id"] == str(batch.batch_id)
    assert event["resource"]["prefect.resource.id"] == f"s3://{BUCKET}/landing/"
    assert event["payload"]["objects"] == [{"key": KEYS[0], "etag": obj(KEYS[0]).etag, "size": 10}]
    assert event["payload"]["prefix"] == "landing/"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SALES_BRIDGE_DEBOUNCE_SECONDS": "soon"}, "SALES_BRIDGE_DEBOUNCE_SECONDS='soon'"),
        ({"SALES_BRIDGE_DEBOUNCE_SECONDS": "-1"}, "SALES_BRIDGE_DEBOUNCE_SECONDS='-1'"),
        ({"SALES_BRIDGE_DEBOUNCE_SECONDS": "900"}, "must be below"),
        ({"SALES_BRIDGE_BATCH_MAX_SECONDS": "86400"}, "12 hours"),
        ({"SALES_BRIDGE_BATCH_MAX_OBJECTS": "0"}, "SALES_BRIDGE_BATCH_MAX_OBJECTS=0"),
        ({"SALES_BRIDGE_COMPLETION_MARKER": "done.csv"}, "does not end in .parquet/.csv"),
        ({"SALES_BRIDGE_COMPLETION_MARKER": "a/_SUCCESS"}, "'a/_SUCCESS'"),
        ({"SALES_BRIDGE_COMPLETION_MARKER": "${oc.env:X}"}, "want an object name"),
    ],
)
def test_bad_batch_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("$", r"\$").replace("{", r"\{")):
        BatchPolicy.from_env(env, (".parquet", ".csv"))


def test_batch_settings_from_the_environment() -> None:
    env = {"SALES_BRIDGE_DEBOUNCE_SECONDS": "2", "SALES_BRIDGE_COMPLETION_MARKER": "_SUCCESS"}
    assert BatchPolicy.from_env(env, (".csv",)) == BatchPolicy(2.0, "_SUCCESS", 900.0, 1000)
    assert BatchPolicy.from_env({}, (".csv",)) == BatchPolicy()
