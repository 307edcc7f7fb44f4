"""The assessment as markdown (for the terminal and pull requests) and as an HTML page.

Everything taken from the notebook is escaped: markdown table cells have ``|`` and
newlines neutralised, HTML goes through ``html.escape``; the page loads nothing (a
Content-Security-Policy forbids it) and secrets were masked before rendering.
"""

from __future__ import annotations

import html
from collections import Counter

from tasks.notebook.assess import Assessment
from tasks.notebook.findings import BLOCKER, CHECKS, NOTE, WARNING, Finding

HEADINGS = {
    BLOCKER: "Findings that block production",
    WARNING: "Warnings",
    NOTE: "Notes",
}
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'"
PATH = "assess → run on your data → compare with the notebook → deploy"


def summary_line(a: Assessment) -> str:
    """One line: counts by severity, and the checks that block production."""
    blocking = Counter(f.check for f in a.findings if f.severity == BLOCKER)
    which = ", ".join(f"{CHECKS[c]} ({n})" for c, n in blocking.items()) or "none"
    return (
        f"{a.name}: {a.count(BLOCKER)} blocking, {a.count(WARNING)} warnings, "
        f"{a.count(NOTE)} notes; blocking: {which}"
    )


def _md(text: object) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("`", "'")


def _where(f: Finding) -> tuple[str, str]:
    return (str(f.cell) if f.cell else "-", str(f.line) if f.line else "-")


def _rows(a: Assessment) -> dict[str, list[list[str]]]:
    """Table rows per section: findings by severity, stages, config, names per cell."""
    rows: dict[str, list[list[str]]] = {}
    for severity in HEADINGS:
        rows[severity] = [
            [*_where(f), f.title, f.message, f.fix, f.evidence]
            for f in a.findings
            if f.severity == severity
        ]
    rows["stages"] = [
        [p.stage, ", ".join(map(str, p.cells)), p.module, ", ".join(p.takes), ", ".join(p.gives)]
        for p in a.plan
    ]
    rows["config"] = [
        [key, repr(lits[0].value), ", ".join(sorted({str(lit.cell) for lit in lits}, key=int))]
        for key, lits in a.config.items()
    ]
    rows["cells"] = [
        [
            str(c.number),
            str(c.execution_count) if c.execution_count is not None else "",
            " + ".join(a.stage_of.get(c.number, [])),
            ", ".join(c.defines),
            ", ".join(c.inputs),
            ", ".join(sorted({f"{u.name} (in {u.function})" for u in c.late})),
        ]
        for c in a.cells
        if c.is_code
    ]
    return rows


HEADERS = {
    "finding": ["cell", "line", "check", "finding", "suggested fix", "code"],
    "stages": ["stage", "cells", "pipeline module", "takes", "gives"],
    "config": ["config key", "value in the notebook", "cells"],
    "cells": ["cell", "[n]", "stage", "defines", "uses", "functions read"],
}


def _intro(a: Assessment) -> list[str]:
    code = sum(c.is_code for c in a.cells)
    verdict = (
        "It is not ready for production: fix the blocking findings first."
        if a.blocks_production
        else "Nothing blocks production; see the warnings."
    )
    return [
        (
            f"{len(a.cells)} cells ({code} with code); {a.count(BLOCKER)} findings block "
            f"production, {a.count(WARNING)} warnings, {a.count(NOTE)} notes. {verdict}"
        ),
        f"Cells are numbered from 1, top to bottom, counting every cell. The path: {PATH}.",
    ]


def _md_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    if not rows:
        return ["(none)"]
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        out.append(
            "| "
            + " | ".join(
                f"`{_md(v)}`" if i == len(headers) - 1 and headers[-1] == "code" and v else _md(v)
                for i, v in enumerate(row)
            )
            + " |"
        )
    return out


def render_markdown(a: Assessment) -> str:
    """The report as GitHub-flavoured markdown."""
    rows = _rows(a)
    lines = [f"# Notebook assessment: {_md(a.name)}", "", *_intro(a), ""]
    for severity, heading in HEADINGS.items():
        lines += [f"## {heading}", "", *_md_table(HEADERS["finding"], rows[severity]), ""]
    lines += ["## Proposed stages", "", *_md_table(HEADERS["stages"], rows["stages"]), ""]
    lines += ["## Config keys for the notebook's settings", ""]
    lines += [*_md_table(HEADERS["config"], rows["config"]), ""]
    if a.config:
        lines += [
            "As overrides:",
            "",
            "```",
            "python flows/main.py " + " ".join(a.overrides()),
            "```",
            "",
        ]
    lines += ["## Names per cell", "", *_md_table(HEADERS["cells"], rows["cells"]), ""]
    return "\n".join(lines)


def _html_table(headers: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return "<p>(none)</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(a: Assessment) -> str:
    """The report as one self-contained HTML page (no scripts, nothing loaded)."""
    rows = _rows(a)
    parts = [f"<h1>Notebook assessment: {html.escape(a.name)}</h1>"]
    parts += [f"<p>{html.escape(p)}</p>" for p in _intro(a)]
    for severity, heading in HEADINGS.items():
        parts += [
            f'<h2 class="{severity}">{html.escape(heading)}</h2>',
            _html_table(HEADERS["finding"], rows[severity]),
        ]
    parts += ["<h2>Proposed stages</h2>", _html_table(HEADERS["stages"], rows["stages"])]
    parts += ["<h2>Config keys for the notebook's settings</h2>"]
    parts += [_html_table(HEADERS["config"], rows["config"])]
    if a.config:
        command = "python flows/main.py " + " ".join(a.overrides())
        parts.append(f"<pre>{html.escape(command)}</pre>")
    parts += ["<h2>Names per cell</h2>", _html_table(HEADERS["cells"], rows["cells"])]
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:90em}table{border-collapse:collapse;"
        "margin-bottom:1em}td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top;"
        "text-align:left;font-size:90%}h2.blocker{color:#b00020}h2.warning{color:#8a6d00}"
        "pre{background:#f4f4f4;padding:8px;white-space:pre-wrap}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>Notebook assessment: {html.escape(a.name)}</title><style>{style}</style>"
        f"</head><body>{''.join(parts)}</body></html>\n"
    )
