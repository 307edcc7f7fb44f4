"""Command line for the model registry: list, show, champion, history, rollback, forget.

``python -m tasks.registry --output-path outputs [--model-name sales-forecast] COMMAND``

Commands: ``list [--verify]``, ``show [VERSION]`` (default: the champion, else the newest),
``champion``, ``history``, ``rollback VERSION --reason "..." [--actor NAME]``,
``forget VERSION --reason "..." [--actor NAME]``. Damaged files are shown as damaged, with
what is wrong and the command that repairs it.
Exit status: 0 done, 1 the registry refused (unknown version, lock timeout, ...) or what
was asked for is damaged, 2 bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from tasks import storage
from tasks.registry import recovery
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
    listing = commands.add_parser("list", help="registered versions, oldest first")
    listing.add_argument(
        "--verify",
        action="store_true",
        help="also check every artifact against its SHA-256 (reads them; exit 1 if damaged)",
    )
    show = commands.add_parser("show", help="one version's summary")
    show.add_argument("version", nargs="?", help="default: the champion, else the newest")
    commands.add_parser("champion", help="the serving version")
    commands.add_parser("history", help="registered/promoted/rejected/rolled_back events")
    back = commands.add_parser("rollback", help="serve an earlier version on purpose")
    back.add_argument("version")
    back.add_argument("--reason", required=True, help="why (recorded)")
    back.add_argument("--actor", default=None, help="who (recorded; default: $USER)")
    forget = commands.add_parser(
        "forget", help="take a damaged version out of the registry (deletes its version.json)"
    )
    forget.add_argument("version")
    forget.add_argument("--reason", required=True, help="why (recorded)")
    forget.add_argument("--actor", default=None, help="who (recorded; default: $USER)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        text, status = _run(args)
    except (
        registry.RegistryError,
        storage.LockTimeoutError,
        storage.StorageError,
        ValueError,  # CorruptStateError: names the file and the repair command
    ) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return status


def _run(args: argparse.Namespace) -> tuple[str, int]:
    out, name = str(args.output_path), str(args.model_name)
    settings = storage.StorageSettings(
        endpoint_url=args.endpoint_url, credentials_block=args.aws_credentials_block
    )
    if args.command == "list":
        found = registry.inventory(out, name, verify=args.verify, settings=settings)
        current, problem = _champion_or_problem(out, name, settings)
        text = format_versions(found.versions, current, found.damaged, problem)
        return text, 1 if args.verify and (found.damaged or problem) else 0
    if args.command == "show":
        shown = _shown(out, name, args.version, settings)
        status = registry.file_status(out, name, shown, settings=settings)
        return format_version(shown, status), 1 if any(status.values()) else 0
    if args.command == "champion":
        current = registry.champion(out, name, settings=settings)
        return (format_champion(current) if current else f"no champion yet for {name}"), 0
    if args.command == "history":
        return format_history(registry.history(out, name, settings=settings)), 0
    actor = args.actor or registry.default_actor()
    if args.command == "forget":
        where = registry.forget(
            out, name, args.version, actor=actor, reason=args.reason, settings=settings
        )
        return f"forgot {name} version {args.version} (its files stay at {where})", 0
    new = registry.rollback(
        out, name, args.version, actor=actor, reason=args.reason, settings=settings
    )
    served = recovery.follow_champion(out, name, settings=settings)["pointer"]
    serving = (
        f"serving {served['dated_uri']}"
        if served is not None and served["model_version"] == new.version
        else f"no forecasts of {new.version} were served yet: the next run serves them"
    )
    return (
        f"rolled back {name}: champion is now {new.version} (was {new.previous or 'none'}); "
        f"recorded as {new.actor}: {new.reason}; {serving}"
    ), 0


def _champion_or_problem(
    out: str, name: str, settings: storage.StorageSettings
) -> tuple[registry.Champion | None, registry.CorruptStateError | None]:
    try:
        return registry.champion(out, name, settings=settings), None
    except registry.CorruptStateError as exc:
        return None, exc


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
    versions: list[registry.ModelVersion],
    current: registry.Champion | None,
    damaged: list[registry.DamagedVersion] | None = None,
    champion_problem: registry.CorruptStateError | None = None,
) -> str:
    """A table of versions (``*`` marks the champion, ``!`` a damaged version), then what is
    damaged, why, and how to repair it."""
    damaged = damaged or []
    serving = current.version if current else None
    rows = {
        v.version: [
            "*" if v.version == serving else "",
            v.version,
            v.created_at[:19],
            _num(v.model_wape),
            _num(v.seasonal_naive_wape),
            {True: "passed", False: "failed", None: "-"}[v.gate_passed],
            (v.git_commit or "-")[:10],
        ]
        for v in versions
    }
    for d in damaged:
        mark = ("*" if d.version == serving else "") + "!"
        rows[d.version] = [mark, d.version, "-", "-", "-", "DAMAGED", "-"]
    notes = [
        f"! {d.version} is damaged: {d.path}: {d.problem}\n  to repair: {d.fix}" for d in damaged
    ]
    if champion_problem is not None:
        notes.append(f"champion: {champion_problem}")
    if not rows:
        return "\n".join(["no versions registered", *notes])
    headers = ["", "VERSION", "CREATED", "WAPE", "NAIVE WAPE", "GATE", "COMMIT"]
    listing = table(headers, [rows[v] for v in sorted(rows)])
    return "\n\n".join([listing, *notes])


def format_version(
    v: registry.ModelVersion, status: dict[str, registry.CorruptStateError | None] | None = None
) -> str:
    """One version as ``key: value`` lines, then its files (and whether each verifies)."""
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
    checked = status or {}
    rows = [
        [
            "  " + n,
            str(f.get("bytes", "")),
            str(f.get("sha256", "")),
            ("DAMAGED" if checked[n] else "ok") if n in checked else "-",
        ]
        for n, f in v.files.items()
    ]
    text = "\n".join(lines) + "\n" + table(["  NAME", "BYTES", "SHA256", "CHECK"], rows)
    errors = [e for e in checked.values() if e is not None]
    notes = [f"damaged: {e.path}: {e.problem}" for e in errors]
    if errors:
        notes.append(f"  to repair: {errors[0].fix}")
    return "\n".join([text, *notes])


def format_champion(c: registry.Champion) -> str:
    """``champion.json`` as ``key: value`` lines."""
    return "\n".join(f"{key + ':':<13}{value}" for key, value in c.to_dict().items())


def format_history(events: list[dict[str, Any]]) -> str:
    """A table of events, oldest first."""
    if not events:
        return "no history yet"
    damaged = [
        f"{e.get('file')}: {e.get('reason')}\n  to repair: {e.get('fix')}"
        for e in events
        if e.get("event") == "damaged"
    ]
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
    listing = table(["TIME", "EVENT", "VERSION", "ACTOR", "REASON"], rows)
    return "\n\n".join([listing, *(f"damaged event file {d}" for d in damaged)])


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
