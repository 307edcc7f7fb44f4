"""The sweep comparison: config differences, backtest metrics and cost per job."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tasks.report import comparison


def metrics(wape: float, passed: bool = True) -> dict[str, Any]:
    block = {"wape": wape, "bias": 0.01, "mae": 10.0, "rmse": 12.0}
    return {
        "backtest": {"model": block, "seasonal_naive": {**block, "wape": 0.5}},
        "gate": {"passed": passed},
    }


def job(num: int, leaves: int, wape: float, **kw: Any) -> comparison.JobResult:
    config = {"model": {"hyperparameters": {"num_leaves": leaves, "max_depth": -1}}, "seed": 1}
    return comparison.JobResult(
        job=num,
        overrides=[f"model.hyperparameters.num_leaves={leaves}"],
        status="completed",
        wall_seconds=12.5,
        run_id=f"run-{num}",
        flow_seconds=4.0,
        config=config,
        metrics=metrics(wape),
        **kw,
    )


def test_only_the_keys_that_differ_become_columns() -> None:
    jobs = [job(0, 15, 0.30), job(1, 63, 0.28)]
    assert comparison.differing_keys(jobs) == ["model.hyperparameters.num_leaves"]
    header, body = comparison.rows(jobs)
    assert header[:3] == ["job", "model.hyperparameters.num_leaves", "model wape"]
    assert [row[:3] for row in body] == [["0", "15", "0.3000"], ["1", "63", "0.2800"]]


def test_the_best_job_is_the_lowest_model_wape() -> None:
    jobs = [job(0, 15, 0.30), job(1, 63, 0.28), job(2, 31, 0.29)]
    assert comparison.best_job(jobs) == 1
    assert "Lowest model WAPE: job 1." in comparison.markdown(jobs, "sweep")


def test_a_failed_job_is_listed_with_its_error() -> None:
    failed = comparison.JobResult(
        job=1, overrides=["x=1"], status="failed", wall_seconds=1.0, error="ConfigError: bad"
    )
    jobs = [job(0, 15, 0.30), failed]
    _, body = comparison.rows(jobs)
    assert body[1][-1] == "ConfigError: bad"
    assert "failed job" in body[1]
    assert comparison.best_job(jobs) == 0


def test_markdown_and_html_have_one_row_per_job_and_escape_values() -> None:
    jobs = [job(0, 15, 0.30), job(1, 63, 0.28)]
    text = comparison.markdown(jobs, "out/multirun/x")
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(table) == 3  # header and two jobs
    page = comparison.html_page(
        [job(0, 15, 0.3, error="<script>")], "<b>dir</b>", dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    )
    assert "<b>dir</b>" not in page
    assert "&lt;b&gt;dir&lt;/b&gt;" in page
    assert page.count("<tr") == 2
