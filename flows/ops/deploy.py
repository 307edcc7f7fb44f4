"""Register the deployments of ``prefect.yaml`` and create their work pool.

``python -m flows.deploy pool``
    Create or update the work pool (Kubernetes: ``deploy/base-job-template.json``) and its
    work queue ``sales-forecast`` with a concurrency limit of 1.
``python -m flows.deploy deploy``
    ``prefect deploy --all`` on ``prefect.yaml``: build, push, register.
``python -m flows.deploy deploy --no-build [--image IMAGE] [--pool NAME] [--workdir DIR]``
    The same deployments without the build and push steps, written to a temporary copy of
    ``prefect.yaml``: the image is one already pushed (``--image``), or none (a process
    pool); ``--pool`` registers them on another pool, keeping only the job variables that
    pool knows; ``--workdir`` replaces the pull step's directory (code not in an image).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from flows.events.landing import Landing, UnsafeValueError
from flows.events.notifications import DEFAULT_SUFFIXES

REPO = Path(__file__).resolve().parents[2]
PREFECT_FILE = REPO / "prefect.yaml"
TEMPLATE = REPO / "deploy" / "base-job-template.json"
POOL = "sales-forecast-k8s"
QUEUE = "sales-forecast"
REQUIRED_ENV = ("SALES_LANDING_BUCKET", "SALES_LANDING_PREFIX", "SALES_OUTPUT_PATH")
BUILD_ENV = ("IMAGE_REPOSITORY",)
BUILT_IMAGE = "{{ build-image.image }}"  # the build step's output, referenced in prefect.yaml
ENV_DEFAULTS = {"SALES_SCHEDULE_TIMEZONE": "UTC", "ECR_AWS_CREDENTIALS_BLOCK": ""}

logger = logging.getLogger("sales_forecast.deploy")


def no_build_config(
    doc: Mapping[str, Any],
    *,
    image: str | None = None,
    pool: str | None = None,
    pool_variables: Sequence[str] | None = None,
    workdir: str | None = None,
    extra_overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """``prefect.yaml`` without build/push steps, optionally on another pool and work dir."""
    out = copy.deepcopy(dict(doc))
    out["build"], out["push"] = None, None
    if workdir is not None:
        out["pull"] = [{"prefect.deployments.steps.set_working_directory": {"directory": workdir}}]
    for deployment in out["deployments"]:
        deployment["build"], deployment["push"] = None, None
        work_pool = deployment.setdefault("work_pool", {})
        job_variables = dict(work_pool.get("job_variables") or {})
        if image:
            job_variables["image"] = image
        else:
            job_variables.pop("image", None)
        if isinstance(env := job_variables.get("env"), dict):  # the image the build made
            built = {k for k, v in env.items() if v == BUILT_IMAGE}
            env = {k: v for k, v in env.items() if k not in built or image}
            job_variables["env"] = {k: image if k in built else v for k, v in env.items()}
        if pool is not None:
            work_pool["name"] = pool
        if pool_variables is not None:
            dropped = sorted(set(job_variables) - set(pool_variables))
            if dropped:
                logger.info("%s: job variables %s unknown to the pool", deployment["name"], dropped)
            job_variables = {k: v for k, v in job_variables.items() if k in pool_variables}
        work_pool["job_variables"] = job_variables
        parameters = deployment.setdefault("parameters", {})
        parameters["overrides"] = [*parameters.get("overrides", []), *extra_overrides]
    return out


def missing_env(env: Mapping[str, str], build: bool) -> list[str]:
    """The deploy-time variables ``prefect.yaml`` needs that are not set."""
    names = REQUIRED_ENV + (BUILD_ENV if build else ())
    return [name for name in names if not env.get(name)]


def landing_problem(env: Mapping[str, str]) -> str | None:
    """Why the landing bucket and prefix cannot go into ``prefect.yaml``, or None."""
    try:
        landing = Landing.from_env(env, DEFAULT_SUFFIXES)
    except UnsafeValueError as exc:
        return str(exc)
    if len(landing.buckets) != 1:
        return (
            f"SALES_LANDING_BUCKET={env['SALES_LANDING_BUCKET']!r}: prefect.yaml builds the "
            "trigger and SALES_INPUT_PATH from one bucket; list several only in the bridge's "
            "and the runs' own environment"
        )
    return None


def deploy_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with the defaults for the optional variables and the git commit/tag."""
    out = {**ENV_DEFAULTS, **env}
    if not out.get("GIT_COMMIT"):
        out["GIT_COMMIT"] = _git("rev-parse", "HEAD") or "unknown"
    if not out.get("IMAGE_TAG"):
        out["IMAGE_TAG"] = out["GIT_COMMIT"][:12]
    return out


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def pool_variable_names(pool: str) -> list[str]:
    """The job variables a work pool's base job template declares."""
    from prefect.client.orchestration import get_client  # noqa: PLC0415 (CLI-only import)

    with get_client(sync_client=True) as client:
        template = client.read_work_pool(pool).base_job_template
    return sorted(template.get("variables", {}).get("properties", {}))


def ensure_pool(pool: str, pool_type: str, template: Path | None, queue: str, limit: int) -> None:
    """Create or update the work pool, and its queue with concurrency ``limit``."""
    from prefect.client.orchestration import get_client  # noqa: PLC0415
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate  # noqa: PLC0415
    from prefect.exceptions import ObjectNotFound  # noqa: PLC0415
    from prefect.workers.utilities import (  # noqa: PLC0415
        get_default_base_job_template_for_infrastructure_type as default_template,
    )

    found: dict[str, Any] | None
    if template is not None:
        found = json.loads(template.read_text())
    else:
        found = asyncio.run(default_template(pool_type))
    base = found or {}
    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(pool)
        except ObjectNotFound:
            client.create_work_pool(
                WorkPoolCreate(name=pool, type=pool_type, base_job_template=base)
            )
            logger.info("created work pool %s (%s)", pool, pool_type)
        else:
            client.update_work_pool(pool, WorkPoolUpdate(base_job_template=base))
            logger.info("updated work pool %s", pool)
        try:
            existing = client.read_work_queue_by_name(queue, work_pool_name=pool)
        except ObjectNotFound:
            client.create_work_queue(queue, work_pool_name=pool, concurrency_limit=limit)
        else:
            client.update_work_queue(existing.id, concurrency_limit=limit)
        logger.info("work queue %s/%s: concurrency limit %d", pool, queue, limit)


def run_prefect_deploy(prefect_file: Path, env: Mapping[str, str]) -> int:
    """``prefect deploy --all`` on ``prefect_file`` from the repository root; its exit code."""
    command = [
        sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all",
        "--prefect-file", str(prefect_file),
    ]  # fmt: skip
    logger.info("running %s", " ".join(command))
    code = subprocess.run(command, cwd=REPO, env=dict(env), check=False).returncode
    if code:
        logger.error("prefect deploy failed (exit %d), see its output above", code)
    return code


def deploy(args: argparse.Namespace) -> int:
    """Register the deployments (``--no-build``: from a derived copy of ``prefect.yaml``)."""
    env = deploy_env(os.environ)
    missing = missing_env(env, build=not args.no_build)
    if missing:
        logger.error("set %s (see prefect.yaml)", ", ".join(missing))
        return 2
    problem = landing_problem(env)
    if problem:
        logger.error("%s", problem)
        return 2
    if not args.no_build:
        return run_prefect_deploy(args.prefect_file, env)
    doc = yaml.safe_load(args.prefect_file.read_text())
    derived = no_build_config(
        doc,
        image=args.image,
        pool=args.pool,
        pool_variables=pool_variable_names(args.pool) if args.pool else None,
        workdir=args.workdir,
        extra_overrides=args.override,
    )
    with tempfile.TemporaryDirectory(prefix="sales-forecast-deploy-") as tmp:
        path = Path(tmp) / "prefect.yaml"
        path.write_text(yaml.safe_dump(derived, sort_keys=False))
        return run_prefect_deploy(path, env)


def main(argv: Sequence[str] | None = None) -> int:
    """``pool`` or ``deploy`` (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m flows.deploy", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    pool = sub.add_parser("pool", help="create or update the work pool and its queue")
    pool.add_argument("--pool", default=POOL)
    pool.add_argument("--type", default="kubernetes", help="worker type (kubernetes, process)")
    pool.add_argument("--template", type=Path, default=None, help=f"default: {TEMPLATE.name}")
    pool.add_argument("--queue", default=QUEUE)
    pool.add_argument("--limit", type=int, default=1, help="concurrent runs of the queue")
    dep = sub.add_parser("deploy", help="register the deployments of prefect.yaml")
    dep.add_argument("--no-build", action="store_true", help="skip the image build and push")
    dep.add_argument("--image", default=os.environ.get("IMAGE"), help="image already pushed")
    dep.add_argument("--pool", default=None, help="register on this pool instead")
    dep.add_argument("--workdir", default=None, help="pull step directory (code not in an image)")
    dep.add_argument("--override", action="append", default=[], help="extra Hydra override")
    dep.add_argument("--prefect-file", type=Path, default=PREFECT_FILE)
    args = parser.parse_args(argv)
    if args.command == "pool":
        template = args.template or (TEMPLATE if args.type == "kubernetes" else None)
        ensure_pool(args.pool, args.type, template, args.queue, args.limit)
        return 0
    return deploy(args)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())
