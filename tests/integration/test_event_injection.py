"""Forged upload events against a real Prefect server: no run starts reading, no secret leaks.

Each case is a ``sales-forecast.upload.batch`` event posted to the session's Prefect server, as
anyone with access to the events API could post it (the bridge and its checks bypassed);
the ``on-upload`` trigger's own template from ``prefect.yaml`` renders its parameters, and
the real flow runs with them. ``$SALES_TEST_CANARY`` holds a fake secret that
``${oc.env:SALES_TEST_CANARY}`` would resolve to. Afterwards every log record of the process
(run loggers at DEBUG), the console, what the API returns (flow runs with their parameters
and states, logs, events) and the raw bytes and rows of the server's SQLite database are
searched for the canary: it must be nowhere.

A control flow composes an unescaped override the way the flow did before the checks, and
its marker must be found by the same search: the search can see a leak of this kind.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.events.batching import BATCH_EVENT, Batch
from flows.events.notifications import S3Object
from tests.support import REPO, SMALL

pytestmark = pytest.mark.usefixtures("prefect_server")


INJECT = "${oc.env:SALES_TEST_CANARY}"
BUCKET = "sales-landing"
KEY = "landing/date=2024-05-01/part-0.parquet"
ETAG = "0123456789abcdef0123456789abcdef"
CASES: dict[
    str, tuple[dict[str, str], str]
] = {  # more shapes: tests/unit/flows/events/test_trigger.py, test_batch_trigger.py
    "bucket": ({"bucket": INJECT}, "s3_batch['bucket']"),
    "key": ({"key": f"landing/{INJECT}/part-0.parquet"}, "s3_batch['objects'][0]"),
    "etag": ({"etag": INJECT}, "s3_batch['objects'][0]"),
    "extra-field": ({"note": INJECT}, "unexpected field(s) 'note'"),
    "dot-dot": ({"key": "landing/../outputs/part-0.parquet"}, "'..'"),
    "other-bucket": ({"bucket": "other-bucket"}, "not a landing bucket"),
}
WAIT_SECONDS = 60.0


@pytest.fixture
def records(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every log record any logger of this process hands to its handlers, formatted with its
    traceback. (Taken where records are dispatched: Prefect's logging setup may replace
    handlers, pytest's among them, while a flow runs.)"""
    seen: list[str] = []
    dispatch = logging.Logger.callHandlers
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")

    def recording(self: logging.Logger, record: logging.LogRecord) -> None:
        seen.append(formatter.format(record))
        dispatch(self, record)

    monkeypatch.setattr(logging.Logger, "callHandlers", recording)
    return seen


def trigger_parameters(event: dict[str, Any]) -> dict[str, Any]:
    """The flow-run parameters the ``on-upload`` trigger renders from ``event``, as the
    server's run-deployment action does."""
    from prefect.server.events.actions import RunDeployment
    from prefect.server.events.schemas.events import ReceivedEvent
    from prefect.utilities.schema_tools.hydration import HydrationContext, hydrate

    deployments = yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]
    (spec,) = next(d for d in deployments if d["name"] == "on-upload")["triggers"]
    parameters = copy.deepcopy(spec["parameters"])
    RunDeployment._upgrade_v1_templates(parameters)
    context = HydrationContext(
        raise_on_error=True,
        render_jinja=True,
        jinja_context={"event": ReceivedEvent.model_validate(event)},
    )
    rendered: dict[str, Any] = hydrate(parameters, context)
    return rendered


def forged_event(fields: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A batch event of one object carrying ``fields`` (built as the bridge would, but
    unchecked) and the flow parameters it leads to; a field the template does not pass is
    added to them."""
    values = {"bucket": BUCKET, "key": KEY, "etag": ETAG, **fields}
    obj = S3Object(values["bucket"], values["key"], values["etag"], 10, "ObjectCreated:Put", None)
    event = Batch(values["bucket"], "landing/", (obj,), "debounce", 1).event()
    per_object = {"key", "etag"}
    event["payload"]["objects"][0].update({k: v for k, v in fields.items() if k in per_object})
    event["payload"].update({k: v for k, v in fields.items() if k not in per_object})
    parameters = trigger_parameters(event)
    for name in set(fields) - per_object - set(parameters["s3_batch"]):
        parameters["s3_batch"][name] = fields[name]
    return event, parameters


def wait_for(check: Callable[[], bool], what: str) -> None:
    """Poll ``check`` until it holds (the server persists logs and events in batches)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {WAIT_SECONDS:.0f}s waiting for {what}")
        time.sleep(0.5)


def database_file() -> Path:
    """The SQLite file of the session's test server."""
    from prefect.settings import get_current_settings

    url = get_current_settings().server.database.connection_url
    text = url.get_secret_value() if url is not None else ""
    path = Path(text.split(":///", 1)[-1])
    assert text.startswith("sqlite"), text
    assert path.is_file(), text
    return path


def database_text(db: Path) -> str:
    """Everything the database holds: its file and write-ahead log as bytes, and every row."""
    import sqlite3

    raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    rows: list[str] = [raw.decode("utf-8", "replace")]
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            rows.extend(repr(row) for row in con.execute(f'SELECT * FROM "{table}"'))
    return "\n".join(rows)


def api_text(flow_run_ids: list[str]) -> tuple[str, set[str]]:
    """Flow runs (name, parameters, state), their logs, their events and the forged upload
    events, as the API returns them; and the flow runs whose Failed event is stored."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    resources = [f"prefect.flow-run.{i}" for i in flow_run_ids]
    with get_client(sync_client=True) as client:
        runs = [client.read_flow_run(i).model_dump_json() for i in flow_run_ids]
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=flow_run_ids))
        )
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=flow_run_ids))
        )
        events: list[dict[str, Any]] = []
        for where in ({"resource": {"id": resources}}, {"event": {"name": [BATCH_EVENT]}}):
            body = {"filter": where, "limit": 50}  # the API's largest page
            events += client.request("POST", "/events/filter", json=body).json()["events"]
    assert tasks == [], "a forged event started a task (a read)"
    failed = {
        e["resource"]["prefect.resource.id"].rsplit(".", 1)[-1]
        for e in events
        if e["event"] == "prefect.flow-run.Failed"
    }
    text = "\n".join([*runs, *(log.model_dump_json() for log in logs), json.dumps(events)])
    return text, failed


def test_forged_events_start_nothing_and_the_canary_is_nowhere(
    canary: str,
    records: list[str],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from prefect import flow, get_client, get_run_logger
    from prefect.logging.handlers import APILogHandler

    from flows import config as conf
    from flows.sales_forecast import sales_forecast

    # Run loggers at DEBUG, Prefect's own at INFO (the deployments log at INFO).
    caplog.set_level(logging.INFO, logger="prefect")
    caplog.set_level(logging.DEBUG, logger="prefect.flow_runs")
    caplog.set_level(logging.DEBUG, logger="prefect.task_runs")
    monkeypatch.setenv("SALES_LANDING_BUCKET", BUCKET)
    monkeypatch.setenv("SALES_LANDING_PREFIX", "landing/")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # a slip fails, offline
    control = canary.replace("CANARY-", "CONTROL-")
    monkeypatch.setenv("SALES_TEST_CONTROL", control)
    out = tmp_path / "out"
    overrides = [*SMALL, f"data.input_path={tmp_path / 'data'}", f"data.output_path={out}"]

    flow_run_ids: list[str] = []
    with get_client(sync_client=True) as client:
        for name, (fields, named) in CASES.items():
            event, parameters = forged_event(fields)
            client.request("POST", "/events", json=[event])
            state = sales_forecast(overrides=overrides, return_state=True, **parameters)
            assert state.is_failed(), name
            assert named in (state.message or ""), (name, state.message)
            flow_run_ids.append(str(state.state_details.flow_run_id))

    @flow(name="leaky-control")
    def leaky_control() -> None:
        """What the flow did before the checks: an outside string as an override value."""
        leak = "data.input_path=s3://${oc.env:SALES_TEST_CONTROL}/"
        node = conf.compose_config(["data=s3", leak])
        get_run_logger().warning("input=%s", node.data.input_path)

    control_state = leaky_control(return_state=True)
    APILogHandler().flush()
    assert not out.exists()  # nothing written either

    all_ids = [*flow_run_ids, str(control_state.state_details.flow_run_id)]

    def stored() -> bool:  # logs and events are persisted in batches
        text, failed = api_text(all_ids)
        return control in text and set(flow_run_ids) <= failed

    wait_for(stored, "the control's log line and the runs' Failed events")
    from_api, _ = api_text(all_ids)
    in_db = database_text(database_file())
    console = capfd.readouterr()
    captured = "\n".join(records)

    assert control in captured  # the search sees a leak of this kind
    for _, named in CASES.values():
        assert named in captured  # each run's failure was logged, and searched
    assert control in from_api
    assert control in in_db
    assert INJECT in from_api  # the forged values were stored, as literal text
    assert INJECT in in_db
    for where, text in {
        "log records": captured,
        "console": console.out + console.err,
        "API": from_api,
        "database": in_db,
    }.items():
        assert canary not in text, f"the canary leaked into the {where}"
