"""Atomic writes keep the user's umask, leave nothing half-written, never replace a folder they did not check,
let one run at a time write a folder, and clean up after killed runs."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scale_vqa.atomic import OutputBusyError, OutputChangedError, atomic_dir, atomic_write_text
from scale_vqa.cli import main
from scale_vqa.errors import BadInputError


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


def test_a_concurrent_run_to_the_same_folder_fails_and_the_first_one_wins(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with atomic_dir(out) as first:
        (first / "a.txt").write_text("first")
        with pytest.raises(OutputBusyError, match="another run is writing it"), atomic_dir(out):
            pass  # never reached
        assert first.is_dir()  # the live run's temporary folder is not touched
    assert (out / "a.txt").read_text() == "first"
    assert isinstance(OutputBusyError("x"), BadInputError)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no lock file or temporary folder left


@pytest.mark.parametrize("existing", [False, True])
def test_a_folder_that_appears_or_is_swapped_in_during_the_run_is_kept(tmp_path: Path, existing: bool) -> None:
    out = tmp_path / "out"
    if existing:
        out.mkdir()
        (out / "old.txt").write_text("checked")
    with pytest.raises(OutputChangedError, match="left as it is"), atomic_dir(out) as tmp:
        (tmp / "new.txt").write_text("ours")
        if existing:
            out.rename(tmp_path / "moved")
        out.mkdir()
        (out / "theirs.txt").write_text("keep me")
    assert sorted(p.name for p in out.iterdir()) == ["theirs.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # an empty folder that appears is kept too (a plain rename would silently replace it)
    (out / "theirs.txt").unlink()
    out.rmdir()
    with pytest.raises(OutputChangedError), atomic_dir(out):
        out.mkdir()
    assert out.is_dir()


def test_may_replace_is_asked_on_entry_and_again_before_the_rename(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    asked: list[Path] = []

    def may_replace(path: Path) -> bool:
        asked.append(path)
        return not (path / "claimed.txt").exists()

    with pytest.raises(OutputChangedError, match="may no longer be replaced"), \
            atomic_dir(out, may_replace=may_replace) as tmp:
        (tmp / "new.txt").write_text("new")
        (out / "claimed.txt").write_text("someone else's now")
    assert asked == [out, out] and sorted(p.name for p in out.iterdir()) == ["claimed.txt", "old.txt"]
    with pytest.raises(OutputChangedError, match="may not be replaced"), atomic_dir(out, may_replace=may_replace):
        pass
    (out / "claimed.txt").unlink()
    with atomic_dir(out, may_replace=may_replace) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]


KILLED_RUN = """
import os, signal, sys
from scale_vqa.atomic import atomic_dir
with atomic_dir(sys.argv[1]) as tmp:
    (tmp / "half.txt").write_text("half")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_temporary_folders_of_a_killed_run_are_removed_by_the_next_run(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-c", KILLED_RUN, str(out)], cwd=Path(__file__).parents[2],
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}, check=False)
    assert run.returncode == -signal.SIGKILL
    stale = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(stale) == 1 and (stale[0] / "half.txt").exists()
    other = tmp_path / ".out.x.abcdefgh.tmp"  # a temporary folder of another target (`out.x`): not ours
    other.mkdir()
    with atomic_dir(out) as tmp:
        (tmp / "whole.txt").write_text("whole")
    assert "removed 1 temporary folder(s)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, "out"]
    assert [p.name for p in out.iterdir()] == ["whole.txt"]


def test_a_folder_moved_aside_by_a_killed_run_is_put_back(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    aside = tmp_path / ".out.abcdefgh.old"  # killed between moving the old folder aside and the final rename
    aside.mkdir()
    (aside / "old.txt").write_text("old")
    with pytest.raises(OutputChangedError), atomic_dir(out, may_replace=lambda p: False):
        pass
    assert "removed 1 temporary folder(s)" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["old.txt"] and not aside.exists()
