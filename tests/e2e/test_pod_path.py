"""The pod's path without a container engine: a flow run executed as its Kubernetes Job would.

* the code is the project's wheel installed with the locked dependencies into a fresh
  environment laid out like the image's ``/app`` (fixture ``installed_app``: root-owned,
  read-only for the runtime user; no checkout on the path);
* a real Prefect server and moto's S3 server stand in for the cluster (fixture ``cluster``,
  :mod:`tests.e2e.pod`); the deployments of ``prefect.yaml`` are registered on the
  Kubernetes work pool, only the pull step's directory is this test's stand-in for ``/app``;
* the Job for a flow run is rendered by the Kubernetes worker's own code, and the test takes
  the container's command, environment, secrets, working directory and user from it;
* the command runs with the image's environment (its ``ENV`` lines, read from the
  Dockerfile, with ``/app`` and the home mapped to this test's folders), the Job's
  ``env``, the secrets its ``envFrom`` names and moto's endpoint, as the Job's
  ``runAsUser`` when the tests run as root; it reads from and writes to moto's S3.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from flows.ops import deploy
from tests.e2e.installed import App, User
from tests.e2e.pod import (
    GIT_COMMIT,
    RUN_TIMEOUT,
    Cluster,
    check_completed_run,
    job_env,
    new_flow_run_job,
    register,
)
from tests.support import REPO
from tests.support.kubernetes import job_container

pytestmark = pytest.mark.slow

IMAGE_HOME = "/home/app"  # the runtime user's home in the image (Dockerfile: useradd)
BASE_PATH = "/usr/local/bin:/usr/bin:/bin"  # $PATH of the base image


def image_env(dockerfile: str) -> dict[str, str]:
    """The runtime stage's ``ENV`` settings (``$PATH`` and build args substituted)."""
    runtime = dockerfile.rsplit("\nFROM ", maxsplit=1)[-1].replace("\\\n", " ")
    args = {"PATH": BASE_PATH, "GIT_COMMIT": GIT_COMMIT}
    env: dict[str, str] = {}
    for line in runtime.splitlines():
        if line.startswith("ENV "):
            for item in shlex.split(line[4:]):
                name, value = item.split("=", 1)
                for arg, arg_value in args.items():
                    value = value.replace(f"${{{arg}}}", arg_value).replace(f"${arg}", arg_value)
                env[name] = value
    return env


def on_this_machine(value: str, folders: dict[str, Path]) -> str:
    """``value`` with the image's folders (``/app``, the home) replaced by the test's own."""
    parts = []
    for part in value.split(":"):
        mapped = part
        for image_dir, local in folders.items():
            if part == image_dir or part.startswith(f"{image_dir}/"):
                mapped = str(local) + part[len(image_dir) :]
                break
        parts.append(mapped)
    return ":".join(parts)


def test_a_flow_run_executes_as_its_kubernetes_job_would(
    cluster: Cluster, installed_app: App
) -> None:
    app = installed_app
    register(cluster, workdir=app.root)
    flow_run_id, job, pull_steps = new_flow_run_job(cluster)
    container = job_container(job)

    # The Job's user: the unprivileged user the environment was installed for.
    security = job["spec"]["template"]["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True
    assert app.user == User.unprivileged(security["runAsUser"], security["runAsGroup"])

    # The Job's working directory is the image's code dir, where prefect.yaml's pull step
    # goes; registered with --workdir, the pull step goes to this test's stand-in for it.
    workdir = container["workingDir"]
    step = "prefect.deployments.steps.set_working_directory"
    assert yaml.safe_load(deploy.PREFECT_FILE.read_text())["pull"] == [
        {step: {"directory": workdir}}
    ]
    assert pull_steps == [{step: {"directory": str(app.root)}}]
    folders = {workdir: app.root, IMAGE_HOME: app.home}

    image = image_env((REPO / "Dockerfile").read_text())
    env = {k: on_this_machine(v, folders) for k, v in image.items()}
    env |= {"HOME": str(app.home), "LANG": "C.UTF-8"} | job_env(cluster, job)
    assert env["PREFECT__FLOW_RUN_ID"] == flow_run_id
    assert env["PREFECT_API_URL"] == cluster.api
    assert env["PATH"].startswith(f"{app.bin}:")
    assert "PYTHONPATH" not in env

    who = app.run(
        ["python", "-c", "import os, flows; print(os.geteuid(), flows.__file__)"], app.root, env
    )
    uid, module = who.stdout.split()
    assert int(uid) == app.user.uid
    assert Path(module).is_relative_to(app.venv)

    command = container.get("command", []) + container["args"]  # the image has no ENTRYPOINT
    done = app.run(command, app.root, env, timeout=RUN_TIMEOUT)
    (cluster.logs / "flow-run-venv.log").write_text(done.stdout + done.stderr)
    output = f"{command} exit {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-6000:]}"
    assert done.returncode == 0, output
    check_completed_run(cluster, flow_run_id, output)
    # Nothing went to the local folders: the run read and wrote S3 only.
    assert not any((app.root / "outputs").iterdir())
    assert not any((app.root / "data").iterdir())
