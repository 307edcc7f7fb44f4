"""S3 event notifications → Prefect events: settings, parsing and filtering (no I/O).

An SQS message body is an S3 notification (``{"Records": [...]}``), the same wrapped in an
SNS envelope, or the ``s3:TestEvent`` that S3 sends when notifications are configured.
Every value of a record that the event carries (bucket, key, ETag, size, event name and
time, sequencer) is checked by :mod:`flows.events.landing` first: a record that breaks S3's rules
or this project's (``$``, ``..``, control characters, an over-long key, ...) makes the
message bad, so it is parked and emits nothing. Each new object in a landing bucket, under
the landing prefix, with an allowed suffix becomes one Prefect event whose id is
``uuid5(bucket/key/etag)``: the same object delivered twice is the same event, which the
Prefect server de-duplicates, so it starts one flow run.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from flows.events.landing import (
    Landing,
    UnsafeValueError,
    check_bucket,
    check_etag,
    check_event_name,
    check_hex,
    check_key,
    check_size,
    shown,
)

EVENT_NAME = "aws.s3.object.created"
EVENT_NAMESPACE = uuid.UUID("5c1e3f0a-8d2b-5b8e-9a57-3f0c2d6e4b11")  # fixed: ids stay stable
DEFAULT_SUFFIXES = (".parquet", ".csv")


class BadMessageError(ValueError):
    """An SQS message that is not an S3 notification this bridge understands."""


class RejectedEventsError(ValueError):
    """The Prefect API refused the events for good (a 4xx other than 408/429)."""


@dataclass(frozen=True)
class BridgeSettings:
    """What the bridge reads, what it lets through, and how it polls."""

    queue_url: str
    landing: Landing
    endpoint_url: str | None = None
    region: str | None = None
    parking_queue_url: str | None = None
    wait_seconds: int = 20
    visibility_timeout: int = 120
    heartbeat_file: str = "/tmp/s3-bridge.heartbeat"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BridgeSettings:
        """Settings from ``SALES_BRIDGE_*``/``SALES_LANDING_*`` variables; names what is missing."""
        missing = [
            k
            for k in ("SALES_BRIDGE_QUEUE_URL", "SALES_LANDING_BUCKET", "SALES_LANDING_PREFIX")
            if not env.get(k)
        ]
        if missing:
            raise ValueError(f"s3 bridge: set {', '.join(missing)}")
        raw_suffixes = env.get("SALES_BRIDGE_SUFFIXES") or ",".join(DEFAULT_SUFFIXES)
        suffixes = tuple(s.strip() for s in raw_suffixes.split(",") if s.strip())
        if not suffixes or not all(s.startswith(".") for s in suffixes):
            raise ValueError(f"SALES_BRIDGE_SUFFIXES={raw_suffixes!r}: want e.g. .parquet,.csv")
        return cls(
            queue_url=env["SALES_BRIDGE_QUEUE_URL"],
            landing=Landing.from_env(env, suffixes),
            endpoint_url=env.get("SALES_BRIDGE_ENDPOINT_URL") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            parking_queue_url=env.get("SALES_BRIDGE_PARKING_QUEUE_URL") or None,
            wait_seconds=int(env.get("SALES_BRIDGE_WAIT_SECONDS", "20")),
            visibility_timeout=int(env.get("SALES_BRIDGE_VISIBILITY_TIMEOUT", "120")),
            heartbeat_file=env.get("SALES_BRIDGE_HEARTBEAT_FILE", "/tmp/s3-bridge.heartbeat"),
        )


@dataclass(frozen=True)
class S3Object:
    """One created object, as an S3 notification record describes it (key decoded)."""

    bucket: str
    key: str
    etag: str
    size: int | None
    event_name: str
    event_time: str | None
    sequencer: str | None = None

    @property
    def url(self) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class Notification:
    """A parsed message: created objects, records skipped (with why), or a test event."""

    objects: list[S3Object]
    skipped: list[str]
    test_event: bool = False


def parse_body(body: str) -> Notification:
    """Parse an SQS message body; :class:`BadMessageError` when it is not an S3 notification."""
    doc = _json(body, "body")
    if isinstance(doc, dict) and doc.get("Type") == "Notification" and "Message" in doc:
        doc = _json(doc["Message"], "SNS Message")  # S3 → SNS → SQS fan-out
    if not isinstance(doc, dict):
        raise BadMessageError(f"expected a JSON object, got {type(doc).__name__}")
    if doc.get("Event") == "s3:TestEvent":
        return Notification([], [], test_event=True)
    records = doc.get("Records")
    if not isinstance(records, list) or not records:
        raise BadMessageError(f"no 'Records' list in message with keys {sorted(doc)}")
    objects: list[S3Object] = []
    skipped: list[str] = []
    for i, record in enumerate(records):
        name = record.get("eventName", "") if isinstance(record, dict) else ""
        if not isinstance(name, str) or not name.startswith("ObjectCreated:"):
            skipped.append(f"record {i}: event {shown(name)} is not an object creation")
            continue
        objects.append(_object(record, i))
    return Notification(objects, skipped)


def _json(text: Any, what: str) -> Any:
    if not isinstance(text, str):
        raise BadMessageError(f"{what} is {type(text).__name__}, not JSON text")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadMessageError(f"{what} is not JSON: {exc}") from exc


def _object(record: Mapping[str, Any], index: int) -> S3Object:
    """The object of one ``ObjectCreated:*`` record, every value checked; keys arrive
    URL-encoded (``+`` = space)."""
    try:
        s3 = record["s3"]
        bucket, obj = s3["bucket"]["name"], s3["object"]
        raw_key = obj["key"]
    except (KeyError, TypeError) as exc:
        raise BadMessageError(f"record {index} lacks s3.bucket.name or s3.object.key") from exc
    where = f"record {index}: s3.object"
    try:
        key = unquote_plus(raw_key) if isinstance(raw_key, str) else raw_key
        return S3Object(
            bucket=check_bucket(bucket, f"record {index}: s3.bucket.name"),
            key=check_key(key, f"{where}.key"),
            etag=check_etag(obj.get("eTag", obj.get("etag")), f"{where}.eTag"),
            size=check_size(obj.get("size"), f"{where}.size"),
            event_name=check_event_name(record.get("eventName"), f"record {index}: eventName"),
            event_time=_event_time(record.get("eventTime"), f"record {index}: eventTime"),
            sequencer=check_hex(obj.get("sequencer"), f"{where}.sequencer"),
        )
    except UnsafeValueError as exc:
        raise BadMessageError(str(exc)) from exc


def _event_time(value: object, where: str) -> str | None:
    """An ISO-8601 time (None when absent); :class:`UnsafeValueError` otherwise."""
    if value is None:
        return None
    try:
        if isinstance(value, str) and len(value) <= 40:
            dt.datetime.fromisoformat(value)
            return value
    except ValueError:
        pass
    raise UnsafeValueError(f"{where}={shown(value)} is not an ISO-8601 time")


def ignore_reason(obj: S3Object, settings: BridgeSettings) -> str | None:
    """Why ``obj`` starts no run (other bucket, outside the prefix, suffix, hidden), or None."""
    return settings.landing.outside(obj.bucket, obj.key)


def event_id(obj: S3Object) -> uuid.UUID:
    """The deterministic event id: the same bucket, key and ETag give the same id."""
    return uuid.uuid5(EVENT_NAMESPACE, f"{obj.bucket}/{obj.key}/{obj.etag}")


def prefect_event(obj: S3Object, now: dt.datetime | None = None) -> dict[str, Any]:
    """The Prefect event (JSON-ready) for one new object; ``occurred`` is the S3 event time."""
    occurred = obj.event_time or (now or dt.datetime.now(dt.UTC)).isoformat()
    return {
        "id": str(event_id(obj)),
        "event": EVENT_NAME,
        "occurred": occurred,
        "resource": {
            "prefect.resource.id": obj.url,
            "prefect.resource.name": obj.key,
            "aws.s3.bucket": obj.bucket,
            "aws.s3.key": obj.key,
        },
        "related": [],
        "payload": {
            "bucket": obj.bucket,
            "key": obj.key,
            "etag": obj.etag,
            "size": obj.size,
            "s3_event": obj.event_name,
            "sequencer": obj.sequencer,
        },
    }
