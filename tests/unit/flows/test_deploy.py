"""Deployment definitions without a cluster or an image: prefect.yaml, the Job a Kubernetes
worker would submit for each deployment (validated against the Kubernetes schema), the
bridge manifests, the no-build variant, the ECR login step and the Dockerfile.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml

from flows.events.batch_trigger import checked_batch
from flows.events.batching import BATCH_EVENT, Batch, BatchPolicy
from flows.events.landing import Landing
from flows.events.notifications import EVENT_NAME, BridgeSettings, S3Object
from flows.ops import deploy
from tasks.storage import DATA_SUFFIXES
from tests.support import REPO
from tests.support.kubernetes import job_container, render_flow_run_job

K8S_VERSION = "1.33"
REPOSITORY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/sales-forecast"
IMAGE = f"{REPOSITORY}:0a1b2c3d4e5f"
DEPLOY_ENV = {
    "SALES_LANDING_BUCKET": "sales-landing",
    "SALES_LANDING_PREFIX": "landing/",
    "SALES_OUTPUT_PATH": "s3://sales-forecast-out/forecast",
    "SALES_SCHEDULE_TIMEZONE": "Europe/Berlin",
}


def prefect_yaml() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((REPO / "prefect.yaml").read_text())
    return doc


def templated(deployment: dict[str, Any]) -> dict[str, Any]:
    """A deployment as ``prefect deploy`` resolves it: environment, then build outputs."""
    from prefect.utilities.templating import apply_values

    with mock.patch.dict(os.environ, DEPLOY_ENV):  # env placeholders read os.environ
        config = apply_values(copy.deepcopy(deployment), os.environ, remove_notset=False)
    outputs = {"build-image": {"image": IMAGE, "image_name": REPOSITORY}}
    resolved: dict[str, Any] = apply_values(config, outputs, remove_notset=False)
    return resolved


def deployments() -> dict[str, dict[str, Any]]:
    return {d["name"]: templated(d) for d in prefect_yaml()["deployments"]}


def validate(manifest: dict[str, Any]) -> None:
    """Strict schema validation of a copy (the worker's own quirks removed, see DESIGN.md)."""
    import kubernetes_validate

    doc = copy.deepcopy(manifest)
    if doc["kind"] == "Job":
        doc["metadata"].setdefault("name", "sales-forecast-job")
        for key in ("parallelism", "completions"):  # prefect-kubernetes puts them in the pod
            doc["spec"]["template"]["spec"].pop(key, None)
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_prefect_yaml_is_what_prefect_deploy_reads() -> None:
    from prefect.cli.deploy._models import PrefectYamlModel

    model = PrefectYamlModel.model_validate(prefect_yaml())
    assert [d.name for d in model.deployments] == ["daily", "on-upload", "large"]
    # a module path: the flow is imported from the installed package, not a file in /app
    assert {d.entrypoint for d in model.deployments} == {"flows.sales_forecast.sales_forecast"}
    (build,) = model.build or []
    assert "prefect_docker.deployments.steps.build_docker_image" in build
    assert [next(iter(s)) for s in model.push or []] == [
        "flows.ecr.docker_credentials",
        "prefect_docker.deployments.steps.push_docker_image",
    ]
    assert model.pull == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "/app"}}
    ]


def test_the_entrypoint_takes_plain_json_parameters() -> None:
    from prefect.flows import load_flow_from_entrypoint
    from prefect.utilities.callables import parameter_schema

    (entrypoint,) = {d["entrypoint"] for d in deployments().values()}
    flow = load_flow_from_entrypoint(entrypoint)
    assert flow.name == "sales-forecast"
    schema = parameter_schema(flow).model_dump()
    assert {"overrides", "s3_object", "s3_batch"} <= set(schema["properties"])
    for name, deployment in deployments().items():
        params = deployment["parameters"]
        assert json.loads(json.dumps(params)) == params, name
        extra = ["runner=dask_kubernetes"] if name == "large" else []
        assert params["overrides"] == ["data=s3", "mode=production", *extra], name


@pytest.mark.parametrize("name", ["daily", "on-upload", "large"])
def test_both_deployments_run_one_at_a_time_on_the_shared_queue(name: str) -> None:
    deployment = deployments()[name]
    assert deployment["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}
    assert deployment["work_pool"]["name"] == deploy.POOL
    assert deployment["work_pool"]["work_queue_name"] == deploy.QUEUE
    env = deployment["work_pool"]["job_variables"]["env"]
    assert env["SALES_INPUT_PATH"] == "s3://sales-landing/landing/"
    assert env["SALES_OUTPUT_PATH"] == "s3://sales-forecast-out/forecast"
    assert (env["SALES_LANDING_BUCKET"], env["SALES_LANDING_PREFIX"]) == (
        "sales-landing",
        "landing/",
    )  # the allow-list the flow checks an event's object against


def test_the_daily_schedule_has_a_configurable_time_zone() -> None:
    (schedule,) = deployments()["daily"]["schedules"]
    assert schedule == {"cron": "0 5 * * *", "timezone": "Europe/Berlin"}
    assert "schedules" not in deployments()["on-upload"]


def test_the_upload_trigger_starts_a_run_per_batch_and_passes_its_objects() -> None:
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
    from prefect.server.events.actions import RunDeployment
    from prefect.server.events.schemas.events import ReceivedEvent
    from prefect.utilities.schema_tools.hydration import HydrationContext, hydrate

    (spec,) = deployments()["on-upload"]["triggers"]
    trigger = DeploymentEventTrigger.model_validate(spec)
    assert trigger.expect == {BATCH_EVENT}  # the per-file events start nothing
    assert EVENT_NAME not in trigger.expect
    assert trigger.match.root["prefect.resource.id"] == "s3://sales-landing/landing/*"
    assert trigger.for_each == {"prefect.resource.id"}  # one bucket per landing prefix

    etag = "0123456789abcdef0123456789abcdef-2"
    keys = ['landing/date=2024-05-01/north "q" {{x}}.csv', "landing/date=2024-05-02/b.parquet"]
    objects = tuple(S3Object("sales-landing", k, etag, 10, "ObjectCreated:Put", None) for k in keys)
    event = ReceivedEvent.model_validate(
        Batch("sales-landing", "landing/", objects, "marker", 3).event()
    )
    assert trigger.match.matches(event.resource)
    other = Batch("sales-landing", "archive/", objects[:1], "debounce", 1).event()
    assert not trigger.match.matches(ReceivedEvent.model_validate(other).resource)

    parameters = copy.deepcopy(spec["parameters"])  # rendered as the server's action does
    RunDeployment._upgrade_v1_templates(parameters)
    context = HydrationContext(
        raise_on_error=True, render_jinja=True, jinja_context={"event": event}
    )
    rendered = hydrate(parameters, context)
    assert rendered == {"s3_batch": event.payload}  # the list and the count keep their types
    landing = Landing(("sales-landing",), "landing/", DATA_SUFFIXES)
    batch = checked_batch(rendered["s3_batch"], landing)
    assert [u.key for u in batch.uploads] == sorted(keys)
    assert (batch.closed_by, batch.notifications) == ("marker", 3)


def flow_run_job(deployment_name: str) -> dict[str, Any]:
    """The Job manifest a Kubernetes worker builds for a flow run of the deployment."""
    from prefect.client.schemas.objects import Flow, FlowRun
    from prefect.client.schemas.responses import DeploymentResponse

    template = json.loads(deploy.TEMPLATE.read_text())
    deployment = deployments()[deployment_name]
    values = deployment["work_pool"]["job_variables"]
    flow = Flow(id=uuid.uuid4(), name="sales-forecast")
    api = DeploymentResponse(id=uuid.uuid4(), name=deployment_name, flow_id=flow.id)
    run = FlowRun(id=uuid.uuid4(), name="brave-fox", flow_id=flow.id, deployment_id=api.id)
    return render_flow_run_job(
        template, values, run, api, flow, "http://prefect-server.prefect:4200/api"
    )


@pytest.mark.parametrize("name", ["daily", "on-upload"])
def test_the_flow_run_job_is_a_valid_kubernetes_job(name: str) -> None:
    job = flow_run_job(name)
    validate(job)
    assert job["metadata"]["namespace"] == "sales-forecast"
    spec = job["spec"]
    assert (spec["backoffLimit"], spec["ttlSecondsAfterFinished"]) == (0, 86400)
    assert spec["activeDeadlineSeconds"] == 10800
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "sales-forecast-flow"
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = job_container(job)
    assert container["image"] == IMAGE
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["args"] == ["prefect", "flow-run", "execute"]
    assert "command" not in container  # the image has no ENTRYPOINT: args are the command
    assert container["workingDir"] == "/app"
    assert container["resources"] == {
        "requests": {"cpu": "1", "memory": "2Gi"},
        "limits": {"cpu": "2", "memory": "4Gi"},
    }
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PREFECT_API_URL"] == "http://prefect-server.prefect:4200/api"
    assert env["PREFECT__FLOW_RUN_ID"] == job["metadata"]["labels"]["prefect.io/flow-run-id"]
    assert env["SALES_INPUT_PATH"] == "s3://sales-landing/landing/"
    assert env["SALES_OUTPUT_PATH"] == "s3://sales-forecast-out/forecast"
    assert not any("SECRET" in k or "PASSWORD" in k for k in env)  # secrets: envFrom only
    assert container["envFrom"] == [
        {"secretRef": {"name": "sales-forecast-aws", "optional": True}},
        {"secretRef": {"name": "sales-forecast-cache-key", "optional": True}},  # cache HMAC key
    ]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_work_pool_template_declares_its_variables() -> None:
    template = json.loads(deploy.TEMPLATE.read_text())
    variables = template["variables"]["properties"]
    assert {
        "credentials_secret_name",
        "cache_key_secret_name",
        "active_deadline_seconds",
        "image",
    } <= set(variables)
    used = json.dumps(template["job_configuration"])
    for name in variables:
        assert "{{ " + name + " }}" in used, name


def test_the_bridge_manifests_are_valid_and_match_its_settings() -> None:
    docs = list(yaml.safe_load_all((REPO / "deploy/s3-bridge.yaml").read_text()))
    docs += list(yaml.safe_load_all((REPO / "deploy/flow-runs.yaml").read_text()))
    for doc in docs:
        validate(doc)
    by_kind = {d["kind"]: d for d in docs}
    pod = by_kind["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "flows.bridge"]
    assert container["livenessProbe"]["exec"]["command"][-1] == "--healthcheck"
    settings = BridgeSettings.from_env(by_kind["ConfigMap"]["data"])
    policy = BatchPolicy.from_env(by_kind["ConfigMap"]["data"], settings.landing.suffixes)
    assert policy == BatchPolicy()  # the ConfigMap spells out the defaults
    assert settings.landing.buckets == ("sales-landing",)
    assert settings.landing.prefix == "landing/"
    assert settings.landing.suffixes == (".parquet", ".csv")
    assert pod["serviceAccountName"] == "sales-forecast-bridge"
    kustomization = yaml.safe_load((REPO / "deploy/kustomization.yaml").read_text())
    assert set(kustomization["resources"]) == {"flow-runs.yaml", "s3-bridge.yaml", "dask.yaml"}
    assert kustomization["images"][0]["name"] == container["image"]


def test_no_build_keeps_the_deployments_and_changes_only_pool_image_and_code() -> None:
    doc = prefect_yaml()
    original = copy.deepcopy(doc)
    derived = deploy.no_build_config(
        doc,
        pool="local",
        pool_variables=["env", "command", "working_dir"],
        workdir="/src",
        extra_overrides=["model.num_boost_round=5"],
    )
    assert doc == original
    assert derived["build"] is None
    assert derived["push"] is None
    pull = [{"prefect.deployments.steps.set_working_directory": {"directory": "/src"}}]
    assert derived["pull"] == pull
    for before, after in zip(doc["deployments"], derived["deployments"], strict=True):
        assert after["build"] is None
        assert after["push"] is None
        assert after["work_pool"]["name"] == "local"
        env = before["work_pool"]["job_variables"]["env"]
        built = {k for k, v in env.items() if v == deploy.BUILT_IMAGE}  # no build: no image
        assert after["work_pool"]["job_variables"] == {
            "env": {k: v for k, v in env.items() if k not in built}
        }
        overrides = before["parameters"]["overrides"]
        assert after["parameters"]["overrides"] == [*overrides, "model.num_boost_round=5"]
        same = {"name", "entrypoint", "concurrency_limit", "schedules", "triggers", "tags"}
        assert {k: after.get(k) for k in same} == {k: before.get(k) for k in same}
    on_k8s = deploy.no_build_config(doc, image=IMAGE)
    assert all(d["work_pool"]["job_variables"]["image"] == IMAGE for d in on_k8s["deployments"])
    large = on_k8s["deployments"][-1]["work_pool"]["job_variables"]["env"]
    assert large["SALES_DASK_IMAGE"] == IMAGE  # Dask pods run the flow's image
    assert all(d["work_pool"]["name"] == deploy.POOL for d in on_k8s["deployments"])


def test_deploy_names_the_missing_variables(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in (*deploy.REQUIRED_ENV, *deploy.BUILD_ENV):
        monkeypatch.delenv(name, raising=False)
    assert deploy.main(["deploy", "--no-build"]) == 2
    assert "SALES_LANDING_BUCKET, SALES_LANDING_PREFIX, SALES_OUTPUT_PATH" in caplog.text
    assert deploy.missing_env(DEPLOY_ENV, build=True) == ["IMAGE_REPOSITORY"]
    assert deploy.landing_problem(DEPLOY_ENV) is None
    for name, value, error in [
        ("SALES_LANDING_BUCKET", "Sales_Landing", "is not an S3 bucket name"),
        ("SALES_LANDING_BUCKET", "sales-landing,sales-eu", "from one bucket"),
        ("SALES_LANDING_PREFIX", "landing", "must be a safe key prefix ending in '/'"),
    ]:
        for key, val in {**DEPLOY_ENV, name: value}.items():
            monkeypatch.setenv(key, val)
        caplog.clear()
        assert deploy.main(["deploy", "--no-build"]) == 2
        assert error in caplog.text
    env = deploy.deploy_env({"GIT_COMMIT": "0123456789abcdef0123"})
    assert (env["IMAGE_TAG"], env["SALES_SCHEDULE_TIMEZONE"]) == ("0123456789ab", "UTC")


def test_the_ecr_step_returns_docker_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from moto import mock_aws

    from flows.ops import ecr

    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-never-logged-0123456789")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    with mock_aws():
        creds = ecr.docker_credentials(REPOSITORY)
    assert creds["username"] == "AWS"
    assert creds["password"]
    assert "eu-west-1" in creds["registry_url"] or "123456789012" in creds["registry_url"]
    with pytest.raises(ValueError, match="not an ECR registry"):
        ecr.docker_credentials("ghcr.io/acme/sales-forecast")


def test_the_dockerfile_is_multi_stage_locked_and_non_root() -> None:
    hadolint = REPO / ".venv/bin/hadolint"
    done = subprocess.run(
        [str(hadolint), "Dockerfile"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    text = (REPO / "Dockerfile").read_text()
    stages = text.split("\nFROM ")
    assert len(stages) == 3  # preamble, builder, runtime
    builder, runtime = stages[1], stages[2]
    assert "uv sync --frozen --no-dev --no-install-project" in builder
    # the project is its wheel, installed without resolving dependencies again
    assert "uv build --wheel" in builder
    assert "--no-deps /src/dist/sales_forecast-" in builder
    runs = [line for line in runtime.splitlines() if line.startswith("RUN")]
    assert not any("uv" in line.split() or "pip" in line for line in runs)  # no build tools
    assert "COPY --from=builder /app/.venv /app/.venv" in runtime
    # the one system package: LightGBM's OpenMP runtime, in the runtime stage, lists removed
    assert "apt-get" not in builder
    installs = [line for line in runtime.splitlines() if "apt-get install" in line]
    assert [line.split()[-2:] for line in installs] == [["libgomp1", "\\"]]
    assert "rm -rf /var/lib/apt/lists/*" in runtime
    assert "USER 10001:10001" in runtime
    assert "WORKDIR /app" in runtime
    copies = [line for line in runtime.splitlines() if line.startswith("COPY")]
    assert copies == ["COPY --from=builder /app/.venv /app/.venv"]  # no source tree in /app
    assert "PYTHONPATH" not in runtime
    rules = [r for r in (REPO / ".dockerignore").read_text().splitlines() if r[:1] not in "#"]
    assert rules[0] == "*"  # deny by default: no .venv, .git, data or outputs in the context
    assert {"!flows/", "!tasks/", "!conf/", "!uv.lock", "!README.md"} <= set(rules)
