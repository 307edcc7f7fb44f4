"""Registry, gate, serving output, report and Prefect artifacts, through real flow runs.

Three runs share one output folder: the first becomes champion, the second fails its gate
(an impossible ``min_improvement``) so the champion's forecasts are served, the third
trains at another frequency and cannot be compared with the daily champion. Between the
first and the second run ``latest.json`` is damaged, as a crash or a bad hand edit would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tasks import registry
from tests.support import SMALL

pytestmark = pytest.mark.usefixtures("prefect_server")
MODEL = "sales-forecast-synthetic"
WEEKLY = [  # 240 days are 34 weeks: short lags and season so that two windows fit
    "data.frequency=1w",
    "forecast.horizon=4",
    "features.lags=[1,2]",
    "features.window_sizes=[2]",
    "evaluation.season_length=4",
]


def run_flow(data_dir: Path, out_dir: Path, *extra: str) -> dict[str, Any]:
    from flows.sales_forecast import sales_forecast

    overrides = [*SMALL, f"data.input_path={data_dir}", f"data.output_path={out_dir}", *extra]
    return sales_forecast(overrides=overrides)


def run_dir(result: dict[str, Any]) -> Path:
    return Path(result["run_dir"].removeprefix("file://"))


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def runs(shared_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("release") / "out"
    data = shared_data_dir / "small"
    first = run_flow(data, out)
    (out / "serving" / MODEL / "latest.json").write_text('{"model_version": "2026')  # damaged
    second = run_flow(data, out, "evaluation.min_improvement=0.9")
    weekly = run_flow(data, out, *WEEKLY)
    return {"out": out, "first": first, "second": second, "weekly": weekly}


def test_the_first_run_registers_promotes_and_serves_its_forecasts(runs: dict[str, Any]) -> None:
    first, out = runs["first"], runs["out"]
    assert first["promoted"] is True
    assert first["served_by"] == first["model_version"] == first["run_id"]
    folder = out / "registry" / MODEL / first["model_version"]
    for name in ["model.txt", "metrics.json", "config.yaml", "manifest.json", "version.json"]:
        assert (folder / name).is_file(), name
    summary = read_json(folder / "version.json")
    assert summary["data_digest"] == read_json(run_dir(first) / "manifest.json")["input"]["digest"]
    forecasts = pl.read_parquet(run_dir(first) / "forecasts.parquet")
    assert set(forecasts["model_role"]) == {"champion"}


def test_a_failed_gate_is_not_a_failed_run_and_serves_the_champion(runs: dict[str, Any]) -> None:
    first, second, out = runs["first"], runs["second"], runs["out"]
    metrics = read_json(run_dir(second) / "metrics.json")
    assert metrics["gate"]["passed"] is False
    assert any("does not beat seasonal naive" in r for r in metrics["gate"]["reasons"])
    assert metrics["gate"]["champion"]["version"] == first["model_version"]
    assert metrics["gate"]["champion"]["wape"] == pytest.approx(
        read_json(run_dir(first) / "metrics.json")["backtest"]["model"]["wape"]
    )  # the champion re-scored on the same windows (same data, same config)

    own = pl.read_parquet(run_dir(second) / "forecasts.parquet")
    assert set(own["model_role"]) == {"challenger"}
    assert set(own["model_version"]) == {second["model_version"]}

    serving = out / "serving" / MODEL
    pointer = read_json(serving / "latest.json")
    assert pointer["model_version"] == first["model_version"]
    assert pointer["run_id"] == second["run_id"]
    served = pl.read_parquet(serving / "latest.parquet")
    assert set(served["model_version"]) == {first["model_version"]}
    assert served.height == own.height
    first_served = pl.read_parquet(Path(pointer["dated_uri"].removeprefix("file://")))
    assert first_served.equals(served)

    champion = registry.champion(str(out), MODEL)
    assert champion is not None
    assert champion.version == first["model_version"]
    versions = [v.version for v in registry.list_versions(str(out), MODEL)]
    assert second["model_version"] in versions
    assert registry.get_version(str(out), MODEL, second["model_version"]).gate_passed is False


def test_a_damaged_latest_json_is_rewritten_from_the_champion_by_the_next_run(
    runs: dict[str, Any],
) -> None:
    first, second, out = runs["first"], runs["second"], runs["out"]
    pointer = read_json(out / "serving" / MODEL / "latest.json")
    assert pointer == second["serving"]
    assert pointer["model_version"] == first["model_version"]
    assert second["steps"]["recover"]["state"] == "Completed"
    recovery = read_json(run_dir(second) / "manifest.json")["recovery"]
    assert recovery["changed"] is True
    assert "latest.json" in recovery["replaced_damaged"]
    assert "truncated" in recovery["replaced_damaged"]


def test_manifests_record_the_decision_and_the_copy_staged_before_the_commit(
    runs: dict[str, Any],
) -> None:
    first, second, weekly, out = runs["first"], runs["second"], runs["weekly"], runs["out"]
    pointer_file = (out / "registry" / MODEL / "champion.json").resolve().as_uri()
    promoted = read_json(run_dir(first) / "manifest.json")
    assert promoted["promotion"] == {
        "decision": "promote",
        "compared_with": None,
        "champion_pointer": pointer_file,
    }
    assert promoted["serving"]["model_version"] == first["model_version"]
    assert promoted["serving"]["dated_uri"] == first["serving"]["dated_uri"]
    rejected = read_json(run_dir(second) / "manifest.json")
    assert rejected["promotion"]["decision"] == "reject"
    assert rejected["promotion"]["compared_with"] == first["model_version"]
    assert rejected["serving"]["model_version"] == first["model_version"]
    assert rejected["serving"]["run_id"] == second["run_id"]
    not_comparable = read_json(run_dir(weekly) / "manifest.json")
    assert not_comparable["serving"] is None
    assert weekly["serving"] == second["serving"]  # serving still follows the champion
    assert {"recover", "register", "stage-serving", "report"} <= set(promoted["steps"])
    assert "promote" not in promoted["steps"]  # written before the champion pointer moved


def test_a_champion_at_another_frequency_is_not_compared_and_not_replaced(
    runs: dict[str, Any],
) -> None:
    weekly, first, out = runs["weekly"], runs["first"], runs["out"]
    gate = read_json(run_dir(weekly) / "metrics.json")["gate"]
    assert gate["passed"] is False
    assert any("not comparable" in r for r in gate["reasons"]), gate["reasons"]
    assert weekly["served_by"] == "nothing"
    champion = registry.champion(str(out), MODEL)
    assert champion is not None
    assert champion.version == first["model_version"]


def test_history_records_each_decision(runs: dict[str, Any]) -> None:
    events = [(e["event"], e["version"]) for e in registry.history(str(runs["out"]), MODEL)]
    first, second = runs["first"]["model_version"], runs["second"]["model_version"]
    assert ("promoted", first) in events
    assert ("registered", second) in events
    assert ("rejected", second) in events
    assert [e for e, _ in events].count("promoted") == 1


def test_each_run_writes_its_report_and_lists_it_in_the_manifest(runs: dict[str, Any]) -> None:
    for name in ["first", "second"]:
        folder = run_dir(runs[name])
        manifest = read_json(folder / "manifest.json")
        html = (folder / "report.html").read_text()
        assert manifest["artifacts"]["report.html"]["bytes"] == len(html.encode())
        assert runs[name]["run_id"] in html
        assert "data:image/png;base64," in html
    assert (
        "serving champion " + runs["first"]["model_version"]
        in (run_dir(runs["second"]) / "report.html").read_text()
    )


def test_headline_and_segment_artifacts_are_keyed_per_run(runs: dict[str, Any]) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    manifest = read_json(run_dir(runs["second"]) / "manifest.json")
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["sales-forecast-summary", "sales-forecast-segments"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[manifest["flow_run_id"]]),
            )
        )
    by_key = {a.key: a for a in found}
    assert set(by_key) == {"sales-forecast-summary", "sales-forecast-segments"}
    summary = str(by_key["sales-forecast-summary"].data)
    assert runs["second"]["run_id"] in summary
    assert "failed" in summary.lower()
    table = by_key["sales-forecast-segments"].data
    rows = json.loads(table) if isinstance(table, str) else table
    assert {r["segment"] for r in rows} == {"grocery", "toys", "sports"}
