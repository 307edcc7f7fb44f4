"""What a manifest says about the code: the commit, whether the tree was dirty, the digest."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tasks import publish


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_git_dirty_follows_the_working_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publish, "REPO_DIR", tmp_path)
    assert publish.git_dirty() is None  # not a checkout: cannot be told
    git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    git(tmp_path, "add", "a.py")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "a")
    assert publish.git_dirty() is False
    (tmp_path / "a.py").write_text("x = 2\n")
    assert publish.git_dirty() is True


def test_no_git_at_all_is_null(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert publish.git_dirty() is None


def test_the_code_digest_changes_with_any_code_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publish, "REPO_DIR", tmp_path)
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "a.py").write_text("x = 1\n")
    publish.code_digest.cache_clear()
    first = publish.code_digest()
    (tmp_path / "tasks" / "a.py").write_text("x = 2\n")
    publish.code_digest.cache_clear()
    try:
        assert publish.code_digest() != first
    finally:
        publish.code_digest.cache_clear()
