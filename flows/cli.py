"""``sales-forecast``: the pipeline's console command, installed with the package.

::

    sales-forecast run [HYDRA OPTIONS] [key=value ...]   a run (python flows/main.py)
    sales-forecast assess NOTEBOOK [--html FILE]         assess a notebook (python -m flows.assess)
    sales-forecast registry [OPTIONS] COMMAND            registry (python -m tasks.registry)
    sales-forecast generate --out DIR [OPTIONS]          synthetic data (python -m tasks.generate)

It works from any directory: relative paths (``data/``, ``outputs/``, ``--config-dir``)
resolve against the current one. ``run --config-dir DIR`` (or ``$SALES_FORECAST_CONFIG_DIR``)
adds a folder of your own config group options, e.g. ``DIR/data/mydata.yaml`` for
``data=mydata``, to the bundled ones.

Each subcommand is a module's ``main(argv) -> int``, imported only when it runs: another
subcommand is one more entry in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata

PROG = "sales-forecast"


@dataclass(frozen=True)
class Command:
    """A subcommand: ``module.function(argv) -> int`` and its one-line help."""

    module: str
    function: str
    help: str

    def load(self) -> Callable[[list[str]], int | None]:
        """Import the module and return the function (only when the subcommand runs)."""
        target: Callable[[list[str]], int | None] = getattr(
            importlib.import_module(self.module), self.function
        )
        return target


COMMANDS: dict[str, Command] = {
    "run": Command(
        "flows.main",
        "run",
        "run the pipeline: Hydra overrides key=value, -m to sweep, --config-dir DIR for your "
        "own config groups, --cfg job to print the config, --help for Hydra's options",
    ),
    "assess": Command(
        "flows.assess",
        "main",
        "assess a notebook: what blocks production, cell by cell, and its stages (--html FILE)",
    ),
    "registry": Command(
        "tasks.registry.cli", "main", "the model registry: list, show, champion, history, rollback"
    ),
    "generate": Command(
        "tasks.data.sources.generate", "main", "write a synthetic data set (--out DIR)"
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser: ``--help``, ``--version`` and the list of subcommands."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Sales forecast pipeline. Arguments after COMMAND go to that command "
        f"(`{PROG} COMMAND --help`).",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        commands.add_parser(name, help=command.help, add_help=False)
    return parser


def _version() -> str:
    try:
        return metadata.version(PROG)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``argv`` (default: this process's arguments); the subcommand's exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        build_parser().parse_args(args)  # --help, --version, or usage and exit status 2
        return 2
    return int(COMMANDS[args[0]].load()(args[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
