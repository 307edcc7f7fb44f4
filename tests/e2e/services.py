"""Real services for end-to-end tests: processes started by the test and stopped by their pid.

Each service runs in its own session (process group), so stopping it also stops the
children it started (``prefect server start`` runs uvicorn, a worker runs flow runs).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.5) -> T:
    """Call ``probe`` until it returns something truthy; ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Service:
    """A process started by a test, with its output in a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(
        cls, name: str, args: Sequence[str], env: dict[str, str], cwd: Path, logs: Path
    ) -> Service:
        """Start ``args`` in a new session, output to ``logs/name.log``."""
        log = logs / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                list(args),
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return cls(name, process, log)

    def output(self) -> str:
        """What the process has written so far."""
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def stop(
        self, signals: Sequence[signal.Signals] = (signal.SIGTERM,), grace: float = 15
    ) -> None:
        """Send ``signals`` to the process group in turn, then SIGKILL whatever is left."""
        for sig in signals:
            if not self.alive():
                break
            self._signal(sig)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                continue
        self._signal(signal.SIGKILL)  # children that outlived the leader
        if self.alive():
            self.process.wait(timeout=10)

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)


def start_prefect_server(home: Path, logs: Path, env: dict[str, str]) -> tuple[Service, str]:
    """``prefect server start`` on 127.0.0.1 and a free port; returns it and its API URL."""
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    server_env = {
        **env,
        "PREFECT_HOME": str(home),
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    args = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    service = Service.start("prefect-server", [*args, "--port", str(port)], server_env, home, logs)
    api = f"http://127.0.0.1:{port}/api"

    def healthy() -> bool:
        if not service.alive():
            raise RuntimeError(f"prefect server exited:\n{service.output()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    try:
        wait_for(healthy, 120, "the Prefect server")
    except BaseException:
        service.stop()
        raise
    return service, api


def object_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    """Every key under ``prefix`` in ``bucket`` (a boto3 S3 client), sorted."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def read_object(s3: Any, bucket: str, key: str) -> bytes:
    """The body of one object."""
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body
