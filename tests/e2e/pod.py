"""The pod's path: what stands in for the cluster, and a flow run's Job read back as a process.

Shared by ``test_pod_path.py`` (the wheel installed into a fresh environment) and
``test_image.py`` (the image built with buildah). The cluster is a real ``prefect server
start`` and moto's S3 server; the work pool is created from ``deploy/base-job-template.json``
and the deployments of ``prefect.yaml`` are registered with ``python -m flows.deploy deploy
--no-build`` (tiny-data overrides appended). The Job for a flow run is rendered by the
Kubernetes worker's own code in a process set up like a worker pod: its only Prefect
setting is ``PREFECT_API_URL`` (a worker passes every Prefect setting of its own
environment into the Job).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.ops import deploy
from tests.e2e.services import object_keys, read_object, start_prefect_server
from tests.e2e.test_deploy_e2e import (
    LANDING,
    OUT_BUCKET,
    OUTPUT,
    OVERRIDES,
    PREFIX,
    REGION,
    aws_env,
    run,
)
from tests.support import REPO, SMALL
from tests.support.kubernetes import job_container, render_as_worker

IMAGE = "sales-forecast:pod-path"  # the deployments' image (the venv test stands in for it)
GIT_COMMIT = "pod-path-test"  # the image's GIT_COMMIT build argument
RUN_TIMEOUT = 900
DEPLOY_ENV = {
    "SALES_LANDING_BUCKET": LANDING,
    "SALES_LANDING_PREFIX": PREFIX,
    "SALES_OUTPUT_PATH": OUTPUT,
    "SALES_SCHEDULE_TIMEZONE": "UTC",
}
CACHE_KEY = "pod-path-cache-signing-key-not-a-secret-0000"
AWS_SECRET = "sales-forecast-aws"
AWS_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


@dataclass
class Cluster:
    """What stands in for the cluster: the Prefect API and moto's S3 with the landing data."""

    api: str
    s3: Any
    env: dict[str, str]  # this test process's environment for the API and moto
    aws: dict[str, str]
    logs: Path

    def keys(self, bucket: str, prefix: str) -> list[str]:
        return object_keys(self.s3, bucket, prefix)

    def read(self, bucket: str, key: str) -> bytes:
        return read_object(self.s3, bucket, key)

    def settings(self) -> contextlib.AbstractContextManager[Any]:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        return temporary_settings({PREFECT_API_URL: self.api})

    def secrets(self) -> dict[str, dict[str, str]]:
        """Stand-ins for the Kubernetes secrets the Job's ``envFrom`` may name."""
        return {
            AWS_SECRET: {k: self.aws[k] for k in AWS_KEYS},
            "sales-forecast-cache-key": {"SALES_CACHE_HMAC_KEY": CACHE_KEY},
        }


@contextlib.contextmanager
def start_cluster(root: Path) -> Iterator[Cluster]:
    """moto's S3 with the small data set under the landing prefix, and a Prefect server."""
    import boto3
    from moto.server import ThreadedMotoServer

    from flows import config as conf
    from tasks.data.sources.generate import write_dataset

    logs = root / "logs"
    logs.mkdir(parents=True)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with contextlib.ExitStack() as cleanup:
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        cleanup.callback(moto.stop)
        host, port = moto.get_host_and_port()
        aws = aws_env(f"http://{host}:{port}", root)
        keys = {"aws_access_key_id": aws[AWS_KEYS[0]], "aws_secret_access_key": aws[AWS_KEYS[1]]}
        s3 = boto3.client("s3", endpoint_url=aws["AWS_ENDPOINT_URL"], region_name=REGION, **keys)
        for bucket in (LANDING, OUT_BUCKET):
            s3.create_bucket(Bucket=bucket)
        dataset = root / "dataset"
        spec = conf.to_app_config(conf.compose_config(SMALL)).data.generator.to_spec()
        write_dataset(spec, dataset)
        for path in sorted(dataset.glob("date=*/*.parquet")):
            s3.upload_file(str(path), LANDING, f"{PREFIX}{path.relative_to(dataset).as_posix()}")

        prefixes = ("AWS_", "PREFECT_", "SALES_")
        keep = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
        base = keep | aws | {"PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        server, api = start_prefect_server(root / "server", logs, base)
        cleanup.callback(server.stop)
        env = base | {"PREFECT_API_URL": api, "PREFECT_HOME": str(root / "client")}
        yield Cluster(api, s3, env, aws, logs)


def register(cluster: Cluster, workdir: Path | None) -> None:
    """The Kubernetes work pool (its real template) and the deployments of ``prefect.yaml``;
    ``workdir`` replaces the pull step's directory (``/app``) when the code is not an image."""
    python = sys.executable
    run([python, "-m", "flows.deploy", "pool"], cluster.env)  # deploy.POOL, kubernetes
    args = ["deploy", "--no-build", "--image", IMAGE, *[f"--override={o}" for o in OVERRIDES]]
    if workdir is not None:
        args += ["--workdir", str(workdir)]
    run([python, "-m", "flows.deploy", *args], cluster.env | DEPLOY_ENV)


def new_flow_run_job(cluster: Cluster) -> tuple[str, dict[str, Any], list[Any]]:
    """A flow run of ``sales-forecast/daily``, the Job a worker renders for it, the pull steps."""
    from prefect.client.orchestration import get_client

    with cluster.settings(), get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("sales-forecast/daily")
        flow_run = client.create_flow_run_from_deployment(deployment.id)
    assert deployment.work_pool_name == deploy.POOL
    home = cluster.logs.parent / "worker-home"
    home.mkdir(exist_ok=True)
    job = render_as_worker(cluster.api, deploy.POOL, str(flow_run.id), str(home), str(REPO))
    return str(flow_run.id), job, list(deployment.pull_steps or [])


def job_env(cluster: Cluster, job: dict[str, Any]) -> dict[str, str]:
    """The container's environment over the image's, lowest precedence first: the stand-ins
    for AWS (moto's endpoint and region), the secrets ``envFrom`` names, the Job's ``env``."""
    container = job_container(job)
    secrets = cluster.secrets()
    env = {k: v for k, v in cluster.aws.items() if k not in AWS_KEYS}
    for source in container.get("envFrom", []):
        name = source["secretRef"]["name"]
        assert name in secrets, f"the Job reads secret {name!r}: give the test a stand-in"
        env |= secrets[name]
    env |= {e["name"]: e["value"] for e in container["env"]}
    return env


def check_completed_run(cluster: Cluster, flow_run_id: str, output: str) -> dict[str, Any]:
    """The flow run is Completed on the server and its artifacts are in the output bucket;
    returns its manifest."""
    import uuid

    from prefect.client.orchestration import get_client

    with cluster.settings(), get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(uuid.UUID(flow_run_id))
    assert flow_run.state is not None
    assert flow_run.state.is_completed(), f"{flow_run.state}\n{output}"

    manifests = [
        json.loads(cluster.read(OUT_BUCKET, key))
        for key in cluster.keys(OUT_BUCKET, "forecast/runs/")
        if key.endswith("/manifest.json")
    ]
    (manifest,) = [m for m in manifests if m.get("flow_run_id") == flow_run_id]
    inputs = {f["path"] for f in manifest["input"]["files"]}
    assert inputs
    assert all(p.startswith(f"s3://{LANDING}/{PREFIX}") for p in inputs)
    run_prefix = manifest["run_dir"].removeprefix(f"s3://{OUT_BUCKET}/") + "/"
    written = {key.rsplit("/", 1)[-1] for key in cluster.keys(OUT_BUCKET, run_prefix)}
    expected = {"config.yaml", "forecasts.parquet", "metrics.json", "model.txt", "report.html"}
    assert expected <= written, written
    assert cluster.keys(OUT_BUCKET, "forecast/cache/"), "no task results in the S3 cache"
    assert manifest["git_commit"] == GIT_COMMIT
    return manifest
