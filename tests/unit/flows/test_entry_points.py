"""The commands users, the Makefile, the Dockerfile and deploy/ run keep working."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import REPO


@pytest.mark.parametrize(
    ("module", "args", "expected"),
    [
        ("flows.bridge", ["--help"], "usage: python -m flows.bridge"),
        ("flows.deploy", ["--help"], "usage: python -m flows.deploy"),
        ("flows.automations", ["--dry-run"], "ok: sales-forecast / data quality breach"),
        ("tasks.registry", ["--help"], "rollback"),
        ("tasks.generate", ["--help"], "usage: python -m tasks.generate"),
    ],
)
def test_python_dash_m_commands(module: str, args: list[str], expected: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout + done.stderr


def test_prefect_yaml_names_resolve() -> None:
    from flows.ecr import docker_credentials
    from flows.ops import ecr
    from flows.sales_forecast import sales_forecast

    assert docker_credentials is ecr.docker_credentials
    assert sales_forecast.name == "sales-forecast"
