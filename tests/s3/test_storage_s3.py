"""tasks.storage and tasks.data.ingest against a real S3 protocol server (moto), no Prefect server.

Listing, fingerprints (ETags), round trips, Polars' cloud scan, error classification
(transient vs permanent, naming bucket and key), and that secrets stay out of settings.
"""

from __future__ import annotations

import io
from typing import Any

import botocore.exceptions as boto_exc
import polars as pl
import pytest

from tasks import storage
from tasks.caching import InputFiles
from tasks.data import ingest
from tasks.data.ingest import SourceParams
from tasks.storage import s3 as storage_s3
from tests.s3.faults import Fault, FaultProxy
from tests.s3.support import BUCKET, FAKE_SECRET

HIDDEN = ["date=2024-01-01/_SUCCESS", "_temporary/0/part-0.parquet", ".staging/part-0.csv"]
CSV = "date,region,product_type,revenue\n2024-01-02,north,toys,1.5\n2024-01-02,south,toys,2.5\n"


def _parquet_bytes(day: str, revenue: float) -> bytes:
    frame = pl.DataFrame(
        {
            "date": [pl.Series([day]).str.to_date()[0]],
            "region": ["north"],
            "product_type": ["toys"],
            "revenue": [revenue],
        }
    )
    buf = io.BytesIO()
    frame.write_parquet(buf)
    return buf.getvalue()


@pytest.fixture
def settings(moto_endpoint: str) -> storage.StorageSettings:
    return storage.StorageSettings(endpoint_url=moto_endpoint, region="us-east-1")


@pytest.fixture
def tree(s3: Any, prefix: str) -> str:
    """A hive-partitioned prefix with one parquet and one CSV file, plus writer litter."""
    parquet = _parquet_bytes("2024-01-01", 10.0)
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/date=2024-01-01/part-0.parquet", Body=parquet)
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/date=2024-01-02/part-0.csv", Body=CSV.encode())
    for rel in HIDDEN:
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}/{rel}", Body=b"x")
    return f"s3://{BUCKET}/{prefix}"


def _proxied(proxy: FaultProxy) -> storage.StorageSettings:
    return storage.StorageSettings(endpoint_url=proxy.url, region="us-east-1")


# --- listing and fingerprints ---------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["prefix", "prefix/", "glob"])
def test_listing_finds_data_files_sorted_without_litter(
    tree: str, settings: storage.StorageSettings, spelling: str
) -> None:
    path = {"prefix": tree, "prefix/": f"{tree}/", "glob": f"{tree}/date=*/*"}[spelling]
    files = storage.list_data_files(path, settings=settings)
    assert files == [
        f"{tree}/date=2024-01-01/part-0.parquet",
        f"{tree}/date=2024-01-02/part-0.csv",
    ]
    csv_only = storage.list_data_files(path, "csv", settings=settings)
    assert csv_only == [f"{tree}/date=2024-01-02/part-0.csv"]
    one = storage.list_data_files(files[0], settings=settings)
    assert one == files[:1]


def test_fingerprints_come_from_the_listing_and_are_etags(
    tree: str, settings: storage.StorageSettings, s3: Any
) -> None:
    listed = storage.list_fingerprints(tree, settings=settings)
    assert listed == storage.fingerprints([fp.path for fp in listed], settings=settings)
    key = listed[1].path.removeprefix(f"s3://{BUCKET}/")
    etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')
    assert listed[1].stamp == etag
    assert listed[1].size == len(CSV)


def test_ingest_cache_key_follows_content_not_credentials(
    tree: str, settings: storage.StorageSettings, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = InputFiles()
    inputs = {"params": SourceParams(tree, "auto", []), "storage_settings": settings}

    def key() -> str | None:
        return policy.compute_key(None, inputs, {})  # type: ignore[arg-type]

    first = key()
    csv_key = tree.removeprefix(f"s3://{BUCKET}/") + "/date=2024-01-02/part-0.csv"
    s3.put_object(Bucket=BUCKET, Key=csv_key, Body=CSV.encode())  # same bytes, new mtime
    assert key() == first
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "other-identity")  # moto accepts any key
    assert key() == first
    s3.put_object(Bucket=BUCKET, Key=csv_key, Body=CSV.encode() + b"2024-01-02,n,t,1\n")
    assert key() != first


def test_missing_prefix_and_missing_bucket_are_named(
    tree: str, settings: storage.StorageSettings
) -> None:
    with pytest.raises(storage.InputNotFoundError, match="does not exist"):
        storage.list_data_files(f"{tree}/nothing-here/", settings=settings)
    with pytest.raises(storage.StorageNotFoundError) as info:
        storage.list_data_files("s3://no-such-bucket-here/raw/", settings=settings)
    assert "'no-such-bucket-here'" in str(info.value)
    assert not storage.is_transient_error(info.value)
    with pytest.raises(storage.StorageNotFoundError, match="no-such-bucket-here"):
        storage.list_data_files("s3://no-such-bucket-here/raw/*.csv", settings=settings)


# --- reads and writes -----------------------------------------------------------------------


def test_round_trips(prefix: str, settings: storage.StorageSettings) -> None:
    root = f"s3://{BUCKET}/{prefix}/out"
    path = storage.join(root, "runs", "a.json")
    assert storage.write_json_atomic(path, {"b": 1, "a": [1]}, settings=settings) == path
    assert storage.read_text(path, settings=settings).startswith('{\n  "a"')
    assert storage.exists(path, settings=settings)
    assert not storage.exists(storage.join(root, "runs", "b.json"), settings=settings)
    frame = pl.DataFrame({"x": [1.5, None], "s": ["a", "b"]})
    target = storage.join(root, "f.parquet")
    storage.write_parquet_atomic(target, frame, settings=settings)
    assert storage.read_parquet(target, settings=settings).equals(frame)
    assert storage.uri(target) == target


def test_reading_a_missing_key_names_bucket_and_key(
    prefix: str, settings: storage.StorageSettings
) -> None:
    url = f"s3://{BUCKET}/{prefix}/missing.json"
    with pytest.raises(storage.StorageNotFoundError) as info:
        storage.read_bytes(url, settings=settings)
    assert f"'{BUCKET}'" in str(info.value)
    assert f"'{prefix}/missing.json'" in str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert (info.value.bucket, info.value.key) == (BUCKET, f"{prefix}/missing.json")


def test_the_default_chain_uses_the_environment(
    tree: str, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No settings: endpoint, region and keys come from the standard AWS variables."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    assert len(storage.list_data_files(tree)) == 2
    options = storage.polars_storage_options(tree)
    assert options is not None
    assert options["aws_endpoint_url"] == moto_endpoint
    assert not any("secret" in k or "key_id" in k for k in options)  # Polars asks boto3


# --- Polars' cloud reader -------------------------------------------------------------------


def test_ingest_scans_parquet_and_csv_straight_from_s3(
    tree: str, settings: storage.StorageSettings
) -> None:
    source = ingest.discover(tree, "auto", [], settings)
    assert [g.file_format for g in source.groups] == ["parquet", "csv"]
    assert all(fp["path"].startswith("s3://") for fp in source.fingerprints)
    assert "endpoint" not in repr(source)
    assert FAKE_SECRET not in repr(source)
    lf = ingest.scan(source, settings)
    frame = lf.filter(pl.col("region") == "north").collect()
    assert sorted(frame["revenue"].to_list()) == [1.5, 10.0]
    assert frame["arrival_date"].cast(pl.String).to_list() in (
        ["2024-01-01", "2024-01-02"],
        ["2024-01-02", "2024-01-01"],
    )
    assert all(f.startswith(f"{tree}/date=") for f in frame[ingest.SOURCE_COLUMN])


def test_scan_pushes_projection_and_predicates_into_the_cloud_reader(
    tree: str, settings: storage.StorageSettings
) -> None:
    url = f"{tree}/date=2024-01-01/part-0.parquet"
    options = storage.polars_storage_options(url, settings)
    plan = (
        pl.scan_parquet(url, storage_options=options)
        .filter(pl.col("revenue") > 5)
        .select("region")
        .explain()
    )
    assert "SELECTION" in plan.upper() or "FILTER" in plan.upper()
    assert "PROJECT 1/" in plan.upper() or "PROJECT" in plan.upper()


# --- failures: transient vs permanent -------------------------------------------------------


def test_blips_are_absorbed_by_client_retries(tree: str, fault_proxy: FaultProxy, s3: Any) -> None:
    settings = _proxied(fault_proxy)
    url = f"{tree}/date=2024-01-02/part-0.csv"
    fault_proxy.arm(
        Fault(path=r"part-0\.csv", method="GET", count=1, kind="503"),
        Fault(path=r"part-0\.csv", method="GET", count=1, kind="reset"),
    )
    assert storage.read_bytes(url, settings=settings) == CSV.encode()
    assert [f.outcome for f in fault_proxy.injected()] == ["503", "reset"]
    fault_proxy.arm(Fault(path=r"list-type=2", count=2, kind="slowdown"))
    assert len(storage.list_data_files(tree, settings=settings)) == 2
    fault_proxy.arm(Fault(path=r"part-0\.parquet", method="GET", count=2, kind="500"))
    source = ingest.discover(tree, "auto", [], settings)
    assert ingest.scan(source, settings).collect().height == 3


@pytest.mark.parametrize("kind", ["503", "slowdown", "reset"])
def test_a_lasting_outage_is_a_transient_error_naming_bucket_and_key(
    tree: str, fault_proxy: FaultProxy, kind: Any
) -> None:
    settings = _proxied(fault_proxy)
    url = f"{tree}/date=2024-01-02/part-0.csv"
    fault_proxy.arm(Fault(path=r"part-0\.csv", count=100, kind=kind))
    with pytest.raises(storage.TransientStorageError) as info:
        storage.read_bytes(url, settings=settings)
    assert storage.is_transient_error(info.value)
    assert f"'{BUCKET}'" in str(info.value)
    assert "part-0.csv" in str(info.value)
    assert len(fault_proxy.injected()) > 1  # the client retried before giving up


def test_access_denied_is_permanent_and_names_bucket_and_key(
    tree: str, fault_proxy: FaultProxy
) -> None:
    settings = _proxied(fault_proxy)
    fault_proxy.arm(Fault(path=r"part-0\.", count=100, kind="denied"))
    url = f"{tree}/date=2024-01-02/part-0.csv"
    with pytest.raises(storage.StoragePermissionError) as info:
        storage.read_bytes(url, settings=settings)
    assert not storage.is_transient_error(info.value)
    assert "HTTP 403" in str(info.value)  # a HEAD: the status, but no body with a code
    assert f"'{BUCKET}'" in str(info.value)
    assert "part-0.csv" in str(info.value)
    assert len(fault_proxy.injected()) == 1  # not retried
    with pytest.raises(storage.StoragePermissionError, match=r"part-0\.(parquet|csv)"):
        ingest.discover(tree, "auto", [], settings)  # Polars reading the footer


def test_polars_outage_is_transient_and_names_the_file(
    tree: str, fault_proxy: FaultProxy, settings: storage.StorageSettings
) -> None:
    source = ingest.discover(tree, "auto", [], settings)
    lf = ingest.scan(source, _proxied(fault_proxy))
    fault_proxy.arm(Fault(path=r"part-0\.parquet", method="GET", count=1000, kind="503"))
    with pytest.raises(storage.TransientStorageError) as info, storage.io_errors(tree):
        lf.collect()
    assert "part-0.parquet" in str(info.value)
    assert info.value.status == 503


def _client_error(code: str, status: int) -> boto_exc.ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": code},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return boto_exc.ClientError(response, "GetObject")


def _wrapped(cause: BaseException, outer: OSError) -> OSError:
    outer.__cause__ = cause  # as s3fs translates botocore errors
    return outer


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (_client_error("SlowDown", 503), True),
        (_client_error("InternalError", 500), True),
        (_client_error("ThrottlingException", 400), True),
        (_client_error("RequestTimeout", 400), True),
        (_client_error("503", 503), True),
        (_wrapped(_client_error("ServiceUnavailable", 503), OSError(16, "busy")), True),
        (boto_exc.EndpointConnectionError(endpoint_url="http://x"), True),
        (boto_exc.ReadTimeoutError(endpoint_url="http://x"), True),
        (boto_exc.ConnectionClosedError(endpoint_url="http://x"), True),
        (ConnectionResetError(104, "Connection reset by peer"), True),
        (TimeoutError("read timed out"), True),
        (OSError("object-store error: Generic S3 error: status code: 503 Service"), True),
        (OSError("object-store error: Generic S3 error: HTTP error: error sending request"), True),
        (_client_error("NoSuchBucket", 404), False),
        (_client_error("NoSuchKey", 404), False),
        (_client_error("AccessDenied", 403), False),
        (_client_error("InvalidArgument", 400), False),
        (_wrapped(_client_error("AccessDenied", 403), PermissionError("denied")), False),
        (boto_exc.NoCredentialsError(), False),
        (FileNotFoundError("object-store error: Object at location x not found: 404"), False),
        (OSError("object-store error: Generic S3 error: status code: 403 Forbidden"), False),
        (FileNotFoundError("local.csv"), False),
        (PermissionError("local.csv"), False),
        (ValueError("bad value"), False),
        (OSError("disk hiccup"), True),
    ],
)
def test_transient_or_permanent(exc: BaseException, transient: bool) -> None:
    assert storage.is_transient_error(exc) is transient
    error = storage.storage_error(exc, f"s3://{BUCKET}/some/key.parquet")
    if error is not None:
        assert error.transient is transient
        assert f"'{BUCKET}'" in str(error)


def test_the_task_retry_condition_uses_the_classification() -> None:
    from prefect.states import Failed

    from tasks.stages import is_transient

    url = f"s3://{BUCKET}/k"
    flaky = storage.TransientStorageError("x", url=url)
    denied = storage.StoragePermissionError("x", url=url)
    assert is_transient(None, None, Failed(data=flaky))  # type: ignore[arg-type]
    assert not is_transient(None, None, Failed(data=denied))  # type: ignore[arg-type]
    assert not is_transient(None, None, Failed(data=ValueError("bad")))  # type: ignore[arg-type]


# --- settings and secrets -------------------------------------------------------------------


class _FakeCredentials:
    """Stands in for a loaded prefect-aws AwsCredentials block."""

    class aws_client_parameters:  # noqa: N801
        endpoint_url = "http://store.example:9000"

    region_name = "eu-west-1"

    def get_boto3_session(self) -> Any:
        import boto3

        return boto3.Session(aws_access_key_id="AKIAFAKE", aws_secret_access_key=FAKE_SECRET)


def test_block_credentials_reach_the_clients_but_never_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    storage_s3.credentials_block.cache_clear()
    storage_s3._block_session.cache_clear()
    monkeypatch.setattr(storage_s3, "credentials_block", lambda name: _FakeCredentials())
    settings = storage.StorageSettings(credentials_block="prod-s3")
    options = storage.polars_storage_options("s3://b/k", settings)
    assert options is not None
    assert options["aws_secret_access_key"] == FAKE_SECRET
    assert options["aws_endpoint_url"] == "http://store.example:9000"  # from the block
    assert options["aws_region"] == "eu-west-1"
    fs = storage.s3_filesystem(settings)
    assert fs.secret == FAKE_SECRET
    for shown in (repr(settings), str(settings.__dict__), repr(storage_s3._access(settings))):
        assert FAKE_SECRET not in shown
    override = storage.StorageSettings(endpoint_url="http://other:1", credentials_block="prod-s3")
    assert storage.polars_storage_options("s3://b/k", override)["aws_endpoint_url"] == (  # type: ignore[index]
        "http://other:1"
    )


def test_settings_from_config_treat_empty_strings_as_unset() -> None:
    from flows.config import StorageConfig

    assert storage.StorageSettings.from_config(StorageConfig("", "", "")) == (
        storage.StorageSettings()
    )
    assert storage.polars_storage_options("/local/file.parquet") is None


def test_a_report_in_s3_gets_a_pre_signed_link_that_opens_it(
    s3: Any, prefix: str, settings: storage.StorageSettings
) -> None:
    import urllib.request

    from tasks import release

    target = f"s3://{BUCKET}/{prefix}/runs/2026-12-05/r1/report.html"
    storage.write_bytes_atomic(target, b"<html>report</html>", settings=settings)
    link = release.report_link(target, settings, 600)
    assert link.startswith(f"{settings.endpoint_url}/{BUCKET}/{prefix}/runs/")
    assert "Signature=" in link  # signed (botocore picks the signature version)
    with urllib.request.urlopen(link, timeout=10) as response:
        assert response.read() == b"<html>report</html>"
    assert (
        release.report_link("file:///out/report.html", settings, 600) == "file:///out/report.html"
    )
