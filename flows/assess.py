"""``sales-forecast assess notebook.ipynb [--html report.html]`` (or ``python -m flows.assess``):
assess a notebook.

Prints the report as markdown and, with ``--html``, writes it as a self-contained page.
Exit status: 0 when the report was made (whatever it found), 1 when ``--fail-on`` finds
what it names, 2 when the notebook cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tasks.notebook import assess, render_html, render_markdown, summary_line
from tasks.notebook.cells import NotebookError

FAIL_ON = {"never": (), "blocker": ("blocker",), "warning": ("blocker", "warning")}


def build_parser() -> argparse.ArgumentParser:
    """The command line's arguments."""
    parser = argparse.ArgumentParser(
        prog="sales-forecast assess",
        description="Report what blocks a notebook from production, and propose its stages.",
    )
    parser.add_argument("notebook", type=Path, help="the .ipynb file to assess")
    parser.add_argument("--html", type=Path, help="also write the report to this HTML file")
    parser.add_argument(
        "--fail-on",
        choices=sorted(FAIL_ON),
        default="never",
        help="exit 1 when findings of this severity (or worse) exist (default: never)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Assess the notebook named on the command line; see the module docstring."""
    args = build_parser().parse_args(argv)
    path: Path = args.notebook
    try:
        text = path.read_text(encoding="utf-8")
        result = assess(text, path.name)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"assess: cannot read {path}: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    except NotebookError as exc:
        print(f"assess: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    sys.stdout.write(render_markdown(result))
    if args.html is not None:
        args.html.write_text(render_html(result), encoding="utf-8")
    print(summary_line(result), file=sys.stderr)  # noqa: T201
    failing = FAIL_ON[args.fail_on]
    return 1 if any(f.severity in failing for f in result.findings) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
