"""``python -m flows.devserver start|stop|status|url``: one local Prefect server to iterate on.

Each ``python flows/main.py`` without ``PREFECT_API_URL`` starts Prefect's ephemeral API
server and stops it at the end (15-80 s here). Started once with ``make server``, a
``prefect server start`` on 127.0.0.1 keeps running in the background (its pid and log in
``.prefect/devserver/``, its database in that folder's own Prefect home); runs that have
``PREFECT_API_URL`` pointing at it skip the start-up, and ``make run`` points at it by
itself when it is up. ``make server-stop`` stops it by its pid.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
DEFAULT_PORT = 4200
START_TIMEOUT_SECONDS = 180.0


@dataclass(frozen=True)
class DevServer:
    """Where the server's state lives and the port it listens on."""

    root: Path
    port: int

    @property
    def pid_file(self) -> Path:
        """The running server's process id."""
        return self.root / "server.pid"

    @property
    def log_file(self) -> Path:
        """The server's output."""
        return self.root / "server.log"

    @property
    def api_url(self) -> str:
        """What ``PREFECT_API_URL`` must be for runs to use it."""
        return f"http://{HOST}:{self.port}/api"

    def pid(self) -> int | None:
        """The recorded pid, if that process is still a Prefect server; else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        return pid if b"prefect" in b" ".join(cmdline) and b"server" in cmdline else None

    def healthy(self) -> bool:
        """The API answers its health check."""
        try:
            with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def start(self) -> str:
        """Start the server in the background (if not running) and wait until it answers."""
        if self.pid() is not None and self.healthy():
            return self.api_url
        self.root.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PREFECT_HOME": str(self.root / "home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": os.environ.get("PREFECT_UI_ENABLED", "false"),
        }
        env.pop("PREFECT_API_URL", None)
        args = [sys.executable, "-m", "prefect", "server", "start", "--host", HOST]
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                [*args, "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # outlives this command; stopped by its pid
            )
        self.pid_file.write_text(f"{process.pid}\n")
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.healthy():
            if process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log_file.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the Prefect server did not start on {self.api_url}:\n{tail}")
            time.sleep(0.5)
        return self.api_url

    def stop(self) -> bool:
        """Stop the recorded server (its process group) by pid; False if none was running."""
        pid = self.pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pid, sig)  # uvicorn runs as a child: the whole group
            except ProcessLookupError:
                return True
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                    if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                        return True  # exited; its parent reaps it
                except (ProcessLookupError, FileNotFoundError):
                    return True
                time.sleep(0.2)
        return True


def main(argv: list[str] | None = None) -> int:
    """``start`` prints the ``export PREFECT_API_URL=...`` line, ``url`` prints the URL if
    the server is up (exit 1 if not), ``status`` says which, ``stop`` stops it."""
    parser = argparse.ArgumentParser(prog="python -m flows.devserver", description=__doc__)
    parser.add_argument("command", choices=["start", "stop", "status", "url"])
    parser.add_argument("--root", type=Path, default=Path(".prefect/devserver"))
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("SERVER_PORT", DEFAULT_PORT))
    )
    args = parser.parse_args(argv)
    server = DevServer(args.root.resolve(), args.port)
    up = server.pid() is not None and server.healthy()
    if args.command == "start":
        sys.stdout.write(f"export PREFECT_API_URL={server.start()}\n")
    elif args.command == "stop":
        stopped = server.stop()
        sys.stderr.write("stopped\n" if stopped else "no server was running\n")
    elif args.command == "status":
        sys.stdout.write(f"running: {server.api_url}\n" if up else "not running\n")
    elif up:
        sys.stdout.write(f"{server.api_url}\n")
    return 0 if up or args.command in ("start", "stop") else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
