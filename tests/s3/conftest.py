"""S3 test fixtures: a real S3 protocol server (moto, server mode) on 127.0.0.1 for the session.

The test process gets obviously fake credentials and a *dead* ``AWS_ENDPOINT_URL``: every
S3 call made in-process must take its endpoint from the storage settings (the config), so a
code path that forgets to pass them fails instead of reaching a real service. Subprocesses
get the moto endpoint through ``AWS_ENDPOINT_URL``, the way a pod would.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.s3.support import AWS_ENV_KEYS, BUCKET, DEAD_ENDPOINT, REGION, SMALL, fake_aws_env


@pytest.fixture(scope="session")
def aws_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Fake credentials and a dead default endpoint for this process, restored afterwards."""
    saved = {k: os.environ.get(k) for k in AWS_ENV_KEYS}
    for key in AWS_ENV_KEYS:
        os.environ.pop(key, None)
    env = fake_aws_env(DEAD_ENDPOINT, tmp_path_factory.mktemp("aws"))
    os.environ.update(env)
    try:
        yield env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def moto_endpoint(aws_env: dict[str, str]) -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 for the session; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3(moto_endpoint: str) -> Any:
    """A boto3 S3 client on the moto server, with the test bucket created."""
    import boto3

    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def prefix() -> str:
    """A fresh key prefix, so tests sharing the bucket never see each other's objects."""
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def raw_dataset(s3: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The small synthetic data set, generated locally and uploaded to ``s3://BUCKET/raw/``."""
    from flows import config as conf
    from tasks.data.sources.generate import write_dataset

    spec = conf.to_app_config(conf.compose_config(SMALL)).data.generator.to_spec()
    local: Path = tmp_path_factory.mktemp("raw") / "raw"
    write_dataset(spec, local)
    keys = []
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        key = f"raw/{path.relative_to(local).as_posix()}"
        s3.upload_file(str(path), BUCKET, key)
        keys.append(key)
    return {"url": f"s3://{BUCKET}/raw/", "local": local, "keys": keys}


@pytest.fixture
def fault_proxy(moto_endpoint: str) -> Iterator[Any]:
    """A fault-injecting proxy in front of moto (arm it with ``proxy.arm(Fault(...))``)."""
    from tests.s3.faults import FaultProxy

    proxy = FaultProxy(moto_endpoint).start()
    try:
        yield proxy
    finally:
        proxy.stop()
