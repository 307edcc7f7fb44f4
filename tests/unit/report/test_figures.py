"""The report's plots cached on a digest of what they show (``tasks.report.figures``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tasks.release import StoredFigures
from tasks.report import figures
from tasks.report import render as report
from tasks.report.image import Image
from tests.support import REPO
from tests.unit.report.test_render import make_inputs


class DictStore:
    """A figure store in memory that counts what it was asked."""

    def __init__(self) -> None:
        self.records: dict[str, bytes] = {}
        self.gets = self.puts = 0

    def get(self, key: str) -> bytes | None:
        self.gets += 1
        return self.records.get(key)

    def put(self, key: str, data: bytes) -> None:
        self.puts += 1
        self.records[key] = data


def test_a_cached_report_is_the_same_page_without_drawing() -> None:
    inputs = make_inputs()
    plain = report.render_report(inputs)
    store = DictStore()
    with figures.cached_in(store):
        first = report.render_report(inputs)
    drawn = store.puts
    with figures.cached_in(store):
        second = report.render_report(inputs)
    assert plain == first == second
    assert drawn >= 4
    assert store.puts == drawn  # the second page drew nothing


def test_the_key_follows_the_data() -> None:
    frame = pl.DataFrame({"date": [1, 2], "revenue": [1.0, 2.0]})
    changed = frame.with_columns(pl.col("revenue") * 2)
    key = figures.digest("series", frame, ["model"])
    assert key == figures.digest("series", frame.clone(), ["model"])
    assert key != figures.digest("series", changed, ["model"])
    assert key != figures.digest("series", frame, ["model", "seasonal_naive"])
    assert key != figures.digest("horizon", frame, ["model"])


def test_a_record_that_is_not_a_plot_is_redrawn(tmp_path: Path) -> None:
    store = StoredFigures(str(tmp_path / "figures"))
    with figures.cached_in(store):
        image = figures.importance_plot([("lag_7", 0.6), ("promo", 0.4)])
    (stored,) = list((tmp_path / "figures").iterdir())
    assert Image.from_bytes(stored.read_bytes(), "stored") == image
    stored.write_bytes(b"\x00\x00\x00\x10\x00\x00\x00\x10<script>")  # tampered
    with pytest.raises(ValueError, match="not a stored plot"):
        Image.from_bytes(stored.read_bytes(), "stored")
    with figures.cached_in(store):
        again = figures.importance_plot([("lag_7", 0.6), ("promo", 0.4)])
    assert again == image
    assert Image.from_bytes(stored.read_bytes(), "stored") == image  # rewritten


SCRIPT = """
import sys
from tasks.report import figures
from tasks.report import render as report
from tasks.release import StoredFigures
from tests.unit.report.test_render import make_inputs
with figures.cached_in(StoredFigures(sys.argv[1])):
    report.render_report(make_inputs())
print("matplotlib" in sys.modules)
"""


def test_a_fully_cached_report_never_imports_matplotlib(tmp_path: Path) -> None:
    def run() -> str:
        args = [sys.executable, "-c", SCRIPT, str(tmp_path / "figures")]
        done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    assert run() == "True"  # drawn: matplotlib needed
    assert run() == "False"  # every plot from the store
