"""End to end: ``python flows/main.py`` as a user runs it, in a subprocess, on generated data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import lightgbm as lgb
import polars as pl
import pytest
import yaml

from tests.support import REPO, SMALL

RUN_FILES = {
    "config.yaml",
    "manifest.json",
    "metrics.json",
    "forecasts.parquet",
    "model.txt",
    "quarantine.parquet",
    "backtest.parquet",
    "report.html",
    "quality.json",
    "profile.json",
}


def main(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "flows/main.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("e2e")
    return {
        **os.environ,
        "PREFECT_HOME": str(root / "prefect"),
        "SALES_DATA_DIR": str(root / "data"),
        "SALES_OUTPUT_PATH": str(root / "out"),
        "PREFECT_LOGGING_LEVEL": "INFO",
    }


def run_dirs(env: dict[str, str]) -> list[Path]:
    return sorted(Path(env["SALES_OUTPUT_PATH"]).glob("runs/*/*/"))


def test_main_writes_a_complete_run_directory(env: dict[str, str]) -> None:
    proc = main(*SMALL, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (run_dir,) = run_dirs(env)
    assert {p.name for p in run_dir.iterdir()} == RUN_FILES
    assert "Finished in state Completed()" in proc.stdout + proc.stderr
    # Its own API server, one that cannot outlive it (tests/e2e/test_no_orphans.py).
    assert "Starting local Prefect API server on http://127.0.0.1:" in proc.stdout + proc.stderr

    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["forecast"]["horizon"] == 14
    assert config["data"]["output_path"] == env["SALES_OUTPUT_PATH"]

    manifest = json.loads((run_dir / "manifest.json").read_text())
    for key in (
        "run_id",
        "flow_run_id",
        "git_commit",
        "package_versions",
        "input",
        "row_counts",
        "schema_versions",
        "steps",
        "artifacts",
    ):
        assert key in manifest, key
    assert run_dir.name == manifest["run_id"]
    assert run_dir.parent.name == manifest["started_at"][:10]
    assert set(manifest["artifacts"]) == RUN_FILES - {"manifest.json"}
    assert manifest["input"]["files"], "input fingerprints recorded"
    clean = manifest["row_counts"]["clean"]
    assert clean["rows_in"] == clean["rows_kept"] + clean["rows_quarantined"]
    assert set(manifest["steps"]) >= {
        "ingest",
        "clean",
        "aggregate",
        "features",
        "train",
        "evaluate",
        "forecast",
    }

    metrics = json.loads((run_dir / "metrics.json").read_text())
    for method in ("model", "seasonal_naive", "moving_average"):
        assert set(metrics["backtest"][method]) >= {"wape", "mae", "rmse", "bias"}
    assert len(metrics["per_horizon"]) == 14
    assert {row["segment"] for row in metrics["per_segment"]} == {"grocery", "toys", "sports"}
    assert isinstance(metrics["gate"]["passed"], bool)
    assert metrics["gate"]["reasons"]

    forecasts = pl.read_parquet(run_dir / "forecasts.parquet")
    assert forecasts.columns == [
        "region",
        "product_type",
        "date",
        "forecast",
        "p10",
        "p50",
        "p90",
        "recipe",
        "model_version",
        "model_role",
    ]
    assert set(forecasts["model_version"]) == {manifest["run_id"]}
    assert forecasts.height == 6 * 14
    # model.txt: each LightGBM member's native text after its "# sales-forecast member:" line
    parts = (run_dir / "model.txt").read_text().split("# sales-forecast member: ")[1:]
    assert parts
    for part in parts:
        booster = lgb.Booster(model_str=part.split("\n", 1)[1])
        assert booster.num_trees() > 0
    quarantine = pl.read_parquet(run_dir / "quarantine.parquet")
    assert quarantine.height == clean["rows_quarantined"]
    assert quarantine["reason"].null_count() == 0


def test_a_mistyped_key_fails_fast_with_hydra_error_and_writes_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    local = {**env, "SALES_OUTPUT_PATH": str(tmp_path / "out")}
    proc = main("model.hyperparameters.max_dpeth=8", env=local, timeout=60)
    assert proc.returncode != 0
    assert "max_dpeth" in proc.stderr
    assert "server on http" not in proc.stdout + proc.stderr  # no Prefect API server started
    assert not (tmp_path / "out").exists()


def test_a_wrong_type_fails_fast(env: dict[str, str], tmp_path: Path) -> None:
    out_env = {**env, "SALES_OUTPUT_PATH": str(tmp_path)}
    proc = main("forecast.horizon=soon", env=out_env, timeout=60)
    assert proc.returncode != 0
    assert "horizon" in proc.stderr


def test_multirun_sweeps_each_value_into_its_own_run(env: dict[str, str], tmp_path: Path) -> None:
    local = {**env, "SALES_OUTPUT_PATH": str(tmp_path / "out")}
    proc = main("-m", *SMALL, "model.hyperparameters.max_depth=3,6", env=local, timeout=400)
    assert proc.returncode == 0, proc.stderr[-4000:]
    dirs = run_dirs(local)
    assert len(dirs) == 2
    depths = sorted(
        yaml.safe_load((d / "config.yaml").read_text())["model"]["hyperparameters"]["max_depth"]
        for d in dirs
    )
    assert depths == [3, 6]
    # a sweep is an experiment: registered, never promoted or served
    out = Path(local["SALES_OUTPUT_PATH"])
    assert len(list(out.glob("registry/*/*/version.json"))) == 2
    assert not list(out.glob("registry/*/champion.json"))
    assert not [p for p in out.glob("serving/**/*") if p.is_file() and "lock" not in p.name]
    assert (proc.stdout + proc.stderr).count("mode=experiment: ") == 2
    (sweep,) = out.glob("multirun/*/")
    table = [line for line in (sweep / "comparison.md").read_text().splitlines() if "|" in line]
    assert table[0].startswith("| job | model.hyperparameters.max\\_depth | model wape")
    assert [row.split(" | ")[1] for row in table[2:]] == ["3", "6"]
    assert (sweep / "comparison.html").is_file()


def test_bad_values_end_with_one_short_block_and_no_traceback(
    env: dict[str, str], tmp_path: Path
) -> None:
    local = {**env, "SALES_OUTPUT_PATH": str(tmp_path / "out")}
    local.pop("SALES_FORECAST_DEBUG", None)
    bad = ["forecast.horizon=0", "+model.hyperparameters.foo_param=1", "model.model_name=../../x"]
    proc = main(*bad, env=local, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == "config error: 3 config values are not valid:"
    assert len(lines) == 5, proc.stderr  # the three problems and the debug hint
    for value in bad:
        assert value.lstrip("+") in proc.stderr
    assert "e.g. forecast.horizon=28" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "Starting temporary server" not in proc.stdout + proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_data_error_ends_the_run_with_its_block_and_no_traceback(
    env: dict[str, str], tmp_path: Path
) -> None:
    local = {**env, "SALES_OUTPUT_PATH": str(tmp_path / "out")}
    local.pop("SALES_FORECAST_DEBUG", None)
    proc = main(*SMALL, "forecast.horizon=200", env=local)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    block = proc.stderr[proc.stderr.index("\ndata error: ") :].strip().splitlines()
    assert block[0].startswith("data error: history: the panel has ")
    assert "this run needs 429" in block[0]
    assert block[1].startswith("  fix: set evaluation.backtest_windows=")
    assert "SALES_FORECAST_DEBUG=1" in block[2]
    debug = main(*SMALL, "forecast.horizon=200", env={**local, "SALES_FORECAST_DEBUG": "1"})
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr
