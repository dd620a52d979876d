"""The official release as a built dataset folder (being built)."""

from __future__ import annotations

from pathlib import Path


def official_dataset() -> Path:
    raise NotImplementedError("the official release source is not built yet")
