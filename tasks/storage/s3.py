"""Object storage: the settings, credentials and clients for ``s3://`` URLs.

Object storage is reached with the settings in :class:`StorageSettings` (endpoint, region,
the name of a credentials block: never secrets). Credentials are resolved here, at call
time: from a prefect-aws ``AwsCredentials`` / ``MinIOCredentials`` / ``S3Bucket`` block when
one is named (loaded once per process), otherwise by the default AWS chain (environment
variables, shared profile, IAM role). They never leave this module except inside the
clients it builds. :func:`_fs` gives the filesystem for any path, local or remote; the
other storage modules build on it.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any, Protocol

import fsspec

from tasks.storage.errors import is_s3

# Quick retries inside the clients (with their own exponential backoff and jitter); what
# still fails is raised as a TransientStorageError and retried by the task (tasks.stages).
CLIENT_MAX_ATTEMPTS = 3  # botocore "standard" mode: 5xx, throttling, timeouts, resets
S3FS_RETRIES = 2  # s3fs' own loop around botocore (truncated bodies, SlowDown)
POLARS_RETRY_OPTIONS: dict[str, Any] = {
    "max_retries": 3,
    "retry_init_backoff_ms": 100,
    "retry_max_backoff_ms": 5_000,
    "retry_timeout_ms": 60_000,
}
CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 60


class StorageConfigLike(Protocol):
    """The ``storage`` config group (``flows.config.StorageConfig``)."""

    endpoint_url: str | None
    region: str | None
    aws_credentials_block: str | None


@dataclass(frozen=True)
class StorageSettings:
    """How to reach object storage: safe to log, hash, persist and pass to tasks.

    Parameters
    ----------
    endpoint_url
        An S3-compatible endpoint (MinIO, Ceph, R2, a test server); ``None``: AWS, or
        ``AWS_ENDPOINT_URL`` / the block's ``aws_client_parameters.endpoint_url`` if set.
    region
        ``None``: the block's region, else ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` / profile.
    credentials_block
        Name of a prefect-aws ``AwsCredentials`` block (``prod-s3``), or ``slug/name`` of a
        ``MinIOCredentials`` or ``S3Bucket`` block (``s3-bucket/landing``); ``None``: the
        default AWS chain (environment variables, shared profile, IAM role).
    """

    endpoint_url: str | None = None
    region: str | None = None
    credentials_block: str | None = None

    @classmethod
    def from_config(cls, cfg: StorageConfigLike) -> StorageSettings:
        """Settings from the ``storage`` config group (empty strings count as unset)."""
        return cls(
            endpoint_url=cfg.endpoint_url or None,
            region=cfg.region or None,
            credentials_block=cfg.aws_credentials_block or None,
        )


DEFAULT_SETTINGS = StorageSettings()


@dataclass(frozen=True)
class _Access:
    """Settings resolved at call time: endpoint, region and (only from a block) secrets."""

    endpoint_url: str | None
    region: str | None
    key: str | None = None
    secret: str | None = None
    token: str | None = None

    def __repr__(self) -> str:  # never print the secrets
        return f"_Access(endpoint_url={self.endpoint_url!r}, region={self.region!r})"


@functools.lru_cache(maxsize=8)
def credentials_block(name: str) -> Any:
    """The prefect-aws credentials block called ``name``, loaded once per process.

    ``name`` alone is an ``AwsCredentials`` block; ``slug/name`` loads any block type, and
    an ``S3Bucket`` block yields its ``credentials``.
    """
    # Imported on first use: prefect-aws takes seconds to import and local runs never need it.
    from prefect.blocks.core import Block  # noqa: PLC0415
    from prefect_aws import AwsCredentials, S3Bucket  # noqa: PLC0415

    cls = Block if "/" in name else AwsCredentials
    block = cls.load(name, _sync=True)  # type: ignore[call-arg]
    if isinstance(block, S3Bucket):
        block = block.credentials
    if not hasattr(block, "aws_client_parameters"):
        raise TypeError(
            f"storage.aws_credentials_block={name!r} is a {type(block).__name__}; expected "
            "AwsCredentials, MinIOCredentials or S3Bucket"
        )
    return block


@functools.lru_cache(maxsize=8)
def _block_session(name: str) -> Any:
    """A boto3 session for an ``AwsCredentials`` block (refreshes assumed-role keys)."""
    return credentials_block(name).get_boto3_session()


def _access(settings: StorageSettings | None) -> _Access:
    settings = settings or DEFAULT_SETTINGS
    env_endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    env_region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not settings.credentials_block:
        return _Access(settings.endpoint_url or env_endpoint, settings.region or env_region)
    block = credentials_block(settings.credentials_block)
    endpoint = settings.endpoint_url or block.aws_client_parameters.endpoint_url or env_endpoint
    region = settings.region or block.region_name or env_region
    if hasattr(block, "minio_root_user"):  # MinIOCredentials
        secret = block.minio_root_password
        return _Access(endpoint, region, block.minio_root_user, secret.get_secret_value())
    frozen = _block_session(settings.credentials_block).get_credentials()
    if frozen is None:
        raise PermissionError(
            f"storage.aws_credentials_block={settings.credentials_block!r} yields no credentials"
        )
    frozen = frozen.get_frozen_credentials()
    return _Access(endpoint, region, frozen.access_key, frozen.secret_key, frozen.token)


def s3_filesystem(settings: StorageSettings | None = None) -> Any:
    """An ``s3fs.S3FileSystem`` for ``settings`` (cached per process by fsspec).

    Listings are never cached (other processes write), botocore retries in "standard"
    mode, and connect/read timeouts are bounded.
    """
    access = _access(settings)
    pairs = (("endpoint_url", access.endpoint_url), ("region_name", access.region))
    client_kwargs = {k: v for k, v in pairs if v}
    kwargs: dict[str, Any] = {
        "client_kwargs": client_kwargs,
        "config_kwargs": {
            "retries": {"mode": "standard", "max_attempts": CLIENT_MAX_ATTEMPTS},
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "read_timeout": READ_TIMEOUT_SECONDS,
        },
        "use_listings_cache": False,
    }
    if access.key:
        kwargs.update(key=access.key, secret=access.secret, token=access.token)
    fs = fsspec.filesystem("s3", **kwargs)
    fs.retries = S3FS_RETRIES
    return fs


def presigned_url(url: str, expires_seconds: int, settings: StorageSettings | None = None) -> str:
    """A time-limited HTTPS GET link to the ``s3://`` object ``url`` (signed with the
    credentials ``settings`` resolve to; nothing secret is in it but the signature)."""
    fs = s3_filesystem(settings)
    return str(fs.sign(fs._strip_protocol(url), expiration=expires_seconds))


def polars_storage_options(
    path: str, settings: StorageSettings | None = None
) -> dict[str, Any] | None:
    """``storage_options`` for Polars' native cloud reader on ``path`` (``None`` if local).

    Without a credentials block no keys are passed: Polars resolves them through boto3's
    default chain (environment, profile, IAM role) just like s3fs does.
    """
    if not is_s3(path):
        return None
    access = _access(settings)
    options: dict[str, Any] = dict(POLARS_RETRY_OPTIONS)
    if access.endpoint_url:
        options["aws_endpoint_url"] = access.endpoint_url
        if access.endpoint_url.startswith("http://"):
            options["allow_http"] = "true"
    if access.region:
        options["aws_region"] = access.region
    if access.key:
        options["aws_access_key_id"] = access.key
        options["aws_secret_access_key"] = access.secret
        if access.token:
            options["aws_session_token"] = access.token
    return options


def _fs(
    path: str, settings: StorageSettings | None = None
) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem for ``path`` and the path in its terms (``bucket/key`` for S3)."""
    if is_s3(path):
        fs = s3_filesystem(settings)
        return fs, fs._strip_protocol(path)
    fs, fs_path = fsspec.core.url_to_fs(path)
    return fs, fs_path
