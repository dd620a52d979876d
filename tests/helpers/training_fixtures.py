"""Builders for the training tests: a tiny random Qwen2.5-VL and a small built 3-image dataset, offline.

The fixtures in ``tests/training_reference/conftest.py`` build each once per session (model ≈5 s, dataset < 1 s).
The model is plainly random (no planted reply): it earns zero seed reward, so the GRPO tests add
:func:`distinct_chars_reward`, which varies within a group.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

TINY_GRPO = {
    "output_dir": None,  # set per test
    "resume": "auto",
    "model": {"path": None, "dtype": "float32"},
    "data": {"source": None, "split": "train", "max_prompt_tokens": 5120},
    "export": {"merged_dir": ""},
    "grpo": {
        # the smallest run that still exercises everything: 8 prompts × 3 images per step, 2 generations each,
        # batch 4, 16 new tokens, a KL term (beta 0.01), and a learning rate large enough to move a random model
        "use_cpu": True, "bf16": False, "gradient_checkpointing": False, "num_generations": 2,
        "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1, "max_completion_length": 16,
        "beta": 0.01, "use_bias_correction_kl": False, "learning_rate": 1e-3, "max_steps": 2, "save_steps": 1,
        "logging_steps": 1, "report_to": "none", "seed": 0, "dataloader_num_workers": 0,
        "lr_scheduler_type": "constant", "weight_decay": 0.01, "num_completions_to_print": 1,
    },
}


def build_tiny_dataset(root: Path, n_per_dimension: int = 2) -> tuple[Path, list[Any]]:
    """A built dataset (``scale-vqa build`` output) with a train split of 5 × `n_per_dimension` 3-image items."""
    from builders.dataset.export import build_dataset
    from tests.helpers.tiny_vlm import write_release

    release = root / "release"
    items = write_release(release, n_per_dimension, split="train")
    out = root / "built"
    build_dataset(release, out, images=release / "images", progress=False)
    return out, items


def build_tiny_assets(root: Path) -> dict[str, Any]:
    """``model`` (a random tiny VLM), ``data`` (a built dataset folder), ``items`` (its items by id), ``root``."""
    from tests.helpers.tiny_vlm import build_tiny_vlm

    data, items = build_tiny_dataset(root / "data")
    return {"model": build_tiny_vlm(root / "model", plant=False), "data": data,
            "items": {item.id: item for item in items}, "root": root}


def distinct_chars_reward(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
    """Test-only reward: distinct characters in the completion / 16 (varies between random completions)."""
    from training_reference.rewards import completion_text

    return [len(set(completion_text(c))) / 16 for c in completions]


def tiny_config(assets: dict[str, Any], out: Path, *, model: Path | None = None, **sections: dict[str, Any]) -> Any:
    """A :class:`TrainConfig` for the tiny GRPO run on `model` (default: the random one), writing to `out`;
    `sections` update its sections."""
    from training_reference.config import from_dict

    raw = copy.deepcopy(TINY_GRPO)
    raw.update(output_dir=str(out))
    raw["model"]["path"] = str(model or assets["model"])
    raw["data"]["source"] = str(assets["data"])
    for name, values in sections.items():
        if isinstance(raw.get(name), dict):
            raw[name].update(values)
        else:
            raw[name] = values
    return from_dict(raw, "tiny-test-config")
