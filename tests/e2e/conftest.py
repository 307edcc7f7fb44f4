"""Fixtures of the end-to-end tests: the package installed from its wheel, like the image,
and the services that stand in for the cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.installed import UV, App, User, build_wheel, install, public_tempdir
from tests.e2e.pod import Cluster, start_cluster


@pytest.fixture(scope="session")
def installed_app() -> Iterator[App]:
    """The wheel of this checkout in a fresh environment outside it, run by an unprivileged user."""
    assert UV.exists(), f"{UV} is missing: run `make install` first"
    with public_tempdir("sales-forecast-installed-") as base:
        wheel = build_wheel(base / "dist")
        yield install(wheel, base / "app", User.unprivileged())


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A Prefect server and moto's S3 with the landing data (started on first use)."""
    with start_cluster(tmp_path_factory.mktemp("pod-path")) as running:
        yield running
