"""The sweep callback: each job's ``job.json``, then one comparison in the sweep folder."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import RunMode
from omegaconf import OmegaConf

from flows.sweep import SweepComparison


def hydra_config(sweep: Path, num: int) -> object:
    return OmegaConf.create(
        {
            "hydra": {
                "mode": RunMode.MULTIRUN,
                "sweep": {"dir": str(sweep)},
                "runtime": {"output_dir": str(sweep / str(num))},
                "job": {"num": num},
            }
        }
    )


def write_run(root: Path, leaves: int, wape: float) -> Path:
    root.mkdir(parents=True)
    config = {"model": {"hyperparameters": {"num_leaves": leaves}}, "mode": "experiment"}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    block = {"wape": wape, "bias": 0.0, "mae": 1.0, "rmse": 2.0}
    metrics = {"backtest": {"model": block}, "gate": {"passed": True}}
    (root / "metrics.json").write_text(json.dumps(metrics))
    times = {"started_at": "2026-12-05T10:00:00+00:00", "finished_at": "2026-12-05T10:00:07+00:00"}
    (root / "manifest.json").write_text(json.dumps(times))
    return root


def test_a_sweep_of_three_jobs_writes_one_comparison(tmp_path: Path) -> None:
    sweep = tmp_path / "multirun" / "2026-12-05_10-00-00"
    callback = SweepComparison()
    for num, (leaves, wape) in enumerate([(15, 0.31), (31, 0.29), (63, 0.30)]):
        cfg = hydra_config(sweep, num)
        callback.on_job_start(cfg)  # type: ignore[arg-type]
        run_dir = write_run(tmp_path / "runs" / f"r{num}", leaves, wape)
        ret = JobReturn(overrides=[f"model.hyperparameters.num_leaves={leaves}"])
        ret.status = JobStatus.COMPLETED
        ret.return_value = {"run_id": f"r{num}", "run_dir": f"file://{run_dir}"}
        callback.on_job_end(cfg, ret)  # type: ignore[arg-type]
    failed = JobReturn(overrides=["model.hyperparameters.num_leaves=0"])
    failed.status, failed.return_value = JobStatus.FAILED, ValueError("num_leaves=0")
    callback.on_job_end(hydra_config(sweep, 3), failed)  # type: ignore[arg-type]
    callback.on_multirun_end(hydra_config(sweep, 0))  # type: ignore[arg-type]

    text = (sweep / "comparison.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == 5, text  # header, three runs, the failed job
    assert rows[0].startswith("| job | model.hyperparameters.num\\_leaves | model wape")
    assert "| 1 | 31 | 0.2900 |" in rows[2]
    assert "7.0" in rows[1]  # flow seconds from the manifest
    assert "ValueError: num\\_leaves=0" in rows[4]
    assert "Lowest model WAPE: job 1." in text
    assert (sweep / "comparison.html").read_text().count("<tr") == 5


def test_a_single_run_writes_no_job_file(tmp_path: Path) -> None:
    cfg = OmegaConf.create(
        {"hydra": {"mode": RunMode.RUN, "runtime": {"output_dir": str(tmp_path)}}}
    )
    ret = JobReturn(overrides=[])
    ret.status = JobStatus.COMPLETED
    SweepComparison().on_job_end(cfg, ret)  # type: ignore[arg-type]
    assert not (tmp_path / "job.json").exists()
