"""S3 → Prefect event bridge: long-poll SQS, emit one Prefect event per batch of new sales files.

``python -m flows.bridge`` runs the service (Kubernetes: ``deploy/s3-bridge.yaml``, same
image as the flow runs); ``python -m flows.bridge --healthcheck`` is its liveness probe.
Settings come from the environment (see :class:`flows.events.notifications.BridgeSettings`).

Batching (:mod:`flows.events.batching`): new files are held per landing prefix until the
prefix has been quiet for ``SALES_BRIDGE_DEBOUNCE_SECONDS`` (and, with
``SALES_BRIDGE_COMPLETION_MARKER``, until its marker has arrived); then one
``sales-forecast.upload.batch`` event (which starts one run) is posted together with the
``aws.s3.object.created`` event of each file. While a batch is open its messages stay in
flight: their visibility is extended, and on shutdown they are handed back to the queue.

Delivery: a message is deleted only after the Prefect API accepted its batch's events (HTTP
2xx on ``POST /events``); if that fails, the batch stays open and is posted again, and the
bridge waits for the API before it receives again. A message that is not an S3
notification, or whose bucket, key, ETag or other value breaks the rules of
:mod:`flows.events.landing`, emits nothing: it is logged (values escaped and cut short) and
parked: moved to the parking queue when one is configured, otherwise left for the queue's
redrive policy (dead-letter queue).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import boto3
import httpx

from flows.events.batching import Batch, Batcher, BatchPolicy, Held
from flows.events.landing import shown
from flows.events.notifications import (
    BadMessageError,
    BridgeSettings,
    RejectedEventsError,
    S3Object,
    ignore_reason,
    parse_body,
    prefect_event,
)

logger = logging.getLogger("sales_forecast.bridge")

Emit = Callable[[list[dict[str, Any]]], None]
MIN_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0
BODY_PREVIEW_CHARS = 80  # of a bad message's body in the log; the parked copy is whole
SQS_BATCH = 10  # entries per ChangeMessageVisibilityBatch call


class Bridge:
    """Moves S3 notifications from an SQS queue to the Prefect events API, in batches."""

    def __init__(
        self,
        settings: BridgeSettings,
        sqs: Any,
        emit: Emit,
        api_ready: Callable[[], bool] = lambda: True,
        policy: BatchPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.sqs = sqs
        self.emit = emit
        self.api_ready = api_ready
        self.batcher = Batcher(policy or BatchPolicy(), settings.visibility_timeout)
        self.clock = clock
        self.counts = {"held": 0, "batches": 0, "ignored": 0, "test": 0, "parked": 0, "failed": 0}

    def poll(self) -> int:
        """Receive one batch of messages (long poll), hold or handle each, then post the
        upload batches that are due; returns how many messages came."""
        self.extend()
        wait = self.settings.wait_seconds
        due_in = self.batcher.seconds_to_next(self.clock())
        if due_in is not None:  # do not sleep through a batch's closing time
            wait = min(wait, math.ceil(due_in))
        response = self.sqs.receive_message(
            QueueUrl=self.settings.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait,
            VisibilityTimeout=self.settings.visibility_timeout,
            AttributeNames=["ApproximateReceiveCount"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        for message in messages:
            self.counts[self.handle(message)] += 1
        self.flush()
        return len(messages)

    def handle(self, message: dict[str, Any]) -> str:
        """Hold a message for the batches of its new files (and markers), or finish it."""
        message_id = str(message.get("MessageId", "?"))
        try:
            note = parse_body(message.get("Body", ""))
        except BadMessageError as exc:
            self.park(message, str(exc))
            return "parked"
        if note.test_event:
            logger.info("message %s: s3:TestEvent, skipped", message_id)
            self.delete(message)
            return "test"
        for skipped in note.skipped:
            logger.info("message %s: %s, skipped", message_id, skipped)
        objects: list[S3Object] = []
        markers: list[S3Object] = []
        for obj in note.objects:
            if self.batcher.is_marker(obj) and self.in_landing(obj):
                markers.append(obj)
                continue
            why = ignore_reason(obj, self.settings)
            if why is None:
                objects.append(obj)
            else:
                logger.info("ignored %s: %s", obj.url, why)
        if not objects and not markers:
            self.delete(message)
            return "ignored"
        self.batcher.add(message, objects, markers, self.clock())
        for obj in objects:
            logger.info("held %s for its batch", obj.url)
        for obj in markers:
            logger.info("marker %s closes its batch", obj.url)
        return "held"

    def in_landing(self, obj: S3Object) -> bool:
        """True for an object in a landing bucket under the landing prefix."""
        landing = self.settings.landing
        return obj.bucket in landing.buckets and obj.key.startswith(landing.prefix)

    def flush(self) -> None:
        """Post every batch that is due, then delete its messages; raises when a post fails
        (the batch stays open and is posted again)."""
        for batch in self.batcher.due(self.clock()):
            if not batch.objects:
                logger.info(
                    "batch s3://%s/%s: closed by its marker with no new files; nothing to run",
                    batch.bucket,
                    batch.prefix,
                )
            elif not self.post(batch):
                continue
            for message in self.batcher.done(batch):
                self.delete(message)

    def post(self, batch: Batch) -> bool:
        """Emit the batch's events; False when the API rejected them (messages parked)."""
        events = [prefect_event(obj) for obj in batch.objects]
        try:
            self.emit([*events, batch.event()])  # other errors propagate: retried
        except RejectedEventsError as exc:
            for message in self.batcher.done(batch):
                self.park(message, str(exc))
                self.counts["parked"] += 1
            return False
        self.counts["batches"] += 1
        log = logger.warning if batch.closed_by.startswith("max-") else logger.info
        log(
            "emitted batch %s for s3://%s/%s: %d file(s) from %d notification(s), closed by %s",
            batch.batch_id,
            batch.bucket,
            batch.prefix,
            len(batch.objects),
            batch.notifications,
            batch.closed_by,
        )
        return True

    def extend(self) -> None:
        """Keep the messages of open batches in flight (their visibility timeout renewed)."""
        self.change_visibility(
            self.batcher.to_extend(self.clock()), self.settings.visibility_timeout
        )

    def release(self) -> None:
        """Hand the messages of open batches back to the queue now (on shutdown)."""
        held = list(self.batcher.held.values())
        if held:
            logger.info("handing %d held message(s) back to the queue", len(held))
            self.change_visibility(held, 0)

    def change_visibility(self, held: list[Held], seconds: int) -> None:
        """Set the visibility timeout of ``held`` messages; failures are logged (a message
        whose receipt expired comes back and rejoins its batch)."""
        for start in range(0, len(held), SQS_BATCH):
            chunk = held[start : start + SQS_BATCH]
            entries = [
                {"Id": str(i), "ReceiptHandle": h.receipt, "VisibilityTimeout": seconds}
                for i, h in enumerate(chunk)
            ]
            response = self.sqs.change_message_visibility_batch(
                QueueUrl=self.settings.queue_url, Entries=entries
            )
            for failed in response.get("Failed", []):
                logger.warning(
                    "cannot change the visibility of message %s: %s",
                    chunk[int(failed["Id"])].message.get("MessageId", "?"),
                    failed.get("Message", failed.get("Code", "?")),
                )

    def delete(self, message: dict[str, Any]) -> None:
        """Delete a handled message from the queue."""
        self.sqs.delete_message(
            QueueUrl=self.settings.queue_url, ReceiptHandle=message["ReceiptHandle"]
        )

    def park(self, message: dict[str, Any], reason: str) -> None:
        """Log a bad message and park it: parking queue if configured, else the redrive."""
        message_id = str(message.get("MessageId", "?"))
        receives = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
        parking = self.settings.parking_queue_url
        if parking is None:
            logger.error(
                "bad message %s (receive %s): %s; left in the queue for its redrive policy "
                "(dead-letter queue); body starts %s",
                message_id,
                receives,
                reason,
                shown(message.get("Body", ""), BODY_PREVIEW_CHARS),
            )
            return
        self.sqs.send_message(
            QueueUrl=parking,
            MessageBody=message.get("Body", ""),
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": reason[:1000]},
                "source-message-id": {"DataType": "String", "StringValue": message_id},
            },
        )
        self.delete(message)
        logger.error("bad message %s: %s; moved to the parking queue", message_id, reason)

    def run(self, stop: threading.Event, max_polls: int | None = None) -> None:
        """Poll until ``stop`` is set; errors are logged and retried with a growing pause."""
        backoff = 0.0
        polls = 0
        while not stop.is_set() and (max_polls is None or polls < max_polls):
            polls += 1
            try:
                if backoff:  # open batches stay in flight while the API is away
                    self.extend()
                if backoff and not self.api_ready():
                    raise ConnectionError("Prefect API is not reachable")
                self.poll()
                backoff = 0.0
            except Exception as exc:
                self.counts["failed"] += 1
                backoff = min(MAX_BACKOFF_SECONDS, max(MIN_BACKOFF_SECONDS, backoff * 2))
                logger.warning(
                    "bridge: %s: %s; retrying in %.0fs", type(exc).__name__, exc, backoff
                )
                stop.wait(backoff)
            beat(self.settings.heartbeat_file)
        try:
            self.release()
        except Exception as exc:  # the messages come back after their timeout anyway
            logger.warning("cannot hand held messages back: %s: %s", type(exc).__name__, exc)


def beat(path: str) -> None:
    """Touch the heartbeat file the liveness probe reads."""
    try:
        Path(path).touch()
    except OSError as exc:
        logger.warning("cannot write heartbeat %s: %s", path, exc)


def healthy(settings: BridgeSettings, now: float | None = None) -> bool:
    """True when the loop touched its heartbeat within two polls plus the longest pause."""
    try:
        age = (now or time.time()) - Path(settings.heartbeat_file).stat().st_mtime
    except OSError:
        return False
    return age < 2 * settings.wait_seconds + MAX_BACKOFF_SECONDS + 30


def prefect_emitter() -> tuple[Emit, Callable[[], bool]]:
    """POST events to ``$PREFECT_API_URL/events`` (raises unless accepted) and a health check."""
    # Imported here: the liveness probe (``--healthcheck``) runs often and needs no Prefect.
    from prefect.client.orchestration import get_client  # noqa: PLC0415
    from prefect.settings import get_current_settings  # noqa: PLC0415

    if not get_current_settings().api.url:
        raise ValueError("s3 bridge: set PREFECT_API_URL (the Prefect server's API)")
    client = get_client(sync_client=True)

    def emit(events: list[dict[str, Any]]) -> None:
        try:
            client.request("POST", "/events", json=events)
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            if 400 <= status < 500 and status not in (408, 429):
                raise RejectedEventsError(
                    f"Prefect API rejected the events: {status} {exc}"
                ) from exc
            raise

    def ready() -> bool:
        return client.api_healthcheck() is None

    return emit, ready


def sqs_client(settings: BridgeSettings) -> Any:
    """A boto3 SQS client (credentials from the default AWS chain)."""
    return boto3.client("sqs", endpoint_url=settings.endpoint_url, region_name=settings.region)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bridge until SIGTERM/SIGINT, or check its heartbeat with ``--healthcheck``."""
    parser = argparse.ArgumentParser(prog="python -m flows.bridge", description=__doc__)
    parser.add_argument("--healthcheck", action="store_true", help="exit 0 if the loop is alive")
    parser.add_argument("--max-polls", type=int, default=None, help="stop after N polls")
    args = parser.parse_args(argv)
    settings = BridgeSettings.from_env(os.environ)
    if args.healthcheck:
        return 0 if healthy(settings) else 1
    policy = BatchPolicy.from_env(os.environ, settings.landing.suffixes)
    logging.basicConfig(
        level=os.environ.get("SALES_BRIDGE_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logger.info("signal %d: stopping after this poll", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    emit, ready = prefect_emitter()
    bridge = Bridge(settings, sqs_client(settings), emit, ready, policy)
    logger.info(
        "bridge: queue %s, landing bucket(s) %s, prefix %s, suffixes %s; batches close after "
        "%gs quiet%s, at %gs or %d files at the latest",
        settings.queue_url,
        ",".join(settings.landing.buckets),
        settings.landing.prefix,
        ",".join(settings.landing.suffixes),
        policy.debounce_seconds,
        f" and their marker {policy.marker!r}" if policy.marker else "",
        policy.max_seconds,
        policy.max_objects,
    )
    bridge.run(stop, args.max_polls)
    logger.info("bridge stopped: %s", bridge.counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
