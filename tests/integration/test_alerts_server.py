"""Alerts end to end on a Prefect test server: events in, automations from the committed
file, notifications out to a webhook block pointing at a local HTTP server.

Shows that a drifted input emits ``sales-forecast.drift.alert`` and the drift automation
notifies, a clean input emits nothing, a failed ``sales-forecast`` run with a quality
breach notifies through two automations, and the proactive "daily run missing" trigger
fires when no completed run arrives (its 26 h window shortened to 10 s for the test).
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import polars as pl
import pytest

from flows.ops import automations
from tasks import alerts
from tasks.monitoring import drift
from tests.support import defaults

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]

BLOCK = "sales-forecast-test-notify"
WAIT_SECONDS = 60.0
QUICK_PROACTIVE = "test / daily run missing (10 s)"


class _Hook(BaseHTTPRequestHandler):
    received: queue.Queue[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.received.put(json.loads(self.rfile.read(length) or b"{}"))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:  # keep test output quiet
        return


@pytest.fixture(scope="module")
def webhook() -> Iterator[queue.Queue[dict[str, Any]]]:
    """A notification block posting to a tiny HTTP server on 127.0.0.1; yields what it got."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    received: queue.Queue[dict[str, Any]] = queue.Queue()
    handler = type("Hook", (_Hook,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    block = CustomWebhookNotificationBlock(
        name=BLOCK,
        url=f"http://127.0.0.1:{server.server_address[1]}/notify",
        json_data={"subject": "{{subject}}", "body": "{{body}}"},
    )
    block.save(BLOCK, overwrite=True)
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def automations_created(webhook: queue.Queue[dict[str, Any]]) -> Iterator[dict[str, str]]:
    """Automations from the committed file, applied twice (the second pass updates).

    Deleted afterwards, so later tests on the session's server trigger nothing.
    """
    from prefect.client.orchestration import get_client

    first = automations.sync(automations.AUTOMATIONS_FILE, f"custom-webhook/{BLOCK}")
    second = automations.sync(automations.AUTOMATIONS_FILE, f"custom-webhook/{BLOCK}")
    assert set(first.values()) == {"created"}
    assert set(second.values()) == {"updated"}
    time.sleep(2)  # let the triggers service load them
    yield first
    with get_client(sync_client=True) as client:
        for name in [*first, QUICK_PROACTIVE]:
            for automation in client.read_automations_by_name(name):
                client.delete_automation(automation.id)


def wait_for(received: queue.Queue[dict[str, Any]], subject: str, timeout: float) -> dict[str, Any]:
    """The first notification whose subject contains ``subject`` (others are put back)."""
    deadline, others = time.monotonic() + timeout, []
    try:
        while time.monotonic() < deadline:
            try:
                item = received.get(timeout=0.5)
            except queue.Empty:
                continue
            if subject in item.get("subject", ""):
                return item
            others.append(item)
        raise AssertionError(f"no notification about {subject!r} in {timeout:.0f} s: {others}")
    finally:
        for item in others:
            received.put(item)


def features(n: int, seed: int, shift: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    scale = rng.uniform(50, 150, n)
    return pl.DataFrame(
        {
            "product_type": np.where(np.arange(n) % 2 == 0, "toys", "food"),
            "date": [dt.date(2024, 1, 1) + dt.timedelta(days=i // 20) for i in range(n)],
            "revenue": scale * rng.gamma(4.0, 0.25, n),
            "lag_1": rng.normal(1.0 + shift, 0.2, n) * scale,
            "scale": scale,
        }
    )


def test_drifted_input_emits_the_event_and_the_automation_notifies(
    webhook: queue.Queue[dict[str, Any]], automations_created: dict[str, str]
) -> None:
    from prefect import flow, get_client
    from prefect.events.filters import EventFilter, EventNameFilter

    profile = drift.build_profile(features(5_000, 1), ["lag_1"], 10, segment_by=["product_type"])
    clean = drift.psi_against(profile, features(1_000, 2), defaults.drift())
    drifted = drift.psi_against(profile, features(1_000, 3, shift=0.4), defaults.drift())

    @flow(name="sales-forecast-monitoring-test")
    def monitor(report: dict[str, Any], run_id: str) -> list[str]:
        return alerts.emit_alerts(dataset="synthetic", run_id=run_id, drift=report)

    assert monitor(clean, "clean-run") == []
    assert monitor(drifted, "drifted-run") == ["sales-forecast.drift.alert"]
    note = wait_for(webhook, "drift alert on synthetic", WAIT_SECONDS)
    assert "drifted-run" in note["body"]
    assert "lag_1" in note["body"]

    names = EventFilter(event=EventNameFilter(prefix=["sales-forecast."]))
    deadline, events = time.monotonic() + WAIT_SECONDS, []
    while not events and time.monotonic() < deadline:  # the server persists events in batches
        time.sleep(1)
        with get_client(sync_client=True) as client:
            page = client.read_events(names, limit=50)
        events = [e for e in page.events if e.payload.get("run_id") in ("clean-run", "drifted-run")]
    assert [e.event for e in events] == ["sales-forecast.drift.alert"]
    event = events[0]
    assert event.resource.id == "sales-forecast.dataset.synthetic"
    assert {r.role for r in event.related} >= {"pipeline-run", "flow-run"}
    assert event.payload["alerts"] == ["lag_1"]


def test_failed_run_with_a_quality_breach_notifies(
    webhook: queue.Queue[dict[str, Any]], automations_created: dict[str, str]
) -> None:
    from prefect import flow

    from tasks.monitoring.quality import DataQualityError

    report = {
        "run_id": "breach-run",
        "status": "breach",
        "rows": {"rows_in": 1000, "rows_quarantined": 310},
        "checks": [
            {"name": "quarantine_rate", "value": 0.31, "warn": 0.05, "hard": 0.2,
             "level": "breach", "message": "quarantine_rate 0.31 > breach level 0.2"},
        ],
    }  # fmt: skip

    @flow(name="sales-forecast", retries=0)
    def failing_run() -> None:
        alerts.emit_alerts(dataset="synthetic", run_id="breach-run", quality=report)
        raise DataQualityError(report)

    state = failing_run(return_state=True)
    assert state.is_failed()
    quality_note = wait_for(webhook, "data quality breach on synthetic", WAIT_SECONDS)
    assert "quarantine_rate 0.31 > breach level 0.2" in quality_note["body"]
    failed_note = wait_for(webhook, "prefect.flow-run.Failed", WAIT_SECONDS)
    assert "of sales-forecast" in failed_note["body"]


def test_missing_daily_run_fires_the_proactive_automation(
    webhook: queue.Queue[dict[str, Any]], automations_created: dict[str, str]
) -> None:
    from prefect.client.orchestration import get_client

    items = automations.read_file()
    (item,) = [i for i in items if i["name"] == "sales-forecast / daily run missing"]
    quick = {
        **item,
        "name": QUICK_PROACTIVE,
        "trigger": {**item["trigger"], "within": 10},
    }
    with get_client(sync_client=True) as client:
        block_id = automations.block_id(client, f"custom-webhook/{BLOCK}")
        automations.apply(client, automations.definitions([quick], block_id))
    note = wait_for(webhook, "no completed daily run", WAIT_SECONDS)
    assert "daily run missing" in note["body"]
