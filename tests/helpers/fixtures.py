"""Session-wide fixtures shared by the evaluator and baselines tests (imported by their conftests): the tiny
random VLM, a small 3-image release, and one ``transformers serve`` of the tiny VLM. Each is built once per test
session, whichever folder asks first; the server stops when the session ends."""

from __future__ import annotations

import atexit
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
_BUILT: dict[str, Any] = {}
_RUNNING = contextlib.ExitStack()
atexit.register(_RUNNING.close)


def _once(name: str, build: Callable[[], T]) -> T:
    if name not in _BUILT:
        _BUILT[name] = build()
    return _BUILT[name]


@pytest.fixture(scope="session")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Qwen2.5-VL (:func:`evaluator.tiny_model.build_tiny_vlm`)."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tests.helpers.tiny_vlm import build_tiny_vlm

    return _once("vlm", lambda: build_tiny_vlm(tmp_path_factory.mktemp("vlm") / "tiny-qwen2.5-vl"))


@pytest.fixture(scope="session")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A release of 2 items per dimension (``val.json`` and ``images/``; 3 synthetic images per item)."""
    pytest.importorskip("PIL")
    from tests.helpers.tiny_vlm import write_release

    def build() -> Path:
        root = tmp_path_factory.mktemp("release")
        write_release(root, 2)
        return root / "val.json"

    return _once("release", build)


@pytest.fixture(scope="session")
def served_vlm(tiny_vlm: Path) -> str:
    """``http://127.0.0.1:PORT/v1`` of one ``transformers serve`` of :func:`tiny_vlm` for the whole session."""
    pytest.importorskip("fastapi", reason="`transformers serve` needs transformers[serving]")
    from tests.helpers.tiny_llm import SERVE_PRELUDE, serve

    return _once("server", lambda: _RUNNING.enter_context(serve(tiny_vlm, prelude=SERVE_PRELUDE)))
