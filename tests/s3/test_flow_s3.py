"""The flow with input and output in S3 (a moto server), under a Prefect test server.

* a full run: CSV/parquet partitions read from S3, every artifact and the task-result cache
  written to S3, no secret in any artifact or block document;
* a run through a fault-injecting proxy (5xx, SlowDown, resets, on reads, listings and
  writes) completes with the same forecasts, bit for bit, and every request it made is one
  the flow role of deploy/cloudformation.yaml allows;
* permanent failures (no such bucket, access denied) fail at once, naming bucket and key;
* credentials from a prefect-aws ``AwsCredentials`` block named in config;
* two processes with separate ``PREFECT_HOME`` share the cache through the bucket.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.s3.faults import Fault, FaultProxy
from tests.s3.iam import denied
from tests.s3.support import (
    BUCKET,
    CACHE_KEY,
    FAKE_SECRET,
    STAGES,
    fake_aws_env,
    list_keys,
    read_object,
    s3_overrides,
)
from tests.support import REPO
from tests.support.cache_records import pickle_record, storage_key
from tests.support.cloudformation import render

pytestmark = pytest.mark.usefixtures("prefect_server")

ARTIFACTS = [
    "backtest.parquet",
    "config.yaml",
    "forecasts.parquet",
    "manifest.json",
    "metrics.json",
    "model.txt",
    "quarantine.parquet",
    "report.html",
]
MAIN_OUT = f"s3://{BUCKET}/out-main"


def run_flow(*overrides: str) -> dict[str, Any]:
    from flows.sales_forecast import sales_forecast

    return sales_forecast(overrides=["mode=production", *overrides])


def task_runs(flow_run_id: str) -> dict[str, Any]:
    """Task runs of a flow run as the server recorded them, by task name."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, TaskRunFilter

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            task_run_filter=TaskRunFilter(),
        )
    return {r.name.rsplit("-", 1)[0]: r for r in runs}


def manifest_of(s3: Any, result: dict[str, Any]) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(read_object(s3, f"{result['run_dir']}/manifest.json"))
    return manifest


def forecasts_of(s3: Any, result: dict[str, Any]) -> pl.DataFrame:
    """A run's forecasts without the columns naming its model version and role."""
    frame = pl.read_parquet(io.BytesIO(read_object(s3, f"{result['run_dir']}/forecasts.parquet")))
    return frame.drop("model_version", "model_role")


def result_storage_blocks() -> list[Any]:
    """The saved result-storage block documents (secrets included, references resolved)."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        docs = client.read_block_documents(include_secrets=True)
    return [d for d in docs if str(d.name).startswith("sales-forecast-results")]


@pytest.fixture(scope="module")
def s3_run(raw_dataset: dict[str, Any], moto_endpoint: str) -> dict[str, Any]:
    """One full run with input and output in S3 (cold cache)."""
    return run_flow(
        *s3_overrides(raw_dataset["url"], MAIN_OUT, f"storage.endpoint_url={moto_endpoint}")
    )


def test_a_run_reads_input_and_writes_every_artifact_and_result_to_s3(
    s3_run: dict[str, Any], s3: Any
) -> None:
    run_dir = s3_run["run_dir"]
    assert run_dir.startswith(f"{MAIN_OUT}/runs/")
    run_prefix = run_dir.removeprefix(f"s3://{BUCKET}/")
    names = [k.rsplit("/", 1)[-1] for k in list_keys(s3, run_prefix + "/")]
    assert set(ARTIFACTS) <= set(names)
    manifest = manifest_of(s3, s3_run)
    states = {k: v["state"] for k, v in manifest["steps"].items()}
    assert {s: states[s] for s in STAGES} == dict.fromkeys(STAGES, "Completed")
    assert all(a["uri"].startswith(f"{run_dir}/") for a in manifest["artifacts"].values())
    files = manifest["input"]["files"]
    assert files
    assert all(f["path"].startswith(f"s3://{BUCKET}/raw/date=") for f in files)
    assert all(len(f["stamp"]) == 32 for f in files)  # ETags (MD5 of single-part uploads)
    counts = manifest["row_counts"]["clean"]
    assert counts["rows_in"] == counts["rows_kept"] + counts["rows_quarantined"]
    forecasts = forecasts_of(s3, s3_run)
    assert forecasts.height == 6 * 14
    assert forecasts["forecast"].min() >= 0  # type: ignore[operator]
    assert len(list_keys(s3, "out-main/cache/")) >= len(STAGES)  # shared task results


def test_the_registry_and_serving_output_live_in_s3(s3_run: dict[str, Any], s3: Any) -> None:
    model = "sales-forecast-s3"
    version = s3_run["model_version"]
    assert s3_run["promoted"] is True
    keys = set(list_keys(s3, f"out-main/registry/{model}/"))
    assert f"out-main/registry/{model}/{version}/version.json" in keys
    assert f"out-main/registry/{model}/champion.json" in keys
    champion = json.loads(read_object(s3, f"{MAIN_OUT}/registry/{model}/champion.json"))
    assert champion["version"] == version
    pointer = json.loads(read_object(s3, f"{MAIN_OUT}/serving/{model}/latest.json"))
    assert pointer["model_version"] == version
    assert pointer["dated_uri"].startswith(f"{MAIN_OUT}/serving/{model}/")
    served = pl.read_parquet(io.BytesIO(read_object(s3, pointer["dated_uri"])))
    assert served.height == pointer["rows"]
    assert set(served["model_version"]) == {version}


def test_no_secret_reaches_artifacts_results_blocks_or_config(
    s3_run: dict[str, Any], s3: Any
) -> None:
    for key in list_keys(s3, "out-main/"):
        body = read_object(s3, f"s3://{BUCKET}/{key}")
        assert FAKE_SECRET.encode() not in body, key
        assert CACHE_KEY.encode() not in body, key
    docs = result_storage_blocks()  # other test modules may have saved local ones
    slugs = [doc.block_type.slug for doc in docs if doc.block_type is not None]
    assert "sales-forecast-signed-s3-bucket" in slugs
    assert all(slug.startswith("sales-forecast-signed-") for slug in slugs), slugs
    for doc in docs:
        assert FAKE_SECRET not in json.dumps(doc.data, default=str)
        assert CACHE_KEY not in json.dumps(doc.data, default=str)


@dataclass
class FaultyRun:
    """A run through the fault proxy: its result, what the proxy did, how long it took."""

    result: dict[str, Any]
    proxy: FaultProxy
    seconds: float


FAULTY_OUT = "out-faults"


@pytest.fixture(scope="module")
def faulty_run(
    s3_run: dict[str, Any], raw_dataset: dict[str, Any], moto_endpoint: str
) -> Iterator[FaultyRun]:
    """The small run again, through a proxy that fails some reads, listings and writes."""
    proxy = FaultProxy(moto_endpoint).start()
    bucket, out = f"^/{BUCKET}", FAULTY_OUT
    proxy.arm(
        Fault(path=rf"{bucket}\?list-type=2&prefix=raw", count=2, kind="500"),  # listing
        Fault(path=rf"{bucket}/raw/.*\.parquet", method="GET", count=3, kind="503"),  # Polars
        Fault(path=rf"{bucket}/raw/.*\.parquet", method="GET", count=2, kind="reset"),
        # More than the client's own retries: the publish task itself must retry.
        Fault(
            path=rf"{bucket}/{out}/runs/.*forecasts\.parquet",
            method="PUT",
            count=8,
            kind="slowdown",
        ),
        Fault(path=rf"{bucket}/{out}/runs/.*metrics\.json", method="PUT", count=1, kind="reset"),
    )
    try:
        start = time.perf_counter()
        result = run_flow(  # the default data option, its input_path pointed at S3
            *s3_overrides(
                raw_dataset["url"],
                f"s3://{BUCKET}/{out}",
                f"storage.endpoint_url={proxy.url}",
                group="synthetic",
            )
        )
        yield FaultyRun(result, proxy, time.perf_counter() - start)
    finally:
        proxy.stop()


def test_transient_failures_are_retried_and_the_artifacts_are_identical(
    s3_run: dict[str, Any], faulty_run: FaultyRun, s3: Any
) -> None:
    result, proxy = faulty_run.result, faulty_run.proxy
    assert all(f.hits == f.count for f in proxy.faults), proxy.faults
    assert not (REPO / "s3:").exists()  # nothing was generated locally for the URL
    runs = task_runs(manifest_of(s3, result)["flow_run_id"])
    assert runs["publish"].run_count == 2  # failed once on SlowDown, then succeeded
    assert runs["publish"].state.name == "Completed"
    assert forecasts_of(s3, result).equals(forecasts_of(s3, s3_run))
    a, b = (json.loads(read_object(s3, f"{r['run_dir']}/metrics.json")) for r in (result, s3_run))
    assert a == b
    print(f"faulty run: {faulty_run.seconds:.1f}s, {len(proxy.injected())} faults injected")  # noqa: T201


def test_the_flow_role_of_the_cloudformation_template_allows_every_request_of_a_run(
    faulty_run: FaultyRun,
) -> None:
    params = {
        "LandingBucketName": BUCKET,
        "LandingPrefix": "raw/",
        "OutputBucketName": BUCKET,
        "OutputPrefix": f"{FAULTY_OUT}/",
        "TrustedPrincipalArn": "arn:aws:iam::123456789012:role/eks-nodes",
    }
    role = render(params)["Resources"]["FlowRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    requests = [(r.method, r.path) for r in faulty_run.proxy.log]
    assert {r[0] for r in requests} >= {"GET", "PUT", "DELETE"}  # reads, writes, lock releases
    assert denied(requests, statements) == []


@pytest.mark.parametrize("case", ["no_such_bucket", "access_denied"])
def test_permanent_failures_fail_at_once_naming_bucket_and_key(
    case: str, raw_dataset: dict[str, Any], fault_proxy: FaultProxy, moto_endpoint: str
) -> None:
    from flows.sales_forecast import sales_forecast

    if case == "no_such_bucket":
        input_url, endpoint = "s3://no-such-bucket-here/raw/", moto_endpoint
        expected = ["'no-such-bucket-here'", "does not exist"]
    else:
        fault_proxy.arm(Fault(path=rf"^/{BUCKET}/raw/", method="GET", count=10**6, kind="denied"))
        input_url, endpoint = raw_dataset["url"], fault_proxy.url
        expected = [f"'{BUCKET}'", "key 'raw/date=", "access denied", "AccessDenied"]
    start = time.perf_counter()
    state = sales_forecast(
        overrides=s3_overrides(
            input_url, f"s3://{BUCKET}/out-{case}", f"storage.endpoint_url={endpoint}"
        ),
        return_state=True,
    )
    assert state.is_failed()
    assert time.perf_counter() - start < 60
    ingest = task_runs(str(state.state_details.flow_run_id))["ingest"]
    assert ingest.state.name == "Failed"
    assert ingest.run_count == 1  # not retried
    message = ingest.state.message or ""
    for part in expected:
        assert part in message, message


def test_credentials_from_an_aws_credentials_block(
    s3_run: dict[str, Any],
    raw_dataset: dict[str, Any],
    moto_endpoint: str,
    s3: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no keys in the environment, every client uses the block named in config."""
    from prefect_aws import AwsCredentials

    AwsCredentials(aws_access_key_id="block-key", aws_secret_access_key=FAKE_SECRET).save(
        "s3-test-credentials", overwrite=True
    )
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = run_flow(
        *s3_overrides(
            raw_dataset["url"],
            MAIN_OUT,
            f"storage.endpoint_url={moto_endpoint}",
            "storage.aws_credentials_block=s3-test-credentials",
            "preprocessing.min_revenue=0.001",  # clean re-reads S3; the rest is cached
        )
    )
    states = {k: v["state"] for k, v in manifest_of(s3, result)["steps"].items()}
    assert states["clean"] == "Completed"
    assert states["ingest"] == "Cached"
    assert forecasts_of(s3, result).equals(forecasts_of(s3, s3_run))
    # The result-storage block refers to the credentials block; it holds no copy of them.
    [doc] = [d for d in result_storage_blocks() if "credentials" in d.block_document_references]
    ref = doc.block_document_references["credentials"]
    assert ref["block_document"]["name"] == "s3-test-credentials"


SCRIPT = """
import json, sys
from flows.sales_forecast import sales_forecast
result = sales_forecast(overrides=json.loads(sys.argv[1]))
print("RESULT " + json.dumps(result, default=str))
"""


def _run_in_own_process(
    overrides: list[str], home: Path, endpoint: str
) -> tuple[dict[str, Any], float, str]:
    """The flow in a fresh interpreter with its own PREFECT_HOME (and ephemeral API)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AWS_"))}
    env.update(fake_aws_env(endpoint, home))
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="90",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="INFO",
    )
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(overrides)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-6000:]
    line = next(x for x in reversed(proc.stdout.splitlines()) if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT ")), seconds, proc.stdout + proc.stderr


def test_another_process_with_its_own_prefect_home_takes_every_stage_from_the_cache(
    s3_run: dict[str, Any], raw_dataset: dict[str, Any], moto_endpoint: str, s3: Any, tmp_path: Path
) -> None:
    """Two processes share nothing but the bucket: this test process (its own PREFECT_HOME
    and Prefect test server) computed ``s3_run``; a fresh interpreter with another
    PREFECT_HOME and its own ephemeral API takes every stage from the results in S3.

    The second process gets the endpoint from AWS_ENDPOINT_URL, as a pod would
    (conf/storage/default.yaml), not from an override: storage settings are not part of
    any cache key.
    """
    overrides = s3_overrides(raw_dataset["url"], MAIN_OUT)
    second, seconds, log = _run_in_own_process(overrides, tmp_path / "home", moto_endpoint)
    states = {k: v["state"] for k, v in manifest_of(s3, second)["steps"].items()}
    assert {s: states[s] for s in STAGES} == dict.fromkeys(STAGES, "Cached")
    assert second["run_dir"] != s3_run["run_dir"]
    assert forecasts_of(s3, second).equals(forecasts_of(s3, s3_run))
    assert "- ingest: " not in log  # cached: the stage did not log its counts ...
    assert "Finished in state Cached" in log  # ... and the run's logs were captured
    assert FAKE_SECRET not in log
    assert CACHE_KEY not in log
    assert not (tmp_path / "home" / "storage").exists()  # nothing cached locally
    manifest = manifest_of(s3, second)
    flow_s = dt.datetime.fromisoformat(manifest["finished_at"]) - dt.datetime.fromisoformat(
        manifest["started_at"]
    )
    print(  # noqa: T201
        f"second process: {seconds:.1f}s in all, flow {flow_s.total_seconds():.1f}s, "
        f"stages {sum(v['seconds'] for v in manifest['steps'].values()):.2f}s"
    )


def test_a_shared_cache_without_a_signing_key_fails_before_any_work(
    raw_dataset: dict[str, Any], moto_endpoint: str, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.sales_forecast import sales_forecast

    monkeypatch.delenv("SALES_CACHE_HMAC_KEY")
    out = f"s3://{BUCKET}/out-no-key"
    state = sales_forecast(
        overrides=s3_overrides(raw_dataset["url"], out, f"storage.endpoint_url={moto_endpoint}"),
        return_state=True,
    )
    assert state.is_failed()
    message = str(state.result(raise_on_failure=False))
    assert f"output.result_storage={out}/cache is a shared cache" in message
    assert "SALES_CACHE_HMAC_KEY" in message
    assert "output.cache_key_block" in message
    assert list_keys(s3, "out-no-key/") == []


def test_a_pickle_record_planted_in_the_shared_cache_never_runs(
    s3_run: dict[str, Any],
    raw_dataset: dict[str, Any],
    moto_endpoint: str,
    s3: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Last in this module: it replaces a record of MAIN_OUT's cache (the run repairs it)."""
    key = storage_key(task_runs(manifest_of(s3, s3_run)["flow_run_id"])["ingest"])
    assert key is not None
    url = f"{MAIN_OUT}/cache/{key}"
    marker = tmp_path / "marker"
    planted = pickle_record(marker, key)
    s3.put_object(Bucket=BUCKET, Key=url.removeprefix(f"s3://{BUCKET}/"), Body=planted)
    with caplog.at_level("WARNING"):
        result = run_flow(
            *s3_overrides(raw_dataset["url"], MAIN_OUT, f"storage.endpoint_url={moto_endpoint}")
        )
    assert not marker.exists()
    [warning] = [r.getMessage() for r in caplog.records if url in r.getMessage()]
    assert "no signature header" in warning
    states = {k: v["state"] for k, v in manifest_of(s3, result)["steps"].items()}
    expected = {s: "Completed" if s == "ingest" else "Cached" for s in STAGES}
    assert {s: states[s] for s in STAGES} == expected
    assert forecasts_of(s3, result).equals(forecasts_of(s3, s3_run))
    repaired = read_object(s3, url)
    assert repaired != planted
    assert repaired.startswith(b"sales-forecast-cache/v1 ")
