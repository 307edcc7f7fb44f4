"""Which IAM permission each S3 request needs, and whether a policy grants it.

The fault proxy logs every request a run makes (method and path-style URL). For each one
:func:`permission` names the IAM action, the resource ARN and the ``s3:prefix`` of a
listing, following the S3 authorization reference; :func:`denied` evaluates a policy's
Allow statements (``*`` wildcards in resources, ``StringLike`` on ``s3:prefix``) against
them and returns what it would refuse. A request it cannot classify is refused, so a new
kind of call shows up as a failing test, not as a silent pass.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass(frozen=True)
class Permission:
    """What one request needs: an action on a resource, and the listing prefix if any."""

    action: str
    resource: str
    prefix: str | None = None


def permission(method: str, path: str) -> Permission | None:
    """The permission a path-style S3 request needs (None when unknown)."""
    parts = urlsplit(path)
    bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
    query = parse_qs(parts.query, keep_blank_values=True)
    if not key:
        if method in ("GET", "HEAD") and set(query) <= {
            "list-type",
            "prefix",
            "delimiter",
            "max-keys",
            "continuation-token",
            "encoding-type",
            "fetch-owner",
            "start-after",
        }:
            return Permission(
                "s3:ListBucket", f"arn:aws:s3:::{bucket}", query.get("prefix", [None])[0]
            )
        return None
    arn = f"arn:aws:s3:::{bucket}/{key}"
    if method in ("GET", "HEAD") and not query:
        return Permission("s3:GetObject", arn)
    if method == "PUT" and (not query or {"partNumber", "uploadId"} <= set(query)):
        return Permission("s3:PutObject", arn)
    if method == "POST" and ("uploads" in query or "uploadId" in query):
        return Permission("s3:PutObject", arn)
    if method == "DELETE" and not query:
        return Permission("s3:DeleteObject", arn)
    if method == "DELETE" and "uploadId" in query:
        return Permission("s3:AbortMultipartUpload", arn)
    return None


def allows(statement: dict[str, Any], need: Permission) -> bool:
    """True when one Allow statement grants ``need``."""
    actions = _list(statement["Action"])
    resources = _list(statement["Resource"])
    if statement["Effect"] != "Allow" or need.action not in actions:
        return False
    if not any(fnmatch.fnmatchcase(need.resource, r) for r in resources):
        return False
    for operator, tests in statement.get("Condition", {}).items():
        assert operator == "StringLike", f"evaluate {operator} here first"
        assert set(tests) == {"s3:prefix"}, f"evaluate {tests} here first"
        if need.prefix is None or not any(
            fnmatch.fnmatchcase(need.prefix, p) for p in _list(tests["s3:prefix"])
        ):
            return False
    return True


def denied(requests: Iterable[tuple[str, str]], statements: list[dict[str, Any]]) -> list[str]:
    """``METHOD path -> why`` for each request the statements would refuse."""
    refused = []
    for method, path in requests:
        need = permission(method, path)
        if need is None:
            refused.append(f"{method} {path} -> unknown S3 operation")
        elif not any(allows(s, need) for s in statements):
            refused.append(f"{method} {path} -> {need}")
    return refused


def _list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value
