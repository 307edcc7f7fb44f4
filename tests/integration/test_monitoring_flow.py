"""Monitoring inside real flow runs: quality fails fast, drift against the champion's
profile, realised accuracy of what earlier runs served.

An "early" copy of the small data set (its first 200 arrival days) runs first and serves
forecasts; the full set runs next, so the actuals of some served days have arrived.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tasks.monitoring.quality import DataQualityError
from tests.support import SMALL

pytestmark = pytest.mark.usefixtures("prefect_server")
MODEL = "sales-forecast-synthetic"


def run_flow(data_dir: Path, out_dir: Path, *extra: str) -> dict[str, Any]:
    from flows.sales_forecast import sales_forecast

    paths = [f"data.input_path={data_dir}", f"data.output_path={out_dir}"]
    return sales_forecast(overrides=[*SMALL, "mode=production", *paths, *extra])


def run_dir(result: dict[str, Any]) -> Path:
    return Path(result["run_dir"].removeprefix("file://"))


def early_copy(full: Path, target: Path, days: int) -> Path:
    """The partitions of the first ``days`` arrival days of a generated data set."""
    folders = sorted(p for p in full.iterdir() if p.name.startswith("date="))
    for folder in folders[:days]:
        shutil.copytree(folder, target / folder.name)
    return target


@pytest.fixture(scope="module")
def runs(shared_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("monitoring")
    full = shared_data_dir / "small"
    if not full.exists():  # generate the shared small set through a run of its own
        run_flow(full, root / "warm-up")
    early = early_copy(full, root / "early", 200)
    out = root / "out"
    # The first run must become the champion the second is monitored against: on 200 days
    # the model need not beat the best baseline, so its gate allows it to be up to 50% worse.
    first = run_flow(early, out, "data.builtin=null", "evaluation.min_improvement=-0.5")
    second = run_flow(full, out)
    return {"out": out, "first": first, "second": second}


def test_every_run_writes_quality_and_its_profile(runs: dict[str, Any]) -> None:
    for name in ("first", "second"):
        folder = run_dir(runs[name])
        quality = json.loads((folder / "quality.json").read_text())
        assert quality["status"] in {"ok", "warn"}
        assert {c["name"] for c in quality["checks"]} >= {"quarantine_rate", "duplicate_rate"}
        manifest = json.loads((folder / "manifest.json").read_text())
        assert {"quality.json", "profile.json"} <= set(manifest["artifacts"])
        version = runs[name]["model_version"]
        assert (runs["out"] / "registry" / MODEL / version / "profile.json").is_file()
    second = json.loads((run_dir(runs["second"]) / "quality.json").read_text())
    assert second["compared_with_run"] == runs["first"]["run_id"]
    assert second["volume"]["change"] > 0  # more rows than the early run


def test_drift_is_measured_against_the_champion_profile(runs: dict[str, Any]) -> None:
    assert not (run_dir(runs["first"]) / "drift.json").exists()  # no champion yet
    report = json.loads((run_dir(runs["second"]) / "drift.json").read_text())
    assert report["reference"]["model_version"] == runs["first"]["model_version"]
    assert report["overall"]["columns"]
    assert report["summary"]["level"] in {"ok", "warn", "alert"}


def test_realised_accuracy_joins_what_the_first_run_served(runs: dict[str, Any]) -> None:
    realised = json.loads((run_dir(runs["second"]) / "realised.json").read_text())
    first_served = pl.read_parquet(
        runs["out"]
        / "serving"
        / MODEL
        / dt.date.today().isoformat()
        / f"{runs['first']['run_id']}.parquet"
    )
    history = pl.read_parquet(runs["out"] / "monitoring" / MODEL / "realised_history.parquet")
    assert set(history["run_id"]) == {runs["first"]["run_id"]}
    assert 0 < history.height <= first_served.height
    assert realised["metrics"]["pairs"] == history.height
    assert realised["check"]["realised_wape"] is not None
    wape = (history["forecast"] - history["actual"]).abs().sum() / history["actual"].abs().sum()
    assert realised["metrics"]["overall"]["wape"] == pytest.approx(wape)


def test_a_hard_quality_breach_fails_before_training(shared_data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    breach = "monitoring.quality.quarantine_rate.hard=0.001"  # the small set quarantines ~1 %
    with pytest.raises(DataQualityError, match=r"quarantine_rate .*> breach level 0\.001"):
        run_flow(shared_data_dir / "small", out, breach)
    quality_files = list((out / "runs").glob("*/*/quality.json"))
    assert len(quality_files) == 1
    folder = quality_files[0].parent
    assert not (folder / "manifest.json").exists()  # an incomplete run, by contract
    assert not (out / "registry").exists()  # nothing trained, nothing registered
    assert json.loads(quality_files[0].read_text())["status"] == "breach"


def test_the_run_emits_exactly_the_events_its_reports_call_for(runs: dict[str, Any]) -> None:
    import time

    from prefect import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter

    from tasks import alerts

    folder = run_dir(runs["second"])
    quality = json.loads((folder / "quality.json").read_text())
    drift = json.loads((folder / "drift.json").read_text())
    accuracy = json.loads((folder / "realised.json").read_text())["check"]
    planned = [alerts.event_name(k) for k, _ in alerts.planned_alerts(quality, drift, accuracy)]
    expected = sorted([*planned, alerts.event_name("report_ready")])
    run_id = runs["second"]["run_id"]
    names = EventFilter(
        event=EventNameFilter(prefix=["sales-forecast."]),
        related=EventRelatedFilter(id=[f"sales-forecast.run.{run_id}"]),
    )
    found: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the server persists events in batches
        with get_client(sync_client=True) as client:
            page = client.read_events(names, limit=50)
        mine = [e for e in page.events if e.payload.get("run_id") == run_id]
        found = sorted(e.event for e in mine)
        if len(found) >= len(expected):
            break
        time.sleep(1)
    assert found == expected
    (ready,) = [e for e in mine if e.event == "sales-forecast.report.ready"]
    assert ready.payload["url"] == (folder / "report.html").as_uri()
    assert ready.payload["mode"] == "production"
