"""``make server`` / ``make server-stop``: one background Prefect server, stopped by its pid."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flows import devserver
from tests.e2e.services import free_port

pytestmark = pytest.mark.slow  # a real `prefect server start` (20-80 s here)


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its parent, this test, counts)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


def test_start_is_idempotent_and_stop_ends_the_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = devserver.DevServer(tmp_path / "devserver", free_port())
    args = ["--root", str(server.root), "--port", str(server.port)]
    assert devserver.main(["url", *args]) == 1  # not running yet
    try:
        assert devserver.main(["start", *args]) == 0
        assert capsys.readouterr().out == f"export PREFECT_API_URL={server.api_url}\n"
        pid = server.pid()
        assert pid is not None
        assert server.healthy()
        assert server.start() == server.api_url
        assert server.pid() == pid  # a second start reuses the running server
        assert devserver.main(["url", *args]) == 0
        assert capsys.readouterr().out == f"{server.api_url}\n"
    finally:
        assert server.stop()
    assert not server.pid_file.exists()
    assert not server.healthy()
    assert gone(pid)
    assert server.stop() is False  # nothing left to stop


def test_a_stale_pid_file_is_not_a_server(tmp_path: Path) -> None:
    server = devserver.DevServer(tmp_path, free_port())
    server.pid_file.write_text(f"{os.getpid()}\n")  # a live process that is no server
    assert server.pid() is None
    assert server.stop() is False
    assert not server.pid_file.exists()
