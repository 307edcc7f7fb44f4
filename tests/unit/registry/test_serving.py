"""Unit tests for tasks.registry.serving: dated copies, and ``latest`` following the champion
pointer."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tasks.registry import serving

DAY, NEXT_DAY = dt.date(2026, 11, 24), dt.date(2026, 11, 25)
OLD, NEW = "20261124T060000Z-aaaaaaaa", "20261124T120000Z-bbbbbbbb"


def forecasts(value: float) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "region": ["north", "north"],
            "product_type": ["toys", "toys"],
            "date": [dt.date(2026, 11, 25), dt.date(2026, 11, 26)],
            "forecast": [value, value + 1],
        }
    )


class Champion:
    """A champion pointer stand-in that counts how often it was read."""

    def __init__(self, version: str | None) -> None:
        self.version = version
        self.reads = 0

    def __call__(self) -> str | None:
        self.reads += 1
        return self.version


@pytest.fixture
def out(tmp_path: Path) -> str:
    return str(tmp_path)


def root(out: str) -> Path:
    return Path(out, "serving", "m")


def dated(out: str, version: str, run_id: str, value: float, day: dt.date = DAY) -> dict[str, Any]:
    return serving.write_dated(
        out, "m", forecasts(value), model_version=version, run_id=run_id, as_of=day
    )


def latest(out: str) -> tuple[dict[str, Any], pl.DataFrame]:
    pointer = json.loads((root(out) / "latest.json").read_text())
    return pointer, pl.read_parquet(root(out) / "latest.parquet")


def test_a_dated_copy_is_written_alone_with_the_pointer_that_would_serve_it(out: str) -> None:
    pointer = dated(out, "v1", OLD, 1.0)
    copy = root(out) / "2026-11-24" / f"{OLD}.parquet"
    assert sorted(p.name for p in root(out).rglob("*")) == ["2026-11-24", copy.name]
    frame = pl.read_parquet(copy)
    assert frame.columns == [
        "region", "product_type", "date", "forecast", "model_version", "model_role",
    ]  # fmt: skip
    assert set(frame["model_version"]) == {"v1"}
    assert set(frame["model_role"]) == {"champion"}
    assert pointer["dated_uri"] == copy.resolve().as_uri()
    assert (pointer["model_version"], pointer["run_id"], pointer["rows"]) == ("v1", OLD, 2)


def test_latest_serves_the_champions_newest_copy_and_is_left_alone_when_it_does(
    out: str,
) -> None:
    dated(out, "v1", OLD, 1.0)
    dated(out, "v1", NEW, 5.0)
    dated(out, "v2", "20261124T180000Z-cccccccc", 9.0)  # a candidate that is not champion
    champion = Champion("v1")
    result = serving.sync_latest(out, "m", champion)
    assert result["changed"] is True
    assert result["problems"] == []
    pointer, frame = latest(out)
    assert (pointer["model_version"], pointer["run_id"]) == ("v1", NEW)
    assert frame.equals(pl.read_parquet(Path(pointer["dated_uri"].removeprefix("file://"))))
    assert frame["forecast"].to_list() == [5.0, 6.0]
    assert serving.sync_latest(out, "m", champion)["changed"] is False
    assert champion.reads == 2  # asked under the lock each time


def test_an_older_run_of_the_same_champion_does_not_move_latest_back(out: str) -> None:
    dated(out, "v1", NEW, 5.0)
    serving.sync_latest(out, "m", Champion("v1"))
    dated(out, "v1", OLD, 1.0)  # finishes after NEW
    assert serving.sync_latest(out, "m", Champion("v1"))["changed"] is False
    assert latest(out)[0]["run_id"] == NEW


def test_latest_follows_a_new_champion_and_a_rollback(out: str) -> None:
    dated(out, "v1", OLD, 1.0)
    serving.sync_latest(out, "m", Champion("v1"))
    dated(out, "v2", NEW, 5.0, day=NEXT_DAY)
    serving.sync_latest(out, "m", Champion("v2"))
    assert latest(out)[0]["model_version"] == "v2"
    serving.sync_latest(out, "m", Champion("v1"))  # rolled back: its newest copy serves
    pointer, frame = latest(out)
    assert (pointer["model_version"], pointer["run_id"]) == ("v1", OLD)
    assert frame["forecast"].to_list() == [1.0, 2.0]


def without_sha256(path: Path) -> None:
    """``latest.json`` as written before it carried the copy's SHA-256."""
    pointer = json.loads(path.read_text())
    del pointer["sha256"]
    path.write_text(json.dumps(pointer))


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda r: (r / "latest.json").write_text('{"model_vers'), "latest.json is damaged: trunc"),
        (lambda r: (r / "latest.json").write_text("[1, 2]"), "holds an array, not an object"),
        (lambda r: (r / "latest.json").write_bytes(b"\xff\xfe"), "latest.json is damaged: not UTF"),
        (lambda r: (r / "latest.parquet").write_bytes(b"PAR1"), "latest.parquet is not the copy"),
        (lambda r: (r / "latest.parquet").unlink(), "latest.parquet is not the copy"),
        (lambda r: without_sha256(r / "latest.json"), "latest.json has no sha256"),
    ],
    ids=["truncated-json", "not-an-object", "not-utf8", "replaced-frame", "missing-frame", "old"],
)
def test_damaged_latest_is_rewritten_from_the_champions_copy(
    out: str, damage: Any, problem: str
) -> None:
    dated(out, "v1", OLD, 1.0)
    serving.sync_latest(out, "m", Champion("v1"))
    before = latest(out)
    damage(root(out))
    result = serving.sync_latest(out, "m", Champion("v1"))
    assert result["changed"] is True
    assert any(problem in p for p in result["problems"]), result["problems"]
    unusable_pointer = "damaged" in problem or "not an object" in problem  # not the frame
    assert (result["replaced_damaged"] is not None) is unusable_pointer
    pointer, frame = latest(out)
    assert frame.equals(before[1])
    assert {k: v for k, v in pointer.items() if k != "written_at"} == {
        k: v for k, v in before[0].items() if k != "written_at"
    }


def test_a_kill_between_latest_parquet_and_its_pointer_is_repaired(out: str) -> None:
    dated(out, "v1", OLD, 1.0)
    serving.sync_latest(out, "m", Champion("v1"))
    dated(out, "v2", NEW, 5.0)
    # What a run killed after writing latest.parquet and before latest.json leaves behind:
    (root(out) / "latest.parquet").write_bytes(
        (root(out) / DAY.isoformat() / f"{NEW}.parquet").read_bytes()
    )
    result = serving.sync_latest(out, "m", Champion("v2"))
    assert result["changed"] is True
    pointer, frame = latest(out)
    assert pointer["model_version"] == "v2"
    assert set(frame["model_version"]) == {"v2"}


def test_without_a_champion_or_its_copy_latest_is_left_as_it_is(out: str) -> None:
    result = serving.sync_latest(out, "m", Champion(None))
    assert (result["pointer"], result["changed"], result["problems"]) == (None, False, [])
    assert not (root(out) / "latest.json").exists()
    dated(out, "v1", OLD, 1.0)
    serving.sync_latest(out, "m", Champion("v1"))
    missing = serving.sync_latest(out, "m", Champion("v9"))
    assert missing["changed"] is False
    assert missing["problems"] == [f"no dated copy made by champion v9 under {root(out)}"]
    assert latest(out)[0]["model_version"] == "v1"


def test_files_that_are_not_serving_copies_are_never_served(out: str) -> None:
    dated(out, "v1", OLD, 1.0)
    (root(out) / DAY.isoformat() / "zz-notes.parquet").write_text("not parquet")
    (root(out) / DAY.isoformat() / f".{NEW}.parquet.123.abc.tmp").write_text("partial")
    serving.sync_latest(out, "m", Champion("v1"))
    assert latest(out)[0]["run_id"] == OLD


def test_no_pointer_before_anything_was_served(out: str) -> None:
    assert serving.read_pointer(out, "m") is None
