"""The benchmark harness on a tiny size: it must keep running and its checks must pass.

This is not a benchmark: no timing is asserted. It runs ``python -m benchmarks --sizes
20000 --repeats 1 --quick`` once (data, equivalence check, ours, pandas, floor), then
checks the printed table and the JSON it wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.support import REPO

pytest.importorskip("pandas", reason="the pandas reference needs the bench group")
pytest.importorskip("psutil")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """One quick harness run in a subprocess: its stdout and its JSON."""
    root = tmp_path_factory.mktemp("bench")
    out = root / "result.json"
    cmd = [
        sys.executable,
        "-m",
        "benchmarks",
        "--sizes",
        "20000",
        "--repeats",
        "1",
        "--quick",
        "--data-dir",
        str(root / "data"),
        "--out",
        str(out),
    ]
    proc = subprocess.run(
        cmd, cwd=REPO, capture_output=True, text=True, timeout=600, env={**os.environ}, check=False
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout, json.loads(out.read_text())


def test_equivalence_check_passes(quick_run: tuple[str, dict[str, Any]]) -> None:
    _, result = quick_run
    eq = result["equivalence"]
    assert eq["passed"] is True, eq
    for part in ("panel", "features", "floor_daily"):
        assert eq[part]["passed"], eq[part]["problems"]
        assert eq[part]["rows"] > 0
    assert eq["forecast"]["rows"] == eq["forecast"]["reference_rows"] > 0
    assert eq["forecast"]["passed"], eq["forecast"]


def test_json_has_machine_packages_and_cases(quick_run: tuple[str, dict[str, Any]]) -> None:
    _, result = quick_run
    assert result["machine"]["nproc"] >= 1
    assert result["machine"]["memory_gib"] > 0
    assert result["packages"]["polars"]
    assert result["packages"]["lightgbm"]
    assert "commit" in result["git"]
    block = result["sizes"]["20000"]
    assert block["rows"] > 0
    summary = block["summary"]
    for case in ("ours", "pandas", "floor"):
        assert summary[case]["ok"] == 1, summary[case].get("errors")
    ours = summary["ours"]["median"]
    for key in ("ingest_to_panel", "features", "prep", "train", "forecast", "e2e", "peak_mib"):
        assert ours[key] > 0
    assert ours["prep_peak_mib"] <= ours["peak_mib"]
    run = block["runs"][0]
    assert run["wait4_maxrss_mib"] > 0
    assert run["wall_seconds"] > 0


def test_ratios_and_targets_are_reported(quick_run: tuple[str, dict[str, Any]]) -> None:
    _, result = quick_run
    ratios = result["sizes"]["20000"]["ratios"]
    for name in ("pandas/ours prep time", "ours/pandas prep peak RSS", "ours/floor train"):
        assert ratios[name] > 0
    names = [t["name"] for t in result["targets"]]
    assert len(names) == 10
    for t in result["targets"]:
        assert t["passed"] in (True, False, None)


def test_table_is_printed(quick_run: tuple[str, dict[str, Any]]) -> None:
    stdout, _ = quick_run
    assert "equivalence (pandas vs ours, floor vs ours): PASS" in stdout
    for word in ("ours x1", "pandas x1", "floor x1", "prep s", "peak MiB", "target"):
        assert word in stdout
