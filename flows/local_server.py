"""A Prefect API server for one local run that cannot outlive it.

Without ``PREFECT_API_URL``, Prefect starts a temporary API server (uvicorn) as a child of
the flow process and stops it at exit; a SIGKILLed process never reaches its exit, so the
server (about 300 MB, still listening) is left running with parent 1. :func:`ensure_api`
starts the same server itself, in a child that the kernel kills when this process dies
(Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``), and points Prefect at it. When an API URL is
set already (environment or Prefect profile), or off Linux, it starts nothing and Prefect
behaves as it always does.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prefect.context import refresh_global_settings_context
from prefect.logging import get_logger
from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
START_ATTEMPTS = 3  # a port found free can be taken before uvicorn binds it
# What Prefect's own temporary server runs with (prefect.server.api.server).
SERVER_ENV = {
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
}


@dataclass
class LocalServer:
    """A running API server process and its URL."""

    process: subprocess.Popen[bytes]
    api_url: str

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 5 s) and reap it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


_server: LocalServer | None = None


def ensure_api(timeout: float | None = None) -> LocalServer | None:
    """Point Prefect at an API for this process; the server started, if one was.

    Idempotent: a multirun's jobs share one server, stopped when the process exits (or
    killed by the kernel when it dies). ``timeout`` defaults to
    ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``.
    """
    global _server  # noqa: PLW0603 - one server per process, like Prefect's own
    if _server is not None:
        return _server
    if PREFECT_API_URL.value() or not _prctl_available():
        return None
    wait = timeout or float(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
    _server = start(wait)
    atexit.register(_server.stop)
    os.environ["PREFECT_API_URL"] = _server.api_url
    refresh_global_settings_context()  # settings were read at import; read them again
    if PREFECT_API_URL.value() != _server.api_url:
        raise RuntimeError(f"Prefect does not see PREFECT_API_URL={_server.api_url}")
    return _server


def start(timeout: float) -> LocalServer:
    """Start the API server on 127.0.0.1 and wait until it answers ``/api/health``."""
    logger = get_logger("local_server")
    problem = ""
    for _ in range(START_ATTEMPTS):
        port = _free_port()
        api_url = f"http://127.0.0.1:{port}/api"
        logger.info("Starting local Prefect API server on %s (it ends with this process)", api_url)
        server = LocalServer(_spawn(port), api_url)
        problem = _wait_healthy(server, timeout)
        if not problem:
            return server
        server.stop()
    raise RuntimeError(
        f"the local Prefect API server did not start: {problem}; set PREFECT_API_URL to use "
        "a running server, or raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
    )


def _spawn(port: int) -> subprocess.Popen[bytes]:
    spec = importlib.util.find_spec("prefect")
    if spec is None or spec.origin is None:
        raise RuntimeError("prefect is not installed")
    args = [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(spec.origin).parents[1])]
    args += ["--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1"]
    args += ["--port", str(port), "--log-level", "error", "--lifespan", "on"]
    return subprocess.Popen(
        args,
        env={**os.environ, **SERVER_ENV},
        stdin=subprocess.DEVNULL,
        preexec_fn=_die_with(os.getpid(), _prctl()),  # noqa: PLW1509 - single-threaded here
    )


def _wait_healthy(server: LocalServer, timeout: float) -> str:
    """'' once the server answers; else why not (it exited, or the time ran out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return f"it exited with status {server.process.returncode}"
        try:
            with urllib.request.urlopen(f"{server.api_url}/health", timeout=2) as response:
                if response.status == 200:
                    return ""
        except OSError:
            pass
        time.sleep(0.2)
    return f"no answer from {server.api_url}/health within {timeout:g} s"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _prctl_available() -> bool:
    return sys.platform.startswith("linux") and _prctl() is not None


def _prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, looked up in the parent (never between fork and exec)."""
    try:
        prctl: Callable[..., int] = ctypes.CDLL(ctypes.util.find_library("c")).prctl
    except (OSError, AttributeError):
        return None
    return prctl


def _die_with(parent: int, prctl: Callable[..., int] | None) -> Callable[[], None]:
    """What the child runs before exec: ask for SIGKILL when ``parent`` dies; if the parent
    is gone already (it died before the request), die now.

    The kernel sends the signal when the *thread* that forked the child ends: it is started
    from the main thread (:func:`ensure_api` runs in the Hydra entry point), which ends only
    with the process.
    """

    def arrange() -> None:
        if prctl is None or prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            os._exit(70)
        if os.getppid() != parent:
            os._exit(70)

    return arrange
