"""Notebooks built in the tests: each carries one anti-pattern (or must not be flagged)."""

from __future__ import annotations

import nbformat

from tasks.notebook import Assessment, Finding, assess


def notebook_text(*sources: str, counts: list[int | None] | None = None) -> str:
    """A notebook of code cells (a source starting with ``# md`` becomes markdown)."""
    cells = []
    for i, source in enumerate(sources):
        if source.startswith("# md"):
            cells.append(nbformat.v4.new_markdown_cell(source[4:].strip()))
            continue
        count = counts[i] if counts is not None else None
        cells.append(nbformat.v4.new_code_cell(source, execution_count=count))
    nb = nbformat.v4.new_notebook(cells=cells)
    return str(nbformat.writes(nb))


def run(*sources: str, counts: list[int | None] | None = None) -> Assessment:
    """The assessment of a notebook built from ``sources``."""
    return assess(notebook_text(*sources, counts=counts), "built.ipynb")


def found(result: Assessment, check: str) -> list[Finding]:
    """The findings of one check."""
    return [f for f in result.findings if f.check == check]


def where(result: Assessment, check: str) -> list[tuple[str, int | None, int | None]]:
    """(severity, cell, line) of each finding of one check."""
    return [(f.severity, f.cell, f.line) for f in found(result, check)]
