"""GRPO on TRL: ``scale-vqa train grpo --config FILE [key=value …]``.

:func:`build_trainer` wires a :class:`~training_reference.config.TrainConfig` into ``trl.GRPOTrainer``: the
checkpoint's processor (left padding asserted), prompts from :mod:`training_reference.data`, the seed-parity
rewards of :mod:`training_reference.rewards` weighted through ``reward_weights``, completions and reward
components logged (TRL's ``completions/*.parquet`` plus ``train_log.jsonl``), checkpoints every
``save_steps``. :func:`train` resumes from the latest checkpoint, trains, and exports a merged model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import (
    TrainResult,
    check_left_padding,
    check_trl_kwargs,
    jsonl_logger,
    model_init_kwargs,
    peft_config,
    prepare_inputs,
    run_training,
    world_size,
)
from .config import TrainConfig
from .data import DataStats
from .rewards import PATHOLOGY_ENTITIES, RewardFunc, RewardSpec, make_reward_funcs

VISION_PLACEHOLDERS = ("<|image_pad|>", "<|video_pad|>")
"""Qwen2.5-VL tokens vLLM must never sample in a completion."""


def reward_spec(config: TrainConfig) -> RewardSpec:
    """The config's reward section as a :class:`~training_reference.rewards.RewardSpec`."""
    r = config.reward
    terms = PATHOLOGY_ENTITIES
    if r.entity_terms_file:
        path = Path(r.entity_terms_file)
        if not path.is_file():
            raise config.error("reward.entity_terms_file", f"file not found: {path}")
        extra = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        terms = (*terms, *(t for t in extra if not t.startswith("#")))
    return RewardSpec(mode=r.mode, accuracy_weight=r.accuracy_weight, format_weight=r.format_weight,
                      entity_weight=r.entity_weight, entity_terms=terms)


def grpo_kwargs(config: TrainConfig, reward_weights: Sequence[float], *, n_devices: int | None = None) -> dict:
    """Keyword arguments for ``trl.GRPOConfig``: the ``grpo`` section plus what the other sections imply."""
    kwargs = dict(config.grpo)
    kwargs["output_dir"] = config.output_dir
    kwargs.setdefault("log_completions", True)
    kwargs.setdefault("remove_unused_columns", False)  # reward functions read gold / letters / id
    kwargs["model_init_kwargs"] = model_init_kwargs(config, kwargs.get("model_init_kwargs"))
    if kwargs.get("use_vllm") and "generation_kwargs" not in kwargs:
        # TRL suppresses the image token only on the transformers path; a sampled <|image_pad|> in a vLLM
        # completion breaks the next forward pass ("Image features and image tokens do not match", trl#4488)
        kwargs["generation_kwargs"] = {"bad_words": list(VISION_PLACEHOLDERS)}
    if "reward_weights" in kwargs:
        raise config.error("grpo.reward_weights", "set the weights in the reward section (reward.accuracy_weight, "
                           "reward.format_weight, reward.entity_weight)")
    kwargs["reward_weights"] = list(reward_weights)
    per_step = config.data.prompts_per_step
    if per_step:
        if config.grpo.get("gradient_accumulation_steps") is not None:
            raise config.error("grpo.gradient_accumulation_steps", "set either it or data.prompts_per_step, "
                               "not both")
        generations = int(kwargs.get("num_generations", 8))
        per_device = int(kwargs.get("per_device_train_batch_size", 8))
        devices = n_devices or world_size()
        completions, per_micro = per_step * generations, per_device * devices
        if completions % per_micro:
            raise config.error("data.prompts_per_step", f"{per_step} prompts × {generations} generations = "
                               f"{completions} completions per step is not a multiple of {per_device} per "
                               f"device × {devices} device(s)")
        kwargs["gradient_accumulation_steps"] = completions // per_micro
    return kwargs


def build_trainer(config: TrainConfig, *, processor: Any = None, train_dataset: Any = None,
                  extra_rewards: Sequence[tuple[RewardFunc, float]] = (), callbacks: Sequence[Any] = ()
                  ) -> tuple[Any, DataStats | None]:
    """A ready ``GRPOTrainer`` and the data statistics (None when `train_dataset` is given prepared).

    `processor` defaults to the checkpoint's; a given one must pad on the left. `extra_rewards` adds
    ``(function, weight)`` pairs after the configured rewards (tests use one that varies within a group)."""
    from trl import GRPOConfig, GRPOTrainer

    config.require("model.path", "output_dir")
    check_trl_kwargs(config.grpo, GRPOConfig, "grpo", config)
    funcs, weights = make_reward_funcs(reward_spec(config))
    for func, weight in extra_rewards:
        funcs.append(func)
        weights.append(weight)
    args = GRPOConfig(**grpo_kwargs(config, weights))  # config errors surface before the data is prepared
    processor, train_dataset, stats = prepare_inputs(config, args, "grpo", processor, train_dataset)
    Path(args.output_dir, "completions").mkdir(parents=True, exist_ok=True)
    trainer = GRPOTrainer(model=config.model.path, reward_funcs=funcs, args=args, train_dataset=train_dataset,
                          processing_class=processor, peft_config=peft_config(config.lora),
                          callbacks=[jsonl_logger(Path(args.output_dir) / "train_log.jsonl"), *callbacks])
    check_left_padding(trainer.processing_class)
    return trainer, stats


def train(config: TrainConfig, **kwargs: Any) -> TrainResult:
    """Build the trainer, resume from the latest checkpoint (``resume: auto``), train, export the merged model."""
    return run_training(config, build_trainer, **kwargs)
