"""Atomic writes keep the user's umask and leave nothing half-written."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from scale_vqa.atomic import atomic_dir, atomic_write_text
from scale_vqa.cli import main


@pytest.fixture
def umask() -> Iterator[int]:
    old = os.umask(0o022)
    try:
        yield 0o022
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_and_folders_get_the_umask_modes(tmp_path: Path, umask: int) -> None:
    atomic_write_text(tmp_path / "a.txt", "x")
    assert mode(tmp_path / "a.txt") == 0o644
    with atomic_dir(tmp_path / "out") as tmp:
        (tmp / "b.txt").write_text("y")
    assert mode(tmp_path / "out") == 0o755 and (tmp_path / "out" / "b.txt").read_text() == "y"
    os.umask(0o077)
    atomic_write_text(tmp_path / "private.txt", "z")
    with atomic_dir(tmp_path / "private") as tmp:
        pass
    assert mode(tmp_path / "private.txt") == 0o600 and mode(tmp_path / "private") == 0o700


def test_atomic_dir_keeps_the_old_folder_on_error_and_replaces_it_on_success(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(out) as tmp:
        (tmp / "new.txt").write_text("half")
        raise RuntimeError("failed mid-way")
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]
    with atomic_dir(out) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left behind


def test_demo_output_is_readable_by_colleagues(tmp_path: Path, umask: int, monkeypatch, capsys) -> None:
    monkeypatch.setattr("scale_vqa.commands.demo.demo_steps", lambda: [])  # the core steps only
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    capsys.readouterr()
    for path in [tmp_path / "demo", *(tmp_path / "demo").rglob("*")]:
        want = 0o755 if path.is_dir() else 0o644
        assert mode(path) == want, path
