"""A ``prefect.yaml`` push step: Docker login credentials for an Amazon ECR registry.

Used before ``prefect_docker.deployments.steps.push_docker_image`` (its ``credentials``
take the dict this returns). AWS credentials come from a prefect-aws ``AwsCredentials``
block when one is named, else from the default AWS chain (environment, profile, role).
"""

from __future__ import annotations

import base64
import re
from typing import Any

import boto3

ECR_HOST = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr(-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?"
)


def registry_host(image_repository: str) -> tuple[str, str, str]:
    """Host, account id and region of an ECR repository such as ``ACCOUNT.dkr.ecr.REGION...``."""
    host = image_repository.split("/", 1)[0]
    match = ECR_HOST.fullmatch(host)
    if match is None:
        raise ValueError(
            f"{host!r} is not an ECR registry (ACCOUNT.dkr.ecr.REGION.amazonaws.com); for "
            "another registry replace this step by a docker-registry-credentials block"
        )
    return host, match["account"], match["region"]


def docker_credentials(registry: str, aws_credentials_block: str = "") -> dict[str, Any]:
    """``username``, ``password`` and ``registry_url`` for ``docker login`` to ECR."""
    host, account, region = registry_host(registry)
    session = _session(aws_credentials_block)
    ecr = session.client("ecr", region_name=region)
    data = ecr.get_authorization_token(registryIds=[account])["authorizationData"][0]
    username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return {
        "username": username,
        "password": password,
        "registry_url": data.get("proxyEndpoint") or f"https://{host}",
        "reauth": True,
    }


def _session(block_name: str) -> Any:
    """A boto3 session from the named ``AwsCredentials`` block, or the default chain."""
    if not block_name:
        return boto3.Session()
    from prefect_aws import AwsCredentials  # noqa: PLC0415 (only when a block is named)

    credentials: Any = AwsCredentials.load(block_name, _sync=True)  # type: ignore[call-arg]
    return credentials.get_boto3_session()
