"""The README's "Use your own data" walkthrough, command by command, on its example CSV.

The commands are read from the README (the fenced blocks between ``own-data`` markers), so
what the README shows is what is tested. The fast tests compose each command's overrides
and run the chain (no Prefect); the slow one runs the commands in a shell, as written.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from flows import config as conf
from flows import plan
from tasks import chain
from tasks.data.ingest import RawSchemaError
from tasks.monitoring import quality
from tests.support import REPO
from tests.support.pipeline import TEST_OVERRIDES

BLOCK = re.compile(r"<!-- own-data:start -->\n```bash\n(.*?)```\n<!-- own-data:end -->", re.S)


def walkthrough() -> list[str]:
    """The section's commands, continuation lines joined, in order."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = BLOCK.findall(text)
    assert len(blocks) == 3, "the own-data section lost a marked block"
    joined = "\n".join(blocks).replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip()]


def runs() -> list[list[str]]:
    """The arguments of each ``sales-forecast run`` command."""
    return [shlex.split(c)[2:] for c in walkthrough() if c.startswith("sales-forecast run ")]


def composed(args: list[str], monkeypatch: pytest.MonkeyPatch) -> conf.AppConfig:
    """The config a command's arguments compose to (``--config-dir`` as the environment's)."""
    if "--config-dir" in args:
        at = args.index("--config-dir")
        monkeypatch.setenv(conf.CONFIG_DIR_ENV, str(REPO / args[at + 1]))
        args = args[:at] + args[at + 2 :]
    return conf.to_app_config(conf.compose_config([*args, *TEST_OVERRIDES]))


@pytest.fixture(autouse=True)
def at_the_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's commands run from the repository's root."""
    monkeypatch.chdir(REPO)


def test_the_plain_run_names_each_column_to_map(monkeypatch: pytest.MonkeyPatch) -> None:
    first, *_ = runs()
    with pytest.raises(RawSchemaError) as info:
        chain.ingest(plan.source_params(composed(first, monkeypatch)))
    text = f"{info.value} {info.value.fix}"
    for column in ("date", "region", "product_type", "revenue"):
        assert f"(set data.columns.{column})" in text
    assert "data.columns.date=order_date" in text


def test_the_mapped_run_and_the_config_folder_are_the_same_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, mapped, folder = runs()
    by_flags = plan.chain_params(composed(mapped, monkeypatch))
    assert plan.chain_params(composed(folder, monkeypatch)) == by_flags
    cleaned, panel = chain.prepare(by_flags)
    counts = cleaned.counts
    # what the README says of this run
    assert counts["rows_in"] == counts["rows_kept"] + counts["rows_quarantined"] == 3650
    assert (counts["rows_kept"], counts["rows_quarantined"], counts["rows_repaired"]) == (
        3649,
        1,
        1,
    )
    assert counts["rows_normalised"] == 691
    assert cleaned.quarantine.select("region", "reason").rows() == [("east", "unknown_category")]
    series = panel.panel.select("region", "product_type").unique().sort(["region", "product_type"])
    assert series.rows() == [
        ("north", "games"),
        ("north", "toys"),
        ("south", "games"),
        ("south", "toys"),
    ]


def test_without_normalising_the_gate_names_the_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    _, mapped, _ = runs()
    plain = [a for a in mapped if not a.startswith(("'data.allowed", "data.allowed", "preproc"))]
    cfg = composed([*plain, "preprocessing.normalize_categories=false"], monkeypatch)
    cleaned, panel = chain.prepare(plan.chain_params(cfg))
    assert panel.panel.select("region", "product_type").unique().height == 39
    report = quality.quality_report("r1", cleaned, panel.panel, plan.quality_params(cfg))
    with pytest.raises(quality.DataQualityError) as info:
        quality.raise_on_breach(report)
    assert "filled_rate" in str(info.value)
    assert "preprocessing.category_aliases" in str(info.value)


@pytest.mark.slow
def test_the_commands_run_as_written(tmp_path: Path) -> None:
    """Each command in a shell, from a folder holding the example (a Prefect server of its own)."""
    from tests.e2e.services import start_prefect_server

    (tmp_path / "examples").symlink_to(REPO / "examples")
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    for key in ("SALES_OUTPUT_PATH", "SALES_DATA_DIR", conf.CONFIG_DIR_ENV):
        env.pop(key, None)
    (tmp_path / "logs").mkdir()
    server, api = start_prefect_server(tmp_path / "server-home", tmp_path / "logs", env)
    try:
        env["PREFECT_API_URL"] = api
        results = [
            subprocess.run(
                ["bash", "-c", command],
                check=False,
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
            )
            for command in walkthrough()
        ]
    finally:
        server.stop()
    head, plain, mapped, folder = results
    assert head.returncode == 0
    assert head.stdout.startswith("order_date,area,category")
    assert plain.returncode != 0
    assert "no column 'date' for date (set data.columns.date)" in plain.stderr
    assert mapped.returncode == 0, mapped.stderr[-3000:]
    assert folder.returncode == 0, folder.stderr[-3000:]
    manifests = sorted((tmp_path / "outputs" / "runs").glob("*/*/manifest.json"))
    assert len(manifests) == 2
    for path in manifests:
        counts = json.loads(path.read_text())["row_counts"]["clean"]
        assert counts["rows_normalised"] == 691
