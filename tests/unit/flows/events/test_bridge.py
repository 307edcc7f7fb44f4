"""The S3 → Prefect event bridge against moto's S3 and SQS (in-process, fake credentials).

The Prefect side is a recording stand-in for ``POST /events``; the real API is exercised by
the end-to-end test (tests/e2e/test_deploy_e2e.py). Most tests close a batch as soon as its
messages are received (``IMMEDIATE``); the batching tests at the end drive the clock.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest

from flows.events import bridge as service
from flows.events.batching import BATCH_EVENT, BatchPolicy
from flows.events.landing import Landing
from flows.events.notifications import (
    DEFAULT_SUFFIXES,
    EVENT_NAME,
    BadMessageError,
    BridgeSettings,
    RejectedEventsError,
    event_id,
    parse_body,
)

LANDING = "sales-landing"
OTHER = "other-bucket"
PREFIX = "landing/"
ETAG = "0123456789abcdef0123456789abcdef"


@dataclass
class Recorder:
    """Stands in for the Prefect events API; fails the next ``fail`` calls with ``error``."""

    calls: list[list[dict[str, Any]]] = field(default_factory=list)
    fail: int = 0
    error: Exception = field(default_factory=lambda: ConnectionError("API down"))
    accept_then_fail: bool = False  # the server took the events, the answer was lost

    def __call__(self, events: list[dict[str, Any]]) -> None:
        if self.fail and not self.accept_then_fail:
            self.fail -= 1
            raise self.error
        self.calls.append(events)
        if self.fail:
            self.fail -= 1
            raise self.error

    @property
    def events(self) -> list[dict[str, Any]]:
        """The per-file events posted."""
        return [e for call in self.calls for e in call if e["event"] == EVENT_NAME]

    @property
    def batches(self) -> list[dict[str, Any]]:
        """The batch events posted (one per run)."""
        return [e for call in self.calls for e in call if e["event"] == BATCH_EVENT]


IMMEDIATE = BatchPolicy(debounce_seconds=0.0)


def make_bridge(
    settings: BridgeSettings, sqs: Any, emit: Recorder, **kwargs: Any
) -> service.Bridge:
    """A bridge whose batches close as soon as their messages are in (unless ``policy``)."""
    return service.Bridge(settings, sqs, emit, **{"policy": IMMEDIATE, **kwargs})


@dataclass
class Aws:
    s3: Any
    sqs: Any
    queue: str
    dead_letters: str
    parking: str
    settings: BridgeSettings


def queue_arn(sqs: Any, url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attrs["Attributes"]["QueueArn"])


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Aws]:
    """Buckets, a queue with a dead-letter queue (2 receives), a parking queue, notifications."""
    import boto3
    from moto import mock_aws

    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-never-logged-0123456789")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    with mock_aws():
        s3, sqs = boto3.client("s3"), boto3.client("sqs")
        dead = sqs.create_queue(QueueName="uploads-dlq")["QueueUrl"]
        redrive = {"deadLetterTargetArn": queue_arn(sqs, dead), "maxReceiveCount": "2"}
        queue = sqs.create_queue(
            QueueName="uploads", Attributes={"RedrivePolicy": json.dumps(redrive)}
        )["QueueUrl"]
        parking = sqs.create_queue(QueueName="uploads-parked")["QueueUrl"]
        config = {
            "QueueConfigurations": [
                {"QueueArn": queue_arn(sqs, queue), "Events": ["s3:ObjectCreated:*"]}
            ]
        }
        for bucket in (LANDING, OTHER):
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration=config
            )
        settings = BridgeSettings(
            queue_url=queue,
            landing=Landing((LANDING,), PREFIX, DEFAULT_SUFFIXES),
            wait_seconds=0,
            visibility_timeout=0,
            heartbeat_file=str(tmp_path / "heartbeat"),
        )
        yield Aws(s3, sqs, queue, dead, parking, settings)


def drain(bridge: service.Bridge, polls: int = 5) -> None:
    """Poll until a poll finds nothing (at most ``polls`` times)."""
    for _ in range(polls):
        if bridge.poll() == 0:
            return


def waiting(aws: Aws, url: str) -> int:
    """Messages in a queue, visible or in flight."""
    attrs = aws.sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attrs.values())


def put(aws: Aws, key: str, body: bytes = b"date,region\n", bucket: str = LANDING) -> None:
    aws.s3.put_object(Bucket=bucket, Key=key, Body=body)


def test_the_configuration_test_event_is_skipped_and_deleted(aws: Aws) -> None:
    emit = Recorder()
    bridge = make_bridge(aws.settings, aws.sqs, emit)
    drain(bridge)
    assert bridge.counts["test"] == 2  # one per bucket configured
    assert emit.events == []
    assert waiting(aws, aws.queue) == 0


def test_a_new_file_becomes_one_event_with_its_decoded_key(aws: Aws) -> None:
    key = "landing/date=2024-05-01/north sales+v2%.parquet"
    put(aws, key, b"parquet bytes")
    emit = Recorder()
    bridge = make_bridge(aws.settings, aws.sqs, emit)
    drain(bridge)
    (event,) = emit.events
    assert event["event"] == EVENT_NAME
    assert event["resource"]["prefect.resource.id"] == f"s3://{LANDING}/{key}"
    assert event["payload"]["bucket"] == LANDING
    assert event["payload"]["key"] == key
    etag = aws.s3.head_object(Bucket=LANDING, Key=key)["ETag"].strip('"')
    assert event["payload"]["etag"] == etag
    assert event["id"] == str(event_id_of(LANDING, key, etag))
    assert bridge.counts["held"] == bridge.counts["batches"] == 1
    (batch,) = emit.batches
    assert batch["payload"]["objects"] == [{"key": key, "etag": etag, "size": 13}]
    assert batch["resource"]["prefect.resource.id"] == f"s3://{LANDING}/landing/"
    assert waiting(aws, aws.queue) == 0


def event_id_of(bucket: str, key: str, etag: str) -> uuid.UUID:
    from flows.events.notifications import S3Object

    return event_id(S3Object(bucket, key, etag, None, "ObjectCreated:Put", None))


@pytest.mark.parametrize(
    ("bucket", "key", "reason"),
    [
        (LANDING, "archive/date=2024-05-01/x.parquet", "outside the landing prefix"),
        (LANDING, "landing-old/x.parquet", "outside the landing prefix"),
        (LANDING, "landing/notes.txt", "does not end in .parquet/.csv"),
        (LANDING, "landing/x.parquet.tmp", "does not end in .parquet/.csv"),
        (LANDING, "landing/_temporary/0/x.parquet", "hidden part '_temporary'"),
        (LANDING, "landing/.x.csv", "hidden part '.x.csv'"),
        (OTHER, "landing/x.parquet", "is not a landing bucket (sales-landing)"),
    ],
)
def test_other_objects_are_logged_ignored_and_deleted(
    aws: Aws, caplog: pytest.LogCaptureFixture, bucket: str, key: str, reason: str
) -> None:
    put(aws, key, bucket=bucket)
    emit = Recorder()
    bridge = make_bridge(aws.settings, aws.sqs, emit)
    with caplog.at_level(logging.INFO, logger="sales_forecast.bridge"):
        drain(bridge)
    assert emit.events == []
    assert bridge.counts["ignored"] == 1
    assert waiting(aws, aws.queue) == 0
    assert any(f"s3://{bucket}/{key}" in r.message and reason in r.message for r in caplog.records)


def test_a_file_delivered_twice_is_the_same_event(aws: Aws) -> None:
    put(aws, "landing/a.csv", b"same bytes")
    put(aws, "landing/a.csv", b"same bytes")  # an identical upload: the same ETag
    mpu = aws.s3.create_multipart_upload(Bucket=LANDING, Key="landing/big.parquet")
    part = aws.s3.upload_part(
        Bucket=LANDING, Key="landing/big.parquet", UploadId=mpu["UploadId"], PartNumber=1, Body=b"x"
    )
    aws.s3.complete_multipart_upload(  # moto sends two notifications for it, as S3 may
        Bucket=LANDING,
        Key="landing/big.parquet",
        UploadId=mpu["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    put(aws, "landing/a.csv", b"new bytes")  # new content: a new event
    emit = Recorder()
    drain(make_bridge(aws.settings, aws.sqs, emit))
    ids = [(e["payload"]["key"], e["id"]) for e in emit.events]
    assert len(set(ids)) == 3  # 5 notifications, 3 objects: a.csv twice, big.parquet
    assert len({i for _, i in ids}) == 3
    assert sum(b["payload"]["notifications"] for b in emit.batches) == 5


def test_a_message_stays_in_the_queue_until_the_api_accepted_its_event(aws: Aws) -> None:
    emit = Recorder(fail=1)
    bridge = make_bridge(aws.settings, aws.sqs, emit)
    drain(bridge)  # the test events
    put(aws, "landing/a.csv")
    with pytest.raises(ConnectionError):
        bridge.poll()
    assert emit.events == []
    assert waiting(aws, aws.queue) == 1  # not deleted: received again after the timeout
    drain(bridge)
    assert [e["payload"]["key"] for e in emit.events] == ["landing/a.csv"]
    assert waiting(aws, aws.queue) == 0


def test_the_loop_survives_errors_and_waits_for_the_api(
    aws: Aws, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "MIN_BACKOFF_SECONDS", 0.01)
    put(aws, "landing/a.csv")
    emit = Recorder(fail=1)
    ready = iter([False, True])
    bridge = make_bridge(aws.settings, aws.sqs, emit, api_ready=lambda: next(ready))
    with caplog.at_level(logging.WARNING, logger="sales_forecast.bridge"):
        bridge.run(threading.Event(), max_polls=6)
    assert [e["payload"]["key"] for e in emit.events] == ["landing/a.csv"]
    assert bridge.counts["failed"] == 2  # a failed emit, then a poll skipped: API not ready
    assert "Prefect API is not reachable" in caplog.text
    assert Path(aws.settings.heartbeat_file).exists()


def test_receive_errors_do_not_stop_the_loop(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "MIN_BACKOFF_SECONDS", 0.01)
    settings = replace(aws.settings, queue_url=aws.queue + "-missing")
    bridge = make_bridge(settings, aws.sqs, Recorder())
    bridge.run(threading.Event(), max_polls=3)
    assert bridge.counts["failed"] == 3


def test_a_bad_message_is_left_for_the_dead_letter_queue(
    aws: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    aws.sqs.send_message(QueueUrl=aws.queue, MessageBody="not json at all")
    bridge = make_bridge(aws.settings, aws.sqs, Recorder())
    with caplog.at_level(logging.ERROR, logger="sales_forecast.bridge"):
        for _ in range(4):
            bridge.poll()
    assert bridge.counts["parked"] == 2  # received twice, then redriven
    assert "is not JSON" in caplog.text
    assert waiting(aws, aws.queue) == 0
    (parked,) = aws.sqs.receive_message(QueueUrl=aws.dead_letters)["Messages"]
    assert parked["Body"] == "not json at all"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ('{"Records": [{"eventName": "ObjectCreated:Put", "s3": {}}]}', "lacks s3.bucket.name"),
        ('{"Records": []}', "no 'Records' list"),
        ('["a"]', "expected a JSON object"),
    ],
)
def test_a_bad_message_goes_to_the_parking_queue_when_there_is_one(
    aws: Aws, body: str, error: str
) -> None:
    aws.sqs.send_message(QueueUrl=aws.queue, MessageBody=body)
    settings = replace(aws.settings, parking_queue_url=aws.parking)
    bridge = make_bridge(settings, aws.sqs, Recorder())
    drain(bridge)
    assert bridge.counts["parked"] == 1
    assert waiting(aws, aws.queue) == 0
    (parked,) = aws.sqs.receive_message(QueueUrl=aws.parking, MessageAttributeNames=["All"])[
        "Messages"
    ]
    assert parked["Body"] == body
    assert error in parked["MessageAttributes"]["reason"]["StringValue"]


def test_events_the_api_rejects_are_parked_not_retried(aws: Aws) -> None:
    put(aws, "landing/a.csv")
    emit = Recorder(fail=1, error=RejectedEventsError("422 Unprocessable"))
    settings = replace(aws.settings, parking_queue_url=aws.parking)
    bridge = make_bridge(settings, aws.sqs, emit)
    drain(bridge)
    assert bridge.counts["parked"] == 1
    assert waiting(aws, aws.queue) == 0
    assert waiting(aws, aws.parking) == 1


def test_sns_wrapped_notifications_and_removals() -> None:
    record = {
        "eventName": "ObjectCreated:Copy",
        "eventTime": "2024-05-01T00:00:00.000Z",
        "s3": {"bucket": {"name": "bkt"}, "object": {"key": "landing/a%3Db.csv", "eTag": ETAG}},
    }
    removed = {**record, "eventName": "ObjectRemoved:Delete"}
    envelope = {"Type": "Notification", "Message": json.dumps({"Records": [record, removed]})}
    note = parse_body(json.dumps(envelope))
    assert [o.key for o in note.objects] == ["landing/a=b.csv"]
    assert note.skipped == ["record 1: event 'ObjectRemoved:Delete' is not an object creation"]
    with pytest.raises(BadMessageError, match="SNS Message is not JSON"):
        parse_body(json.dumps({"Type": "Notification", "Message": "{"}))


def test_settings_come_from_the_environment() -> None:
    with pytest.raises(
        ValueError, match="SALES_BRIDGE_QUEUE_URL, SALES_LANDING_BUCKET, SALES_LANDING_PREFIX"
    ):
        BridgeSettings.from_env({})
    env = {
        "SALES_BRIDGE_QUEUE_URL": "http://q",
        "SALES_LANDING_BUCKET": "sales-landing, sales-landing-eu",
        "SALES_LANDING_PREFIX": "landing/",
    }
    settings = BridgeSettings.from_env(
        {**env, "SALES_BRIDGE_SUFFIXES": ".parquet", "SALES_BRIDGE_WAIT_SECONDS": "5"}
    )
    assert (settings.landing.suffixes, settings.wait_seconds) == ((".parquet",), 5)
    assert settings.landing.buckets == ("sales-landing", "sales-landing-eu")
    assert BridgeSettings.from_env(env).landing.suffixes == (".parquet", ".csv")
    with pytest.raises(ValueError, match="SALES_BRIDGE_SUFFIXES"):
        BridgeSettings.from_env({**env, "SALES_BRIDGE_SUFFIXES": "csv"})
    with pytest.raises(ValueError, match="SALES_LANDING_BUCKET='Sales_Landing' is not an S3"):
        BridgeSettings.from_env({**env, "SALES_LANDING_BUCKET": "Sales_Landing"})
    with pytest.raises(ValueError, match=r"SALES_LANDING_PREFIX='\.\./' must be a safe key prefix"):
        BridgeSettings.from_env({**env, "SALES_LANDING_PREFIX": "../"})


def test_the_healthcheck_reads_the_heartbeat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    beat = tmp_path / "beat"
    landing = Landing(("sales-landing",), "landing/", DEFAULT_SUFFIXES)
    settings = BridgeSettings("http://q", landing, heartbeat_file=str(beat))
    assert not service.healthy(settings)
    service.beat(str(beat))
    assert service.healthy(settings)
    assert not service.healthy(settings, now=time.time() + 3600)
    monkeypatch.setenv("SALES_BRIDGE_QUEUE_URL", "http://q")
    monkeypatch.setenv("SALES_LANDING_BUCKET", "sales-landing")
    monkeypatch.setenv("SALES_LANDING_PREFIX", "landing/")
    monkeypatch.setenv("SALES_BRIDGE_HEARTBEAT_FILE", str(tmp_path / "missing"))
    assert service.main(["--healthcheck"]) == 1
    monkeypatch.setenv("SALES_BRIDGE_HEARTBEAT_FILE", str(beat))
    assert service.main(["--healthcheck"]) == 0


INJECT = "${oc.env:SALES_TEST_CANARY}"
LONG_KEY = "landing/" + "k" * 1100 + ".csv"


def notification(**values: Any) -> str:
    """An S3 notification body with one ``ObjectCreated:Put`` record; ``values`` replace
    its bucket, key (sent as given, S3 sends it URL-encoded), eTag, size, sequencer,
    eventName or eventTime."""
    v = {
        "bucket": LANDING,
        "key": "landing/a.csv",
        "eTag": ETAG,
        "size": 10,
        "sequencer": "0062E99A88DC407460",
        "eventName": "ObjectCreated:Put",
        "eventTime": "2024-05-01T00:00:00.000Z",
        **values,
    }
    obj = {k: v[k] for k in ("key", "eTag", "size", "sequencer")}
    record = {
        "eventName": v["eventName"],
        "eventTime": v["eventTime"],
        "s3": {"bucket": {"name": v["bucket"]}, "object": obj},
    }
    return json.dumps({"Records": [record]})


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"bucket": INJECT}, "s3.bucket.name"),
        ({"key": f"landing/{INJECT}/a.csv"}, "s3.object.key"),
        ({"key": quote_plus(f"landing/date=2024-05-01/{INJECT}.csv")}, "holds '$'"),
        ({"eTag": INJECT}, "s3.object.eTag"),
        ({"size": INJECT}, "s3.object.size"),
        ({"sequencer": INJECT}, "s3.object.sequencer"),
        ({"eventTime": INJECT}, "eventTime"),
        ({"eventName": f"ObjectCreated:{INJECT}"}, "eventName"),
        ({"key": "landing/../outputs/a.csv"}, "'..'"),
        ({"key": "landing/./a.csv"}, "'.'"),
        ({"key": "landing//a.csv"}, "empty"),
        ({"key": "landing/a\nb.csv"}, "U+000A"),
        ({"key": "landing/a\x1b[2Jb.csv"}, "U+001B"),
        ({"key": "landing/a\u202eb.csv"}, "U+202E"),
        ({"key": LONG_KEY}, "1112 UTF-8 bytes"),
        ({"bucket": "192.168.5.4"}, "IP address"),
        ({"bucket": "xn--landing"}, "reserves"),
        ({"bucket": "sales..landing"}, "adjacent dots"),
        ({"bucket": "Sales-Landing"}, "3-63 characters"),
        ({"bucket": "s" * 64}, "3-63 characters"),
        ({"eTag": "abc"}, "32 hex digits"),
        ({"size": -1}, "object size"),
    ],
)
def test_an_unsafe_value_in_any_field_makes_the_message_bad(
    canary: str, values: dict[str, Any], named: str
) -> None:
    with pytest.raises(BadMessageError) as info:
        parse_body(notification(**values))
    reason = str(info.value)
    assert named in reason
    assert canary not in reason
    assert LONG_KEY not in reason  # shown cut short
    assert "\n" not in reason  # shown escaped
    assert "\x1b" not in reason
    assert "\u202e" not in reason


@pytest.mark.parametrize(
    "values", [{"bucket": INJECT}, {"key": LONG_KEY.replace("kk", "k\x1b", 1)}]
)
def test_a_message_with_an_unsafe_value_is_parked_and_emits_nothing(
    aws: Aws, caplog: pytest.LogCaptureFixture, canary: str, values: dict[str, Any]
) -> None:
    body = notification(**values)
    aws.sqs.send_message(QueueUrl=aws.queue, MessageBody=body)
    emit = Recorder()
    bridge = make_bridge(replace(aws.settings, parking_queue_url=aws.parking), aws.sqs, emit)
    with caplog.at_level(logging.DEBUG, logger="sales_forecast.bridge"):
        drain(bridge)
    assert emit.events == []
    assert bridge.counts["parked"] == 1
    (parked,) = aws.sqs.receive_message(QueueUrl=aws.parking, MessageAttributeNames=["All"])[
        "Messages"
    ]
    assert parked["Body"] == body  # kept whole for a re-drive once understood
    reason = parked["MessageAttributes"]["reason"]["StringValue"]
    assert "is not" in reason
    for text in [reason, *(r.getMessage() for r in caplog.records)]:
        assert canary not in text
        assert values.get("key", "k" * 100) not in text  # shown cut short
        assert "\x1b" not in text  # shown escaped


def test_an_uploaded_key_with_an_interpolation_starts_nothing(
    aws: Aws, caplog: pytest.LogCaptureFixture, canary: str
) -> None:
    put(aws, f"landing/{INJECT}/date=2024-05-01/x.parquet")  # S3 itself accepts the key
    put(aws, "landing/date=2024-05-01/fine.parquet")
    emit = Recorder()
    bridge = make_bridge(aws.settings, aws.sqs, emit)
    with caplog.at_level(logging.INFO, logger="sales_forecast.bridge"):
        for _ in range(4):  # no parking queue: received twice, then to the dead-letter queue
            bridge.poll()
    assert [e["payload"]["key"] for e in emit.events] == ["landing/date=2024-05-01/fine.parquet"]
    assert bridge.counts["parked"] == 2
    assert "holds '$'" in caplog.text
    assert canary not in caplog.text
    assert waiting(aws, aws.dead_letters) == 1


def test_one_unsafe_record_parks_the_whole_message(aws: Aws) -> None:
    good = json.loads(notification())["Records"][0]
    bad = json.loads(notification(key=f"landing/{INJECT}.csv"))["Records"][0]
    aws.sqs.send_message(QueueUrl=aws.queue, MessageBody=json.dumps({"Records": [good, bad]}))
    emit = Recorder()
    bridge = make_bridge(replace(aws.settings, parking_queue_url=aws.parking), aws.sqs, emit)
    drain(bridge)
    assert emit.events == []
    assert waiting(aws, aws.parking) == 1


def test_a_valid_record_becomes_an_event_of_checked_values() -> None:
    body = notification(eTag=f'"{ETAG}-3"', key="landing/date%3D2024-05-01/a+b.csv")
    (obj,) = parse_body(body).objects
    assert (obj.bucket, obj.key, obj.etag, obj.size) == (
        LANDING,
        "landing/date=2024-05-01/a b.csv",
        f"{ETAG}-3",
        10,
    )


@dataclass
class Clock:
    """The bridge's clock, moved by the test."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Spy:
    """Passes every call to the real (moto) SQS client and remembers the method names."""

    sqs: Any
    called: list[str] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        self.called.append(name)
        return getattr(self.sqs, name)


def in_flight(aws: Aws) -> int:
    attrs = aws.sqs.get_queue_attributes(
        QueueUrl=aws.queue, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessagesNotVisible"])


DROP = [f"landing/date=2024-05-{d:02d}/part-{p}.parquet" for d in range(1, 11) for p in range(3)]


def test_thirty_files_wait_in_flight_and_leave_as_one_batch(aws: Aws) -> None:
    settings = replace(aws.settings, visibility_timeout=60)
    clock, emit = Clock(), Recorder()
    bridge = make_bridge(settings, aws.sqs, emit, policy=BatchPolicy(10.0), clock=clock)
    drain(bridge)  # the configuration test events
    for key in DROP:
        put(aws, key, key.encode())
    drain(bridge, polls=10)
    assert emit.calls == []
    assert bridge.counts["held"] == 30
    assert in_flight(aws) == 30  # held, not deleted
    clock.now += 10
    bridge.poll()
    (batch,) = emit.batches
    assert [o["key"] for o in batch["payload"]["objects"]] == sorted(DROP)
    assert batch["payload"]["closed_by"] == "debounce"
    assert len(emit.events) == 30
    assert waiting(aws, aws.queue) == 0


def test_a_restart_posts_the_same_batch_event_again(aws: Aws) -> None:
    settings = replace(aws.settings, visibility_timeout=60)
    clock = Clock()
    first = Recorder(fail=1, accept_then_fail=True)  # accepted, but the answer never came
    bridge = make_bridge(settings, aws.sqs, first, policy=BatchPolicy(5.0), clock=clock)
    drain(bridge)
    for key in DROP[:12]:
        put(aws, key, key.encode())
    drain(bridge, polls=4)
    clock.now += 5
    with pytest.raises(ConnectionError):
        bridge.poll()
    bridge.release()  # shutdown: the messages go back to the queue at once
    again = Recorder()
    restarted = make_bridge(settings, aws.sqs, again, policy=BatchPolicy(5.0), clock=clock)
    drain(restarted, polls=4)
    assert again.calls == []  # a new quiet period from the redelivery
    clock.now += 5
    restarted.poll()
    assert [b["id"] for b in again.batches] == [b["id"] for b in first.batches]
    assert waiting(aws, aws.queue) == 0


def test_with_a_completion_marker_files_wait_for_it(
    aws: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    settings = replace(aws.settings, visibility_timeout=60)
    clock, emit = Clock(), Recorder()
    policy = BatchPolicy(debounce_seconds=0.0, marker="_SUCCESS")
    bridge = make_bridge(settings, aws.sqs, emit, policy=policy, clock=clock)
    drain(bridge)
    with caplog.at_level(logging.INFO, logger="sales_forecast.bridge"):
        for key in DROP[:3]:
            put(aws, key)
        put(aws, "archive/_SUCCESS")  # not under the landing prefix: ignored
        drain(bridge)
        clock.now += 600
        drain(bridge)
        assert emit.calls == []
        put(aws, "landing/date=2024-05-01/_SUCCESS")
        drain(bridge)
    (batch,) = emit.batches
    assert batch["payload"]["closed_by"] == "marker"
    assert len(batch["payload"]["objects"]) == 3
    assert "marker s3://sales-landing/landing/date=2024-05-01/_SUCCESS" in caplog.text
    assert "ignored s3://sales-landing/archive/_SUCCESS" in caplog.text
    assert waiting(aws, aws.queue) == 0


def test_held_messages_stay_in_flight_while_their_batch_is_open(aws: Aws) -> None:
    settings = replace(aws.settings, visibility_timeout=30)
    clock, spy = Clock(), Spy(aws.sqs)
    bridge = service.Bridge(settings, spy, Recorder(), policy=BatchPolicy(300.0), clock=clock)
    drain(bridge)
    put(aws, "landing/a.csv")
    drain(bridge)
    clock.now += 10
    bridge.poll()
    assert "change_message_visibility_batch" not in spy.called
    clock.now += 10  # within half a timeout of reappearing
    bridge.poll()
    assert spy.called.count("change_message_visibility_batch") == 1
    assert in_flight(aws) == 1
