"""The "before" notebook runs top to bottom on the small data set and does what it says."""

from __future__ import annotations

import sys

import polars as pl

from tests.notebooks.conftest import NotebookRun


def outputs(run: NotebookRun, kind: str) -> list[dict[str, object]]:
    return [o for c in run.notebook.cells if c.cell_type == "code" for o in c.outputs
            if o.output_type == kind]  # fmt: skip


def test_before_notebook_runs_top_to_bottom_without_errors(before_run: NotebookRun) -> None:
    assert outputs(before_run, "error") == []
    counts = [c.execution_count for c in before_run.notebook.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1))


def test_before_notebook_writes_a_forecast_for_every_series_and_day(
    before_run: NotebookRun,
) -> None:
    fc = pl.read_csv(before_run.workdir / "forecast.csv", try_parse_dates=True)
    series = fc.select("region", "product_type").unique().height
    assert series == 6  # the small configuration: 2 regions x 3 product types
    assert fc.height == series * 28
    assert fc.group_by("region", "product_type").len()["len"].to_list() == [28] * series
    assert fc["forecast"].min() >= 0


def test_before_notebook_scores_the_holdout_and_plots(before_run: NotebookRun) -> None:
    printed = "".join(str(o["text"]) for o in outputs(before_run, "stream"))
    assert "WAPE last 28 days: model" in printed
    images = [o for o in outputs(before_run, "display_data") if "image/png" in o["data"]]
    assert len(images) == 2  # total revenue per day, and one series with its forecast


def test_the_kernel_is_this_environments_interpreter(before_run: NotebookRun) -> None:
    assert (before_run.saved / "kernel.txt").read_text() == sys.executable
