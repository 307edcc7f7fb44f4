"""The runner config group and Dask on Kubernetes without a cluster: the large deployment's
Job, the DaskCluster resource its flow run creates (pods and service validated strictly
against the Kubernetes schema) and the RBAC that lets the flow create it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from flows import config as conf
from flows import runner
from tasks.errors import ConfigError
from tests.support import REPO
from tests.unit.flows.test_deploy import IMAGE, deployments, flow_run_job, validate

FLOW_ENV = {
    "PREFECT_API_URL": "http://prefect-server.prefect:4200/api",
    "SALES_OUTPUT_PATH": "s3://sales-forecast-out/forecast",
}


def compose(*overrides: str) -> conf.AppConfig:
    return conf.to_app_config(conf.compose_config(list(overrides)))


def test_local_is_the_default_and_dask_options_compose() -> None:
    assert compose().runner.name == "local"
    dask = compose("runner=dask", "runner.n_workers=3").runner
    assert (dask.name, dask.cluster, dask.n_workers, dask.address) == ("dask", "local", 3, None)
    kwargs = runner.local_cluster_kwargs(dask)
    assert (kwargs["n_workers"], kwargs["processes"], kwargs["host"]) == (3, True, "127.0.0.1")
    joined = compose("runner=dask", "runner.address=tcp://10.0.0.5:8786").runner
    assert runner.task_runner(joined).address == "tcp://10.0.0.5:8786"


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("runner.name=spark", "runner.name"),
        ("runner.n_workers=0", "runner.n_workers"),
        ("runner.address=10.0.0.5", "runner.address"),
        ("runner.kubernetes.worker_memory=lots", "runner.kubernetes.worker_memory"),
        ("runner.kubernetes.worker_cpu=-1", "runner.kubernetes.worker_cpu"),
    ],
)
def test_bad_runner_values_name_their_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        compose("runner=dask", override)
    assert key in str(err.value)


def cluster_spec(*overrides: str) -> dict[str, Any]:
    rc = compose("runner=dask_kubernetes", *overrides).runner
    return runner.dask_cluster_spec(rc.kubernetes, FLOW_ENV)


def as_pod(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def test_the_dask_cluster_resource_has_valid_pods_sized_by_config() -> None:
    spec = cluster_spec("runner.kubernetes.worker_memory=24Gi", "runner.kubernetes.n_workers=6")
    assert (spec["apiVersion"], spec["kind"]) == ("kubernetes.dask.org/v1", "DaskCluster")
    assert spec["metadata"]["name"] == "sales-forecast-dask"
    worker, scheduler = spec["spec"]["worker"], spec["spec"]["scheduler"]
    assert worker["replicas"] == 6
    validate(as_pod("worker", worker["spec"]))
    validate(as_pod("scheduler", scheduler["spec"]))
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "scheduler"},
               "spec": scheduler["service"]}  # fmt: skip
    validate(service)
    (w,) = worker["spec"]["containers"]
    assert w["resources"] == {
        "requests": {"cpu": "2", "memory": "24Gi"},
        "limits": {"cpu": "2", "memory": "24Gi"},
    }
    (s,) = scheduler["spec"]["containers"]
    assert s["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}
    for pod, container in ((worker["spec"], w), (scheduler["spec"], s)):
        assert pod["serviceAccountName"] == "sales-forecast-dask"
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env == {**FLOW_ENV, "OMP_WAIT_POLICY": "PASSIVE"}  # never a secret value
        assert container["envFrom"] == [
            {"secretRef": {"name": "sales-forecast-aws", "optional": True}},
            {"secretRef": {"name": "sales-forecast-cache-key", "optional": True}},
        ]


def test_the_flow_forwards_only_named_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://prefect-server.prefect:4200/api")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-forwarded")
    rc = compose("runner=dask_kubernetes", "runner.kubernetes.namespace=sales-forecast").runner
    kwargs = runner.kube_cluster_kwargs(rc.kubernetes)
    assert (kwargs["namespace"], kwargs["shutdown_on_close"]) == ("sales-forecast", True)
    (w,) = kwargs["custom_cluster_spec"]["spec"]["worker"]["spec"]["containers"]
    names = {e["name"] for e in w["env"]}
    assert "PREFECT_API_URL" in names
    assert names <= {*runner.FORWARDED_ENV}
    assert runner.task_runner(rc).cluster_class == "dask_kubernetes.operator.KubeCluster"


def test_the_large_deployment_runs_a_bigger_flow_pod_that_creates_its_cluster() -> None:
    job = flow_run_job("large")
    validate(job)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "16Gi"}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["SALES_DASK_IMAGE"] == IMAGE == container["image"]
    assert env["SALES_DASK_NAMESPACE"] == job["metadata"]["namespace"]
    overrides = deployments()["large"]["parameters"]["overrides"]
    cfg = compose(*overrides[1:])  # data=s3 needs the landing env; the runner is what matters
    assert (cfg.runner.name, cfg.runner.cluster) == ("dask", "kubernetes")


def test_the_dask_manifests_are_valid_and_grant_the_flow_its_clusters() -> None:
    docs = list(yaml.safe_load_all((REPO / "deploy/dask.yaml").read_text()))
    for doc in docs:
        validate(doc)
    by_kind = {d["kind"]: d for d in docs}
    flow_account = flow_run_job("large")["spec"]["template"]["spec"]["serviceAccountName"]
    (subject,) = by_kind["RoleBinding"]["subjects"]
    assert subject["name"] == flow_account
    assert by_kind["RoleBinding"]["roleRef"]["name"] == by_kind["Role"]["metadata"]["name"]
    dask_rule = by_kind["Role"]["rules"][0]
    assert dask_rule["apiGroups"] == ["kubernetes.dask.org"]
    assert {"create", "delete"} <= set(dask_rule["verbs"])
    assert "daskclusters" in dask_rule["resources"]
    worker_account = compose("runner=dask_kubernetes").runner.kubernetes.service_account
    assert by_kind["ServiceAccount"]["metadata"]["name"] == worker_account
