"""The Hydra callback that compares a sweep's jobs (``python flows/main.py -m ...``).

Each job leaves ``job.json`` in its Hydra job folder (``{hydra.sweep.dir}/{job number}/``):
its overrides, status, wall time and the run directory the flow wrote. When the sweep
ends, :meth:`SweepComparison.on_multirun_end` reads every job's ``config.yaml``,
``metrics.json`` and ``manifest.json`` from its run directory and writes
``comparison.md`` and ``comparison.html`` into the sweep folder
(:mod:`tasks.report.comparison`). Registered in ``conf/config.yaml`` under
``hydra.callbacks``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from tasks import storage
from tasks.report import comparison

JOB_FILE = "job.json"
logger = logging.getLogger(__name__)


class SweepComparison(Callback):
    """Writes ``job.json`` per job and ``comparison.md``/``comparison.html`` per sweep."""

    def __init__(self) -> None:
        self._started: dict[str, float] = {}

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Note when this job started (its wall time is measured from here)."""
        self._started[str(config.hydra.runtime.output_dir)] = time.monotonic()

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        """Write the job's ``job.json`` in its Hydra job folder (multirun only)."""
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        folder = Path(str(config.hydra.runtime.output_dir))
        started = self._started.pop(str(folder), None)
        record: dict[str, Any] = {
            "job": int(config.hydra.job.num),
            "overrides": list(job_return.overrides or []),
            "status": "completed" if job_return.status == JobStatus.COMPLETED else "failed",
            "wall_seconds": None if started is None else round(time.monotonic() - started, 2),
        }
        if job_return.status == JobStatus.COMPLETED:
            result = job_return._return_value
            if isinstance(result, dict):
                record["run_id"] = result.get("run_id")
                record["run_dir"] = result.get("run_dir")
        else:
            failure = job_return._return_value
            record["error"] = f"{type(failure).__name__}: {failure}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / JOB_FILE).write_text(json.dumps(record, indent=2) + "\n")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Compare every job of the sweep; write the table and the page in the sweep folder."""
        sweep_dir = Path(str(config.hydra.sweep.dir))
        jobs = [load_job(path) for path in sorted(sweep_dir.glob(f"*/{JOB_FILE}"))]
        if not jobs:
            return
        md_path, html_path = write_comparison(jobs, sweep_dir)
        sys.stderr.write(f"sweep comparison of {len(jobs)} jobs: {md_path} and {html_path}\n")


def write_comparison(jobs: list[comparison.JobResult], sweep_dir: Path) -> tuple[Path, Path]:
    """Write ``comparison.md`` and ``comparison.html`` into ``sweep_dir``; returns both."""
    md_path, html_path = sweep_dir / "comparison.md", sweep_dir / "comparison.html"
    md_path.write_text(comparison.markdown(jobs, str(sweep_dir)))
    now = dt.datetime.now(dt.UTC)
    html_path.write_text(comparison.html_page(jobs, str(sweep_dir), now))
    return md_path, html_path


def load_job(path: Path) -> comparison.JobResult:
    """One job's result: its ``job.json`` and, when it has a run directory, that run's files.

    A file that is missing or unreadable leaves its part empty and is logged; the
    comparison of the other jobs still gets written.
    """
    record = json.loads(path.read_text())
    run_dir = record.get("run_dir")
    config: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    flow_seconds = None
    if isinstance(run_dir, str) and run_dir:
        root = run_dir.removeprefix("file://")
        try:
            config = yaml.safe_load(storage.read_text(storage.join(root, "config.yaml"))) or {}
            metrics = json.loads(storage.read_text(storage.join(root, "metrics.json")))
            manifest = json.loads(storage.read_text(storage.join(root, "manifest.json")))
            flow_seconds = _seconds(manifest.get("started_at"), manifest.get("finished_at"))
        except (OSError, ValueError, yaml.YAMLError) as exc:
            logger.warning("sweep comparison: job %s: cannot read %s: %s", path, run_dir, exc)
    return comparison.JobResult(
        job=int(record["job"]),
        overrides=[str(o) for o in record.get("overrides", [])],
        status=str(record.get("status", "failed")),
        wall_seconds=record.get("wall_seconds"),
        run_id=record.get("run_id"),
        run_dir=run_dir,
        flow_seconds=flow_seconds,
        error=record.get("error"),
        config=config if isinstance(config, dict) else {},
        metrics=metrics if isinstance(metrics, dict) else {},
    )


def _seconds(start: object, end: object) -> float | None:
    try:
        delta = dt.datetime.fromisoformat(str(end)) - dt.datetime.fromisoformat(str(start))
    except ValueError:
        return None
    return round(delta.total_seconds(), 1)
