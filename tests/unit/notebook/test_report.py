"""The report's two forms and the command line (``sales-forecast assess``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flows import cli
from flows.assess import main
from tasks.notebook import render_html, render_markdown, summary_line
from tests.unit.notebook.build import notebook_text, run

HOSTILE = 'x = "<script>alert(1)</script>|a.csv"\nHORIZON = 7'


def test_markdown_has_every_section_and_escapes_table_cells() -> None:
    page = render_markdown(run("import pandas as pd", HOSTILE))
    for heading in [
        "## Findings that block production",
        "## Warnings",
        "## Notes",
        "## Proposed stages",
        "## Config keys for the notebook's settings",
        "## Names per cell",
    ]:
        assert heading in page
    row = next(line for line in page.splitlines() if "script" in line and "Hard-coded" in line)
    assert "\\|a.csv" in row  # a pipe from the notebook does not split the table row
    assert "python flows/main.py forecast.horizon=7" in page


def test_html_is_self_contained_and_escaped() -> None:
    page = render_html(run("import pandas as pd", HOSTILE))
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert 'http-equiv="Content-Security-Policy"' in page
    assert not re.search(r"(src|href)\s*=", page)
    assert page.startswith("<!DOCTYPE html>")


def test_summary_line_counts_and_names_blockers() -> None:
    line = summary_line(run("import pandas as pd", HOSTILE))
    assert line.startswith("built.ipynb: 1 blocking, ")
    assert "Hard-coded path (1)" in line


@pytest.fixture
def risky(tmp_path: Path) -> Path:
    path = tmp_path / "risky.ipynb"
    path.write_text(notebook_text("import pandas as pd", 'df = pd.read_csv("/tmp/x.csv")'))
    return path


def test_command_prints_markdown_and_writes_html(
    risky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    assert main([str(risky), "--html", str(out)]) == 0
    printed = capsys.readouterr()
    assert printed.out.startswith("# Notebook assessment: risky.ipynb")
    assert "risky.ipynb: 1 blocking" in printed.err
    assert "Hard-coded path" in out.read_text()


def test_command_fails_on_blockers_when_asked(risky: Path) -> None:
    assert main([str(risky), "--fail-on", "blocker"]) == 1
    assert main([str(risky), "--fail-on", "never"]) == 0


def test_console_command_dispatches_assess(risky: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["assess", str(risky), "--fail-on", "blocker"]) == 1
    assert "risky.ipynb: 1 blocking" in capsys.readouterr().err


def test_command_names_an_unreadable_notebook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.ipynb"
    bad.write_text('{"cells": "not a list"}')
    assert main([str(bad)]) == 2
    assert "bad.ipynb is not a valid Jupyter notebook" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.ipynb")]) == 2
    assert "cannot read" in capsys.readouterr().err
