"""The same stages through the Prefect flow, in a process of its own.

The parent sets ``PREFECT_HOME`` (and the result storage) to a fresh folder for a cold
run and reuses it for the cached run. Here the ephemeral API server is started first and
timed on its own, then ``sales_forecast(overrides=...)`` is timed; the per-step seconds
and states come from the run's ``manifest.json`` and the flow's result.

With ``replay`` (the cold run) the pipeline's stage functions are also called directly in
this same process, before or after the flow, on the same input and config
(:func:`benchmarks.ours.run`, backtest included): the direct time of exactly the work the
flow's pipeline steps did, measured next to them, so Prefect's overhead is not lost in
the noise of another process.
"""

# ruff: noqa: PLC0415  (imports inside functions: a case process loads only what it measures)

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from benchmarks.measure import Recorder
from benchmarks.params import BenchParams

# flow step -> the direct stage (benchmarks.ours) that does the same work
PIPELINE_STEPS = {
    "ingest": "ingest",
    "clean": "clean",
    "aggregate": "panel",
    "features": "features",
    "train": "train",
    "evaluate": "evaluate",
    "forecast": "forecast",
}


def start_server() -> float:
    """Start (or reach) the ephemeral Prefect API; return the seconds it took."""
    from prefect.client.orchestration import get_client

    start = time.perf_counter()
    with get_client(sync_client=True) as client:
        client.hello()
    return time.perf_counter() - start


def read_manifest(run_dir: str) -> dict[str, Any]:
    """The run's ``manifest.json`` (``run_dir`` may be a ``file:`` URI); empty if unreadable."""
    parsed = urlparse(run_dir)
    path = Path(parsed.path if parsed.scheme == "file" else run_dir) / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def replay_direct(p: BenchParams, rec: Recorder) -> None:
    """The flow's pipeline stages called directly, recorded as ``direct:<stage>``."""
    from benchmarks import ours

    direct = Recorder("direct", rec.sampler)
    ours.run(p.overrides, direct, save_dir=None, with_evaluate=True)
    for name, stage in direct.stages.items():
        rec.add(f"direct:{name}", stage["seconds"])


def run(p: BenchParams, rec: Recorder, output_path: str, replay: str = "") -> None:
    """One flow run on ``p.input_path`` writing runs and cache under ``output_path``.

    ``replay`` ("before" or "after" the flow; empty: none) also runs the direct stages;
    the harness alternates the order by round so that neither side always runs warm.
    """
    start = time.perf_counter()
    from flows.sales_forecast import sales_forecast

    rec.add("import", time.perf_counter() - start)
    rec.add("server_startup", start_server())
    if replay == "before":
        replay_direct(p, rec)
    overrides = [*p.overrides, f"data.output_path={output_path}"]
    with rec.stage("flow"):
        result = sales_forecast(overrides=overrides)
    # the manifest is written by the publish step, so only the flow's result has publish
    steps = {**(read_manifest(result["run_dir"]).get("steps") or {}), **result["steps"]}
    for name, step in steps.items():
        rec.add(f"step:{name}", float(step["seconds"]), cached=float(step["state"] == "Cached"))
    rec.info["states"] = {name: step["state"] for name, step in steps.items()}
    rec.info["run_dir"] = result["run_dir"]
    rec.info["replay"] = replay
    if replay == "after":
        replay_direct(p, rec)
