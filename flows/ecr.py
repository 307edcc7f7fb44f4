"""``flows.ecr.docker_credentials``: kept as the name ``prefect.yaml``'s push step calls;
the code is in :mod:`flows.ops.ecr`."""

from __future__ import annotations

from flows.ops.ecr import docker_credentials

__all__ = ["docker_credentials"]
