"""Run cases in fresh subprocesses, interleaved (A B C A B C ...), and read their rusage.

The parent reaps each child with ``os.wait4``, which returns that child's resource usage.
Its ``ru_maxrss`` is only an upper bound: Linux carries the parent's high-water mark over
``fork`` + ``exec``, so it is at least this process's own peak. The child reports its own
exact peak (``VmHWM``, see :func:`benchmarks.measure.maxrss_mib`) and a sampled peak of its
process tree; those are the figures the tables use.
A watchdog kills a case whose process tree grows past ``mem_limit_mib``, so a run that
would not fit in memory is reported as such instead of bringing the machine down.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from benchmarks import REPO

POLL_SECONDS = 0.2
SNAPSHOT_DIRS = ("flows", "tasks", "conf", "benchmarks")
_code_root: Path = REPO


def snapshot_code(dest: Path) -> Path:
    """Copy the code under test to ``dest`` and run every case from there.

    Others may edit the work tree while a benchmark runs; a snapshot keeps every case (and
    the flow's code-version cache key, so cached runs stay cached) on one version.
    """
    global _code_root  # noqa: PLW0603 (set once, before any case runs)
    shutil.rmtree(dest, ignore_errors=True)
    for name in SNAPSHOT_DIRS:
        shutil.copytree(
            REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "results")
        )
    # flows.config finds conf/ beside pyproject.toml (a checkout), else inside the package
    shutil.copy2(REPO / "pyproject.toml", dest / "pyproject.toml")
    _code_root = dest
    return dest


@dataclass
class CaseSpec:
    """One case to run per round: its kind, label, extra arguments and environment."""

    label: str
    kind: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    fresh_dirs: list[Path] = field(default_factory=list)


@dataclass
class CaseRun:
    """What one subprocess run of a case measured."""

    label: str
    size: int
    round: int
    wall_seconds: float
    wait4_maxrss_mib: float
    returncode: int
    killed_for_memory: bool
    result: dict[str, Any]
    log: str
    load_before: float = 0.0
    load_after: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the case ran to the end."""
        return self.returncode == 0 and "error" not in self.result

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {**self.__dict__, "ok": self.ok}


def _tree_rss_mib(pid: int) -> float:
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total / (1024 * 1024)


def _kill_tree(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _wait(proc: subprocess.Popen[bytes], mem_limit_mib: float) -> tuple[int, Any, bool]:
    """Reap ``proc`` with ``wait4``; kill its process group if it outgrows the limit."""
    killed = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage, killed
        if not killed and _tree_rss_mib(proc.pid) > mem_limit_mib:
            killed = True
            _kill_tree(proc.pid)
        time.sleep(POLL_SECONDS)


def run_case(
    spec: CaseSpec,
    size: int,
    round_no: int,
    params_path: Path,
    out_dir: Path,
    mem_limit_mib: float,
) -> CaseRun:
    """Run one case once in a fresh subprocess and collect its measurements."""
    for d in spec.fresh_dirs:
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    out = out_dir / f"{spec.label}-r{round_no}.json"
    log = out_dir / f"{spec.label}-r{round_no}.log"
    out.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.case",
        spec.kind,
        "--params",
        str(params_path),
        "--out",
        str(out),
        *spec.args,
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(_code_root), **spec.env}
    load_before = os.getloadavg()[0]
    with log.open("wb") as sink:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            cwd=_code_root,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        code, usage, killed = _wait(proc, mem_limit_mib)
        wall = time.perf_counter() - start
    result: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    if killed:
        result["error"] = f"killed: process tree RSS passed {mem_limit_mib:.0f} MiB"
    elif not result:
        result["error"] = f"exit code {code} and no result; see {log}"
    return CaseRun(
        label=spec.label,
        size=size,
        round=round_no,
        wall_seconds=wall,
        wait4_maxrss_mib=usage.ru_maxrss / 1024,
        returncode=code,
        killed_for_memory=killed,
        result=result,
        log=str(log),
        load_before=load_before,
        load_after=os.getloadavg()[0],
    )
