"""deploy/cloudformation.yaml: what must hold for the bridge and the flow runs to work, and
no more access than they need (cfn-lint checks the rest in ``make lint``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.support import REPO
from tests.support.cloudformation import PSEUDO, failed_rules, load, render

PARAMS = {"LandingBucketName": "sales-landing", "OutputBucketName": "sales-forecast"}
IRSA = "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
ACCOUNT, REGION = PSEUDO["AWS::AccountId"], PSEUDO["AWS::Region"]


def k8s_docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((REPO / "deploy" / name).read_text()) if d]


def bridge_config() -> dict[str, str]:
    """The data of the bridge's ConfigMap in deploy/s3-bridge.yaml."""
    (config,) = [d for d in k8s_docs("s3-bridge.yaml") if d["kind"] == "ConfigMap"]
    data: dict[str, str] = config["data"]
    return data


def resources(**params: str) -> dict[str, Any]:
    rendered = render(PARAMS | {"OidcProvider": IRSA} | params)
    return {k: v["Properties"] for k, v in rendered["Resources"].items()}


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def arn(queue: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}"


def notification_rules(bucket: dict[str, Any]) -> list[dict[str, str]]:
    """Each queue rule of the bucket as {queue, event, prefix, suffix}."""
    rules = []
    for config in bucket["NotificationConfiguration"]["QueueConfigurations"]:
        filters = {r["Name"]: r["Value"] for r in config["Filter"]["S3Key"]["Rules"]}
        rules.append({"queue": config["Queue"], "event": config["Event"], **filters})
    return rules


def test_defaults_match_the_bridge_configmap_and_the_kubernetes_names() -> None:
    params = load()["Parameters"]
    config = bridge_config()
    assert params["LandingPrefix"]["Default"] == config["SALES_LANDING_PREFIX"]
    assert params["CompletionMarker"]["Default"] == config["SALES_BRIDGE_COMPLETION_MARKER"]
    kustomization = yaml.safe_load((REPO / "deploy" / "kustomization.yaml").read_text())
    assert params["Namespace"]["Default"] == kustomization["namespace"]
    accounts = {
        d["metadata"]["name"]
        for f in ("s3-bridge.yaml", "flow-runs.yaml")
        for d in k8s_docs(f)
        if d["kind"] == "ServiceAccount"
    }
    assert {params["BridgeServiceAccount"]["Default"], params["FlowServiceAccount"]["Default"]} == (
        accounts
    )
    job = json.loads((REPO / "deploy" / "base-job-template.json").read_text())
    job_account = job["variables"]["properties"]["service_account_name"]["default"]
    assert params["FlowServiceAccount"]["Default"] == job_account


@pytest.mark.parametrize("prefix", ["landing/", "sales/incoming/"])
def test_notifications_send_what_the_bridge_reads_to_the_upload_queue(prefix: str) -> None:
    res = resources(LandingPrefix=prefix)
    rules = notification_rules(res["LandingBucket"])
    suffixes = {s.strip() for s in bridge_config()["SALES_BRIDGE_SUFFIXES"].split(",")}
    assert sorted(r["suffix"] for r in rules) == sorted(suffixes)
    assert {r["prefix"] for r in rules} == {prefix}
    assert {r["event"] for r in rules} == {"s3:ObjectCreated:*"}
    assert {r["queue"] for r in rules} == {arn("sales-uploads")}
    assert res["LandingBucket"]["BucketName"] == "sales-landing"


def test_a_completion_marker_gets_its_own_notification_rule() -> None:
    rules = notification_rules(resources(CompletionMarker="_SUCCESS")["LandingBucket"])
    marker = [r for r in rules if r["suffix"] == "_SUCCESS"]
    assert marker == [
        {
            "queue": arn("sales-uploads"),
            "event": "s3:ObjectCreated:*",
            "prefix": "landing/",
            "suffix": "_SUCCESS",
        }
    ]
    assert len(rules) == 3


def test_the_bucket_is_configured_after_the_queue_allows_it_and_is_kept_on_delete() -> None:
    bucket = load()["Resources"]["LandingBucket"]
    assert bucket["DependsOn"] == "UploadQueuePolicy"  # S3 test-sends when it is configured
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"


def test_only_the_landing_bucket_may_send_to_the_queue() -> None:
    policy = resources()["UploadQueuePolicy"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == arn("sales-uploads")
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": "arn:aws:s3:::sales-landing"},
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
    }


def test_failing_messages_move_to_the_dead_letter_queue_after_five_receives() -> None:
    res = resources()
    redrive = res["UploadQueue"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == arn("sales-uploads-dlq")
    assert int(redrive["maxReceiveCount"]) == 5  # README: "dead-letter queue after 5 receives"
    dlq = res["DeadLetterQueue"]
    assert dlq["RedriveAllowPolicy"]["sourceQueueArns"] == [arn("sales-uploads")]
    # A message keeps its first-enqueue time when it moves: the DLQ must keep it longer.
    assert dlq["MessageRetentionPeriod"] > res["UploadQueue"]["MessageRetentionPeriod"]
    assert all(res[q]["SqsManagedSseEnabled"] for q in ("UploadQueue", "DeadLetterQueue"))


def test_the_bridge_may_only_read_the_upload_queue_and_park_messages() -> None:
    granted = {
        (action, resource)
        for s in statements(resources()["BridgeRole"])
        for action in as_list(s["Action"])
        for resource in as_list(s["Resource"])
    }
    assert granted == {
        ("sqs:ReceiveMessage", arn("sales-uploads")),
        ("sqs:DeleteMessage", arn("sales-uploads")),
        ("sqs:ChangeMessageVisibility", arn("sales-uploads")),
        ("sqs:SendMessage", arn("sales-uploads-parked")),
    }


def test_flow_runs_read_the_landing_prefix_and_write_only_the_output_prefix() -> None:
    flow = statements(resources(OutputPrefix="forecast/")["FlowRole"])
    assert all(s["Effect"] == "Allow" and "*" not in str(s["Action"]) for s in flow)
    grants: dict[str, set[str]] = {}
    for s in flow:
        for action in as_list(s["Action"]):
            grants.setdefault(action, set()).update(as_list(s["Resource"]))
    landing, output = "arn:aws:s3:::sales-landing", "arn:aws:s3:::sales-forecast"
    assert grants == {
        "s3:ListBucket": {landing, output},
        "s3:GetObject": {f"{landing}/landing/*", f"{output}/forecast/*"},
        "s3:PutObject": {f"{output}/forecast/*"},
        "s3:DeleteObject": {f"{output}/forecast/*"},
        "s3:AbortMultipartUpload": {f"{output}/forecast/*"},
    }
    listing = {s["Resource"]: s["Condition"] for s in flow if s["Action"] == "s3:ListBucket"}
    assert listing == {
        landing: {"StringLike": {"s3:prefix": "landing/*"}},
        output: {"StringLike": {"s3:prefix": "forecast/*"}},
    }


@pytest.mark.parametrize(
    ("role", "account"),
    [("BridgeRole", "sales-forecast-bridge"), ("FlowRole", "sales-forecast-flow")],
)
def test_with_irsa_only_the_service_account_assumes_its_role(role: str, account: str) -> None:
    trust = json.loads(resources()[role]["AssumeRolePolicyDocument"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{IRSA}"}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            f"{IRSA}:aud": "sts.amazonaws.com",
            f"{IRSA}:sub": f"system:serviceaccount:sales-forecast:{account}",
        }
    }


def test_without_irsa_the_trusted_principal_assumes_the_roles() -> None:
    principal = "arn:aws:iam::123456789012:role/eks-nodes"
    res = resources(OidcProvider="", TrustedPrincipalArn=principal)
    for role in ("BridgeRole", "FlowRole"):
        (statement,) = res[role]["AssumeRolePolicyDocument"]["Statement"]
        assert statement == {
            "Effect": "Allow",
            "Principal": {"AWS": principal},
            "Action": "sts:AssumeRole",
        }
    assert failed_rules(PARAMS | {"TrustedPrincipalArn": principal}) == []
    assert failed_rules(PARAMS | {"OidcProvider": IRSA}) == []
    assert failed_rules(PARAMS) == ["Set OidcProvider (IRSA) or TrustedPrincipalArn."]


def test_outputs_name_the_queues_and_roles_the_configmap_and_service_accounts_need() -> None:
    outputs = render(PARAMS | {"OidcProvider": IRSA})["Outputs"]
    assert outputs["UploadQueueUrl"]["Value"] == (
        f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/sales-uploads"
    )
    assert outputs["ParkingQueueUrl"]["Value"].endswith("/sales-uploads-parked")
    assert outputs["DeadLetterQueueUrl"]["Value"].endswith("/sales-uploads-dlq")
    assert outputs["BridgeRoleArn"]["Value"] == "BridgeRole.Arn"
    assert outputs["FlowRoleArn"]["Value"] == "FlowRole.Arn"
    # The ConfigMap's example queue URL has the shape of the output it is set from.
    assert bridge_config()["SALES_BRIDGE_QUEUE_URL"].rsplit("/", 1)[-1] == "sales-uploads"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/sales-landing?list-type=2&prefix=landing%2F&delimiter=", True),
        ("GET", "/sales-landing/landing/date%3D2024-05-01/part-0.parquet", True),
        ("HEAD", "/sales-landing/landing/sales.csv", True),
        ("PUT", "/sales-landing/landing/sales.csv", False),  # read-only landing
        ("GET", "/sales-landing/archive/sales.csv", False),  # outside the prefix
        ("GET", "/sales-landing?list-type=2&prefix=", False),  # the whole bucket
        ("HEAD", "/sales-landing", False),  # HeadBucket: a listing without a prefix
        ("PUT", "/sales-forecast/forecast/registry/.champion.lock", True),
        ("DELETE", "/sales-forecast/forecast/registry/.champion.lock", True),
        ("POST", "/sales-forecast/forecast/cache/abc?uploads", True),
        ("PUT", "/sales-forecast/forecast/cache/abc?partNumber=1&uploadId=u1", True),
        ("DELETE", "/sales-forecast/forecast/cache/abc?uploadId=u1", True),
        ("PUT", "/sales-forecast/elsewhere/x.json", False),
        ("POST", "/sales-forecast?delete", False),  # unknown here: refused, not guessed
    ],
)
def test_the_request_checker_used_by_the_s3_tests_can_refuse(
    method: str, path: str, allowed: bool
) -> None:
    from tests.s3.iam import denied

    flow = statements(resources()["FlowRole"])
    assert (denied([(method, path)], flow) == []) is allowed
