"""Execute a committed notebook with nbclient on this environment's IPython kernel.

Parameters are injected the way papermill does it: a code cell inserted right after the
cell tagged ``parameters``, so the notebook's own defaults stay as committed. The kernel is
the ``python3`` spec that ipykernel installs into this environment (``sys.prefix``), run by
this interpreter: no user-level kernel install is needed or consulted.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from tests.support import REPO

NOTEBOOKS = REPO / "notebooks"
BEFORE = NOTEBOOKS / "sales_forecast_exploration.ipynb"
AFTER = NOTEBOOKS / "explore_a_run.ipynb"
KERNELS = Path(sys.prefix) / "share" / "jupyter" / "kernels"


def kernel_manager() -> KernelManager:
    """A manager for this environment's ``python3`` kernel (argv[0] becomes sys.executable)."""
    specs = KernelSpecManager(kernel_dirs=[str(KERNELS)])
    return KernelManager(kernel_name="python3", kernel_spec_manager=specs)


def with_parameters(nb: Any, parameters: Mapping[str, object]) -> Any:
    """``nb`` with a cell assigning ``parameters`` inserted after the ``parameters`` cell."""
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    lines = [f"{name} = {value!r}" for name, value in parameters.items()]
    injected = nbformat.v4.new_code_cell("\n".join(lines))
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(index + 1, injected)
    return nb


def execute(
    path: Path,
    cwd: Path,
    parameters: Mapping[str, object] | None = None,
    extra_cells: Sequence[str] = (),
    timeout: int = 300,
) -> Any:
    """Run ``path`` top to bottom in ``cwd``; returns the executed notebook (raises on error).

    ``extra_cells`` are appended after the notebook's own cells (e.g. to save its frames).
    """
    nb = nbformat.read(path, as_version=4)
    if parameters:
        nb = with_parameters(nb, parameters)
    for source in extra_cells:
        nb.cells.append(nbformat.v4.new_code_cell(source))
    client = NotebookClient(
        nb,
        km=kernel_manager(),
        timeout=timeout,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute()
    return nb
