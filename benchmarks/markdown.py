"""Markdown tables of a result JSON: ``python -m benchmarks.markdown PATH [--readme]``."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.table import FLOW_COLS, PIPELINE_COLS, overhead_line


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "**pass**" if value else "**miss**"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def md_table(header: list[str], rows: list[list[Any]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _cases(summary: dict[str, Any], labels: Sequence[str], cols: Any) -> list[list[Any]]:
    rows = []
    for label in labels:
        med = summary.get(label, {}).get("median")
        if med:
            rows.append([f"`{label}`", *[med.get(k) for _, k in cols]])
    return rows


def render(result: dict[str, Any]) -> str:
    """Per size: cases, flow and ratios; then the targets."""
    parts = []
    for size, block in result["sizes"].items():
        parts.append(f"**{int(size):,} rows requested ({block['rows']:,} raw rows), medians**")
        rows = _cases(block["summary"], ("ours", "pandas", "floor", "mlforecast"), PIPELINE_COLS)
        if rows:
            parts.append(md_table(["case", *[h for h, _ in PIPELINE_COLS]], rows))
        flow = _cases(block["summary"], ("flow-cold", "flow-cached"), FLOW_COLS)
        if flow:
            parts.append(md_table(["flow", *[h for h, _ in FLOW_COLS]], flow))
            parts.append(overhead_line(block["summary"]))
        ratios = [[k, v] for k, v in block["ratios"].items() if not math.isnan(v)]
        if ratios:
            parts.append(md_table(["ratio (median of interleaved rounds)", "value"], ratios))
        if block.get("skipped"):
            parts.append("Skipped: " + "; ".join(f"{k}: {v}" for k, v in block["skipped"].items()))
    targets = [
        [
            t["name"],
            "–" if t["size"] is None else f"{t['size']:,}",
            ("≥ " if t["higher_is_better"] else "≤ ") + f"{t['bound']:.3g}",
            t["value"],
            "not run" if t["passed"] is None else t["passed"],
        ]
        for t in result["targets"]
    ]
    parts.append(md_table(["target", "rows", "bound", "measured", "result"], targets))
    return "\n\n".join(parts)


START, END = "<!-- results:start -->", "<!-- results:end -->"


def fill_readme(readme: Path, result: dict[str, Any]) -> None:
    """Put the tables of ``result`` between the README's result markers."""
    text = readme.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    m = result["machine"]
    stamp = (
        f"Measured {result['created']} with `{result['command']}` on {m['nproc']} cores, "
        f"{m['memory_gib']:.0f} GiB (commit {str(result['git']['commit'])[:10]}"
        f"{', dirty tree' if result['git']['dirty'] else ''})."
    )
    readme.write_text(f"{head}{START}\n{stamp}\n\n{render(result)}\n{END}{tail}")


def main(argv: Sequence[str] | None = None) -> int:
    """Print the markdown of a result file; with ``--readme`` write it into the README."""
    args = list(sys.argv[1:] if argv is None else argv)
    result = json.loads(Path(args[0]).read_text())
    if "--readme" in args:
        fill_readme(Path(__file__).with_name("README.md"), result)
    else:
        print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
