"""The machine, package versions and code state a result was measured on."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl
import psutil

from benchmarks import REPO

PACKAGES = (
    "polars", "pandas", "pyarrow", "numpy", "lightgbm", "mlforecast", "prefect", "pandera",
    "hydra-core", "holidays", "psutil",
)  # fmt: skip
ENV_FLAGS = (
    "PYTHONDONTWRITEBYTECODE", "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "POLARS_MAX_THREADS",
    "POLARS_ENGINE_AFFINITY",
)  # fmt: skip
SAMPLE_FILES = 20


def machine() -> dict[str, Any]:
    """Cores, memory, CPU model, OS and Python."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "memory_gib": psutil.virtual_memory().total / 2**30,
        "cpu": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
        "env": {k: os.environ[k] for k in ENV_FLAGS if k in os.environ},
    }


def versions() -> dict[str, str | None]:
    """Installed versions of the packages that matter here."""
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_state() -> dict[str, Any]:
    """Commit and whether the work tree differs from it."""

    def git(*a: str) -> str:
        return subprocess.run(
            ["git", *a], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()

    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain"))}


def raw_in_memory_mib(root: Path, rows: int) -> float:
    """The raw rows' size in memory as Arrow columns (what holding them all would take, at
    the least), estimated from a sample of the files, MiB."""
    files = sorted(root.rglob("*.parquet"))
    if not files:
        return float("nan")
    sample = pl.read_parquet(files[:: max(1, len(files) // SAMPLE_FILES)])
    return float(sample.to_arrow().nbytes) / max(sample.height, 1) * rows / 2**20
