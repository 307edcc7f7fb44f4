"""Damaged serving and monitoring state: named when read, never blocking the next run."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from tasks.monitoring import drift, quality
from tasks.monitoring import store as monitoring_store
from tasks.registry import serving
from tasks.storage import state

DAY = dt.date(2026, 11, 24)
OLD, NEW = "20261124T060000Z-a", "20261124T120000Z-b"


def _forecasts(value: float) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "region": ["north", "north"],
            "date": [dt.date(2026, 11, 25), dt.date(2026, 11, 26)],
            "forecast": [value, value + 1],
        }
    )


def _serve(out: Path, run_id: str, value: float) -> dict[str, object]:
    """A champion ``v`` run: its dated copy, then ``latest`` made to follow the champion."""
    serving.write_dated(
        str(out), "m", _forecasts(value), model_version="v", run_id=run_id, as_of=DAY
    )
    return serving.sync_latest(str(out), "m", lambda: "v")


# --- serving/latest.json -------------------------------------------------------------------


DAMAGE = [
    (lambda b: b[: len(b) // 2], "truncated"),
    (lambda b: b"\x00garbage", "not valid JSON"),
    (lambda b: b'{"run_id": 5}', "field 'model_version' is missing"),
]


@pytest.mark.parametrize(("content", "problem"), DAMAGE)
def test_a_damaged_serving_pointer_is_named_and_replaced_by_the_next_run(
    tmp_path: Path, content: object, problem: str
) -> None:
    _serve(tmp_path, OLD, 1.0)
    _serve(tmp_path, NEW, 5.0)
    pointer = tmp_path / "serving" / "m" / "latest.json"
    pointer.write_bytes(content(pointer.read_bytes()))  # type: ignore[operator]
    with pytest.raises(state.CorruptStateError) as caught:
        serving.read_pointer(str(tmp_path), "m")
    assert str(pointer) in str(caught.value)
    assert problem in str(caught.value)
    assert "delete it" in str(caught.value)

    # The next run's recovery rewrites it from the champion's newest copy, and says so.
    done = serving.sync_latest(str(tmp_path), "m", lambda: "v")
    assert done["changed"] is True
    assert str(pointer) in str(done["replaced_damaged"])
    assert problem in str(done["replaced_damaged"])
    assert serving.read_pointer(str(tmp_path), "m")["run_id"] == NEW  # type: ignore[index]
    latest = pl.read_parquet(tmp_path / "serving" / "m" / "latest.parquet")
    assert latest["forecast"].to_list() == [5.0, 6.0]


def test_a_damaged_serving_pointer_stays_while_the_champion_pointer_is_unreadable(
    tmp_path: Path,
) -> None:
    _serve(tmp_path, NEW, 5.0)
    pointer = tmp_path / "serving" / "m" / "latest.json"
    pointer.write_bytes(b'{"run_id": "2026')
    unreadable = state.CorruptStateError("champion.json", "truncated", "roll back", "champion")

    def champion() -> str | None:
        raise unreadable

    done = serving.sync_latest(str(tmp_path), "m", champion)
    assert (done["changed"], done["replaced_damaged"], done["pointer"]) == (False, None, None)
    assert pointer.read_bytes() == b'{"run_id": "2026'  # which copy should serve is unknown
    assert any(str(pointer) in p for p in done["problems"])  # both are named
    assert any(str(unreadable) in p for p in done["problems"])


# --- history tables ------------------------------------------------------------------------


def _quality_row(run_id: str) -> pl.DataFrame:
    record = {
        "run_id": run_id, "status": "ok", "rows_in": 10, "rows_kept": 9, "rows_quarantined": 1,
        "series": ["north|toys"], "categories": json.dumps({"region": ["north"]}),
    }  # fmt: skip
    return pl.DataFrame([record], schema=quality.HISTORY_SCHEMA)


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda p: p.write_bytes(b""), "empty (0 bytes)"),
        (lambda p: p.write_bytes(p.read_bytes()[:50]), "not a readable parquet file"),
        (
            lambda p: _quality_row("a").drop("series").write_parquet(p),
            "columns ['series'] are missing",
        ),
        (
            lambda p: (
                _quality_row("a").with_columns(pl.col("rows_in").cast(pl.Float64)).write_parquet(p)
            ),
            "column 'rows_in' is Float64, expected Int64",
        ),
        (
            lambda p: (
                _quality_row("a").with_columns(pl.lit("{oops").alias("categories")).write_parquet(p)
            ),
            "'categories' is not a JSON object in the rows of runs ['a']",
        ),
    ],
)
def test_a_damaged_history_table_is_named_then_set_aside(
    tmp_path: Path, damage: object, problem: str
) -> None:
    root, name = str(tmp_path), monitoring_store.QUALITY_HISTORY
    table = tmp_path / name
    monitoring_store.append_table(root, name, _quality_row("a"), ["run_id"])
    damage(table)  # type: ignore[operator]
    before = table.read_bytes()
    with pytest.raises(state.CorruptStateError) as caught:
        monitoring_store.read_table(root, monitoring_store.QUALITY_HISTORY)
    assert str(table) in str(caught.value)
    assert problem in str(caught.value)
    with pytest.raises(state.CorruptStateError):  # never appended to blindly
        monitoring_store.append_table(root, name, _quality_row("b"), ["run_id"])

    moved = monitoring_store.set_aside_table(root, name)
    assert moved is not None
    assert Path(moved).read_bytes() == before  # kept, not deleted
    assert monitoring_store.read_table(root, name) is None
    assert monitoring_store.set_aside_table(root, name) is None


# --- drift profile -------------------------------------------------------------------------


def _profile() -> dict[str, object]:
    frame = pl.DataFrame({"date": [DAY] * 4, "lag_1": [1.0, 2.0, 3.0, 4.0], "target": [1.0] * 4})
    return drift.build_profile(frame, ["lag_1"], bins=2, target="target")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda p: p.pop("segments"), "field 'segments' is missing"),
        (lambda p: p.update(columns="lag_1"), "field 'columns' is a string, expected an array"),
        (lambda p: p["overall"]["columns"]["lag_1"].pop("edges"), "'edges' and 'shares'"),
        (lambda p: p["overall"]["columns"]["lag_1"].update(kind="x"), "has no kind"),
        (lambda p: p["overall"].pop("rows"), "overall has no row count"),
    ],
)
def test_a_damaged_profile_is_named(tmp_path: Path, change: object, problem: str) -> None:
    profile = _profile()
    change(profile)  # type: ignore[operator]
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    with pytest.raises(state.CorruptStateError) as caught:
        monitoring_store.load_profile(str(tmp_path))
    assert str(tmp_path / "profile.json") in str(caught.value)
    assert problem in str(caught.value)


def test_a_good_profile_loads(tmp_path: Path) -> None:
    monitoring_store.save_profile(str(tmp_path), _profile())
    assert monitoring_store.load_profile(str(tmp_path)) == json.loads(json.dumps(_profile()))


# --- dated serving copies ------------------------------------------------------------------


def test_a_damaged_served_copy_is_skipped_only_when_asked(tmp_path: Path) -> None:
    _serve(tmp_path, OLD, 1.0)
    _serve(tmp_path, NEW, 5.0)
    bad = tmp_path / "serving" / "m" / DAY.isoformat() / f"{OLD}.parquet"
    bad.write_bytes(b"PAR1")
    with pytest.raises(state.CorruptStateError, match=str(bad)):
        monitoring_store.read_serving_history(str(tmp_path), "m")
    skipped: list[state.CorruptStateError] = []
    found = monitoring_store.read_serving_history(str(tmp_path), "m", on_damaged=skipped.append)
    assert found is not None
    assert set(found["run_id"]) == {NEW}
    assert [e.path for e in skipped] == [str(bad)]
