"""Alert planning, payloads and the committed automations file (no server needed)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest
import yaml

from flows import config as conf
from flows.ops import automations
from tasks import alerts

CHECKS = [
    {"name": "quarantine_rate", "value": 0.3, "warn": 0.05, "hard": 0.2, "level": "breach",
     "message": "quarantine_rate 0.3 > breach level 0.2 (300 of 1000 rows quarantined)"},
    {"name": "late_rate", "value": 0.07, "warn": 0.05, "hard": None, "level": "warn",
     "message": "late_rate 0.07 > warn level 0.05 (70 of 1000 rows arrived late)"},
    {"name": "new_series", "value": 0.0, "warn": 0.0, "hard": None, "level": "ok",
     "message": "new_series 0 (0 series not in the previous run: [])"},
]  # fmt: skip
QUALITY = {
    "run_id": "r1",
    "status": "breach",
    "rows": {"rows_in": 1000, "rows_quarantined": 300},
    "checks": CHECKS,
    "known": {"series": ["north|toys"], "categories": {"region": ["north"]}},
}
DRIFT = {
    "summary": {"level": "alert", "max_psi": 0.8, "max_at": "lag_1", "alerts": ["lag_1"]},
    "thresholds": {"warn": 0.1, "alert": 0.25, "min_rows": 200},
    "reference": {"rows": 5000, "model_version": "v1"},
    "current": {"rows": 400},
}
ACCURACY = {"degraded": True, "realised_wape": 0.3, "backtest_wape": 0.1, "margin": 0.25,
            "pairs": 300, "runs": 7, "degraded_steps": [1, 2]}  # fmt: skip


def _ok(report: dict[str, Any]) -> dict[str, Any]:
    return {**report, "checks": [{**c, "level": "ok"} for c in report["checks"]]}


def test_clean_reports_plan_no_alert() -> None:
    drift = {**DRIFT, "summary": {**DRIFT["summary"], "level": "ok"}}
    accuracy = {**ACCURACY, "degraded": False}
    assert alerts.planned_alerts(_ok(QUALITY), drift, accuracy) == []
    assert alerts.planned_alerts() == []


def test_each_breach_plans_its_event() -> None:
    kinds = [kind for kind, _ in alerts.planned_alerts(QUALITY, DRIFT, ACCURACY)]
    assert kinds == ["quality_breach", "quality_warning", "drift_alert", "accuracy_degraded"]
    warn = {**DRIFT, "summary": {**DRIFT["summary"], "level": "warn"}}
    assert [k for k, _ in alerts.planned_alerts(drift=warn)] == ["drift_warning"]


def test_payloads_carry_numbers_not_data() -> None:
    planned = dict(alerts.planned_alerts(QUALITY, DRIFT, ACCURACY))
    breach = planned["quality_breach"]
    assert [c["name"] for c in breach["checks"]] == ["quarantine_rate"]
    assert breach["checks"][0]["value"] == 0.3
    assert breach["rows_in"] == 1000
    text = json.dumps(planned)
    assert "known" not in text  # no series lists from the report
    assert "north|toys" not in text
    assert planned["drift_alert"]["alerts"] == ["lag_1"]
    assert planned["accuracy_degraded"]["degraded_steps"] == [1, 2]


def test_event_names_resources_and_related() -> None:
    assert alerts.event_name("drift_alert") == "sales-forecast.drift.alert"
    assert alerts.event_name("quality_breach", "acme") == "acme.quality.breach"
    resource = alerts.dataset_resource("synthetic")
    assert resource["prefect.resource.id"] == "sales-forecast.dataset.synthetic"
    flow_run = "6f1c3c1e-0b3f-4c8e-9a53-4d1f2b7c9e10"
    related = alerts.related_resources("r1", flow_run_id=flow_run, model=("sales", "v3"))
    roles = {r["prefect.resource.role"]: r["prefect.resource.id"] for r in related}
    assert roles == {
        "pipeline-run": "sales-forecast.run.r1",
        "model": "sales-forecast.model.sales",
        "flow-run": f"prefect.flow-run.{flow_run}",
    }
    assert len(alerts.related_resources("r1", flow_run_id="local")) == 1  # not a UUID


def test_automations_file_validates_and_matches_the_event_names() -> None:
    items = automations.read_file()
    assert automations.needs_block(items)
    defs = automations.definitions(items, UUID(int=1))
    assert all(a.block_document_id == UUID(int=1) for d in defs for a in d.actions)  # type: ignore[attr-defined]
    expected = {
        f"{conf.MonitoringConfig().alerts.event_prefix}.{e}" for e in alerts.EVENTS.values()
    }
    used = {e for d in defs for e in d.trigger.expect if e.startswith("sales-forecast.")}  # type: ignore[attr-defined]
    assert used <= expected
    assert {"sales-forecast.quality.breach", "sales-forecast.drift.alert",
            "sales-forecast.accuracy.degraded", "sales-forecast.report.ready"} <= used  # fmt: skip
    postures = {d.name: d.trigger.posture.value for d in defs}  # type: ignore[attr-defined]
    assert postures["sales-forecast / daily run missing"] == "Proactive"
    assert postures["sales-forecast / flow run failed"] == "Reactive"


def test_notification_needs_a_block(tmp_path: Any) -> None:
    with pytest.raises(automations.AutomationsError, match="SALES_NOTIFY_BLOCK"):
        automations.definitions(automations.read_file(), None)
    bad = tmp_path / "a.yaml"
    bad.write_text(yaml.safe_dump({"automations": []}))
    with pytest.raises(automations.AutomationsError, match="non-empty"):
        automations.read_file(bad)
