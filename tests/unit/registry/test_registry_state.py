"""Damaged registry state: every unusable file is named with its repair, and the rest works.

Each test damages one real file of a real registry (truncated, garbled, a field removed or
of the wrong type, an artifact edited) and checks the error message, what the listings
show, that the repair command it names works, and that a model is never loaded from files
that differ from what was registered.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from tasks import registry, release
from tasks.registry.cli import main

MODEL = "sales-forecast"
V1, V2, V3 = "20261101T000000Z-aaaaaaaa", "20261102T000000Z-bbbbbbbb", "20261103T000000Z-cccccccc"
FEATURES = ["lag_1", "lag_7"]


def _model_text(seed: int) -> str:
    rng = np.random.default_rng(seed)
    x = rng.random((80, 2))
    data = lgb.Dataset(x, label=x[:, 0] * 3 + x[:, 1], feature_name=FEATURES)
    params = {"objective": "regression", "num_leaves": 4, "verbose": -1, "seed": seed}
    return str(lgb.train(params, data, num_boost_round=3).model_to_string())


def _register(root: str, version: str, seed: int = 0) -> registry.ModelVersion:
    block = {"wape": 0.1, "mae": 1.0, "rmse": 2.0, "bias": 0.0}
    meta = {"feature_names": FEATURES, "categories": {}, "normalize": False, "training_rows": 80}
    return registry.register(
        root,
        MODEL,
        version,
        model_text=_model_text(seed),
        metrics={
            "backtest": {"model": block, "seasonal_naive": {**block, "wape": 0.2}},
            "gate": {"passed": True, "reasons": ["test"]},
        },
        config_yaml="random_seed: 42\n",
        manifest={"run_id": version, "model": meta},
        data_digest="digest-1",
        git_commit="0123456789abcdef",
        actor="tester",
    )


@pytest.fixture
def root(tmp_path: Path) -> str:
    """Three versions; V1 promoted, then V2 (the champion)."""
    out = str(tmp_path / "outputs")
    for i, v in enumerate((V1, V2, V3)):
        _register(out, v, seed=i)
    for v, expected in ((V1, None), (V2, V1)):
        assert registry.promote(
            out, MODEL, v, actor="t", reason="gate passed", expected=expected
        ).promoted
    return out


def _folder(root: str) -> Path:
    return Path(root, "registry", MODEL)


def _cli(root: str, *args: str) -> list[str]:
    return ["--output-path", root, "--model-name", MODEL, *args]


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _edit(path: Path, **changes: Any) -> None:
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    path.write_text(json.dumps(data))


DAMAGE = {  # how a JSON file is damaged -> what the message says
    "truncated": (_truncate, "truncated"),
    "garbled": (lambda p: p.write_bytes(b"\x00\x13garbage{"), "not valid JSON"),
    "empty": (lambda p: p.write_bytes(b""), "empty (0 bytes)"),
    "array": (lambda p: p.write_text("[]"), "holds an array, not an object"),
    "no version": (lambda p: _edit(p, version=None), "field 'version' is missing"),
    "version a number": (lambda p: _edit(p, version=7), "'version' is an integer, expected a"),
}


# --- champion.json -------------------------------------------------------------------------


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_champion_pointer_is_named_with_the_rollback_that_repairs_it(
    root: str, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    harm, problem = DAMAGE[damage]
    pointer = _folder(root) / "champion.json"
    harm(pointer)
    with pytest.raises(registry.CorruptStateError) as caught:
        registry.champion(root, MODEL)
    message = str(caught.value)
    assert str(pointer) in message
    assert problem in message
    repair = f"python -m tasks.registry --output-path {root} --model-name {MODEL} rollback {V2}"
    assert repair in message  # V2: the version the history says it named last

    assert main(_cli(root, "champion")) == 1
    err = capsys.readouterr().err
    assert str(pointer) in err
    assert repair in err

    # The repair it names works, and the registry is whole again.
    assert main(_cli(root, "rollback", V2, "--reason", "repair champion.json")) == 0
    current = registry.champion(root, MODEL)
    assert current is not None
    assert (current.version, current.previous) == (V2, None)
    assert problem in registry.history(root, MODEL)[-1]["replaced_damaged"]


def test_list_and_history_still_work_with_a_damaged_champion_pointer(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _truncate(_folder(root) / "champion.json")
    assert main(_cli(root, "list")) == 0
    out = capsys.readouterr().out
    assert [ln.split()[0] for ln in out.splitlines()[1:4]] == [V1, V2, V3]  # no champion mark
    assert "champion: champion pointer" in out
    assert "rollback" in out
    assert main(_cli(root, "history")) == 0


def test_promote_replaces_a_damaged_pointer_only_when_asked(root: str) -> None:
    pointer = _folder(root) / "champion.json"
    pointer.write_text("{")
    kept = registry.promote(root, MODEL, V3, actor="run", reason="passed", expected=None)
    assert not kept.promoted  # it did not know the pointer was damaged: stale, re-evaluate
    assert pointer.read_text() == "{"
    assert "damaged champion.json" in registry.history(root, MODEL)[-1]["reason"]

    done = registry.promote(
        root, MODEL, V3, actor="run", reason="passed", expected=None, replace_damaged=True
    )
    assert done.promoted
    assert done.replaced is not None
    assert "truncated" in done.replaced
    assert registry.champion(root, MODEL) == done.champion
    assert registry.history(root, MODEL)[-1]["replaced_damaged"] == done.replaced


def test_replace_damaged_is_stale_once_the_pointer_was_repaired(root: str) -> None:
    result = registry.promote(
        root, MODEL, V3, actor="run", reason="passed", expected=None, replace_damaged=True
    )
    assert not result.promoted  # the pointer is healthy (V2): re-evaluate against it
    assert result.current == V2


# --- version.json --------------------------------------------------------------------------


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_version_summary_is_listed_as_damaged_and_the_rest_still_are(
    root: str, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    harm, problem = DAMAGE[damage]
    summary = _folder(root) / V1 / "version.json"
    harm(summary)
    found = registry.inventory(root, MODEL)
    assert [v.version for v in found.versions] == [V2, V3]
    assert [d.version for d in found.damaged] == [V1]
    assert problem in found.damaged[0].problem
    assert [v.version for v in registry.list_versions(root, MODEL)] == [V2, V3]

    assert main(_cli(root, "list")) == 0
    out = capsys.readouterr().out
    rows = [ln.split() for ln in out.splitlines()[1:4]]
    assert (rows[0][:2], rows[1][:2], rows[2][0]) == (["!", V1], ["*", V2], V3)
    assert rows[0][-2] == "DAMAGED"
    assert f"! {V1} is damaged: {summary}: " in out
    assert problem in out
    assert f"forget {V1} --reason damaged" in out

    with pytest.raises(registry.CorruptStateError) as caught:
        registry.get_version(root, MODEL, V1)
    assert str(summary) in str(caught.value)
    assert main(_cli(root, "show", V1)) == 1
    assert str(summary) in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"version": V2}, f"it names version '{V2}' but lives in '{V1}'"),
        ({"files": {}}, "'files' has no entry for model.txt"),
        ({"created_at": None}, "field 'created_at' is missing"),
        ({"metrics": {"gate_passed": "yes"}}, "'gate_passed' is a string, expected a boolean"),
    ],
)
def test_version_summary_contract(root: str, change: dict[str, Any], problem: str) -> None:
    _edit(_folder(root) / V1 / "version.json", **change)
    damaged = registry.inventory(root, MODEL).damaged
    assert [d.version for d in damaged] == [V1]
    assert problem in damaged[0].problem


def test_forget_takes_a_damaged_version_out_and_keeps_its_files(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _truncate(_folder(root) / V1 / "version.json")
    assert main(_cli(root, "forget", V1, "--reason", "damaged", "--actor", "al")) == 0
    assert V1 in capsys.readouterr().out
    found = registry.inventory(root, MODEL)
    assert ([v.version for v in found.versions], found.damaged) == ([V2, V3], [])
    assert (_folder(root) / V1 / "model.txt").is_file()
    last = registry.history(root, MODEL)[-1]
    assert (last["event"], last["version"], last["actor"]) == ("forgotten", V1, "al")

    assert main(_cli(root, "forget", V2, "--reason", "x")) == 1  # the champion
    assert "roll back first" in capsys.readouterr().err
    assert main(_cli(root, "forget", V1, "--reason", "again")) == 1
    assert registry.champion(root, MODEL) is not None


# --- artifacts: SHA-256 --------------------------------------------------------------------


def test_an_edited_model_is_refused_naming_both_digests(root: str) -> None:
    model = _folder(root) / V2 / "model.txt"
    recorded = json.loads((_folder(root) / V2 / "version.json").read_text())["files"]
    text = model.read_text()
    assert registry.read_model_text(root, MODEL, V2) == text
    edited = text.replace("leaf_value=", "leaf_value=9", 1)
    model.write_text(edited)
    with pytest.raises(registry.CorruptStateError) as caught:
        registry.read_model_text(root, MODEL, V2)
    message = str(caught.value)
    assert str(model) in message
    assert recorded["model.txt"]["sha256"] in message
    assert hashlib.sha256(edited.encode()).hexdigest() in message
    assert f"forget {V2}" in message
    assert "rollback" in message


def test_a_deleted_artifact_is_damage(root: str) -> None:
    (_folder(root) / V2 / "config.yaml").unlink()
    with pytest.raises(registry.CorruptStateError, match=r"missing, though version\.json lists"):
        registry.read_version_file(root, MODEL, V2, "config.yaml")


def test_show_and_list_verify_report_edited_artifacts(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (_folder(root) / V3 / "config.yaml").write_text("random_seed: 7\n")
    assert main(_cli(root, "list")) == 0  # reads version.json only
    assert "DAMAGED" not in capsys.readouterr().out
    assert main(_cli(root, "list", "--verify")) == 1
    out = capsys.readouterr().out
    assert f"! {V3} is damaged:" in out
    assert "config.yaml" in out
    assert main(_cli(root, "show", V3)) == 1
    shown = capsys.readouterr().out
    files = [ln.split() for ln in shown.splitlines() if ln.startswith("  ") and "." in ln[:16]]
    checks = {row[0]: row[-1] for row in files}
    assert checks == {
        "model.txt": "ok",
        "metrics.json": "ok",
        "config.yaml": "DAMAGED",
        "manifest.json": "ok",
    }
    assert main(_cli(root, "show", V2)) == 0
    assert "DAMAGED" not in capsys.readouterr().out


def test_rollback_refuses_a_version_whose_model_was_edited(root: str) -> None:
    (_folder(root) / V1 / "model.txt").write_text("tree\n")
    with pytest.raises(registry.CorruptStateError, match="SHA-256"):
        registry.rollback(root, MODEL, V1, actor="al", reason="incident")
    assert registry.champion(root, MODEL).version == V2  # type: ignore[union-attr]


def test_the_champion_loads_only_from_the_files_that_were_registered(root: str) -> None:
    loaded = release.load_champion(root, MODEL, V2, None)
    assert loaded.version == V2
    assert loaded.model.feature_names == FEATURES

    folder = _folder(root) / V2
    (folder / "config.yaml").write_text("random_seed: 1\n")
    with pytest.raises(registry.CorruptStateError, match=r"config\.yaml"):
        release.load_champion(root, MODEL, V2, None)
    _truncate(folder / "version.json")
    with pytest.raises(registry.CorruptStateError, match=r"version\.json is damaged: truncated"):
        release.load_champion(root, MODEL, V2, None)


def test_a_model_rewritten_together_with_its_digest_is_still_refused(root: str) -> None:
    """Someone rewrote model.txt and version.json to match: LightGBM's refusal is named."""
    folder = _folder(root) / V2
    (folder / "model.txt").write_text("not a model\n")
    summary = json.loads((folder / "version.json").read_text())
    summary["files"]["model.txt"] = {
        "bytes": 12,
        "sha256": hashlib.sha256(b"not a model\n").hexdigest(),
    }
    (folder / "version.json").write_text(json.dumps(summary))
    with pytest.raises(registry.CorruptStateError) as caught:
        release.load_champion(root, MODEL, V2, None)
    assert str(folder / "model.txt") in str(caught.value)
    assert "LightGBM cannot use it" in str(caught.value)


# --- history -------------------------------------------------------------------------------


def test_a_damaged_history_event_is_listed_as_damaged_between_the_others(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    events = sorted((_folder(root) / "history").iterdir())
    _truncate(events[3])  # the first promotion
    found = registry.history(root, MODEL)
    assert [e["event"] for e in found] == [
        "registered",
        "registered",
        "registered",
        "damaged",
        "promoted",
    ]
    assert found[3]["version"] == V1
    assert found[3]["time"].startswith("20")
    assert "truncated" in found[3]["reason"]
    assert main(_cli(root, "history")) == 0
    out = capsys.readouterr().out
    assert f"damaged event file {events[3]}" in out
    assert "rename" in out
