"""Kill matrix: SIGKILL ``python flows/main.py`` at every step boundary and in the middle of
publish, then check that the champion, the registry, the run directory and the serving
location agree, and that the next run succeeds without manual repair.

One Prefect server serves every run (``PREFECT_API_URL``, so no run starts its own); all
runs share one task cache, so after the first run every pipeline stage is ``Cached``.
A baseline output folder holds champion v0, served. For each kill point the baseline is
copied and a run is started with ``SALES_FORECAST_FAULT_AT=<point>`` (:mod:`tasks.faults`),
which SIGKILLs the process there. Two scenarios: a run whose gate passes and promotes, and
a run whose gate fails (``evaluation.min_improvement=0.9``) and serves the champion's
forecasts for its data. The promoting run is killed after each of its steps, after each
file publish writes, and between temp file and rename in a write of each kind of state; the
failed-gate run after each step from ``read-champion`` on (the steps before are the same as
in the promoting run), after the first and the last file publish writes, and in the writes
of the serving copy, the manifest and ``latest.*``.

After the kill (the state a crash leaves):
  1. ``champion.json`` names a version with ``version.json``, a run directory with
     ``manifest.json`` and a dated serving copy; it is the killed run's version exactly when
     the kill came after the ``promote`` step (the commit point), else still v0.
  2. After the recovery that the next run does first (its ``recover`` step: the same
     :func:`tasks.registry.recovery.remove_stale_temp_files` and
     :func:`tasks.registry.recovery.follow_champion`, applied here to a copy),
     ``serving/{model}/latest.json`` names the champion and a dated copy made by it,
     ``latest.parquet`` is that copy byte for byte, and no temp file is left.
Then the next run, started as a user would, exits 0 and leaves (1) and (2) true, a complete
run directory of its own, no temp files, and (promoting scenario) itself as champion.

By default (``make test-slow``, CI) the points around the commit run: ``CORE_POINTS``, 10 of
the 64. ``KILL_MATRIX_FULL=1`` (``make kill-matrix``) runs all of them;
``KILL_MATRIX_POINTS`` (comma-separated ``fnmatch`` patterns) picks points by name,
``KILL_MATRIX_WORKERS`` (default 2) sets how many points run at once, and the result is
written to ``$KILL_MATRIX_REPORT`` (default: the test's temp folder) as JSON.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tasks import faults
from tasks.registry import recovery
from tests.e2e.services import start_prefect_server
from tests.e2e.state_invariants import (
    MODEL,
    champion,
    champion_is_complete,
    read_json,
    run_dir,
    serving_follows_champion,
    temp_files,
)
from tests.support import REPO, SMALL

pytestmark = pytest.mark.slow
FAILED_GATE = ["evaluation.min_improvement=0.9"]
RUN_TIMEOUT = 600
STEP_LINE = re.compile(r"step ([a-z-]+): \w+ in")
RUN_LINE = re.compile(r"run (\d{8}T\d{6}Z-[0-9a-f]{8}): (?:mode=\w+ )?data=")
REUSED_LINE = re.compile(r"register: reused version (\d{8}T\d{6}Z-[0-9a-f]{8}) ")
# Temp-file kill points: a write of each kind of state is caught between temp and rename.
TMP_POINTS = {  # point → True when it comes after the commit (the champion has moved)
    "tmp:*/monitoring/*/quality_history.parquet": False,
    "tmp:*/registry/*/*/model.txt": False,
    "tmp:*/registry/*/*/profile.json": False,
    "tmp:*/serving/*/????-??-??/*.parquet": False,
    "tmp:*/runs/*/forecasts.parquet": False,
    "tmp:*/runs/*/manifest.json": False,
    "tmp:*/registry/*/champion.json": False,
    "tmp:*/serving/*/latest.parquet": True,
    "tmp:*/serving/*/latest.json": True,
}
FAILED_GATE_TMP_POINTS = [
    "tmp:*/serving/*/????-??-??/*.parquet",
    "tmp:*/runs/*/manifest.json",
    "tmp:*/serving/*/latest.parquet",
    "tmp:*/serving/*/latest.json",
]
# The default subset: the steps on either side of the commit (``promote``) in both scenarios,
# and the writes of the champion pointer and of ``latest.json`` caught between temp and rename.
CORE_POINTS = [
    "after:stage-serving",
    "after:promote",
    "after:serve",
    "after:forecast-champion",
    "tmp:*/registry/*/champion.json",
    "tmp:*/serving/*/latest.json",
]


@dataclass
class Harness:
    root: Path
    env: dict[str, str]
    baseline: Path
    results: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def main(self, out: Path, extra: list[str], fault: str | None = None) -> tuple[int, str]:
        """``python flows/main.py`` on ``out``; its exit status and output."""
        env = {**self.env, "SALES_OUTPUT_PATH": str(out)}
        if fault is not None:
            env[faults.ENV_VAR] = fault
        args = [*SMALL, "mode=production", f"output.result_storage={self.root / 'cache'}", *extra]
        proc = subprocess.run(
            [sys.executable, "flows/main.py", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        return proc.returncode, proc.stdout + proc.stderr

    def copy_baseline(self, name: str) -> Path:
        """A copy of the baseline whose ``latest.json`` names its own dated copy."""
        out = self.root / "points" / name / "out"
        shutil.copytree(self.baseline, out)
        recovery.follow_champion(str(out), MODEL)  # latest.json's URIs are absolute
        return out


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    root = tmp_path_factory.mktemp("kill-matrix")
    (root / "logs").mkdir()
    env = {k: v for k, v in os.environ.items() if k != faults.ENV_VAR}
    env.update(
        PREFECT_HOME=str(root / "prefect-client"),
        SALES_DATA_DIR=str(root / "data"),
        PREFECT_LOGGING_LEVEL="INFO",
        OMP_WAIT_POLICY="PASSIVE",
    )
    server, api = start_prefect_server(root / "prefect-server", root / "logs", env)
    env["PREFECT_API_URL"] = api
    try:
        h = Harness(root, env, root / "baseline")
        code, output = h.main(h.baseline, [])
        assert code == 0, output[-4000:]
        assert "Starting local Prefect API server" not in output  # PREFECT_API_URL is used
        assert champion(h.baseline) is not None
        assert serving_follows_champion(h.baseline) == []
        assert_checks_can_fail(h)
        yield h
    finally:
        server.stop()
        report = Path(os.environ.get("KILL_MATRIX_REPORT", root / "kill-matrix.json"))
        report.write_text(json.dumps(h.results, indent=2, sort_keys=True) + "\n")


def assert_checks_can_fail(h: Harness) -> None:
    """The checks report what the old order left: a champion without a run directory, and
    serving behind the champion."""
    out = h.copy_baseline("checks-can-fail")
    version = champion(out)
    assert version is not None
    (run_dir(out, version) / "manifest.json").unlink()
    assert champion_is_complete(out) == [
        f"champion {version} has no run directory with manifest.json"
    ]
    pointer_file = out / "serving" / MODEL / "latest.json"
    pointer = read_json(pointer_file)
    pointer_file.write_text(json.dumps({**pointer, "model_version": "v-other"}))
    (out / "serving" / MODEL / "latest.parquet").write_bytes(b"PAR1")
    assert len(serving_follows_champion(out)) == 3
    (out / "registry" / MODEL / ".champion.json.123.abcdefgh.tmp").write_text("{")
    assert temp_files(out) == [f"registry/{MODEL}/.champion.json.123.abcdefgh.tmp"]


def reference(h: Harness, name: str, extra: list[str]) -> tuple[list[str], list[str]]:
    """One undisturbed run of a scenario from the baseline: its steps in order, the files it
    published."""
    out = h.copy_baseline(f"{name}-reference")
    code, output = h.main(out, extra)
    assert code == 0, output[-4000:]
    (version,) = RUN_LINE.findall(output)
    manifest = read_json(run_dir(out, version) / "manifest.json")
    return STEP_LINE.findall(output), sorted(manifest["artifacts"])


def kill_points(steps: list[str], published: list[str], first: str) -> dict[str, bool]:
    """Point → whether it comes after the commit (the ``promote`` step)."""
    boundaries = steps[steps.index(first) :]
    points = {f"after:{s}": i >= boundaries.index("promote") for i, s in enumerate(boundaries)}
    if "forecast-champion" in steps:  # the gate failed: the champion never moves
        points = dict.fromkeys(points, False)
        points.update({"publish:config.yaml": False, "publish:report.html": False})
        points.update(dict.fromkeys(FAILED_GATE_TMP_POINTS, False))
    else:
        points.update({f"publish:{name}": False for name in published})
        points.update(TMP_POINTS)
    patterns = [p for p in os.environ.get("KILL_MATRIX_POINTS", "").split(",") if p]
    if not patterns and os.environ.get("KILL_MATRIX_FULL") != "1":
        patterns = CORE_POINTS
    if patterns:
        points = {k: v for k, v in points.items() if any(fnmatch.fnmatch(k, p) for p in patterns)}
    return points


def kill_and_rerun(
    h: Harness, scenario: str, point: str, committed: bool, extra: list[str]
) -> list[str]:
    """Everything wrong after killing a run at ``point`` and running again (empty: none)."""
    name = f"{scenario}-{re.sub(r'[^A-Za-z0-9]+', '_', point)}"
    out = h.copy_baseline(name)
    before = champion(out)
    code, output = h.main(out, extra, fault=point)
    (out.parent / "killed.log").write_text(output)
    if code != -9:
        return [f"the run was not killed at {point} (exit status {code})"]
    killed = RUN_LINE.findall(output)
    expected = killed[0] if committed and scenario == "promote" else before
    problems = champion_is_complete(out)
    if champion(out) != expected:
        problems.append(f"after the kill the champion is {champion(out)}, expected {expected}")

    recovered = out.parent / "recovered"  # what the next run's recover step makes of it
    shutil.copytree(out, recovered)
    recovery.remove_stale_temp_files([str(recovered)])
    recovery.follow_champion(str(recovered), MODEL)
    problems += [f"after recovery: {p}" for p in serving_follows_champion(recovered)]
    problems += [f"after recovery: temp file {p}" for p in temp_files(recovered)]

    code, output = h.main(out, extra)
    (out.parent / "rerun.log").write_text(output)
    if code != 0:
        return [*problems, f"the rerun failed with exit status {code}: {output[-2000:]}"]
    (rerun,) = RUN_LINE.findall(output)
    problems += [f"after the rerun: {p}" for p in champion_is_complete(out)]
    problems += [f"after the rerun: {p}" for p in serving_follows_champion(out)]
    problems += [f"after the rerun: temp file {p}" for p in temp_files(out)]
    if not (run_dir(out, rerun) / "manifest.json").is_file():
        problems.append("the rerun's run directory has no manifest.json")
    # the rerun registers itself, or reuses the killed run's identical build (same code,
    # config and data digests): either way that version becomes champion
    reused = REUSED_LINE.findall(output)
    if scenario == "promote" and champion(out) not in {rerun, *reused}:
        problems.append(f"the rerun did not become champion ({champion(out)})")
    return problems


def run_matrix(
    h: Harness, scenario: str, extra: list[str], first: str, capsys: pytest.CaptureFixture[str]
) -> dict[str, list[str]]:
    steps, published = reference(h, scenario, extra)
    points = kill_points(steps, published, first)
    workers = int(os.environ.get("KILL_MATRIX_WORKERS", "2"))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = pool.map(
            lambda item: kill_and_rerun(h, scenario, item[0], item[1], extra), points.items()
        )
        results = dict(zip(points, found, strict=True))
    h.results[scenario] = results
    consistent = sum(not problems for problems in results.values())
    line = f"kill matrix ({scenario}): {len(results)} kill points, {consistent} consistent"
    (h.root / f"{scenario}.txt").write_text(line + "\n")
    with capsys.disabled():  # shown on a passing run too
        sys.stderr.write(f"\n{line}\n")
    return results


def test_kill_matrix_of_a_promoting_run(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    results = run_matrix(harness, "promote", [], "recover", capsys)
    assert os.environ.get("KILL_MATRIX_POINTS") or {"after:promote", "after:serve"} <= set(results)
    assert os.environ.get("KILL_MATRIX_FULL") != "1" or len(results) == 43
    failed = {point: problems for point, problems in results.items() if problems}
    assert not failed, json.dumps(failed, indent=2)


def test_kill_matrix_of_a_failed_gate_serving_the_champion(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    results = run_matrix(harness, "failed-gate", FAILED_GATE, "read-champion", capsys)
    assert os.environ.get("KILL_MATRIX_POINTS") or "after:forecast-champion" in results
    assert os.environ.get("KILL_MATRIX_FULL") != "1" or len(results) == 21
    failed = {point: problems for point, problems in results.items() if problems}
    assert not failed, json.dumps(failed, indent=2)


def test_a_run_whose_publish_fails_moves_neither_champion_nor_serving(harness: Harness) -> None:
    out = harness.copy_baseline("runs-is-a-file")
    before = champion(out)
    latest = (out / "serving" / MODEL / "latest.json").read_bytes()
    (out / "runs").rename(out / "runs.aside")
    (out / "runs").write_text("not a folder")  # publish cannot write the run directory
    code, output = harness.main(out, [])
    assert code != 0
    assert "step publish: Failed" in output
    assert champion(out) == before
    assert (out / "serving" / MODEL / "latest.json").read_bytes() == latest
    (out / "runs").unlink()
    (out / "runs.aside").rename(out / "runs")
    code, output = harness.main(out, [])  # once the folder is back, the next run succeeds
    assert code == 0, output[-4000:]
    (rerun,) = RUN_LINE.findall(output)
    assert champion(out) == rerun
    assert champion_is_complete(out) == []
    assert serving_follows_champion(out) == []
