"""S3 → Prefect event bridge: long-poll SQS, emit one Prefect event per new sales file.

``python -m flows.bridge`` runs the service (Kubernetes: ``deploy/s3-bridge.yaml``, same
image as the flow runs); ``python -m flows.bridge --healthcheck`` is its liveness probe.
Settings come from the environment (see :class:`flows.events.notifications.BridgeSettings`).

Delivery: a message is deleted only after the Prefect API accepted its events (HTTP 2xx on
``POST /events``); if that fails, the message stays in the queue and comes back after its
visibility timeout, and the bridge waits for the API before it receives again. A message
that is not an S3 notification, or whose bucket, key, ETag or other value breaks the rules
of :mod:`flows.events.landing`, emits nothing: it is logged (values escaped and cut short) and
parked: moved to the parking queue when one is configured, otherwise left for the queue's
redrive policy (dead-letter queue).
"""

from __future__ import annotations

import argparse
import logging
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

from flows.events.landing import shown
from flows.events.notifications import (
    BadMessageError,
    BridgeSettings,
    RejectedEventsError,
    ignore_reason,
    parse_body,
    prefect_event,
)

logger = logging.getLogger("sales_forecast.bridge")

Emit = Callable[[list[dict[str, Any]]], None]
MIN_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0
BODY_PREVIEW_CHARS = 80  # of a bad message's body in the log; the parked copy is whole


class Bridge:
    """Moves S3 notifications from an SQS queue to the Prefect events API."""

    def __init__(
        self,
        settings: BridgeSettings,
        sqs: Any,
        emit: Emit,
        api_ready: Callable[[], bool] = lambda: True,
    ) -> None:
        self.settings = settings
        self.sqs = sqs
        self.emit = emit
        self.api_ready = api_ready
        self.counts = {"emitted": 0, "ignored": 0, "test": 0, "parked": 0, "failed": 0}

    def poll(self) -> int:
        """Receive one batch (long poll) and handle each message; returns how many came."""
        response = self.sqs.receive_message(
            QueueUrl=self.settings.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=self.settings.wait_seconds,
            VisibilityTimeout=self.settings.visibility_timeout,
            AttributeNames=["ApproximateReceiveCount"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        for message in messages:
            self.counts[self.handle(message)] += 1
        return len(messages)

    def handle(self, message: dict[str, Any]) -> str:
        """Emit the events of one message, then delete it; raises when the emit fails."""
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
        events: list[dict[str, Any]] = []
        for obj in note.objects:
            why = ignore_reason(obj, self.settings)
            if why is None:
                events.append(prefect_event(obj))
            else:
                logger.info("ignored %s: %s", obj.url, why)
        if events:
            try:
                self.emit(events)  # other errors propagate: the message stays for a retry
            except RejectedEventsError as exc:
                self.park(message, str(exc))
                return "parked"
            for event in events:
                logger.info(
                    "emitted %s for %s", event["id"], event["resource"]["prefect.resource.id"]
                )
        self.delete(message)
        return "emitted" if events else "ignored"

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
    bridge = Bridge(settings, sqs_client(settings), emit, ready)
    logger.info(
        "bridge: queue %s, landing bucket(s) %s, prefix %s, suffixes %s",
        settings.queue_url,
        ",".join(settings.landing.buckets),
        settings.landing.prefix,
        ",".join(settings.landing.suffixes),
    )
    bridge.run(stop, args.max_polls)
    logger.info("bridge stopped: %s", bridge.counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
