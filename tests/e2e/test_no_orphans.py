"""No orphans: SIGKILL of ``python flows/main.py`` takes its Prefect API server with it.

Without ``PREFECT_API_URL`` the entry point starts a local API server (uvicorn) as its
child; the kernel kills that child when the flow process dies (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.e2e.services import wait_for
from tests.support import REPO, SMALL

pytestmark = pytest.mark.slow
# Ours, or Prefect's own temporary server's (what a regression would start).
SERVER_LINE = re.compile(
    r"Starting (?:local Prefect API|temporary) server on http://127\.0\.0\.1:(\d+)"
)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE  # exited, only not reaped yet
    except psutil.NoSuchProcess:
        return True


def test_sigkill_of_the_flow_process_leaves_no_api_server(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect"),
        SALES_DATA_DIR=str(tmp_path / "data"),
        SALES_OUTPUT_PATH=str(tmp_path / "out"),
        PREFECT_LOGGING_LEVEL="INFO",
    )
    log = tmp_path / "main.log"
    with log.open("wb") as out:
        main = subprocess.Popen(
            [sys.executable, "flows/main.py", *SMALL],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a kill of the test's group cannot reach it by accident
        )
    try:
        found = wait_for(lambda: SERVER_LINE.search(log.read_text()), 300, "the server line")
        port = int(found.group(1))
        wait_for(lambda: port_open(port) or main.poll() is not None, 300, "the server port")
        assert main.poll() is None, log.read_text()[-3000:]
        started = psutil.Process(main.pid).children(recursive=True)
        assert any("uvicorn" in " ".join(p.cmdline()) for p in started), started
    finally:
        main.send_signal(signal.SIGKILL)
        main.wait(timeout=30)

    wait_for(lambda: all(gone(p) for p in started), 60, "the server to die with its parent")
    # Processes the server started after the snapshot above hold the port too: it must close.
    wait_for(lambda: not port_open(port), 60, "the server port to close")
