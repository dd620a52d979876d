"""SFT baseline on TRL: ``scale-vqa train sft --config FILE [key=value …]``.

The seed also reports SFT (LLaMA-Factory, LoRA). Here ``trl.SFTTrainer`` learns the item's rationale as the
reasoning: target ``<think>{rationale}</think>\\n<answer>{gold}</answer>`` (the seed's SFT target layout) after
the same core prompt GRPO uses. Examples are prompt–completion pairs, so the loss covers the completion only:
the prompt's tokens (system, question, options and every image token) get label -100.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import (
    TrainResult,
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


def sft_kwargs(config: TrainConfig, *, n_devices: int | None = None) -> dict[str, Any]:
    """Keyword arguments for ``trl.SFTConfig`` from the ``sft`` section and the other sections."""
    kwargs = dict(config.sft)
    kwargs["output_dir"] = config.output_dir
    if kwargs.get("completion_only_loss") is False:
        raise config.error("sft.completion_only_loss", "must stay true (the prompt is masked)")
    kwargs["completion_only_loss"] = True
    kwargs.setdefault("remove_unused_columns", False)
    kwargs.setdefault("max_length", None)  # prompts are already ≤ max_prompt_tokens; never cut image tokens
    kwargs["model_init_kwargs"] = model_init_kwargs(config, kwargs.get("model_init_kwargs"))
    per_step = config.data.prompts_per_step
    if per_step:
        per_micro = int(kwargs.get("per_device_train_batch_size", 8)) * (n_devices or world_size())
        if per_step % per_micro:
            raise config.error("data.prompts_per_step", f"{per_step} is not a multiple of the per-device batch "
                               f"× devices ({per_micro})")
        kwargs["gradient_accumulation_steps"] = per_step // per_micro
    return kwargs


def build_trainer(config: TrainConfig, *, processor: Any = None, train_dataset: Any = None,
                  callbacks: Sequence[Any] = ()) -> tuple[Any, DataStats | None]:
    """A ready ``SFTTrainer`` and the data statistics (None when `train_dataset` is given prepared)."""
    from trl import SFTConfig, SFTTrainer

    config.require("model.path", "output_dir")
    check_trl_kwargs(config.sft, SFTConfig, "sft", config)
    args = SFTConfig(**sft_kwargs(config))  # config errors surface before the data is prepared
    processor, train_dataset, stats = prepare_inputs(config, args, "sft", processor, train_dataset)
    trainer = SFTTrainer(model=config.model.path, args=args, train_dataset=train_dataset, processing_class=processor,
                         peft_config=peft_config(config.lora),
                         callbacks=[jsonl_logger(Path(args.output_dir) / "train_log.jsonl"), *callbacks])
    return trainer, stats


def train(config: TrainConfig, **kwargs: Any) -> TrainResult:
    """Build the trainer, resume from the latest checkpoint (``resume: auto``), train, export the merged model."""
    return run_training(config, build_trainer, **kwargs)
