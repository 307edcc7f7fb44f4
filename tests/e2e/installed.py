"""The package as users and the image get it: the wheel, installed into a fresh environment.

The wheel is built from this checkout (``uv build``, the pinned hatchling from the lock, no
network); the environment gets the locked dependencies (``uv sync --frozen --no-dev
--no-install-project``, as the Dockerfile's build stage) and then the wheel with
``--no-deps``, so nothing resolves differently from ``uv.lock``. The layout mirrors the image:
``APP/.venv`` owned by root and read-only for the runtime user, ``APP/data`` and
``APP/outputs`` writable by it. Commands run as an unprivileged user: uid/gid 10001 (the
image's ``app`` user) when the tests run as root, else the current user.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support import REPO

UV = REPO / ".tools" / "bin" / "uv"
RUNTIME_UID = 10001  # the Dockerfile's `app` user
# Interpreters to build the environment on: the runtime user must be able to run it (a
# pyenv Python under root's home is not reachable for another uid).
INTERPRETERS = (sys.executable, "/usr/local/bin/python3.11", "/usr/bin/python3.11")


@dataclass(frozen=True)
class User:
    """Who runs the installed commands."""

    uid: int
    gid: int

    @classmethod
    def unprivileged(cls, uid: int = RUNTIME_UID, gid: int = RUNTIME_UID) -> User:
        """``uid``/``gid`` when running as root, else the current (already unprivileged) user."""
        if os.geteuid() == 0:
            return cls(uid, gid)
        return cls(os.geteuid(), os.getegid())

    @property
    def switches(self) -> bool:
        """True when commands run under another uid than the test's."""
        return self.uid != os.geteuid()

    def popen_kwargs(self) -> dict[str, object]:
        """``subprocess`` arguments that drop to this user (no supplementary groups)."""
        if not self.switches:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def owns(self, path: Path) -> Path:
        """``path`` created (if needed) and handed to this user."""
        path.mkdir(parents=True, exist_ok=True)
        if self.switches:
            os.chown(path, self.uid, self.gid)
        return path


@dataclass(frozen=True)
class App:
    """An installed copy of the package laid out like the image's ``/app``."""

    root: Path
    venv: Path
    wheel: Path
    home: Path
    user: User

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """A clean environment: the installed commands first on PATH, nothing of this checkout."""
        base = {
            "PATH": f"{self.bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "PREFECT_HOME": str(self.home / ".prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "OMP_WAIT_POLICY": "PASSIVE",
        }
        return base | dict(extra or {})

    def run(
        self,
        args: Sequence[str],
        cwd: Path,
        env: Mapping[str, str],
        timeout: float = 900,
    ) -> subprocess.CompletedProcess[str]:
        """Run an installed command as the app's user; output captured, never raises on exit."""
        command = [shutil.which(args[0], path=env["PATH"]) or args[0], *args[1:]]
        return subprocess.run(
            command,
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **self.user.popen_kwargs(),
        )


def _checked(args: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    done = subprocess.run(
        list(args), cwd=REPO, env=dict(env or os.environ), capture_output=True, text=True,
        timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def build_wheel(out: Path) -> Path:
    """The project's wheel, built offline with the locked hatchling of ``.venv``."""
    python = REPO / ".venv" / "bin" / "python"
    args = [str(UV), "build", "--wheel", "--no-build-isolation", "--offline"]
    _checked([*args, "--python", str(python), "--out-dir", str(out)])
    (wheel,) = out.glob("sales_forecast-*.whl")
    return wheel


def interpreter(user: User) -> str:
    """The first Python 3.11 the user can run (the venv's base interpreter)."""
    for candidate in INTERPRETERS:
        path = os.path.realpath(candidate)
        try:
            done = subprocess.run(
                [path, "-c", "import sys; print(sys.version_info[:2] == (3, 11))"],
                capture_output=True, text=True, timeout=60, check=False,
                **user.popen_kwargs(),
            )  # fmt: skip
        except OSError:  # not reachable for this user
            continue
        if done.stdout.strip() == "True":
            return path
    raise AssertionError(f"no Python 3.11 that uid {user.uid} can run among {INTERPRETERS}")


def install(wheel: Path, root: Path, user: User) -> App:
    """Locked dependencies and the wheel in ``root/.venv``; ``data``, ``outputs`` for ``user``."""
    venv = root / ".venv"
    env = os.environ | {"UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON_DOWNLOADS": "never"}
    sync = [str(UV), "sync", "--frozen", "--no-dev", "--no-install-project", "--offline"]
    _checked([*sync, "--compile-bytecode", "--python", interpreter(user)], env)
    pip = [str(UV), "pip", "install", "--offline", "--no-deps", "--compile-bytecode"]
    _checked([*pip, "--python", str(venv / "bin" / "python"), str(wheel)])
    for folder in ("data", "outputs"):
        user.owns(root / folder)
    home = user.owns(root.parent / "home")
    return App(root=root, venv=venv, wheel=wheel, home=home, user=user)


@contextlib.contextmanager
def public_tempdir(prefix: str) -> Iterator[Path]:
    """A temporary folder others may enter (pytest's own are private to root)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        path = Path(tmp)
        path.chmod(0o755)
        yield path
