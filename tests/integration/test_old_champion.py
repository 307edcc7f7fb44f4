"""A champion registered under an older config schema is still judged, through real runs.

The first run's champion is rewritten as an older release would have registered it: its
``version.json`` without digests or schema version, its ``config.yaml`` without ``mode``
and with a key this code no longer knows and a hyperparameter name LightGBM never had.
The next run migrates that config, sets the unknown keys aside and compares against it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tasks import registry
from tests.support import SMALL

pytestmark = pytest.mark.usefixtures("prefect_server")
MODEL = "sales-forecast-synthetic"


def run_flow(data_dir: Path, out_dir: Path, *extra: str) -> dict[str, Any]:
    from flows.sales_forecast import sales_forecast

    paths = [f"data.input_path={data_dir}", f"data.output_path={out_dir}"]
    return sales_forecast(overrides=[*SMALL, "mode=production", *paths, *extra])


def make_old(folder: Path) -> None:
    config = yaml.safe_load((folder / "config.yaml").read_text())
    del config["mode"]
    del config["evaluation"]["tolerance_reference_champions"]
    config["evaluation"]["holdout_days"] = 28
    config["model"]["hyperparameters"]["max_dpeth"] = 8
    data = yaml.safe_dump(config).encode()
    (folder / "config.yaml").write_bytes(data)
    summary = json.loads((folder / "version.json").read_text())
    for key in ("code_digest", "config_digest", "config_schema_version"):
        del summary[key]
    summary["files"]["config.yaml"] = {
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    (folder / "version.json").write_text(json.dumps(summary))


def test_an_old_schema_champion_is_migrated_and_compared(
    shared_data_dir: Path, tmp_path: Path
) -> None:
    out, data = tmp_path / "out", shared_data_dir / "small"
    first = run_flow(data, out)
    assert first["promoted"] is True
    make_old(out / "registry" / MODEL / first["model_version"])
    assert (
        registry.get_version(str(out), MODEL, first["model_version"]).config_schema_version is None
    )

    second = run_flow(data, out, "model.num_boost_round=40")
    gate = second["gate"]
    assert gate["champion"]["version"] == first["model_version"]
    assert gate["champion"]["wape"] is not None  # re-scored, not "does not fit"
    assert not any("does not fit" in r or "no champion yet" in r for r in gate["reasons"])
    assert any(f"champion {first['model_version']}" in r for r in gate["reasons"])
    assert second["model_version"] != first["model_version"]  # another config: registered
