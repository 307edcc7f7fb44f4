"""Publish: write a run's artifacts under ``{output_path}/runs/{YYYY-MM-DD}/{run_id}/``.

Each file is written atomically; ``manifest.json`` is written last and lists every other
artifact with its size and SHA-256, so a run directory without a manifest is incomplete.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl

from tasks import faults, storage
from tasks.data.aggregate import PanelResult
from tasks.data.clean import CleanResult
from tasks.data.ingest import RawSource
from tasks.data.schemas import SCHEMA_VERSIONS
from tasks.model import train
from tasks.model.backtest import BacktestResult

PACKAGES = (
    "sales-forecast",
    "prefect",
    "polars",
    "lightgbm",
    "pandera",
    "hydra-core",
    "numpy",
    "pyarrow",
    "holidays",
)
REPO_DIR = Path(__file__).resolve().parent.parent
MANIFEST = "manifest.json"
RECOVERY_FIELDS = ("removed", "changed", "problems", "replaced_damaged")  # kept in the manifest


@dataclass(frozen=True)
class RunInfo:
    """Identity of one pipeline run."""

    run_id: str
    flow_run_id: str
    started_at: dt.datetime
    output_path: str

    @property
    def run_dir(self) -> str:
        """``{output_path}/runs/{YYYY-MM-DD}/{run_id}``."""
        day = self.started_at.astimezone(dt.UTC).date().isoformat()
        return storage.join(self.output_path, "runs", day, self.run_id)


@dataclass(frozen=True)
class RunArtifacts:
    """Everything a run writes, in memory, before it is written."""

    config_yaml: str
    metrics: dict[str, Any]
    forecasts: pl.DataFrame
    model: train.TrainedModel
    quarantine: pl.DataFrame
    backtest: pl.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)
    report_html: str | None = None
    extra_json: dict[str, Any] = field(default_factory=dict)  # name → content, e.g. drift.json


def make_run_id(started_at: dt.datetime, flow_run_id: str) -> str:
    """Sortable, unique run id: UTC start time plus the flow run id's first 8 hex digits."""
    stamp = started_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{flow_run_id.replace('-', '')[:8]}"


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that decide the results."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit() -> str | None:
    """The code's commit: ``GIT_COMMIT`` (set in images) or ``git rev-parse HEAD``."""
    if os.environ.get("GIT_COMMIT"):
        return os.environ["GIT_COMMIT"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def artifact_bytes(artifacts: RunArtifacts) -> dict[str, bytes]:
    """File name → content for every artifact except the manifest."""
    metrics_text = json.dumps(artifacts.metrics, indent=2, sort_keys=True, default=str) + "\n"
    files = {
        "config.yaml": artifacts.config_yaml.encode(),
        "forecasts.parquet": storage.frame_to_parquet_bytes(artifacts.forecasts),
        "model.txt": artifacts.model.booster.model_to_string().encode(),
        "quarantine.parquet": storage.frame_to_parquet_bytes(artifacts.quarantine),
        "backtest.parquet": storage.frame_to_parquet_bytes(artifacts.backtest),
        "metrics.json": metrics_text.encode(),
    }
    for name, content in artifacts.extra_json.items():
        text = json.dumps(content, indent=2, sort_keys=True, default=str) + "\n"
        files[name] = text.encode()
    if artifacts.report_html is not None:
        files["report.html"] = artifacts.report_html.encode()
    return files


def run_identity(run: RunInfo) -> dict[str, Any]:
    """Run id, flow run id, start, run directory, code commit and versions for manifests."""
    return {
        "run_id": run.run_id,
        "flow_run_id": run.flow_run_id,
        "started_at": run.started_at.isoformat(),
        "run_dir": storage.uri(run.run_dir),
        "git_commit": git_commit(),
        "package_versions": package_versions(),
        "schema_versions": SCHEMA_VERSIONS,
    }


def write_run(
    run: RunInfo, artifacts: RunArtifacts, settings: storage.StorageSettings | None = None
) -> dict[str, Any]:
    """Write every artifact, then the manifest; returns the manifest as written.

    ``settings`` say how to reach object storage when ``output_path`` is a URL.
    """
    files = artifact_bytes(artifacts)
    manifest_path = storage.join(run.run_dir, MANIFEST)
    if storage.exists(manifest_path, settings=settings):  # written again (a re-decided run):
        storage.remove(manifest_path, settings=settings)  # incomplete until the new manifest
    listed: dict[str, dict[str, Any]] = {}
    for name, data in files.items():
        target = storage.join(run.run_dir, name)
        path = storage.write_bytes_atomic(target, data, settings=settings)
        listed[name] = {"uri": storage.uri(path), "bytes": len(data), "sha256": _sha256(data)}
        faults.checkpoint(f"publish:{name}")  # test hook; a no-op unless set
    manifest = {
        **artifacts.manifest,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(),
        "artifacts": listed,
    }
    storage.write_json_atomic(manifest_path, manifest, settings=settings)
    return manifest


def manifest_fields(
    source: RawSource,
    cleaned: CleanResult,
    panel: PanelResult,
    features: pl.DataFrame,
    model: train.TrainedModel,
    backtest: BacktestResult,
    forecasts: pl.DataFrame,
    series_keys: list[str],
) -> dict[str, Any]:
    """Input fingerprints, row counts per step and the model for ``manifest.json``."""
    n_series = panel.panel.select(series_keys).n_unique()
    return {
        "input": {
            "path": source.input_path,
            "digest": source.digest,
            "files": source.fingerprints,
        },
        "row_counts": {
            "ingest": {"files": len(source.files)},
            "clean": {**cleaned.counts, "daily_rows": cleaned.daily.height},
            "aggregate": {
                "rows": panel.panel.height,
                "series": n_series,
                "periods_filled": panel.periods_filled,
                "incomplete_periods_dropped": [
                    d.isoformat() for d in panel.incomplete_periods_dropped
                ],
            },
            "features": {"rows": features.height, "columns": model.feature_names},
            "train": {"rows": model.training_rows},
            "evaluate": {"rows": backtest.predictions.height},
            "forecast": {"rows": forecasts.height},
        },
        "model": train.model_meta(model),
        "feature_importance": model.feature_importance(),
    }


def build_manifest(
    run: RunInfo,
    produced: dict[str, Any],
    *,
    steps: dict[str, dict[str, Any]],
    trigger: dict[str, str] | None,
    recovery: dict[str, Any],
    release: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``manifest.json`` of a run and of its registry version, assembled here only.

    ``produced``: what the stages made (:func:`manifest_fields`); ``steps``: each step's
    state and seconds; ``trigger``: the upload that started the run; ``recovery``: what its
    ``recover`` step repaired (the :data:`RECOVERY_FIELDS`); ``release``, once decided:
    model name and version, promotion decision, serving copy. :func:`write_run` adds only
    ``finished_at`` and ``artifacts``.
    """
    manifest = {
        **produced,
        "steps": steps,
        "trigger": trigger,
        "recovery": {k: recovery[k] for k in RECOVERY_FIELDS},
        **(release or {}),
    }
    return {**manifest, **run_identity(run)}
