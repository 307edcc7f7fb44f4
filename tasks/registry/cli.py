"""Command line for the model registry: list, show, champion, history, rollback.

``python -m tasks.registry --output-path outputs [--model-name sales-forecast] COMMAND``

Commands: ``list``, ``show [VERSION]`` (default: the champion, else the newest),
``champion``, ``history``, ``rollback VERSION --reason "..." [--actor NAME]``.
Exit status: 0 done, 1 the registry refused (unknown version, lock timeout, ...),
2 bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from tasks import storage
from tasks.registry import versions as registry

DEFAULT_MODEL_NAME = "sales-forecast-synthetic"  # model.model_name of the default data


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``--output-path`` defaults to ``$SALES_OUTPUT_PATH`` or ``outputs``)."""
    parser = argparse.ArgumentParser(
        prog="python -m tasks.registry", description="Inspect the model registry; roll back."
    )
    parser.add_argument(
        "--output-path",
        default=os.environ.get("SALES_OUTPUT_PATH", "outputs"),
        help="data.output_path of the runs (local folder or s3:// URL)",
    )
    parser.add_argument(
        "--model-name",
        default=DEFAULT_MODEL_NAME,
        help="model.model_name: sales-forecast-{data.name} (default %(default)s)",
    )
    parser.add_argument("--endpoint-url", help="S3-compatible endpoint (default: AWS_ENDPOINT_URL)")
    parser.add_argument(
        "--aws-credentials-block",
        help="prefect-aws credentials block for s3:// (default: the AWS credential chain)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="registered versions, oldest first")
    show = commands.add_parser("show", help="one version's summary")
    show.add_argument("version", nargs="?", help="default: the champion, else the newest")
    commands.add_parser("champion", help="the serving version")
    commands.add_parser("history", help="registered/promoted/rejected/rolled_back events")
    back = commands.add_parser("rollback", help="serve an earlier version on purpose")
    back.add_argument("version")
    back.add_argument("--reason", required=True, help="why (recorded)")
    back.add_argument("--actor", default=None, help="who (recorded; default: $USER)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        text = _run(args)
    except (
        registry.RegistryError,
        storage.LockTimeoutError,
        storage.StorageError,
        ValueError,
    ) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _run(args: argparse.Namespace) -> str:
    out, name = str(args.output_path), str(args.model_name)
    settings = storage.StorageSettings(
        endpoint_url=args.endpoint_url, credentials_block=args.aws_credentials_block
    )
    if args.command == "list":
        versions = registry.list_versions(out, name, settings=settings)
        return format_versions(versions, registry.champion(out, name, settings=settings))
    if args.command == "show":
        return format_version(_shown(out, name, args.version, settings))
    if args.command == "champion":
        current = registry.champion(out, name, settings=settings)
        return format_champion(current) if current else f"no champion yet for {name}"
    if args.command == "history":
        return format_history(registry.history(out, name, settings=settings))
    actor = args.actor or registry.default_actor()
    new = registry.rollback(
        out, name, args.version, actor=actor, reason=args.reason, settings=settings
    )
    return (
        f"rolled back {name}: champion is now {new.version} (was {new.previous or 'none'}); "
        f"recorded as {new.actor}: {new.reason}"
    )


def _shown(
    out: str, name: str, version: str | None, settings: storage.StorageSettings
) -> registry.ModelVersion:
    if version:
        return registry.get_version(out, name, version, settings=settings)
    current = registry.champion(out, name, settings=settings)
    if current:
        return registry.get_version(out, name, current.version, settings=settings)
    versions = registry.list_versions(out, name, settings=settings)
    if not versions:
        raise registry.RegistryError(f"no versions of {name} registered under {out}")
    return versions[-1]


def format_versions(
    versions: list[registry.ModelVersion], current: registry.Champion | None
) -> str:
    """A table of versions; ``*`` marks the champion."""
    if not versions:
        return "no versions registered"
    serving = current.version if current else None
    rows = [
        [
            "*" if v.version == serving else "",
            v.version,
            v.created_at[:19],
            _num(v.model_wape),
            _num(v.seasonal_naive_wape),
            {True: "passed", False: "failed", None: "-"}[v.gate_passed],
            (v.git_commit or "-")[:10],
        ]
        for v in versions
    ]
    return table(["", "VERSION", "CREATED", "WAPE", "NAIVE WAPE", "GATE", "COMMIT"], rows)


def format_version(v: registry.ModelVersion) -> str:
    """One version as ``key: value`` lines, then its files."""
    lines = [
        f"version:             {v.version}",
        f"created_at:          {v.created_at}",
        f"run_id:              {v.run_id}",
        f"uri:                 {v.uri}",
        f"data_digest:         {v.data_digest or '-'}",
        f"git_commit:          {v.git_commit or '-'}",
        f"model_wape:          {_num(v.model_wape)}",
        f"seasonal_naive_wape: {_num(v.seasonal_naive_wape)}",
        f"gate_passed:         {v.gate_passed}",
        "files:",
    ]
    rows = [[n, str(f.get("bytes", "")), str(f.get("sha256", ""))] for n, f in v.files.items()]
    return (
        "\n".join(lines)
        + "\n"
        + table(["  NAME", "BYTES", "SHA256"], [["  " + r[0], *r[1:]] for r in rows])
    )


def format_champion(c: registry.Champion) -> str:
    """``champion.json`` as ``key: value`` lines."""
    return "\n".join(f"{key + ':':<13}{value}" for key, value in c.to_dict().items())


def format_history(events: list[dict[str, Any]]) -> str:
    """A table of events, oldest first."""
    if not events:
        return "no history yet"
    rows = [
        [
            str(e.get("time", ""))[:23],
            str(e.get("event", "")),
            str(e.get("version", "")),
            str(e.get("actor", "")),
            str(e.get("reason", "")),
        ]
        for e in events
    ]
    return table(["TIME", "EVENT", "VERSION", "ACTOR", "REASON"], rows)


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Left-aligned plain-text columns separated by two spaces."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [headers, *rows]
    ]
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


if __name__ == "__main__":
    raise SystemExit(main())
