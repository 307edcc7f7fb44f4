"""What must hold in an output folder whatever killed a run: the champion, its registry
version, its run directory and the serving location agree. Each check returns the
violations it found, in words (an empty list: consistent)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl

MODEL = "sales-forecast-synthetic"


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def champion(out: Path) -> str | None:
    path = out / "registry" / MODEL / "champion.json"
    return str(read_json(path)["version"]) if path.exists() else None


def run_dir(out: Path, version: str) -> Path:
    """A run's directory: ``runs/{YYYY-MM-DD}/{run_id}`` (run ids start with the UTC date)."""
    return out / "runs" / f"{version[:4]}-{version[4:6]}-{version[6:8]}" / version


def made_by(path: Path) -> str:
    return str(pl.read_parquet(path, columns=["model_version"])["model_version"][0])


def dated_copies(out: Path, version: str) -> list[Path]:
    """The dated serving copies whose rows ``version`` made."""
    root = out / "serving" / MODEL
    copies = [p for p in root.glob("????-??-??/*.parquet") if not p.name.startswith(".")]
    return [p for p in copies if made_by(p) == version]


def champion_is_complete(out: Path) -> list[str]:
    """``champion.json`` names a registered version (``version.json``) whose run directory is
    complete (``manifest.json``) and that has a dated serving copy."""
    version = champion(out)
    if version is None:
        return []
    problems = []
    if not (out / "registry" / MODEL / version / "version.json").is_file():
        problems.append(f"champion {version} has no registry version.json")
    if not (run_dir(out, version) / "manifest.json").is_file():
        problems.append(f"champion {version} has no run directory with manifest.json")
    if not dated_copies(out, version):
        problems.append(f"champion {version} has no dated serving copy")
    return problems


def serving_follows_champion(out: Path) -> list[str]:
    """``latest.json`` names the champion and a dated copy made by it, and
    ``latest.parquet`` is that copy byte for byte (``latest.json``'s ``sha256``)."""
    version = champion(out)
    root = out / "serving" / MODEL
    if version is None:
        return [] if not (root / "latest.json").exists() else ["latest.json without a champion"]
    try:
        pointer = read_json(root / "latest.json")
        latest = (root / "latest.parquet").read_bytes()
    except (OSError, ValueError) as exc:
        return [f"serving unreadable: {exc!r}"]
    dated = Path(str(pointer.get("dated_uri", "")).removeprefix("file://"))
    problems = []
    if pointer.get("model_version") != version:
        problems.append(f"latest.json serves {pointer.get('model_version')}, champion {version}")
    if not dated.is_file() or made_by(dated) != version:
        problems.append(f"latest.json names {dated}, not a copy made by {version}")
    elif dated.read_bytes() != latest:
        problems.append("latest.parquet is not the dated copy latest.json names")
    if hashlib.sha256(latest).hexdigest() != pointer.get("sha256"):
        problems.append("latest.parquet does not have latest.json's sha256")
    return problems


def temp_files(out: Path) -> list[str]:
    """Temp files of atomic writes (``.{name}.{pid}.{random}.tmp``) anywhere in ``out``."""
    return sorted(str(p.relative_to(out)) for p in out.rglob(".*.tmp"))
