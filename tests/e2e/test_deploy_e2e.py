"""End to end on this machine: S3 upload → SQS → bridge → Prefect event → trigger → flow run.

Stands in for production as far as this machine allows: a real ``prefect server start``
(127.0.0.1, a free port), moto's S3 + SQS server, and a *process* work pool in place of the
Kubernetes pool. The deployments are the ones in ``prefect.yaml``, registered with
``python -m flows.deploy deploy --no-build --pool <process pool>`` (only the pool, its job
variables and the code directory differ; tiny-data overrides are appended), run by a
process worker; the bridge runs as ``python -m flows.bridge``, as in its Kubernetes pod.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from tests.e2e.services import (
    Service,
    object_keys,
    read_object,
    start_prefect_server,
    wait_for,
)
from tests.support import REPO, SMALL

pytestmark = pytest.mark.slow

LANDING = "sales-landing"
PREFIX = "landing/"
OUT_BUCKET = "sales-forecast-out"
OUTPUT = f"s3://{OUT_BUCKET}/forecast"
POOL = "e2e-process"
REGION = "us-east-1"
DROP = 30  # files that land together: one run
HELD_BACK = DROP + 3  # newest daily partitions, uploaded by the tests (the rest is history)
DEBOUNCE = 5  # seconds of quiet that close an upload batch (production: 60)
RUN_TIMEOUT = 600
TIMEZONE = "Europe/Berlin"
# The small run (tests.support.SMALL), the categories data=s3 needs for the generated set.
OVERRIDES = [
    *[o for o in SMALL if not o.startswith("data.generator.")],
    "+data.allowed_categories.region=[north,south]",
    "+data.allowed_categories.product_type=[grocery,toys,sports]",
]


@dataclass
class Stack:
    """The running services and how to reach them."""

    api: str
    s3: Any
    sqs: Any
    queue: str
    env: dict[str, str]
    dataset: Path
    history: list[str]
    new_keys: list[str]
    bridge: Service
    worker: Service
    server: Service

    def client(self) -> Any:
        """A sync Prefect client on the test server."""
        from prefect.client.orchestration import SyncPrefectClient, get_client

        client: SyncPrefectClient = get_client(sync_client=True)
        return client

    def runs(self, deployment: str, scheduled: bool = False) -> list[Any]:
        """Flow runs of ``sales-forecast/<deployment>``, oldest first (``scheduled``: the
        scheduler's runs, else the others)."""
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

        with self.settings(), self.client() as client:
            dep = client.read_deployment_by_name(f"sales-forecast/{deployment}")
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep.id]))
            )
        return sorted((r for r in runs if r.auto_scheduled == scheduled), key=lambda r: r.created)

    def settings(self) -> contextlib.AbstractContextManager[Any]:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        return temporary_settings({PREFECT_API_URL: self.api})

    def put(self, key: str, body: bytes, bucket: str = LANDING) -> None:
        self.s3.put_object(Bucket=bucket, Key=key, Body=body)

    def queue_empty(self) -> bool:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(v) for v in attrs.values()) == 0

    def logs(self) -> str:
        return "\n".join(
            f"--- {s.name} (last lines) ---\n{s.output()[-4000:]}"
            for s in (self.bridge, self.worker, self.server)
        )

    def manifest(self, flow_run_id: str) -> dict[str, Any]:
        """The run manifest the flow run wrote to the output bucket."""
        for key in self.keys(OUT_BUCKET, "forecast/runs/"):
            if key.endswith("/manifest.json"):
                doc: dict[str, Any] = json.loads(self.read(OUT_BUCKET, key))
                if doc.get("flow_run_id") == flow_run_id:
                    return doc
        raise AssertionError(f"no manifest for flow run {flow_run_id}\n{self.logs()}")

    def keys(self, bucket: str, prefix: str) -> list[str]:
        return object_keys(self.s3, bucket, prefix)

    def read(self, bucket: str, key: str) -> bytes:
        return read_object(self.s3, bucket, key)


def aws_env(endpoint: str, home: Path) -> dict[str, str]:
    """Fake credentials and the moto endpoint, as a pod would get them."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "fake-secret-never-logged-0123456789",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(home / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
    }


def run(args: list[str], env: dict[str, str], timeout: float = 180) -> str:
    """Run a command to completion in the repository; its output, or a failure showing it."""
    done = subprocess.run(
        args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def upload_dataset(stack_s3: Any, root: Path) -> tuple[list[str], list[str]]:
    """Upload all but the newest partitions; returns (history keys, held-back keys)."""
    files = sorted(p for p in root.glob("date=*/*.parquet"))
    keys = [f"{PREFIX}{p.relative_to(root).as_posix()}" for p in files]
    for path, key in zip(files[:-HELD_BACK], keys[:-HELD_BACK], strict=True):
        stack_s3.upload_file(str(path), LANDING, key)
    return keys[:-HELD_BACK], keys[-HELD_BACK:]


def landing_and_queue(s3: Any, sqs: Any) -> tuple[str, str]:
    """Buckets, the upload queue with a dead-letter queue; returns (queue URL, queue ARN)."""
    for bucket in (LANDING, OUT_BUCKET):
        s3.create_bucket(Bucket=bucket)
    arn = {"AttributeNames": ["QueueArn"]}
    dlq = sqs.create_queue(QueueName="sales-uploads-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, **arn)["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})
    queue = sqs.create_queue(QueueName="sales-uploads", Attributes={"RedrivePolicy": redrive})
    url = queue["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, **arn)["Attributes"]["QueueArn"]


def notify(s3: Any, queue_arn: str) -> None:
    """S3 event notifications of the landing bucket to the queue (sends an s3:TestEvent)."""
    rule = {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}
    s3.put_bucket_notification_configuration(
        Bucket=LANDING, NotificationConfiguration={"QueueConfigurations": [rule]}
    )


def register(env: dict[str, str]) -> None:
    """The process pool and the deployments of prefect.yaml on it, with tiny-data overrides."""
    python = sys.executable
    run([python, "-m", "flows.deploy", "pool", "--pool", POOL, "--type", "process"], env)
    deploy_env = env | {
        "SALES_LANDING_BUCKET": LANDING,
        "SALES_LANDING_PREFIX": PREFIX,
        "SALES_OUTPUT_PATH": OUTPUT,
        "SALES_SCHEDULE_TIMEZONE": TIMEZONE,
    }
    extra = [f"--override={o}" for o in OVERRIDES]
    args = ["deploy", "--no-build", "--pool", POOL, "--workdir", str(REPO), *extra]
    run([python, "-m", "flows.deploy", *args], deploy_env)


def start_worker(env: dict[str, str], home: Path, logs: Path) -> Service:
    """A process worker on the pool, polling every second."""
    worker_env = env | {
        "SALES_CACHE_HMAC_KEY": "e2e-cache-signing-key-not-a-secret-0000",  # S3 cache: required
        "PREFECT_HOME": str(home),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    args = ["worker", "start", "--pool", POOL, "--type", "process", "--name", "e2e"]
    return Service.start("worker", [sys.executable, "-m", "prefect", *args], worker_env, REPO, logs)


def start_bridge(env: dict[str, str], queue: str, endpoint: str, logs: Path) -> Service:
    """``python -m flows.bridge`` with its settings from the environment, as in its pod."""
    bridge_env = env | {
        "SALES_BRIDGE_QUEUE_URL": queue,
        "SALES_LANDING_BUCKET": LANDING,
        "SALES_LANDING_PREFIX": PREFIX,
        "SALES_BRIDGE_ENDPOINT_URL": endpoint,
        "SALES_BRIDGE_WAIT_SECONDS": "1",
        "SALES_BRIDGE_VISIBILITY_TIMEOUT": "30",
        "SALES_BRIDGE_DEBOUNCE_SECONDS": str(DEBOUNCE),
        "SALES_BRIDGE_HEARTBEAT_FILE": str(logs / "bridge.heartbeat"),
    }
    args = [sys.executable, "-m", "flows.bridge"]
    return Service.start("bridge", args, bridge_env, REPO, logs)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """moto S3+SQS, a Prefect server, the process pool and deployments, a worker, the bridge."""
    import boto3
    from moto.server import ThreadedMotoServer

    from flows import config as conf
    from tasks.data.sources.generate import write_dataset

    root = tmp_path_factory.mktemp("deploy-e2e")
    logs = root / "logs"
    logs.mkdir()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    with contextlib.ExitStack() as cleanup:
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        cleanup.callback(moto.stop)
        host, port = moto.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        aws = aws_env(endpoint, root)
        keys = {
            "aws_access_key_id": aws["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": aws["AWS_SECRET_ACCESS_KEY"],
        }
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION, **keys)
        sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=REGION, **keys)
        queue, queue_arn = landing_and_queue(s3, sqs)
        spec = conf.to_app_config(conf.compose_config(SMALL)).data.generator.to_spec()
        dataset = root / "dataset"
        write_dataset(spec, dataset)
        history, new_keys = upload_dataset(s3, dataset)  # before notifications: no events
        notify(s3, queue_arn)

        keep = {
            k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PREFECT_", "SALES_"))
        }
        base = (
            keep | aws | {"OMP_WAIT_POLICY": "PASSIVE", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        )
        server, api = start_prefect_server(root / "server", logs, base)
        cleanup.callback(server.stop)
        env = base | {"PREFECT_API_URL": api, "PREFECT_HOME": str(root / "client")}
        register(env)
        worker = start_worker(env, root / "worker", logs)
        # A worker ignores one SIGTERM: SIGINT twice, then SIGKILL (DESIGN.md).
        cleanup.callback(worker.stop, (signal.SIGINT, signal.SIGINT), 10)
        bridge = start_bridge(env, queue, endpoint, logs)
        cleanup.callback(bridge.stop)
        stack = Stack(api, s3, sqs, queue, env, dataset, history, new_keys, bridge, worker, server)
        wait_for(lambda: "s3:TestEvent" in bridge.output() or not bridge.alive(), 60, "the bridge")
        assert bridge.alive(), stack.logs()
        yield stack


def finished(runs: list[Any], count: int) -> list[Any] | None:
    """``runs`` once there are ``count`` of them, all in a final state."""
    if len(runs) >= count and all(r.state is not None and r.state.is_final() for r in runs):
        return runs
    return None


def local_file(stack: Stack, key: str) -> bytes:
    return (stack.dataset / key.removeprefix(PREFIX)).read_bytes()


def test_the_daily_schedule_makes_runs_at_five_in_its_time_zone(stack: Stack) -> None:
    runs = wait_for(lambda: stack.runs("daily", scheduled=True), 120, "scheduled daily runs")
    local = [r.expected_start_time.astimezone(ZoneInfo(TIMEZONE)) for r in runs]
    assert all((t.hour, t.minute) == (5, 0) for t in local), local
    overrides = runs[0].parameters["overrides"]
    assert overrides[0] == "data=s3"
    assert json.loads(json.dumps(runs[0].parameters)) == runs[0].parameters  # plain JSON


def emitted_batches(stack: Stack) -> int:
    return stack.bridge.output().count("emitted batch ")


def test_thirty_files_that_land_together_make_one_run_and_a_later_file_one_more(
    stack: Stack,
) -> None:
    drop, later = stack.new_keys[:DROP], stack.new_keys[DROP]
    start = time.perf_counter()
    stack.put(f"archive/{drop[0]}", local_file(stack, drop[0]))  # outside the prefix: no run
    stack.put(f"{PREFIX}notes.txt", b"not sales")  # not a sales file: no run
    for key in drop:
        stack.put(key, local_file(stack, key))
    stack.put(drop[0], local_file(stack, drop[0]))  # the same file again: the same object

    (run,) = wait_for(
        lambda: finished(stack.runs("on-upload"), 1), RUN_TIMEOUT, "the triggered flow run"
    )
    seconds = time.perf_counter() - start
    assert run.state.is_completed(), f"{run.state}\n{stack.logs()}"
    batch = run.parameters["s3_batch"]
    assert (batch["bucket"], batch["prefix"]) == (LANDING, PREFIX)
    assert [o["key"] for o in batch["objects"]] == sorted(drop)
    assert batch["notifications"] == DROP + 1
    etags = {k: stack.s3.head_object(Bucket=LANDING, Key=k)["ETag"].strip('"') for k in drop}
    assert {o["key"]: o["etag"] for o in batch["objects"]} == etags

    wait_for(stack.queue_empty, 60, "the bridge to drain the queue")
    bridge_log = stack.bridge.output()
    assert f"ignored s3://{LANDING}/archive/{drop[0]}: key is outside the landing prefix" in (
        bridge_log
    )
    assert f"ignored s3://{LANDING}/{PREFIX}notes.txt: key does not end in" in bridge_log
    assert emitted_batches(stack) == 1, bridge_log[-3000:]
    time.sleep(2 * DEBOUNCE)  # time for a (wrong) second batch or trigger firing to show up
    assert len(stack.runs("on-upload")) == 1, stack.logs()
    assert stack.runs("daily") == []

    manifest = stack.manifest(str(run.id))
    trigger = manifest["trigger"]
    assert (trigger["kind"], trigger["batch_id"]) == ("batch", batch["batch_id"])
    assert (trigger["object_count"], trigger["closed_by"]) == (DROP, "debounce")
    files = sorted(f["path"] for f in manifest["input"]["files"])
    assert files == sorted(f"s3://{LANDING}/{k}" for k in [*stack.history, *drop])
    run_prefix = manifest["run_dir"].removeprefix(f"s3://{OUT_BUCKET}/") + "/"
    written = {k.rsplit("/", 1)[-1] for k in stack.keys(OUT_BUCKET, run_prefix)}
    assert {"config.yaml", "forecasts.parquet", "metrics.json", "model.txt"} <= written
    config = yaml.safe_load(stack.read(OUT_BUCKET, run_prefix + "config.yaml"))
    assert config["data"]["input_path"] == f"s3://{LANDING}/{PREFIX}"

    later_start = time.perf_counter()
    stack.put(later, local_file(stack, later))
    first, second = wait_for(
        lambda: finished(stack.runs("on-upload"), 2), RUN_TIMEOUT, "the later file's run"
    )
    later_seconds = time.perf_counter() - later_start
    assert first.id == run.id
    assert second.state.is_completed(), f"{second.state}\n{stack.logs()}"
    assert [o["key"] for o in second.parameters["s3_batch"]["objects"]] == [later]
    time.sleep(2 * DEBOUNCE)
    assert len(stack.runs("on-upload")) == 2, stack.logs()
    files = stack.manifest(str(second.id))["input"]["files"]
    assert len(files) == len(stack.history) + DROP + 1
    print(  # noqa: T201
        f"{DROP} files → 1 run, completed {seconds:.0f}s after the first upload; "
        f"1 later file → 1 more run, completed after {later_seconds:.0f}s"
    )


def test_uploads_and_the_schedule_run_one_at_a_time(stack: Stack) -> None:
    before = {r.id for r in stack.runs("on-upload")}
    first, second = stack.new_keys[DROP + 1 :]
    batches = emitted_batches(stack)
    stack.put(first, local_file(stack, first))
    wait_for(lambda: emitted_batches(stack) > batches, 60, "the first upload's batch")
    stack.put(second, local_file(stack, second))  # a second batch while the first runs ...
    # ... and the daily deployment, run the way production runs it by hand.
    run([sys.executable, "-m", "prefect", "deployment", "run", "sales-forecast/daily"], stack.env)

    def new_runs() -> list[Any] | None:
        runs = [r for r in stack.runs("on-upload") if r.id not in before] + stack.runs("daily")
        return finished(runs, 3)

    runs = wait_for(new_runs, 2 * RUN_TIMEOUT, "two triggered runs and a daily run")
    assert len(runs) == 3, stack.logs()
    assert all(r.state.is_completed() for r in runs), f"{[r.state for r in runs]}\n{stack.logs()}"
    keys = sorted(
        o["key"]
        for r in runs
        if r.parameters.get("s3_batch")
        for o in r.parameters["s3_batch"]["objects"]
    )
    assert keys == sorted([first, second])

    spans = sorted((r.start_time, r.end_time) for r in runs)
    for (_, end), (next_start, _) in itertools.pairwise(spans):
        assert next_start >= end, f"runs overlapped: {spans}"

    manifests = [stack.manifest(str(r.id)) for r in runs]  # every run wrote its artifacts
    assert all(m["run_dir"].startswith(f"{OUTPUT}/runs/") for m in manifests)
    registry = stack.keys(OUT_BUCKET, "forecast/registry/")
    champion = [k for k in registry if k.endswith("/champion.json")]
    for key in champion:  # the champion pointer, when there is one, names a stored version
        version = json.loads(stack.read(OUT_BUCKET, key))["version"]
        assert any(f"/{version}/" in k for k in registry), (version, registry)
    walls = [(r.end_time - r.start_time).total_seconds() for r in runs]
    total = (max(e for _, e in spans) - min(s for s, _ in spans)).total_seconds()
    print(f"3 serialized runs: {total:.0f}s in all, each {walls}")  # noqa: T201
