"""Session-wide test settings: an isolated Prefect home, one Prefect test server, shared data,
a canary; the small run configuration is ``tests.support.SMALL``."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# A Prefect server takes ~20 s to start on a quiet machine and several times that on a busy
# shared one (two xdist workers start one each): waiting is cheaper than a false error.
SERVER_STARTUP_SECONDS = 240


def pytest_configure(config: pytest.Config) -> None:
    """Point Prefect at a throw-away home before anything imports it."""
    home = Path(tempfile.mkdtemp(prefix="sales-forecast-prefect-"))
    os.environ["PREFECT_HOME"] = str(home)
    os.environ["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = str(home / "storage")
    os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = str(SERVER_STARTUP_SECONDS)
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
    # LightGBM's OpenMP threads spin while idle by default, which starves a shared machine.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for key in ("SALES_DATA_DIR", "SALES_OUTPUT_PATH", "SALES_INPUT_PATH"):
        os.environ.pop(key, None)
    for key in [k for k in os.environ if k.startswith("SALES_FORECAST_")]:  # the env layer
        os.environ.pop(key, None)


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One Prefect test server for the whole session (it takes ~20 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=SERVER_STARTUP_SECONDS):
        yield


@pytest.fixture(scope="session")
def shared_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated data sets shared by the flow tests (generated once per session)."""
    return tmp_path_factory.mktemp("data")


CANARY_VAR = "SALES_TEST_CANARY"


@pytest.fixture
def canary(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fake secret in ``$SALES_TEST_CANARY``: if any outside ``${oc.env:...}`` string were
    resolved, this value would show up where the tests look for it (it must not)."""
    value = f"CANARY-{uuid.uuid4().hex}"
    monkeypatch.setenv(CANARY_VAR, value)
    return value
