"""Runs of the real flow on damaged state end the documented way, with no manual repair.

Four runs share one output folder (the later three take the stages from the cache, a few
seconds each):

1. a clean run: champion, serving output, monitoring history;
2. after truncating ``champion.json``, garbling ``serving/<model>/latest.json`` and
   zeroing ``quality_history.parquet``: the run succeeds, its model is judged against the
   baselines only and replaces the unreadable pointer, ``latest.json`` is rewritten and the
   damaged table is kept aside;
3. after editing the champion's ``model.txt`` (its SHA-256 no longer matches): the edited
   model is never loaded, the run's model replaces it;
4. after truncating ``champion.json`` again, with a gate nobody passes: the run succeeds,
   nothing is promoted and serving output is left as it was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tasks import registry
from tasks.registry import serving
from tests.support import SMALL

pytestmark = pytest.mark.usefixtures("prefect_server")
MODEL = "sales-forecast-synthetic"


def run_flow(data_dir: Path, out_dir: Path, *extra: str) -> dict[str, Any]:
    from flows.sales_forecast import sales_forecast

    overrides = [*SMALL, f"data.input_path={data_dir}", f"data.output_path={out_dir}", *extra]
    return sales_forecast(overrides=overrides)


def gate(result: dict[str, Any]) -> dict[str, Any]:
    run_dir = Path(result["run_dir"].removeprefix("file://"))
    metrics: dict[str, Any] = json.loads((run_dir / "metrics.json").read_text())
    return dict(metrics["gate"])


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:40])


@pytest.fixture(scope="module")
def runs(shared_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Runs 1 and 2."""
    out = tmp_path_factory.mktemp("corrupt") / "out"
    data = shared_data_dir / "small"
    found: dict[str, Any] = {"out": out, "data": data, "clean": run_flow(data, out)}
    (history,) = out.glob("monitoring/**/quality_history.parquet")
    found["table"] = history

    truncate(out / "registry" / MODEL / "champion.json")
    (out / "serving" / MODEL / "latest.json").write_bytes(b'{"run_id": "20991231T')
    history.write_bytes(b"")
    found["pointers"] = run_flow(data, out)
    return found


@pytest.fixture(scope="module")
def more_runs(runs: dict[str, Any]) -> dict[str, Any]:
    """Runs 3 and 4, after 1 and 2."""
    out, data = runs["out"], runs["data"]
    folder = out / "registry" / MODEL
    model = folder / runs["pointers"]["model_version"] / "model.txt"
    model.write_text(model.read_text().replace("leaf_value=", "leaf_value=1", 1))
    found = {**runs, "model": run_flow(data, out)}
    found["champion_after_model"] = registry.champion(str(out), MODEL)

    truncate(folder / "champion.json")
    found["latest_before_failed_gate"] = (out / "serving" / MODEL / "latest.json").read_bytes()
    found["failed_gate"] = run_flow(data, out, "evaluation.min_improvement=0.9")
    return found


def test_an_unreadable_champion_pointer_and_serving_pointer_heal_in_the_next_run(
    runs: dict[str, Any],
) -> None:
    out, result = runs["out"], runs["pointers"]
    version = result["model_version"]
    assert result["promoted"] is True
    reasons = gate(result)["reasons"]
    assert any("champion unusable" in r and "champion.json" in r for r in reasons), reasons
    assert any("rollback" in r for r in reasons)  # the repair command travels with it
    assert gate(result)["champion_unusable"]["version"] is None  # the pointer was unreadable

    current = registry.champion(str(out), MODEL)  # the pointer was replaced by run 2
    assert current is not None
    assert (current.version, current.previous) == (version, None)
    events = [e for e in registry.history(str(out), MODEL) if e["version"] == version]
    promoted = [e for e in events if e["event"] == "promoted"]
    assert len(promoted) == 1
    assert "truncated" in promoted[0]["replaced_damaged"]
    # The run's recover step could not tell which copy should serve (no readable champion
    # pointer) and left latest.json; serve, after the pointer was replaced, rewrote it.
    assert result["serving"]["model_version"] == version
    assert "latest.json" in result["serving"]["replaced_damaged"]
    recovery = json.loads(
        (Path(result["run_dir"].removeprefix("file://")) / "manifest.json").read_text()
    )["recovery"]
    assert recovery["changed"] is False
    assert any("latest.json" in p for p in recovery["problems"])
    assert any("champion.json" in p for p in recovery["problems"])


def test_a_damaged_history_table_is_kept_aside_and_a_new_one_started(
    runs: dict[str, Any],
) -> None:
    table: Path = runs["table"]
    aside = list(table.parent.glob(f"{table.name}.damaged-*"))
    assert len(aside) == 1
    assert aside[0].read_bytes() == b""
    assert table.stat().st_size > 0  # the runs after it wrote a new table


def test_an_edited_champion_model_is_never_loaded_and_is_replaced(
    more_runs: dict[str, Any],
) -> None:
    runs, result = more_runs, more_runs["model"]
    edited = runs["pointers"]["model_version"]
    reasons = gate(result)["reasons"]
    unusable = [r for r in reasons if "champion unusable" in r]
    assert len(unusable) == 1
    assert "model.txt" in unusable[0]
    assert "SHA-256" in unusable[0]
    assert f"forget {edited}" in unusable[0]
    assert gate(result)["champion_unusable"]["version"] == edited
    assert "champion" not in gate(result)  # nothing was compared
    assert result["served_by"] == result["model_version"]
    current = runs["champion_after_model"]
    assert current is not None
    assert (current.version, current.previous) == (result["model_version"], edited)


def test_a_failed_gate_with_an_unreadable_pointer_changes_nothing_and_succeeds(
    more_runs: dict[str, Any],
) -> None:
    runs, out, result = more_runs, more_runs["out"], more_runs["failed_gate"]
    assert result["promoted"] is False
    assert result["served_by"] == "nothing"
    assert gate(result)["passed"] is False
    assert (out / "serving" / MODEL / "latest.json").read_bytes() == runs[
        "latest_before_failed_gate"
    ]
    with pytest.raises(registry.CorruptStateError):
        registry.champion(str(out), MODEL)  # still damaged, and still named
    pointer = serving.read_pointer(str(out), MODEL)
    assert pointer is not None
    assert pointer["model_version"] == runs["model"]["model_version"]
