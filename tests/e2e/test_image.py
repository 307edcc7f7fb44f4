"""The image itself, built and run with buildah where no container engine runs (optional).

Skipped unless ``buildah`` is installed and the base image exists: Docker Hub is out of
reach here, so the base is a Debian bookworm with Python 3.11 made with debootstrap
(``make base-image``). The build (``make image`` does the same) fetches the locked packages
from PyPI like any image build. Containers run with ``--isolation chroot``: the host's
network, so the flow run reaches the test's Prefect server and moto's S3 on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence

import pytest

from tests.e2e.pod import (
    GIT_COMMIT,
    RUN_TIMEOUT,
    Cluster,
    check_completed_run,
    job_env,
    new_flow_run_job,
    register,
)
from tests.support import REPO
from tests.support.kubernetes import job_container

pytestmark = pytest.mark.slow

BUILDAH = shutil.which("buildah")
BASE_IMAGE = os.environ.get("SALES_BASE_IMAGE", "localhost/debian-python:3.11-bookworm")
TAG = "localhost/sales-forecast:pod-path-test"
BUILD_TIMEOUT = 2400


def buildah(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``buildah ARGS``; output captured, never raises on the exit status."""
    assert BUILDAH is not None
    return subprocess.run(
        [BUILDAH, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def image() -> str:
    """The Dockerfile built with buildah on the debootstrap base (skipped without either)."""
    if BUILDAH is None:
        pytest.skip("buildah is not installed (apt-get install buildah): image not built")
    if buildah("inspect", "--type", "image", BASE_IMAGE).returncode:
        pytest.skip(f"no base image {BASE_IMAGE}: `make base-image` makes one with debootstrap")
    done = buildah(
        "bud", "--isolation", "chroot", "--layers",
        "--build-arg", f"PYTHON_IMAGE={BASE_IMAGE}", "--build-arg", f"GIT_COMMIT={GIT_COMMIT}",
        "-t", TAG, str(REPO),
        timeout=BUILD_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, (
        f"buildah bud failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )
    return TAG


@contextlib.contextmanager
def container(image: str) -> Iterator[str]:
    """A working container of ``image``, removed afterwards."""
    made = buildah("from", image)
    assert made.returncode == 0, made.stderr
    name = made.stdout.strip().splitlines()[-1]
    try:
        yield name
    finally:
        buildah("rm", name)


def in_container(
    name: str,
    args: Sequence[str],
    user: str | None = None,
    env: Mapping[str, str] | None = None,
    workdir: str | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in the container (the image's user and working dir unless given)."""
    options = ["--isolation", "chroot"]
    if user is not None:
        options += ["--user", user]
    if workdir is not None:
        options += ["--workingdir", workdir]
    for key, value in (env or {}).items():
        options += ["--env", f"{key}={value}"]
    return buildah("run", *options, name, "--", *args, timeout=timeout)


def test_the_image_runs_the_installed_package_as_its_unprivileged_user(image: str) -> None:
    script = (
        "import os, pathlib, flows, tasks, flows.sales_forecast; "  # the flow imports LightGBM
        "print(os.getuid(), os.getcwd(), flows.__file__, tasks.__file__); "
        "print(sorted(p.name for p in pathlib.Path('/app').iterdir()))"
    )
    with container(image) as name:
        done = in_container(name, ["python", "-c", script])
        assert done.returncode == 0, done.stderr
        first, listing = done.stdout.strip().splitlines()[-2:]
        uid, cwd, flows_file, tasks_file = first.split()
        assert (uid, cwd) == ("10001", "/app")
        assert flows_file.startswith("/app/.venv/lib/python3.11/site-packages/flows/")
        assert tasks_file.startswith("/app/.venv/lib/python3.11/site-packages/tasks/")
        assert listing == "['.venv', 'data', 'outputs']"  # no source tree in /app

        version = in_container(name, ["prefect", "version"])
        assert version.returncode == 0, version.stderr
        assert "3.8.8" in version.stdout
        command = in_container(name, ["sales-forecast", "--help"])
        assert command.returncode == 0, command.stderr
        assert "registry" in command.stdout

        write = "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text('x')"
        assert in_container(name, ["python", "-c", write, "/app/outputs/probe"]).returncode == 0
        refused = in_container(name, ["python", "-c", write, "/app/.venv/probe"])
        assert refused.returncode != 0
        assert "Permission denied" in refused.stderr


def test_a_flow_run_executes_in_the_image_as_its_kubernetes_job_would(
    image: str, cluster: Cluster
) -> None:
    register(cluster, workdir=None)  # the pull step goes to /app, as in production
    flow_run_id, job, _ = new_flow_run_job(cluster)
    spec = job_container(job)
    security = job["spec"]["template"]["spec"]["securityContext"]
    user = f"{security['runAsUser']}:{security['runAsGroup']}"
    env = job_env(cluster, job)
    command = spec.get("command", []) + spec["args"]  # the image has no ENTRYPOINT
    with container(image) as name:
        done = in_container(
            name, command, user=user, env=env, workdir=spec["workingDir"], timeout=RUN_TIMEOUT
        )
    (cluster.logs / "flow-run-image.log").write_text(done.stdout + done.stderr)
    output = f"{command} exit {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-6000:]}"
    assert done.returncode == 0, output
    check_completed_run(cluster, flow_run_id, output)
