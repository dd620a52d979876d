"""GRPO and SFT end to end on a tiny random Qwen2.5-VL with 3-image items, on CPU (2 steps, 2 generations of
16 tokens, batch 4).

A random model earns zero seed reward (zero advantages, zero loss), so the training runs add a test-only
reward that varies within a group; the reward columns are still checked against the gold letters.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.helpers.items import REPO
from tests.helpers.training_fixtures import distinct_chars_reward, tiny_config

pytestmark = pytest.mark.slow


def vision_grad_probe() -> Any:
    """A TrainerCallback recording, before each optimizer step, the gradient norm over the vision tower."""
    from transformers import TrainerCallback

    class Probe(TrainerCallback):
        def __init__(self) -> None:
            self.norms: list[float] = []

        def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            total = 0.0
            for name, param in kwargs["model"].named_parameters():
                if ".visual." in f".{name}" and param.grad is not None:
                    total += float(param.grad.float().norm()) ** 2
            self.norms.append(math.sqrt(total))

    return Probe()


def texts(value: Any) -> str:
    """All strings inside a nested parquet value (arrays of message dicts), joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return " ".join(texts(v) for v in value.values())
    if hasattr(value, "__iter__"):
        return " ".join(texts(v) for v in value)
    return ""


def logs(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def grpo_run(assets: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from training_reference import grpo

    out = tmp_path_factory.mktemp("grpo") / "run"
    probe = vision_grad_probe()
    config = tiny_config(assets, out, export={"merged_dir": str(out / "merged")})
    result = grpo.train(config, extra_rewards=[(distinct_chars_reward, 1.0)], callbacks=[probe])
    return {"out": out, "result": result, "probe": probe, "config": config}


def test_two_steps_give_finite_nontrivial_loss_and_kl(grpo_run: dict) -> None:
    steps = [entry for entry in logs(grpo_run["out"]) if "loss" in entry]
    assert [entry["step"] for entry in steps] == [1, 2] and grpo_run["result"].global_step == 2
    assert all(math.isfinite(e["loss"]) and math.isfinite(e["kl"]) for e in steps)
    assert steps[1]["kl"] > 0 and steps[1]["loss"] != 0  # the policy moved away from the reference
    assert all(e["grad_norm"] > 0 for e in steps)
    for name in ("accuracy", "format", "distinct_chars_reward"):  # reward components logged
        assert f"rewards/{name}/mean" in steps[0]
    assert grpo_run["result"].data["kept"] == 10


def test_gradients_reach_the_vision_tower(grpo_run: dict) -> None:
    assert len(grpo_run["probe"].norms) == 2 and all(n > 0 for n in grpo_run["probe"].norms)


def test_completions_and_rewards_stay_aligned_with_their_prompts(grpo_run: dict, assets: dict) -> None:
    from training_reference.rewards import accuracy_score, format_score

    files = sorted((grpo_run["out"] / "completions").glob("*.parquet"))
    assert len(files) == 2
    table = pd.concat([pd.read_parquet(f) for f in files])
    assert len(table) == 8  # 2 steps × 2 prompts × 2 generations
    for row in table.itertuples():
        item = assets["items"][row.id]
        assert row.gold == item.answer
        assert item.question in texts(row.prompt)  # the row's own prompt
        text = row.completion[0]["content"]
        assert row.accuracy == accuracy_score(text, item.answer, "ABCD") and row.format == format_score(text, "ABCD")
        assert row.distinct_chars_reward == len(set(text)) / 16


def test_resume_continues_from_the_checkpoint(grpo_run: dict, assets: dict) -> None:
    from training_reference import grpo

    out = grpo_run["out"]
    assert {p.name for p in out.glob("checkpoint-*")} == {"checkpoint-1", "checkpoint-2"}
    config = tiny_config(assets, out, grpo={"max_steps": 3})
    result = grpo.train(config, extra_rewards=[(distinct_chars_reward, 1.0)])
    assert result.resumed_from == str(out / "checkpoint-2") and result.global_step == 3
    assert [e["step"] for e in logs(out) if "loss" in e] == [1, 2, 3]  # step 3 only, no restart from 1


def test_merged_export_loads_for_the_evaluator(grpo_run: dict) -> None:
    from transformers import AutoModelForImageTextToText

    from evaluator.vlm_compat import load_processor

    merged = grpo_run["result"].merged_dir
    assert merged == grpo_run["out"] / "merged"
    model = AutoModelForImageTextToText.from_pretrained(str(merged))
    processor = load_processor(str(merged))
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert processor.tokenizer.padding_side == "left"


def test_merged_export_runs_through_scale_vqa_eval(grpo_run: dict, assets: dict, tmp_path: Path) -> None:
    """Train → export → evaluate: the evaluator's hf-multimodal path loads the merged model and scores it."""
    pytest.importorskip("lm_eval", reason="needs the eval extra")
    from scale_vqa.cli import main

    out = tmp_path / "eval"
    code = main(["eval", "--model", "hf", "--model-args", f"pretrained={grpo_run['result'].merged_dir}",
                 "--data", str(assets["data"]), "--split", "train", "--tasks", "scale_vqa", "--limit", "1",
                 "--max-gen-toks", "4", "--device", "cpu", "--out", str(out)])
    assert code == 0 and (out / "table.md").is_file()


def test_rewards_follow_the_gold_letter_of_each_prompt(assets: dict, planted: Path, tmp_path: Path) -> None:
    """The planted model answers B to everything: accuracy must be 1 exactly on the gold-B prompts."""
    from training_reference import grpo

    config = tiny_config(assets, tmp_path / "planted", model=planted,
                         grpo={"temperature": 0.001, "max_steps": 1, "save_steps": 10})
    grpo.train(config)
    table = pd.read_parquet(tmp_path / "planted" / "completions" / "completions_00001.parquet")
    assert (table["answer"] == "B").all() and (table["format"] == 1.0).all()
    assert (table["accuracy"] == (table["gold"] == "B").astype(float)).all()


def test_right_padded_processor_is_refused(assets: dict, tmp_path: Path) -> None:
    from evaluator.vlm_compat import load_processor
    from training_reference import grpo
    from training_reference.common import PaddingError

    processor = load_processor(str(assets["model"]))
    processor.tokenizer.padding_side = "right"
    with pytest.raises(PaddingError, match="left padding"):
        grpo.build_trainer(tiny_config(assets, tmp_path / "right"), processor=processor)


def test_lora_grpo_step_and_merged_export(assets: dict, tmp_path: Path) -> None:
    from safetensors import safe_open

    from training_reference import grpo

    out = tmp_path / "lora"
    config = tiny_config(assets, out, lora={"enabled": True, "r": 4, "alpha": 8},
                         grpo={"max_steps": 1, "save_steps": 10}, export={"merged_dir": str(out / "merged")})
    result = grpo.train(config, extra_rewards=[(distinct_chars_reward, 1.0)])
    with safe_open(str(result.merged_dir / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert keys and not any("lora" in k for k in keys)  # merged: a plain checkpoint
    adapter = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert not re.fullmatch(adapter["target_modules"], "model.visual.blocks.0.attn.qkv")  # vision tower frozen


def test_sft_masks_the_prompt_and_trains(assets: dict, tmp_path: Path) -> None:
    from training_reference import sft

    image_pad = None
    config = tiny_config(assets, tmp_path / "sft", grpo={}, sft={
        "use_cpu": True, "bf16": False, "gradient_checkpointing": False, "per_device_train_batch_size": 2,
        "max_steps": 1, "learning_rate": 1e-3, "logging_steps": 1, "report_to": "none", "save_steps": 10})
    trainer, stats = sft.build_trainer(config)
    tokenizer = trainer.processing_class.tokenizer
    image_pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    rows = [trainer.train_dataset[i] for i in range(2)]
    batch = trainer.data_collator(rows)
    for ids, labels, row in zip(batch["input_ids"], batch["labels"], rows, strict=True):
        learned = ids[labels != -100]
        target = row["completion"][0]["content"][0]["text"]
        assert tokenizer.decode(learned).startswith(target)  # only the completion (+ end of turn) is learned
        assert image_pad not in learned.tolist() and (labels[ids == image_pad] == -100).all()
        assert int((labels != -100).sum()) < int((batch["attention_mask"][0] == 1).sum()) // 2
    output = trainer.train()
    assert math.isfinite(output.training_loss) and output.training_loss > 0
    assert stats is not None and stats.kept == 10


def test_gpu_benchmark_script_runs_at_toy_size(tmp_path: Path) -> None:
    """benchmarks/bench_grpo.py is prepared for a CUDA machine; here it must run on CPU."""
    import subprocess
    import sys

    script = REPO / "benchmarks" / "bench_grpo.py"
    proc = subprocess.run([sys.executable, str(script), "--out", str(tmp_path), "--arch", "tiny", "--cpu",
                           "--image-side", "56", "--items", "1", "--batch", "1", "--steps", "1",
                           "--max-completion", "4"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = json.loads((tmp_path / "results.json").read_text())
    (row,) = summary["rows"]
    assert summary["largest_batch"] == 1 and row["steps"] == 1 and row["step_time_s"] > 0 and row["tokens_per_s"] > 0
