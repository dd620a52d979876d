"""Shared fixtures: the real validation split (read from ../shared, never copied)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.items import SHARED_VAL


@pytest.fixture
def val_path() -> Path:
    if not SHARED_VAL.is_file():
        pytest.skip(f"real validation split not found at {SHARED_VAL}")
    return SHARED_VAL
