"""The Job a Kubernetes worker would submit for a flow run, rendered without a cluster.

The worker's own code does the rendering (``KubernetesWorkerJobConfiguration``: the work
pool's base job template filled with the deployment's job variables, then prepared for the
flow run), so tests read the container's command, environment and working directory from
the template instead of repeating them.
"""

from __future__ import annotations

import asyncio
from typing import Any
from unittest.mock import AsyncMock


def render_flow_run_job(
    template: dict[str, Any],
    job_variables: dict[str, Any],
    flow_run: Any,
    deployment: Any,
    flow: Any,
    api_url: str,
) -> dict[str, Any]:
    """The Job manifest for ``flow_run`` of ``deployment``, with ``PREFECT_API_URL=api_url``.

    ``client`` is a stand-in: it would only resolve block references in the job variables
    (there are none); ``api_url`` is what the worker puts in the pod's environment.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

    with temporary_settings({PREFECT_API_URL: api_url}):
        config = asyncio.run(
            KubernetesWorkerJobConfiguration.from_template_and_values(
                template, job_variables, client=AsyncMock()
            )
        )
        config.prepare_for_flow_run(flow_run, deployment=deployment, flow=flow)
    manifest: dict[str, Any] = config.job_manifest
    return manifest


def job_container(job: dict[str, Any]) -> dict[str, Any]:
    """The one container of a rendered Job."""
    (container,) = job["spec"]["template"]["spec"]["containers"]
    result: dict[str, Any] = container
    return result


def render_from_server(api_url: str, pool_name: str, flow_run_id: str) -> dict[str, Any]:
    """The Job for a flow run registered on the Prefect server at ``api_url``.

    The worker puts every Prefect setting set in its own environment into the Job's
    ``env``; call this in a process whose environment is the worker's (see
    :func:`render_as_worker`).
    """
    import uuid

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(uuid.UUID(flow_run_id))
        assert flow_run.deployment_id is not None, f"flow run {flow_run_id} has no deployment"
        deployment = client.read_deployment(flow_run.deployment_id)
        flow = client.read_flow(flow_run.flow_id)
        pool = client.read_work_pool(pool_name)
    values = {**(deployment.job_variables or {}), **(flow_run.job_variables or {})}
    return render_flow_run_job(pool.base_job_template, values, flow_run, deployment, flow, api_url)


def render_as_worker(
    api_url: str, pool_name: str, flow_run_id: str, home: str, cwd: str
) -> dict[str, Any]:
    """:func:`render_from_server` in a process set up like a worker pod: its only Prefect
    setting is ``PREFECT_API_URL`` (nothing of this test session's Prefect settings)."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, sys; from tests.support.kubernetes import render_from_server; "
        "print(json.dumps(render_from_server(*sys.argv[1:])))"
    )
    env = {"PATH": os.environ["PATH"], "HOME": home, "PREFECT_API_URL": api_url}
    done = subprocess.run(
        [sys.executable, "-c", code, api_url, pool_name, flow_run_id],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"rendering the Job failed:\n{done.stderr[-4000:]}"
    job: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return job
