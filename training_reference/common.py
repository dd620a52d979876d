"""Pieces GRPO and SFT share: processor loading and the left-padding guard, LoRA, resume, logging, export.

torch / transformers / peft are imported inside the functions that need them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scale_vqa.errors import BadInputError

from .config import LoraConfig, ModelConfig, TrainConfig

LANGUAGE_LINEAR = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
"""LoRA targets when the vision tower is left alone: the language model's attention and MLP projections."""


class PaddingError(BadInputError):
    """The processor pads on the right: TRL then misaligns the image tokens of multi-image prompts and GRPO
    trains on corrupted inputs without any error (trl#5785)."""


@dataclass
class TrainResult:
    """What a training run left behind."""

    output_dir: Path
    global_step: int
    resumed_from: str | None
    merged_dir: Path | None
    metrics: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


def load_processor(model: ModelConfig, config: TrainConfig | None = None) -> Any:
    """The checkpoint's processor (image-only without torchvision), padding on `model.padding_side`; errors name
    where `config` (the one holding `model`) set the path."""
    from evaluator.vlm_compat import load_processor as load

    config = config or TrainConfig(model=model)
    config.require("model.path")
    if not Path(model.path).exists() and model.path.count("/") != 1:
        raise config.error("model.path", f"{model.path} does not exist (a checkpoint folder or a Hub id org/name)")
    processor = load(model.path)
    if model.min_pixels or model.max_pixels:  # transformers 5: image bounds go through `size`
        size = processor.image_processor.size
        processor = load(model.path, size={"shortest_edge": model.min_pixels or size.shortest_edge,
                                           "longest_edge": model.max_pixels or size.longest_edge})
    processor.tokenizer.padding_side = model.padding_side
    check_left_padding(processor)
    return processor


def check_left_padding(processor: Any) -> None:
    """Raise :class:`PaddingError` unless `processor` (or a bare tokenizer) pads on the left.

    TRL forces left padding only on a processor it loads itself; one handed in is used as it is, and right
    padding silently misaligns ``mm_token_type_ids`` with the image tokens in multi-image prompts."""
    tokenizer = getattr(processor, "tokenizer", processor)
    side = getattr(tokenizer, "padding_side", None)
    if side != "left":
        raise PaddingError(f"the processor pads on the {side!r} side; GRPO on Qwen2.5-VL needs left padding "
                           "(set processor.tokenizer.padding_side = 'left'): right padding silently corrupts "
                           "multi-image training (trl#5785)")


def peft_config(lora: LoraConfig, *, task: str = "CAUSAL_LM") -> Any:
    """A ``peft.LoraConfig`` (None when LoRA is off). Without ``lora.vision`` the vision tower is not adapted."""
    if not lora.enabled:
        return None
    from peft import LoraConfig as PeftLoraConfig

    targets: Any = lora.target_modules
    if targets == "all-linear" and not lora.vision:
        targets = LANGUAGE_LINEAR
    return PeftLoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets,
                          task_type=task)


def resume_checkpoint(config: TrainConfig) -> str | None:
    """The checkpoint to resume from: ``resume: auto`` → the latest in output_dir (None if there is none)."""
    if config.resume == "never":
        return None
    if config.resume == "auto":
        from transformers.trainer_utils import get_last_checkpoint

        out = Path(config.output_dir)
        return get_last_checkpoint(str(out)) if out.is_dir() else None
    if not Path(config.resume).is_dir():
        raise config.error("resume", f"checkpoint folder not found: {config.resume}")
    return config.resume


def check_trl_kwargs(kwargs: dict[str, Any], cls: type, section: str, config: TrainConfig) -> None:
    """ConfigError naming the first key of `kwargs` (the `section` of `config`) that is not a field of the TRL
    config class `cls`."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(cls)}
    for key in kwargs:
        if key not in names:
            raise config.error(f"{section}.{key}", f"not a {cls.__name__} field (trl)")


def model_init_kwargs(config: TrainConfig, given: dict[str, Any] | None) -> dict[str, Any]:
    """``model_init_kwargs`` for TRL: the given ones, plus ``model.dtype`` / ``model.attn_implementation``."""
    init = dict(given or {})
    init.setdefault("dtype", config.model.dtype)
    if config.model.attn_implementation:
        init.setdefault("attn_implementation", config.model.attn_implementation)
    return init


def prepare_inputs(config: TrainConfig, args: Any, kind: str, processor: Any = None,
                   train_dataset: Any = None) -> tuple[Any, Any, Any]:
    """The left-padded processor and the prepared training data (with its statistics, None when `train_dataset`
    is given prepared) for a GRPO or SFT trainer; the data are prepared once, on the main process first."""
    from .data import load_prepared

    if processor is None:
        processor = load_processor(config.model, config)
    check_left_padding(processor)
    stats = None
    if train_dataset is None:
        config.require("data.source")
        with args.main_process_first(desc="prepare data"):  # other ranks then read the datasets cache
            train_dataset, stats = load_prepared(config.data.source, config.data.split, processor, kind=kind,
                                                 max_prompt_tokens=config.data.max_prompt_tokens,
                                                 allow_no_images=config.data.allow_no_images,
                                                 limit=config.data.limit,
                                                 prompt_format=config.data.prompt_format)
        if args.process_index == 0:
            print(stats.summary())
    return processor, train_dataset, stats


def run_training(config: TrainConfig, build: Any, **kwargs: Any) -> TrainResult:
    """Shared driver: resume point, ``build(config, **kwargs)`` → (trainer, stats), data stats saved, train,
    export the merged model."""
    resume = resume_checkpoint(config)
    trainer, stats = build(config, **kwargs)
    short_console(trainer)
    out = Path(config.output_dir)
    if stats is not None and trainer.accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / "data_stats.json").write_text(json.dumps(stats.to_dict(), indent=2) + "\n")
    if resume:
        print(f"resuming from {resume}")
    output = trainer.train(resume_from_checkpoint=resume)
    merged = export_merged(trainer, trainer.processing_class, config)
    return TrainResult(out, trainer.state.global_step, resume, merged, dict(output.metrics),
                       stats.to_dict() if stats else {})


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def jsonl_logger(path: Path) -> Any:
    """A TrainerCallback appending every log (loss, kl, reward components, …) to `path` as JSON lines."""
    from transformers import TrainerCallback

    class JsonlLogger(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   **kwargs: Any) -> None:
            if logs is None or not state.is_world_process_zero:
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"step": state.global_step, "time": time.time(), **logs}) + "\n")

    return JsonlLogger()


ZERO_VARIANCE = ("step {step}: every prompt's completions earned the same reward (reward std 0 in each group), so "
                 "the advantages, the loss and the gradients are 0 and the step learns nothing. Expected from a "
                 "random or untrained model (it earns the same reward, often 0, on every completion, as the "
                 "demo's tiny model does); on a real run, check that the model writes <answer>LETTER</answer> and "
                 "that the reward section fits the data. Shown once; train_log.jsonl has frac_reward_zero_std "
                 "for every step.")
SHOWN = ("loss", "reward", "reward_std", "kl", "grad_norm", "learning_rate", "mean_token_accuracy")
"""What the console line of a logging step shows (and ``rewards/<name>/mean``); train_log.jsonl has it all."""


def console_line(step: int, max_steps: int, logs: dict[str, Any]) -> str:
    """One short line for a logging step: ``step 3/40: loss 0.012, reward 0.6 (accuracy 0.5, format 1), …``."""
    def num(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, int | float) else str(value)

    parts = [f"{key} {num(logs[key])}" for key in SHOWN if key in logs and key != "reward"]
    if "reward" in logs:
        components = [f"{key.split('/')[1]} {num(value)}" for key, value in logs.items()
                      if key.startswith("rewards/") and key.endswith("/mean")]
        parts.insert(1 if "loss" in logs else 0,
                     f"reward {num(logs['reward'])}" + (f" ({', '.join(components)})" if components else ""))
    if not parts and "train_runtime" in logs:  # the end-of-training summary
        return f"done in {logs['train_runtime']:.1f} s, mean loss {num(logs.get('train_loss'))}"
    return f"step {step}/{max_steps}: " + ", ".join(parts)


def short_console(trainer: Any) -> None:
    """The console of a run: the progress bar and one short line per logging step (instead of the whole log
    dict), plus one warning the first time a GRPO step has no reward variance."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    class ShortProgress(ProgressCallback):
        warned = False

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   **kwargs: Any) -> None:
            if not state.is_world_process_zero or not logs:
                return
            write = self.training_bar.write if self.training_bar is not None else _write
            write(console_line(state.global_step, state.max_steps, logs))
            if logs.get("frac_reward_zero_std") == 1 and not self.warned:
                self.warned = True
                write("warning: " + ZERO_VARIANCE.format(step=state.global_step), file=sys.stderr)

    # transformers picks the plain printer instead of the progress bar when its log level is above WARNING
    if trainer.pop_callback(ProgressCallback) is not None or trainer.pop_callback(PrinterCallback) is not None:
        trainer.add_callback(ShortProgress())


def _write(text: str, file: Any = None) -> None:
    print(text, file=file or sys.stdout)


def export_merged(trainer: Any, processor: Any, config: TrainConfig) -> Path | None:
    """Save the trained model with any LoRA adapter merged, plus the processor, into ``config.merged_dir``:
    a plain Qwen2.5-VL checkpoint the evaluator (lm-eval / vLLM / transformers serve) loads as is."""
    out = config.merged_dir
    if out is None:
        return None
    model = trainer.model
    is_peft = hasattr(model, "peft_config")
    if not is_peft:
        trainer.save_model(str(out))  # gathers ZeRO-3 shards
    else:
        adapter = Path(config.output_dir) / "adapter"
        trainer.save_model(str(adapter))
        trainer.accelerator.wait_for_everyone()
        if trainer.accelerator.is_main_process:
            _merge_adapter(config, adapter, out)
    if trainer.accelerator.is_main_process:
        processor.save_pretrained(str(out))
        generation = getattr(trainer.accelerator.unwrap_model(model), "generation_config", None)
        if generation is not None:
            generation.save_pretrained(str(out))
    trainer.accelerator.wait_for_everyone()
    return out


def _merge_adapter(config: TrainConfig, adapter: Path, out: Path) -> None:
    """Reload the base model on CPU, apply the saved adapter, merge and save (works after ZeRO-3 too)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    dtype = config.model.dtype if config.model.dtype == "auto" else getattr(torch, config.model.dtype)
    base = AutoModelForImageTextToText.from_pretrained(config.model.path, dtype=dtype, device_map=None)
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    merged.save_pretrained(str(out))
