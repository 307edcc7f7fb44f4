"""Signed task-result storage in S3: a prefect-aws ``S3Bucket`` that seals and verifies records.

A module of its own because prefect-aws takes seconds to import and local runs never need it.
"""

from __future__ import annotations

from typing import Any

from prefect_aws import AwsCredentials, S3Bucket
from prefect_aws.client_parameters import AwsClientParameters

from tasks import storage
from tasks.caching.records import SignedRecords


class SignedS3Bucket(SignedRecords, S3Bucket):  # type: ignore[misc]  # see SignedLocalFileSystem
    """Task results under ``s3://bucket/folder/``, signed (a shared cache: a key is required)."""

    _block_type_name = "Sales Forecast Signed S3 Bucket"

    def record_location(self, path: str) -> str:
        """The record's ``s3://`` URL."""
        return f"s3://{self.bucket_name}/{self.record_name(path)}"

    def record_name(self, path: str) -> str:
        """The record's key in the bucket."""
        return self._resolve_path(path)


def signed_s3_block(
    path: str, settings: storage.StorageSettings, key_block: str | None, key: bytes
) -> SignedS3Bucket:
    """The (unsaved) signed bucket block for ``path``.

    Its credentials are the block named by ``settings.credentials_block`` (saved by
    reference) or an ``AwsCredentials`` without keys (the default AWS chain: environment,
    IAM role); the saved document holds the bucket, folder, endpoint and region and the
    name of the key's Secret block, never a secret.
    """
    retries = {"retries": {"mode": "standard", "max_attempts": storage.CLIENT_MAX_ATTEMPTS}}
    if settings.credentials_block:
        credentials = storage.credentials_block(settings.credentials_block)
        updates: dict[str, Any] = {}
        if settings.endpoint_url:
            params = credentials.aws_client_parameters
            updates["aws_client_parameters"] = params.model_copy(
                update={"endpoint_url": settings.endpoint_url}
            )
        if settings.region:
            updates["region_name"] = settings.region
        if updates:  # an in-memory copy that still references the saved block: config wins
            credentials = credentials.model_copy(update=updates)
    else:
        credentials = AwsCredentials(
            region_name=settings.region,
            aws_client_parameters=AwsClientParameters(
                endpoint_url=settings.endpoint_url, config=retries
            ),
        )
    bucket, folder = storage.split_s3_url(path)
    block = SignedS3Bucket(
        bucket_name=bucket,
        bucket_folder=folder.strip("/"),
        credentials=credentials,
        key_block=key_block,
    )
    block.use_key(key)
    return block
