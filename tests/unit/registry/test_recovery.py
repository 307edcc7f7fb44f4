"""Unit tests for tasks.registry.recovery and the fault hook: temp files of killed writers, serving
that follows the champion pointer (also after a rollback from the registry CLI)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from tasks import faults, registry
from tasks.registry import recovery, serving
from tasks.registry.cli import main
from tests.support import REPO

MODEL = "m"
V1, V2, V3 = "20261101T000000Z-aaaaaaaa", "20261102T000000Z-bbbbbbbb", "20261103T000000Z-cccccccc"


def dead_pid() -> int:
    """The id of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not recovery.pid_alive(child.pid)
    return child.pid


def test_temp_files_of_dead_or_old_writers_are_removed_and_others_kept(tmp_path: Path) -> None:
    nested = tmp_path / "runs" / "2026-11-24" / "run-1"
    nested.mkdir(parents=True)
    dead = nested / f".manifest.json.{dead_pid()}.k2j_x9a1.tmp"
    live = nested / f".forecasts.parquet.{os.getpid()}.abcd1234.tmp"
    young_legacy = tmp_path / ".latest.json.q8w7e6r5.tmp"  # no pid: judged by age only
    old_legacy = tmp_path / ".latest.parquet.z1x2c3v4.tmp"
    keep = [tmp_path / ".serving.lock", nested / "manifest.json", tmp_path / "notes.tmp"]
    for path in [dead, live, young_legacy, old_legacy, *keep]:
        path.write_text("x")
    hours_ago = time.time() - 2 * 3600
    os.utime(old_legacy, (hours_ago, hours_ago))

    removed = recovery.remove_stale_temp_files([str(tmp_path), str(tmp_path / "missing")])
    assert removed == sorted([str(dead), str(old_legacy)])
    assert all(p.exists() for p in [live, young_legacy, *keep])
    assert recovery.remove_stale_temp_files(["s3://bucket/prefix"]) == []


def write_in_subprocess(target: Path, fault_at: str | None) -> int:
    code = "import sys; from tasks import storage; storage.write_bytes_atomic(sys.argv[1], b'data')"
    env = {k: v for k, v in os.environ.items() if k != faults.ENV_VAR}
    if fault_at is not None:
        env[faults.ENV_VAR] = fault_at
    proc = subprocess.run(
        [sys.executable, "-c", code, str(target)], cwd=REPO, env=env, timeout=120, check=False
    )
    return proc.returncode


def test_a_writer_killed_between_temp_file_and_rename_leaves_a_temp_that_recovery_removes(
    tmp_path: Path,
) -> None:
    target = tmp_path / "run" / "metrics.json"
    assert write_in_subprocess(target, f"tmp:*/run/{target.name}") == -signal.SIGKILL
    assert not target.exists()
    (temp,) = target.parent.iterdir()
    named = recovery.TEMP_NAME.match(temp.name)
    assert named is not None
    assert named["name"] == "metrics.json"
    assert not recovery.pid_alive(int(named["pid"]))  # the writer's pid, now dead
    assert temp.read_bytes() == b"data"
    assert recovery.remove_stale_temp_files([str(tmp_path)]) == [str(temp)]
    assert list(target.parent.iterdir()) == []

    assert write_in_subprocess(target, "tmp:*/elsewhere/*") == 0  # no match: not killed
    assert write_in_subprocess(target, None) == 0
    assert [p.name for p in target.parent.iterdir()] == ["metrics.json"]


def test_checkpoint_is_a_no_op_unless_its_point_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(faults.ENV_VAR, raising=False)
    faults.checkpoint("after:promote")
    monkeypatch.setenv(faults.ENV_VAR, "after:publish")
    faults.checkpoint("after:promote")  # still alive


# --- serving follows the champion pointer -------------------------------------------------


def register(out: str, version: str) -> None:
    metrics = {"backtest": {}, "gate": {"passed": True, "reasons": ["test"]}}
    registry.register(
        out, MODEL, version, model_text="tree\n", metrics=metrics, config_yaml="a: 1\n",
        manifest={"run_id": version}, data_digest="d", git_commit="c", actor="t",
    )  # fmt: skip


def serve_copy(out: str, version: str) -> None:
    frame = pl.DataFrame({"series": ["a"], "date": [dt.date(2026, 11, 25)], "forecast": [1.0]})
    serving.write_dated(
        out, MODEL, frame, model_version=version, run_id=version, as_of=dt.date(2026, 11, 24)
    )


def latest_version(out: str) -> str:
    pointer = json.loads(Path(out, "serving", MODEL, "latest.json").read_text())
    return str(pointer["model_version"])


def test_follow_champion_serves_what_champion_json_names(tmp_path: Path) -> None:
    out = str(tmp_path)
    assert recovery.follow_champion(out, MODEL)["champion"] is None
    for version in (V1, V2):
        register(out, version)
        serve_copy(out, version)
    registry.promote(out, MODEL, V1, actor="t", reason="r", expected=None)
    assert recovery.follow_champion(out, MODEL)["changed"] is True
    assert latest_version(out) == V1
    # A run killed after moving the pointer and before serving: the next run repairs it.
    registry.promote(out, MODEL, V2, actor="t", reason="r", expected=V1)
    assert latest_version(out) == V1
    synced = recovery.follow_champion(out, MODEL)
    assert (synced["champion"], synced["changed"]) == (V2, True)
    assert latest_version(out) == V2


def test_cli_rollback_serves_the_rolled_back_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path)
    for version in (V1, V2, V3):
        register(out, version)
    for version in (V1, V2):
        serve_copy(out, version)
    registry.promote(out, MODEL, V2, actor="t", reason="r", expected=None)
    recovery.follow_champion(out, MODEL)
    base = ["--output-path", out, "--model-name", MODEL, "rollback"]
    assert main([*base, V1, "--reason", "bad week", "--actor", "al"]) == 0
    assert "serving file://" in capsys.readouterr().out
    assert latest_version(out) == V1
    assert main([*base, V3, "--reason", "never served", "--actor", "al"]) == 0
    assert f"no forecasts of {V3} were served yet" in capsys.readouterr().out
    assert latest_version(out) == V1
