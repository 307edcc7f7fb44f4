"""deploy/cloudformation.yaml for tests: loaded with CloudFormation's short tags, then
rendered for a set of parameters the way CloudFormation would resolve it.

:func:`load` reads ``!Ref``, ``!Sub``, ``!GetAtt``, ``!If`` ... as their long forms
(``{"Ref": ...}``, ``{"Fn::Sub": ...}``). :func:`render` resolves the intrinsic functions
this template uses (``Ref``, ``Fn::Sub``, ``Fn::GetAtt``, ``Fn::If`` with its conditions,
``AWS::NoValue``) with parameter defaults overridden by ``params``; queues get their real
URL and ARN shapes, so policies can be checked against concrete resources. Anything else
raises, so a new function in the template needs a line here before tests pass.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.support import REPO

TEMPLATE = REPO / "deploy" / "cloudformation.yaml"
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012"}
_NO_VALUE = object()
_SUB = re.compile(r"\$\{([^}!]+)\}")


class CloudFormationLoader(yaml.SafeLoader):
    """A YAML loader that turns CloudFormation's short tags into their long forms."""


def _short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(None, None, f"bad !{suffix}", node.start_mark)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _short_tag)


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as plain data (short tags in their long forms)."""
    doc: dict[str, Any] = yaml.load(path.read_text(), Loader=CloudFormationLoader)
    return doc


def render(params: dict[str, str] | None = None) -> dict[str, Any]:
    """Resources and Outputs with every intrinsic function resolved for ``params``."""
    renderer = _renderer(params)
    return {k: renderer.value(renderer.doc[k]) for k in ("Resources", "Outputs")}


def failed_rules(params: dict[str, str] | None = None) -> list[str]:
    """The ``AssertDescription`` of each rule assertion that ``params`` break."""
    renderer = _renderer(params)
    return [
        assertion["AssertDescription"]
        for rule in renderer.doc.get("Rules", {}).values()
        for assertion in rule["Assertions"]
        if not renderer.condition(assertion["Assert"])
    ]


def _renderer(params: dict[str, str] | None) -> _Renderer:
    doc = load()
    values = {k: str(v.get("Default", "")) for k, v in doc.get("Parameters", {}).items()}
    unknown = [k for k in params or {} if k not in values]
    assert not unknown, f"not parameters of the template: {unknown}"
    return _Renderer(doc, values | (params or {}))


class _Renderer:
    def __init__(self, doc: dict[str, Any], params: dict[str, str]) -> None:
        self.doc, self.params = doc, params
        self.conditions: dict[str, bool] = {}
        for name, expr in doc.get("Conditions", {}).items():
            self.conditions[name] = self.condition(expr)

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.value(n) for n in node]
            return [i for i in items if i is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::Sub":
                return _SUB.sub(lambda m: self.sub_name(m.group(1)), arg)
            if key == "Fn::GetAtt":
                return self.get_att(*arg)
            if key == "Fn::If":
                name, then, otherwise = arg
                return self.value(then if self.conditions[name] else otherwise)
            assert not key.startswith("Fn::"), f"render() does not know {key}"
        items = {k: self.value(v) for k, v in node.items()}
        return {k: v for k, v in items.items() if v is not _NO_VALUE}

    def condition(self, expr: Any) -> bool:
        ((key, arg),) = expr.items()
        if key == "Fn::Not":
            return not self.condition(arg[0])
        if key == "Fn::Or":
            return any(self.condition(a) for a in arg)
        if key == "Fn::Equals":
            left, right = (self.value(a) for a in arg)
            return bool(left == right)
        if key == "Condition":
            return self.conditions[arg]
        raise AssertionError(f"render() does not know the condition function {key}")

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.params:
            return self.params[name]
        resource = self.doc["Resources"][name]
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::SQS::Queue":
            host = f"https://sqs.{PSEUDO['AWS::Region']}.amazonaws.com"
            return f"{host}/{PSEUDO['AWS::AccountId']}/{self.value(props['QueueName'])}"
        if resource["Type"] == "AWS::S3::Bucket":
            return self.value(props["BucketName"])
        return f"ref:{name}"

    def get_att(self, name: str, attribute: str) -> str:
        resource = self.doc["Resources"][name]
        if resource["Type"] == "AWS::SQS::Queue" and attribute == "Arn":
            queue = self.value(resource["Properties"]["QueueName"])
            return f"arn:aws:sqs:{PSEUDO['AWS::Region']}:{PSEUDO['AWS::AccountId']}:{queue}"
        return f"{name}.{attribute}"

    def sub_name(self, name: str) -> str:
        if "." in name:
            return self.get_att(*name.split(".", 1))
        return str(self.ref(name))
