"""Fixtures of the builders' tests: a known umask, to check that outputs keep the modes it gives."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def tree_modes(root: Path) -> dict[str, set[int]]:
    """The permission bits found under `root` (itself included), by kind: ``{"dirs": {...}, "files": {...}}``."""
    found: dict[str, set[int]] = {"dirs": set(), "files": set()}
    for path in [root, *root.rglob("*")]:
        found["dirs" if path.is_dir() else "files"].add(stat.S_IMODE(path.stat().st_mode))
    return found


@pytest.fixture
def umask_022() -> Iterator[Callable[[Path], dict[str, set[int]]]]:
    """Run the test under umask 022; yields :func:`tree_modes`."""
    old = os.umask(0o022)
    try:
        yield tree_modes
    finally:
        os.umask(old)
