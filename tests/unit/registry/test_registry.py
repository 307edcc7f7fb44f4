"""Unit tests for tasks.registry: versions, champion compare-and-swap, rollback, history, CLI.

The race tests run two OS processes (``spawn``) that promote at the same moment, on a local
folder and on S3 (a local moto server).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from multiprocessing.managers import SyncManager
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

import pytest

from tasks import registry, storage
from tasks.registry.cli import main
from tests.support import REPO

MODEL = "sales-forecast"


def _metrics(model_wape: float = 0.10, passed: bool = True) -> dict[str, Any]:
    block = {"wape": model_wape, "mae": 1.0, "rmse": 2.0, "bias": 0.0}
    return {
        "backtest": {"model": block, "seasonal_naive": {**block, "wape": 0.20}},
        "gate": {"passed": passed, "reasons": ["test"]},
    }


def _register(root: str, version: str, **changes: Any) -> registry.ModelVersion:
    kwargs: dict[str, Any] = {
        "model_text": f"tree\nversion={version}\n",
        "metrics": _metrics(),
        "config_yaml": "random_seed: 42\n",
        "manifest": {"run_id": version, "row_counts": {"train": 10}},
        "data_digest": "digest-1",
        "git_commit": "0123456789abcdef",
        "actor": "tester",
    }
    return registry.register(root, MODEL, version, **{**kwargs, **changes})


def _promote(root: str, version: str, expected: str | None) -> registry.PromotionResult:
    return registry.promote(
        root, MODEL, version, actor="tester", reason="gate passed", expected=expected
    )


V1, V2, V3 = "20261101T000000Z-aaaaaaaa", "20261102T000000Z-bbbbbbbb", "20261103T000000Z-cccccccc"


@pytest.fixture
def root(tmp_path: Path) -> str:
    return str(tmp_path / "outputs")


# --- register / list / get -----------------------------------------------------------------


def test_the_same_code_config_and_data_find_the_version_built_from_them(root: str) -> None:
    same = registry.Digests("code-1", "config-1", 2)
    assert registry.find_same_build(root, MODEL, same, "digest-1") is None
    _register(root, V1)  # no code or config digest recorded: never matches
    _register(root, V2, digests=same)
    _register(root, V3, digests=registry.Digests("code-1", "config-2", 2))
    # a run killed between register and publish left no run directory: its build is not reused
    assert registry.find_same_build(root, MODEL, same, "digest-1") is None
    run_dir = Path(root) / "runs" / f"{V2[:4]}-{V2[4:6]}-{V2[6:8]}" / V2
    run_dir.mkdir(parents=True)
    (run_dir / "manifest.json").write_text("{}")
    found = registry.find_same_build(root, MODEL, same, "digest-1")
    assert found is not None
    assert found.version == V2
    assert (found.code_digest, found.config_digest, found.config_schema_version) == (
        "code-1",
        "config-1",
        2,
    )
    assert registry.find_same_build(root, MODEL, same, "digest-2") is None
    model = Path(root) / "registry" / MODEL / V2 / "model.txt"
    model.write_text(model.read_text() + "edited\n")
    assert registry.find_same_build(root, MODEL, same, "digest-1") is None  # damaged: not reused
    assert (
        registry.find_same_build(root, MODEL, registry.Digests("code-2", "config-1", 2), "digest-1")
        is None
    )


def test_recent_champions_are_newest_first_and_distinct(root: str) -> None:
    for version in (V1, V2, V3):
        _register(root, version)
    _promote(root, V1, None)
    _promote(root, V2, V1)
    registry.rollback(root, MODEL, V1, actor="tester", reason="V2 over-forecasts")
    _promote(root, V3, V1)
    assert registry.recent_champions(root, MODEL, 5) == [V3, V1, V2]
    assert registry.recent_champions(root, MODEL, 2) == [V3, V1]


def test_a_fresh_gate_lets_a_reused_version_be_promoted(root: str) -> None:
    _register(root, V1, metrics=_metrics(passed=False))
    with pytest.raises(registry.RegistryError, match="failed its promotion gate"):
        _promote(root, V1, None)
    result = registry.promote(
        root, MODEL, V1, actor="tester", reason="passes now", expected=None, gate_passed=True
    )
    assert result.promoted is True


def test_register_writes_every_file_and_a_summary(root: str) -> None:
    mv = _register(root, V1)
    folder = Path(root, "registry", MODEL, V1)
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.yaml",
        "manifest.json",
        "metrics.json",
        "model.txt",
        "version.json",
    ]
    assert (folder / "model.txt").read_text() == f"tree\nversion={V1}\n"
    assert json.loads((folder / "metrics.json").read_text()) == _metrics()
    summary = json.loads((folder / "version.json").read_text())
    assert summary["version"] == summary["run_id"] == V1
    assert summary["metrics"] == {
        "model_wape": 0.1,
        "seasonal_naive_wape": 0.2,
        "gate_passed": True,
    }
    assert summary["files"]["model.txt"]["bytes"] == len(f"tree\nversion={V1}\n")
    assert (mv.data_digest, mv.git_commit, mv.gate_passed) == ("digest-1", "0123456789abcdef", True)
    assert mv.uri == folder.resolve().as_uri()
    assert registry.get_version(root, MODEL, V1) == mv
    assert registry.read_model_text(root, MODEL, V1) == f"tree\nversion={V1}\n"


def test_list_versions_is_sorted_and_skips_incomplete_versions(root: str) -> None:
    _register(root, V2)
    _register(root, V1)
    partial = Path(root, "registry", MODEL, V3)
    partial.mkdir()
    (partial / "model.txt").write_text("tree\n")  # interrupted before version.json
    assert [v.version for v in registry.list_versions(root, MODEL)] == [V1, V2]
    with pytest.raises(registry.UnknownVersionError, match=V3):
        registry.get_version(root, MODEL, V3)


def test_empty_registry(root: str) -> None:
    assert registry.list_versions(root, MODEL) == []
    assert registry.champion(root, MODEL) is None
    assert registry.history(root, MODEL) == []


def test_register_again_with_the_same_content_is_idempotent(root: str) -> None:
    first = _register(root, V1)
    again = _register(root, V1, manifest={"run_id": V1, "row_counts": {"train": 10}})
    assert again == first
    assert [e["event"] for e in registry.history(root, MODEL)] == ["registered"]


@pytest.mark.parametrize(
    "change",
    [{"model_text": "other tree\n"}, {"data_digest": "digest-2"}, {"metrics": _metrics(0.3)}],
)
def test_register_again_with_other_content_raises(root: str, change: dict[str, Any]) -> None:
    _register(root, V1)
    with pytest.raises(registry.VersionConflictError, match=V1):
        _register(root, V1, **change)
    assert registry.get_version(root, MODEL, V1).model_wape == 0.1


@pytest.mark.parametrize("bad", ["../escape", "history", "champion.json", "", "a/b"])
def test_invalid_version_ids_are_refused(root: str, bad: str) -> None:
    with pytest.raises(ValueError, match="invalid version"):
        _register(root, bad)
    with pytest.raises(registry.UnknownVersionError):
        registry.get_version(root, MODEL, bad)


# --- promote (compare-and-swap) ------------------------------------------------------------


def test_first_promotion_expects_no_champion(root: str) -> None:
    _register(root, V1)
    result = _promote(root, V1, expected=None)
    assert (result.promoted, result.current, result.is_champion) == (True, V1, True)
    data = json.loads(Path(root, "registry", MODEL, "champion.json").read_text())
    assert data["version"] == V1
    assert data["previous"] is None
    assert (data["actor"], data["reason"], data["action"]) == ("tester", "gate passed", "promoted")
    assert registry.champion(root, MODEL) == result.champion


def test_promotion_with_a_stale_expected_champion_writes_nothing(root: str) -> None:
    for v in (V1, V2, V3):
        _register(root, v)
    _promote(root, V1, expected=None)
    before = Path(root, "registry", MODEL, "champion.json").read_bytes()
    result = _promote(root, V3, expected=None)  # compared against "no champion": stale
    assert (result.promoted, result.current, result.is_champion) == (False, V1, False)
    assert Path(root, "registry", MODEL, "champion.json").read_bytes() == before
    rejected = registry.history(root, MODEL)[-1]
    assert rejected["event"] == "rejected"
    assert (rejected["version"], rejected["expected"], rejected["current"]) == (V3, None, V1)
    # Re-evaluated against the actual champion, the promotion goes through.
    result = _promote(root, V3, expected=V1)
    assert result.promoted
    assert registry.champion(root, MODEL) == registry.Champion(
        V3, result.champion.promoted_at if result.champion else "", "tester", "gate passed", V1
    )


def test_promoting_the_champion_again_changes_nothing(root: str) -> None:
    _register(root, V1)
    _promote(root, V1, expected=None)
    n_events = len(registry.history(root, MODEL))
    result = _promote(root, V1, expected=None)
    assert (result.promoted, result.is_champion) == (False, True)
    assert len(registry.history(root, MODEL)) == n_events


def test_promote_refuses_unknown_and_gate_failed_versions(root: str) -> None:
    with pytest.raises(registry.UnknownVersionError, match="registered: none"):
        _promote(root, V1, expected=None)
    _register(root, V1, metrics=_metrics(passed=False))
    with pytest.raises(registry.RegistryError, match="failed its promotion gate"):
        _promote(root, V1, expected=None)
    assert registry.champion(root, MODEL) is None


def test_reject_records_a_gate_failure(root: str) -> None:
    _register(root, V1, metrics=_metrics(passed=False))
    registry.reject(root, MODEL, V1, actor="flow", reason="gate failed")
    event = registry.history(root, MODEL)[-1]
    assert (event["event"], event["version"], event["reason"]) == ("rejected", V1, "gate failed")


# --- rollback and history ------------------------------------------------------------------


def test_rollback_is_recorded_with_who_and_why(root: str) -> None:
    for v in (V1, V2):
        _register(root, v)
    _promote(root, V1, expected=None)
    _promote(root, V2, expected=V1)
    new = registry.rollback(root, MODEL, V1, actor="alice", reason="V2 over-forecasts toys")
    data = json.loads(Path(root, "registry", MODEL, "champion.json").read_text())
    assert data == new.to_dict()
    assert (data["version"], data["previous"], data["action"]) == (V1, V2, "rolled_back")
    assert (data["actor"], data["reason"]) == ("alice", "V2 over-forecasts toys")
    event = registry.history(root, MODEL)[-1]
    assert event["event"] == "rolled_back"
    assert (event["version"], event["previous"], event["actor"]) == (V1, V2, "alice")
    assert event["reason"] == "V2 over-forecasts toys"


def test_rollback_refusals(root: str) -> None:
    _register(root, V1)
    _promote(root, V1, expected=None)
    Path(root, "registry", MODEL, V2).mkdir()  # incomplete
    with pytest.raises(registry.UnknownVersionError):
        registry.rollback(root, MODEL, V2, actor="alice", reason="x")
    with pytest.raises(registry.UnknownVersionError):
        registry.rollback(root, MODEL, V3, actor="alice", reason="x")
    with pytest.raises(registry.RegistryError, match="already the champion"):
        registry.rollback(root, MODEL, V1, actor="alice", reason="x")
    with pytest.raises(registry.RegistryError, match="reason"):
        registry.rollback(root, MODEL, V1, actor="alice", reason="  ")
    assert registry.champion(root, MODEL).version == V1  # type: ignore[union-attr]


def test_history_lists_events_in_order(root: str) -> None:
    for v in (V1, V2, V3):
        _register(root, v)
    _promote(root, V1, expected=None)
    _promote(root, V3, expected=None)
    _promote(root, V2, expected=V1)
    registry.rollback(root, MODEL, V1, actor="bob", reason="incident 42")
    events = [(e["event"], e["version"]) for e in registry.history(root, MODEL)]
    assert events == [
        ("registered", V1),
        ("registered", V2),
        ("registered", V3),
        ("promoted", V1),
        ("rejected", V3),
        ("promoted", V2),
        ("rolled_back", V1),
    ]
    names = os.listdir(Path(root, "registry", MODEL, "history"))
    assert len(names) == 7
    assert all(n.endswith(".json") and "-" in n for n in names)


# --- CLI -----------------------------------------------------------------------------------


@pytest.fixture
def served(root: str) -> str:
    for v in (V1, V2):
        _register(root, v)
    _promote(root, V1, expected=None)
    _promote(root, V2, expected=V1)
    return root


def test_cli_list_show_champion_history(served: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--output-path", served, "--model-name", MODEL]
    assert main([*base, "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["VERSION", "CREATED", "WAPE", "NAIVE", "WAPE", "GATE", "COMMIT"]
    assert lines[1].split()[0] == V1
    assert lines[2].split()[:2] == ["*", V2]
    assert main([*base, "show"]) == 0
    shown = capsys.readouterr().out
    assert f"version:             {V2}" in shown
    assert "model.txt" in shown
    assert main([*base, "show", V1]) == 0
    assert V1 in capsys.readouterr().out
    assert main([*base, "champion"]) == 0
    assert f"version:     {V2}" in capsys.readouterr().out
    assert main([*base, "history"]) == 0
    assert [ln.split()[1] for ln in capsys.readouterr().out.splitlines()[1:]] == [
        "registered",
        "registered",
        "promoted",
        "promoted",
    ]


def test_cli_rollback(served: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "--output-path",
            served,
            "--model-name",
            MODEL,
            "rollback",
            V1,
            "--reason",
            "bad week",
            "--actor",
            "al",
        ]
    )
    assert code == 0
    assert f"champion is now {V1} (was {V2})" in capsys.readouterr().out
    current = registry.champion(served, MODEL)
    assert current is not None
    assert (current.version, current.actor, current.reason) == (V1, "al", "bad week")


def test_cli_rollback_actor_defaults_to_the_user(
    served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER", "carol")
    assert (
        main(["--output-path", served, "--model-name", MODEL, "rollback", V1, "--reason", "r"]) == 0
    )
    assert registry.history(served, MODEL)[-1]["actor"] == "carol"


def test_cli_unknown_version_exits_non_zero(
    served: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = registry.champion(served, MODEL)
    assert (
        main(["--output-path", served, "--model-name", MODEL, "rollback", "nope", "--reason", "r"])
        == 1
    )
    err = capsys.readouterr().err
    assert "error: unknown version 'nope'" in err
    assert V1 in err  # the message lists what is registered
    assert main(["--output-path", served, "--model-name", MODEL, "show", "nope"]) == 1
    assert registry.champion(served, MODEL) == before
    with pytest.raises(SystemExit) as usage:
        main(
            ["--output-path", served, "--model-name", MODEL, "rollback", V1]
        )  # --reason is required
    assert usage.value.code == 2


def test_cli_empty_registry(root: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--output-path", root, "--model-name", MODEL, "list"]) == 0
    assert main(["--output-path", root, "--model-name", MODEL, "champion"]) == 0
    assert capsys.readouterr().out == "no versions registered\nno champion yet for sales-forecast\n"
    assert main(["--output-path", root, "--model-name", MODEL, "show"]) == 1


def test_module_entry_point(served: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tasks.registry",
            "--output-path",
            served,
            "--model-name",
            MODEL,
            "show",
            "nope",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 1
    assert "error: unknown version 'nope'" in done.stderr
    assert V2 in done.stderr


# --- locks and races across processes ------------------------------------------------------


def test_lock_times_out_while_held(tmp_path: Path) -> None:
    path = str(tmp_path / "x.lock")
    with (
        storage.lock(path, timeout=1.0),
        pytest.raises(storage.LockTimeoutError, match=r"within 0\.1 s"),
        storage.lock(path, timeout=0.1),
    ):
        pass
    with storage.lock(path, timeout=0.1):  # released after the block
        pass


@pytest.fixture(scope="module")
def workers() -> Iterator[tuple[Pool, SyncManager]]:
    """Two spawned OS processes (started once: a spawn costs ~2 s here) and a manager."""
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(2) as pool:
        yield pool, manager


def _in_env(env: dict[str, str]) -> None:
    os.environ.update(env)
    if env:
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()


def _count_worker(lock_path: str, counter: str, n: int) -> None:
    for _ in range(n):
        with storage.lock(lock_path, timeout=30):
            value = int(Path(counter).read_text())
            storage.write_text_atomic(counter, str(value + 1))


def test_lock_excludes_other_processes(tmp_path: Path, workers: tuple[Pool, SyncManager]) -> None:
    counter = tmp_path / "counter"
    counter.write_text("0")
    args = (str(tmp_path / "c.lock"), str(counter), 50)
    workers[0].starmap_async(_count_worker, [args, args]).get(timeout=120)
    assert counter.read_text() == "100"  # no lost update


ROUNDS = {"local": 4, "s3": 2}


def _race_worker(
    root: str, name: str, barrier: Any, rounds: int, env: dict[str, str]
) -> list[tuple[int, str, bool, str | None]]:
    """Each round: register a version, read the champion, then promote at the same moment."""
    _in_env(env)
    outcomes = []
    for r in range(rounds):
        version = f"20261101T0000{r:02d}Z-{name}"
        _register(root, version)
        barrier.wait(60)
        current = registry.champion(root, MODEL)
        expected = current.version if current else None
        barrier.wait(60)  # both compared against the same champion; now both promote
        result = registry.promote(
            root, MODEL, version, actor=name, reason=f"round {r}", expected=expected
        )
        outcomes.append((r, version, result.promoted, result.current))
    return outcomes


def _race(
    root: str, workers: tuple[Pool, SyncManager], rounds: int, env: dict[str, str] | None = None
) -> list[tuple[int, str, bool, str | None]]:
    pool, manager = workers
    barrier = manager.Barrier(2)
    jobs = [(root, name, barrier, rounds, env or {}) for name in ("aaaaaaaa", "bbbbbbbb")]
    per_worker = pool.starmap_async(_race_worker, jobs).get(timeout=180)
    return sorted(o for outcomes in per_worker for o in outcomes)


def _check_race(root: str, outcomes: list[tuple[int, str, bool, str | None]]) -> None:
    rounds = max(o[0] for o in outcomes) + 1
    winners = []
    for r in range(rounds):
        this_round = [o for o in outcomes if o[0] == r]
        assert sorted(o[2] for o in this_round) == [False, True], this_round
        winner = next(o[1] for o in this_round if o[2])
        assert all(o[3] == winner for o in this_round)  # the loser saw the winner
        winners.append(winner)
    versions = [v.version for v in registry.list_versions(root, MODEL)]
    assert versions == sorted(o[1] for o in outcomes)  # both versions of every round
    data = json.loads(storage.read_text(storage.join(root, "registry", MODEL, "champion.json")))
    assert data["version"] == winners[-1]
    assert data["previous"] == winners[-2]
    events = registry.history(root, MODEL)
    for r in range(rounds):
        kinds = sorted(
            e["event"] for e in events if e["version"].startswith(f"20261101T0000{r:02d}Z")
        )
        assert kinds == ["promoted", "registered", "registered", "rejected"]
    promoted = [e for e in events if e["event"] == "promoted"]
    assert [e["version"] for e in promoted] == winners
    assert [e["previous"] for e in promoted] == [None, *winners[:-1]]


def test_two_processes_race_to_promote(root: str, workers: tuple[Pool, SyncManager]) -> None:
    _check_race(root, _race(root, workers, ROUNDS["local"]))
    litter = [p for p in Path(root).rglob("*") if p.name.endswith(".tmp")]
    assert litter == []


# --- the same on S3 (a local moto server) --------------------------------------------------


S3_ENV = {
    "AWS_ENDPOINT_URL": "",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    moto_server = pytest.importorskip("moto.server")
    s3fs = pytest.importorskip("s3fs")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {**S3_ENV, "AWS_ENDPOINT_URL": endpoint}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    s3fs.S3FileSystem.clear_instance_cache()  # no cached client bound to another endpoint
    try:
        yield endpoint
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()


@pytest.fixture
def s3_root(s3_endpoint: str) -> str:
    import fsspec

    bucket = f"registry-{uuid.uuid4().hex[:12]}"
    fs = fsspec.filesystem("s3", skip_instance_cache=True, endpoint_url=s3_endpoint)
    fs.mkdir(bucket)
    return f"s3://{bucket}/outputs"


def test_registry_on_s3(s3_root: str) -> None:
    for v in (V1, V2):
        _register(s3_root, v)
    assert _register(s3_root, V1).version == V1  # idempotent
    with pytest.raises(registry.VersionConflictError):
        _register(s3_root, V1, data_digest="other")
    assert [v.version for v in registry.list_versions(s3_root, MODEL)] == [V1, V2]
    assert _promote(s3_root, V1, expected=None).promoted
    assert not _promote(s3_root, V2, expected=None).promoted
    assert _promote(s3_root, V2, expected=V1).promoted
    new = registry.rollback(s3_root, MODEL, V1, actor="alice", reason="why")
    assert registry.champion(s3_root, MODEL) == new
    assert new.previous == V2
    assert [e["event"] for e in registry.history(s3_root, MODEL)] == [
        "registered",
        "registered",
        "promoted",
        "rejected",
        "promoted",
        "rolled_back",
    ]
    # The lock object is gone once released.
    assert ".champion.lock" not in storage.list_names(storage.join(s3_root, "registry", MODEL))


def test_s3_lock_times_out_and_breaks_an_expired_lease(s3_root: str) -> None:
    path = storage.join(s3_root, "locks", "a.lock")
    with (
        storage.lock(path, timeout=1.0),
        pytest.raises(storage.LockTimeoutError),
        storage.lock(path, timeout=0.3),
    ):
        pass
    # A holder that died: its lease has run out, so the next caller takes the lock over.
    crashed = storage.lock(path, timeout=1.0, lease_seconds=0.2)
    crashed.__enter__()
    with storage.lock(path, timeout=5.0):
        crashed.__exit__(None, None, None)  # a late release must not remove this holder's lock
        assert "a.lock" in storage.list_names(storage.join(s3_root, "locks"))
    assert storage.list_names(storage.join(s3_root, "locks")) == []


@pytest.mark.slow  # ~4 s more on top of the moto server; `make test-slow` and CI run it
def test_two_processes_race_to_promote_on_s3(
    s3_root: str, s3_endpoint: str, workers: tuple[Pool, SyncManager]
) -> None:
    env = {k: os.environ[k] for k in S3_ENV}
    _check_race(s3_root, _race(s3_root, workers, ROUNDS["s3"], env))
