"""The bundled default data set, generated once per session, and the pipeline's chain
(:mod:`tasks.chain`, through :mod:`tests.support.pipeline`).

The model tests run the chain directly (ingest → clean → aggregate → features → train →
forecast), not the Prefect flow: no server, no cache, nothing but the model. The
default data set (``GeneratorSpec()`` as composed from ``conf/``) is written into a temp
dir once; every test that needs the default panel or model shares the session fixtures.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tasks.data.sources import generate
from tests.support.pipeline import PipelineRun, app_config, run_pipeline


@pytest.fixture(scope="session")
def default_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled default raw data set, written once into a temp dir."""
    root = tmp_path_factory.mktemp("model-data") / "synthetic"
    spec = app_config(root).data.generator.to_spec()
    assert spec == generate.GeneratorSpec(), "conf/ no longer composes the default generator"
    generate.write_dataset(spec, root)
    return root


@pytest.fixture(scope="session")
def pipeline() -> Callable[..., PipelineRun]:
    """``run_pipeline(input_path, promo_plan=None)``: one full pass of the pure chain."""
    return run_pipeline


@pytest.fixture(scope="session")
def default_run(default_data: Path) -> PipelineRun:
    """The default data through the whole chain, once per session."""
    return run_pipeline(default_data)
