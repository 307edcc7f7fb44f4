"""Alerts: Prefect events for monitoring breaches, with small payloads (numbers and names only).

Events (``{prefix}`` is ``monitoring.alerts.event_prefix``, ``sales-forecast`` by default):

=================================  ==============================================================
``{prefix}.quality.breach``        a hard data-quality threshold was breached (the run fails)
``{prefix}.quality.warning``       a data-quality check is above its warn level
``{prefix}.drift.alert``           PSI above ``monitoring.drift.alert``
``{prefix}.drift.warning``         PSI above ``monitoring.drift.warn``
``{prefix}.accuracy.degraded``     realised WAPE worse than the backtest by more than the margin
``{prefix}.report.ready``          the run's report is written (payload: ``url``, a link to it)
=================================  ==============================================================

Resource: ``{prefix}.dataset.{data.name}`` (``prefect.resource.name`` = the data set); related:
the pipeline run (role ``pipeline-run``), the model (role ``model``) and the flow run (role
``flow-run``; also attached by Prefect inside a flow run). Every payload carries ``run_id``
and ``dataset``; then the check records, PSI summary or accuracy figures. Payloads never hold
rows of data, file contents, URLs with credentials or config values beyond thresholds; the
report link is a ``file://`` URI or, on S3, a pre-signed URL that expires
(``output.report_link_expiry_seconds``) and carries a signature, never a secret key.
"""

from __future__ import annotations

import uuid
from typing import Any

from prefect.events import emit_event

DEFAULT_PREFIX = "sales-forecast"
EVENTS = {
    "quality_breach": "quality.breach",
    "quality_warning": "quality.warning",
    "drift_alert": "drift.alert",
    "drift_warning": "drift.warning",
    "accuracy_degraded": "accuracy.degraded",
    "report_ready": "report.ready",
}
MAX_LISTED = 20


def event_name(kind: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Full event name of one kind (a key of :data:`EVENTS`)."""
    return f"{prefix}.{EVENTS[kind]}"


def dataset_resource(dataset: str, prefix: str = DEFAULT_PREFIX) -> dict[str, str]:
    """The primary resource of monitoring events: the data set the run read."""
    return {"prefect.resource.id": f"{prefix}.dataset.{dataset}", "prefect.resource.name": dataset}


def related_resources(
    run_id: str,
    prefix: str = DEFAULT_PREFIX,
    flow_run_id: str | None = None,
    model: tuple[str, str | None] | None = None,
) -> list[dict[str, str]]:
    """Related resources: pipeline run, model (name, version) and flow run when known."""
    out = [
        {"prefect.resource.id": f"{prefix}.run.{run_id}", "prefect.resource.role": "pipeline-run"}
    ]
    if model is not None:
        name, version = model
        out.append(
            {
                "prefect.resource.id": f"{prefix}.model.{name}",
                "prefect.resource.role": "model",
                "prefect.resource.name": name,
                f"{prefix}.model.version": version or "none",
            }
        )
    if flow_run_id and _is_uuid(flow_run_id):
        out.append(
            {
                "prefect.resource.id": f"prefect.flow-run.{flow_run_id}",
                "prefect.resource.role": "flow-run",
            }
        )
    return out


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _check_fields(check: dict[str, Any]) -> dict[str, Any]:
    return {k: check.get(k) for k in ("name", "value", "warn", "hard", "level", "message")}


def quality_payload(report: dict[str, Any], level: str) -> dict[str, Any]:
    """Checks at ``level`` (``breach`` or ``warn``) with their numbers, and the row counts."""
    checks = [_check_fields(c) for c in report.get("checks", []) if c["level"] == level]
    rows = report.get("rows", {})
    return {
        "status": report.get("status"),
        "checks": checks[:MAX_LISTED],
        "rows_in": rows.get("rows_in"),
        "rows_quarantined": rows.get("rows_quarantined"),
    }


def drift_payload(drift: dict[str, Any]) -> dict[str, Any]:
    """Level, largest PSI and where, the alerting and warning columns (capped), row counts."""
    summary = drift.get("summary", {})
    lists = ("alerts", "warnings", "segment_alerts", "segment_warnings")
    return {
        "level": summary.get("level"),
        "max_psi": summary.get("max_psi"),
        "max_at": summary.get("max_at"),
        **{k: list(summary.get(k, []))[:MAX_LISTED] for k in lists},
        "thresholds": drift.get("thresholds"),
        "reference_rows": drift.get("reference", {}).get("rows"),
        "reference_model_version": drift.get("reference", {}).get("model_version"),
        "current_rows": drift.get("current", {}).get("rows"),
    }


def accuracy_payload(check: dict[str, Any]) -> dict[str, Any]:
    """Realised vs backtest WAPE, the margin, how many pairs and runs, degraded steps."""
    keys = ("realised_wape", "realised_bias", "backtest_wape", "margin", "pairs", "runs")
    return {**{k: check.get(k) for k in keys}, "degraded_steps": check.get("degraded_steps", [])}


def planned_alerts(
    quality: dict[str, Any] | None = None,
    drift: dict[str, Any] | None = None,
    accuracy: dict[str, Any] | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """(kind, payload) of every alert the reports call for; empty when all is well."""
    out: list[tuple[str, dict[str, Any]]] = []
    if quality is not None:
        levels = {c["level"] for c in quality.get("checks", [])}
        if "breach" in levels:
            out.append(("quality_breach", quality_payload(quality, "breach")))
        if "warn" in levels:
            out.append(("quality_warning", quality_payload(quality, "warn")))
    if drift is not None:
        level = drift.get("summary", {}).get("level")
        if level in ("alert", "warn"):
            out.append(
                ("drift_alert" if level == "alert" else "drift_warning", drift_payload(drift))
            )
    if accuracy is not None and accuracy.get("degraded"):
        out.append(("accuracy_degraded", accuracy_payload(accuracy)))
    return out


def emit_alerts(
    *,
    dataset: str,
    run_id: str,
    prefix: str = DEFAULT_PREFIX,
    quality: dict[str, Any] | None = None,
    drift: dict[str, Any] | None = None,
    accuracy: dict[str, Any] | None = None,
    flow_run_id: str | None = None,
    model: tuple[str, str | None] | None = None,
) -> list[str]:
    """Emit one Prefect event per alert (see the module docstring); returns their names.

    Event ids are derived from the run id and event name, so a retried task does not
    raise the same alert twice.
    """
    emitted = []
    for kind, payload in planned_alerts(quality, drift, accuracy):
        name = event_name(kind, prefix)
        emit_event(
            event=name,
            resource=dataset_resource(dataset, prefix),
            related=related_resources(run_id, prefix, flow_run_id, model),
            payload={"run_id": run_id, "dataset": dataset, **payload},
            id=uuid.uuid5(uuid.NAMESPACE_URL, f"{prefix}/{run_id}/{name}"),
        )
        emitted.append(name)
    return emitted


def emit_report_ready(
    *,
    dataset: str,
    run_id: str,
    url: str,
    summary: dict[str, Any],
    prefix: str = DEFAULT_PREFIX,
    flow_run_id: str | None = None,
    model: tuple[str, str | None] | None = None,
) -> str:
    """Emit ``{prefix}.report.ready`` with the report's ``url`` and the run's headline
    ``summary`` (mode, gate, serving); returns the event name (one per run id)."""
    name = event_name("report_ready", prefix)
    emit_event(
        event=name,
        resource=dataset_resource(dataset, prefix),
        related=related_resources(run_id, prefix, flow_run_id, model),
        payload={"run_id": run_id, "dataset": dataset, "url": url, **summary},
        id=uuid.uuid5(uuid.NAMESPACE_URL, f"{prefix}/{run_id}/{name}"),
    )
    return name
