"""Constants and helpers shared by the S3 tests (fixtures live in ``conftest.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support import SMALL

FAKE_KEY_ID = "testing"
FAKE_SECRET = "fake-secret-never-logged-0123456789"  # grepped for in every written object
CACHE_KEY = "s3-tests-cache-signing-key-not-a-secret"  # the shared cache's HMAC key
REGION = "us-east-1"
DEAD_ENDPOINT = "http://127.0.0.1:9"  # nothing listens on the discard port
BUCKET = "sales-forecast-test"
STAGES = ["ingest", "clean", "aggregate", "features", "train", "evaluate", "forecast"]
AWS_ENV_KEYS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "SALES_CACHE_HMAC_KEY",
)


# data=s3 has no allowed categories; the synthetic set's unknown categories are defects.
CATEGORIES = [
    "+data.allowed_categories.region=[north,south]",
    "+data.allowed_categories.product_type=[grocery,toys,sports]",
]


def fake_aws_env(endpoint: str, home: Path) -> dict[str, str]:
    """AWS variables for a test process: fake keys, one region, no instance metadata.

    Also the key that signs the shared task-result cache: every process sharing it has it.
    """
    return {
        "SALES_CACHE_HMAC_KEY": CACHE_KEY,
        "AWS_ACCESS_KEY_ID": FAKE_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(home / "aws-config"),  # never read the developer's files
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
    }


def s3_overrides(input_url: str, output_url: str, *extra: str, group: str = "s3") -> list[str]:
    """Hydra overrides for a small run with input and output in S3.

    ``group="synthetic"`` keeps the default data option and only points its paths at S3
    (the data set is then read as it is, not generated).
    """
    choice = ["data=s3", *CATEGORIES] if group == "s3" else []
    return [
        *SMALL,
        *choice,
        f"data.input_path={input_url}",
        f"data.output_path={output_url}",
        *extra,
    ]


def list_keys(s3: Any, prefix: str) -> list[str]:
    """Every key under ``prefix`` in the test bucket."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        keys += [obj["Key"] for obj in page.get("Contents", [])]
    return sorted(keys)


def read_object(s3: Any, url: str) -> bytes:
    """The bytes of ``s3://BUCKET/key``."""
    bucket, _, key = url.removeprefix("s3://").partition("/")
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body
