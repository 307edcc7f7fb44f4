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
