"""Upload batches: files that land together under one landing prefix make one flow run.

The bridge hands every new object (and completion marker) it receives to a
:class:`Batcher`, keyed by bucket and landing prefix (the run's ``data.input_path``, see
:func:`flows.events.trigger.landing_prefix`). A batch closes when

* ``debounce``: no new file arrived under its prefix for ``debounce_seconds`` (and, when a
  completion marker is configured, its marker has arrived: ``marker``);
* ``max-wait``: it has been open ``max_seconds`` (a steady trickle, or a marker that never
  came), so a run is never postponed for ever;
* ``max-objects``: it holds ``max_objects`` files (bounds the event and the run's parameters).

No state lives outside SQS: the messages of an open batch stay in flight (the bridge
extends their visibility) and are deleted only after the batch's event was accepted. A
restart lets them come back, and the batch is rebuilt from them. The batch id is a uuid5
of the bucket, prefix and the sorted (key, ETag) pairs, so a batch emitted twice (a crash
between emit and delete) is one event to the Prefect server, and one run.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flows.events.notifications import EVENT_NAMESPACE, S3Object, event_id
from flows.events.trigger import landing_prefix

BATCH_EVENT = "sales-forecast.upload.batch"
CLOSED_BY = ("debounce", "marker", "max-wait", "max-objects")
MAX_HOLD_SECONDS = 11 * 3600  # SQS keeps a message in flight for 12 hours at most
_MARKER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


@dataclass(frozen=True)
class BatchPolicy:
    """When an upload batch closes (see the module docstring)."""

    debounce_seconds: float = 60.0
    marker: str | None = None
    max_seconds: float = 900.0
    max_objects: int = 1000

    @classmethod
    def from_env(cls, env: Mapping[str, str], suffixes: tuple[str, ...]) -> BatchPolicy:
        """``SALES_BRIDGE_DEBOUNCE_SECONDS``, ``_COMPLETION_MARKER``, ``_BATCH_MAX_SECONDS``,
        ``_BATCH_MAX_OBJECTS``, checked; the error names the variable and what it wants."""
        policy = cls(
            debounce_seconds=_number(env, "SALES_BRIDGE_DEBOUNCE_SECONDS", cls.debounce_seconds),
            marker=env.get("SALES_BRIDGE_COMPLETION_MARKER") or None,
            max_seconds=_number(env, "SALES_BRIDGE_BATCH_MAX_SECONDS", cls.max_seconds),
            max_objects=int(_number(env, "SALES_BRIDGE_BATCH_MAX_OBJECTS", cls.max_objects)),
        )
        if not 0 < policy.max_seconds <= MAX_HOLD_SECONDS:
            raise ValueError(
                f"SALES_BRIDGE_BATCH_MAX_SECONDS={policy.max_seconds:g}: want "
                f"1..{MAX_HOLD_SECONDS} (SQS keeps a received message for 12 hours at most)"
            )
        if policy.debounce_seconds >= policy.max_seconds:
            raise ValueError(
                f"SALES_BRIDGE_DEBOUNCE_SECONDS={policy.debounce_seconds:g} must be below "
                f"SALES_BRIDGE_BATCH_MAX_SECONDS={policy.max_seconds:g}"
            )
        if policy.max_objects < 1:
            raise ValueError(f"SALES_BRIDGE_BATCH_MAX_OBJECTS={policy.max_objects}: want >= 1")
        marker = policy.marker
        if marker is not None and (
            not set(marker) <= _MARKER_CHARS or marker in (".", "..") or marker.endswith(suffixes)
        ):
            raise ValueError(
                f"SALES_BRIDGE_COMPLETION_MARKER={marker!r}: want an object name of letters, "
                f"digits, '_', '.', '-' that does not end in {'/'.join(suffixes)} "
                "(e.g. _SUCCESS or manifest.json)"
            )
        return policy


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < math.inf:  # negative, infinite or NaN
        raise ValueError(f"{name}={raw!r}: want a number of seconds (or objects) >= 0")
    return value


@dataclass(frozen=True)
class Batch:
    """A closed batch: the distinct new objects under one prefix and why it closed."""

    bucket: str
    prefix: str
    objects: tuple[S3Object, ...]  # sorted by key, then ETag
    closed_by: str
    notifications: int  # object records received, duplicates included

    @property
    def batch_id(self) -> uuid.UUID:
        """The batch's id (see :func:`batch_id`)."""
        return batch_id(self.bucket, self.prefix, [(o.key, o.etag) for o in self.objects])

    def event(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """The Prefect event (JSON-ready) whose deployment trigger starts the batch's run."""
        url = f"s3://{self.bucket}/{self.prefix}"
        return {
            "id": str(self.batch_id),
            "event": BATCH_EVENT,
            "occurred": (now or dt.datetime.now(dt.UTC)).isoformat(),
            "resource": {
                "prefect.resource.id": url,
                "prefect.resource.name": self.prefix,
                "aws.s3.bucket": self.bucket,
                "aws.s3.prefix": self.prefix,
            },
            "related": [],
            "payload": {
                "bucket": self.bucket,
                "prefix": self.prefix,
                "batch_id": str(self.batch_id),
                "closed_by": self.closed_by,
                "notifications": self.notifications,
                "objects": [{"key": o.key, "etag": o.etag, "size": o.size} for o in self.objects],
            },
        }


def batch_id(bucket: str, prefix: str, objects: list[tuple[str, str]]) -> uuid.UUID:
    """uuid5 of bucket, prefix and the sorted (key, ETag) pairs: the same batch, the same id."""
    lines = [f"batch:{bucket}/{prefix}", *(f"{key}/{etag}" for key, etag in sorted(objects))]
    return uuid.uuid5(EVENT_NAMESPACE, "\n".join(lines))


@dataclass
class Held:
    """An SQS message kept in flight while a batch it feeds is open."""

    message: dict[str, Any]
    deadline: float  # when its visibility timeout runs out
    batches: set[tuple[str, str]] = field(default_factory=set)

    @property
    def receipt(self) -> str:
        """The receipt handle of the latest receive."""
        return str(self.message["ReceiptHandle"])


@dataclass
class _Open:
    opened: float
    last_new: float
    objects: dict[uuid.UUID, S3Object] = field(default_factory=dict)
    notifications: int = 0
    marker: bool = False
    messages: set[str] = field(default_factory=set)


class Batcher:
    """Open batches and the messages they hold; pure (the clock is passed in)."""

    def __init__(self, policy: BatchPolicy, visibility_timeout: float) -> None:
        self.policy = policy
        self.visibility_timeout = visibility_timeout
        self.held: dict[str, Held] = {}
        self.open: dict[tuple[str, str], _Open] = {}

    def is_marker(self, obj: S3Object) -> bool:
        """True when ``obj`` is the configured completion marker (any folder)."""
        return self.policy.marker is not None and obj.key.rsplit("/", 1)[-1] == self.policy.marker

    def add(
        self, message: dict[str, Any], objects: list[S3Object], markers: list[S3Object], now: float
    ) -> None:
        """Hold ``message`` for the batches of its ``objects`` and ``markers``.

        A message received again (its visibility ran out) only refreshes its receipt
        handle: it is not a new upload and does not restart the quiet period.
        """
        message_id = str(message["MessageId"])
        known = self.held.get(message_id)
        if known is not None:
            known.message, known.deadline = message, now + self.visibility_timeout
            return
        held = Held(message, now + self.visibility_timeout)
        for obj, is_marker in [(o, False) for o in objects] + [(m, True) for m in markers]:
            key = (obj.bucket, landing_prefix(obj.key))
            batch = self.open.setdefault(key, _Open(opened=now, last_new=now))
            if is_marker:
                batch.marker = True
            else:
                batch.notifications += 1
                oid = event_id(obj)
                if oid not in batch.objects:
                    batch.objects[oid] = obj
                    batch.last_new = now
            batch.messages.add(message_id)
            held.batches.add(key)
        if held.batches:
            self.held[message_id] = held

    def due(self, now: float) -> list[Batch]:
        """The batches that close now, oldest first (they stay open until :meth:`done`)."""
        closed = []
        for (bucket, prefix), batch in sorted(self.open.items(), key=lambda kv: kv[1].opened):
            reason = self._reason(batch, now)
            if reason is not None:
                objects = sorted(batch.objects.values(), key=lambda o: (o.key, o.etag))
                closed.append(Batch(bucket, prefix, tuple(objects), reason, batch.notifications))
        return closed

    def _reason(self, batch: _Open, now: float) -> str | None:
        policy = self.policy
        if len(batch.objects) >= policy.max_objects:
            return "max-objects"
        quiet = now - batch.last_new >= policy.debounce_seconds
        if policy.marker is not None and batch.marker and quiet:
            return "marker"
        if policy.marker is None and quiet:
            return "debounce"
        if now - batch.opened >= policy.max_seconds:
            return "max-wait"
        return None

    def done(self, batch: Batch) -> list[dict[str, Any]]:
        """Forget ``batch``; the messages that no open batch needs any more (to delete)."""
        key = (batch.bucket, batch.prefix)
        finished = self.open.pop(key, None)
        released = []
        for message_id in sorted(finished.messages if finished else ()):
            held = self.held[message_id]
            held.batches.discard(key)
            if not held.batches:
                released.append(self.held.pop(message_id).message)
        return released

    def seconds_to_next(self, now: float) -> float | None:
        """Seconds until the next batch could close (None when none is open)."""
        times = []
        for batch in self.open.values():
            times.append(batch.opened + self.policy.max_seconds)
            if self.policy.marker is None or batch.marker:
                times.append(batch.last_new + self.policy.debounce_seconds)
        return max(0.0, min(times) - now) if times else None

    def to_extend(self, now: float) -> list[Held]:
        """Held messages within half a visibility timeout of reappearing; their deadline is
        moved on (the caller extends them in SQS)."""
        soon = [h for h in self.held.values() if h.deadline - now < self.visibility_timeout / 2]
        for held in soon:
            held.deadline = now + self.visibility_timeout
        return soon
