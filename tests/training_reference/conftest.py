"""Session-wide fixtures of the training tests: the tiny model, processor and datasets are built once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers.items import REPO

CONFIGS = REPO / "training_reference" / "configs"


@pytest.fixture(scope="session")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The random tiny VLM, a built 10-item train split and its items (see tests.helpers.training_fixtures)."""
    pytest.importorskip("trl", reason="needs the train extra")
    from tests.helpers.training_fixtures import build_tiny_assets

    return build_tiny_assets(tmp_path_factory.mktemp("tiny_training"))


@pytest.fixture(scope="session")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny VLM with a planted reply (answers ``<answer>B</answer>`` to everything): the demo's model."""
    from tests.helpers.tiny_vlm import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("planted") / "model", plant=True)


@pytest.fixture(scope="session")
def processor(assets: dict[str, Any]) -> Any:
    from evaluator.vlm_compat import load_processor

    return load_processor(str(assets["model"]))


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``scale-vqa demo --out D`` leaves for training, made by the demo's own functions, without the model:
    the demo release and ``D/dataset`` (built, a validation split only)."""
    pytest.importorskip("trl", reason="needs the train extra")
    from builders.dataset.export import build_dataset
    from scale_vqa.demo import write_demo

    out = tmp_path_factory.mktemp("demo") / "scale-vqa-demo"
    paths = write_demo(out)
    build_dataset(paths["release"].parent, out / "dataset", images=paths["images"], progress=False)
    return out


@pytest.fixture(scope="session")
def demo(demo_data: Path, planted: Path) -> Path:
    """The demo folder with its model too: ``D/tiny-qwen2.5-vl`` is the planted tiny VLM, as the demo builds it."""
    (demo_data / "tiny-qwen2.5-vl").symlink_to(planted, target_is_directory=True)
    return demo_data
