"""Trainer configs: the shipped YAMLs, the seed-parity mapping, overrides, and errors that name file and field."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from scale_vqa.cli import main
from tests.training_reference.conftest import CONFIGS
from training_reference.config import ConfigError, from_dict, load_config


def test_seed_parity_maps_the_verl_recipe() -> None:
    from training_reference.grpo import grpo_kwargs

    config = load_config(CONFIGS / "seed_parity.yaml")
    kwargs = grpo_kwargs(config, [0.8, 0.2], n_devices=8)
    expected = {"num_generations": 5, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 5,
                "num_train_epochs": 5, "max_completion_length": 4096, "beta": 0.01, "use_bias_correction_kl": False,
                "loss_type": "dapo", "weight_decay": 0.01, "lr_scheduler_type": "constant", "learning_rate": 1e-6,
                "use_vllm": True, "vllm_mode": "colocate", "vllm_max_model_length": 9216,
                "vllm_enable_sleep_mode": True, "vllm_importance_sampling_correction": False,
                "reward_weights": [0.8, 0.2], "save_steps": 20, "log_completions": True, "entropy_coef": 0.0}
    assert {k: kwargs[k] for k in expected} == expected
    assert kwargs["model_init_kwargs"] == {"dtype": "bfloat16"}
    assert kwargs["generation_kwargs"] == {"bad_words": ["<|image_pad|>", "<|video_pad|>"]}  # vLLM path only
    no_vllm = load_config(CONFIGS / "smoke_cpu.yaml")
    assert "generation_kwargs" not in grpo_kwargs(no_vllm, [0.8, 0.2])  # transformers suppresses it itself
    assert config.data.max_prompt_tokens == 5120 and config.reward.mode == "seed"
    # 32 prompts × 5 rollouts per optimizer step on any device count that divides it
    assert grpo_kwargs(config, [0.8, 0.2], n_devices=1)["gradient_accumulation_steps"] == 40
    assert grpo_kwargs(config, [0.8, 0.2], n_devices=4)["gradient_accumulation_steps"] == 10
    with pytest.raises(ConfigError, match=r"data\.prompts_per_step.*3 device"):
        grpo_kwargs(config, [0.8, 0.2], n_devices=3)


@pytest.mark.parametrize(("name", "section", "cls"), [
    ("seed_parity", "grpo", "GRPOConfig"), ("recommended", "grpo", "GRPOConfig"),
    ("smoke_cpu", "grpo", "GRPOConfig"), ("sft", "sft", "SFTConfig")])
def test_shipped_configs_use_only_trl_fields(name: str, section: str, cls: str) -> None:
    import trl

    config = load_config(CONFIGS / f"{name}.yaml")
    fields = {f.name for f in dataclasses.fields(getattr(trl, cls))}
    assert set(getattr(config, section)) <= fields


def test_recommended_overrides_seed_parity() -> None:
    config = load_config(CONFIGS / "recommended.yaml")
    assert config.model.dtype == "float32" and config.reward.mode == "scale_vqa"
    assert config.grpo["beta"] == 0.01 and config.grpo["num_generations"] == 5  # inherited
    assert "recommended.yaml ← " in config.source and config.source.endswith("seed_parity.yaml")


def test_overrides_apply_yaml_values() -> None:
    config = load_config(CONFIGS / "seed_parity.yaml", ["grpo.learning_rate=1e-5", "lora.enabled=true",
                                                        "model.path=/m", "data.limit=8", "export.merged_dir="])
    assert config.grpo["learning_rate"] == 1e-5 and config.lora.enabled and config.model.path == "/m"
    assert config.data.limit == 8 and config.merged_dir is None


@pytest.mark.parametrize(("text", "overrides", "message"), [
    ("model: {pth: x}\n", [], r"bad\.yaml:1: error: model\.pth: unknown key"),
    ("data:\n  max_prompt_tokens: many\n", [], r"bad\.yaml:2: error: data\.max_prompt_tokens: .*valid integer"),
    ("reward: {mode: paper}\n", [], r"bad\.yaml:1: error: reward\.mode: .*'seed' or 'scale_vqa', got 'paper'"),
    ("lora: {enabled: 1}\n", [], r"bad\.yaml:1: error: lora\.enabled: .*valid boolean"),
    ("output_dir: x\nlearning_rate: 1\n", [], r"bad\.yaml:2: error: learning_rate: unknown key"),
    ("model: [1]\n", [], r"bad\.yaml:1: error: model: .*valid dictionary"),
    ("lora:\n  target_modules: 5\n", [], r"bad\.yaml:2: error: lora\.target_modules: expected list\[str\] or str, "
                                       r"got 5\n?$"),
    ("base: nowhere.yaml\n", [], r"bad\.yaml:1: error: base: config file not found: .*nowhere\.yaml"),
    ("model: {path: x\n", [], r"bad\.yaml:2: error: not valid YAML"),
    ("", ["model.path"], r"override 'model\.path': error: use dotted\.key=value"),
    ("", ["data.limit=x.y=z"], r"override 'data\.limit=x\.y=z': error: data\.limit: .*valid integer"),
])
def test_bad_configs_name_file_and_field(tmp_path: Path, text: str, overrides: list[str], message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path, overrides)


def test_missing_file_and_required_fields(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.yaml: error: config file not found"):
        load_config(tmp_path / "absent.yaml")
    config = from_dict({}, "x.yaml")
    with pytest.raises(ConfigError, match=r"x\.yaml: error: model\.path: required"):
        config.require("model.path")
    sft = load_config(CONFIGS / "sft.yaml")  # an empty field set in a file: its line
    with pytest.raises(ConfigError, match=r"sft\.yaml:9: error: model\.path: required"):
        sft.require("model.path")


def test_errors_name_the_base_file_and_line_that_set_the_field(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("output_dir: x\n\nmodel:\n  dtype: half\n")
    (tmp_path / "child.yaml").write_text("base: base.yaml\nlora: {r: 8}\n")
    with pytest.raises(ConfigError, match=r"base\.yaml:4: error: model\.dtype: .*got 'half'"):
        load_config(tmp_path / "child.yaml")
    with pytest.raises(ConfigError) as err:  # every problem at once
        load_config(tmp_path / "child.yaml", ["lora.r=many", "model.dtype=float32", "grpo=3"])
    assert "2 error(s)" in str(err.value)
    assert "override 'lora.r=many': error: lora.r:" in str(err.value)
    assert "override 'grpo=3': error: grpo:" in str(err.value)


def test_trl_field_and_reward_weight_checks(tmp_path: Path) -> None:
    from trl import GRPOConfig

    from training_reference.common import check_trl_kwargs
    from training_reference.grpo import grpo_kwargs

    with pytest.raises(ConfigError, match=r"c\.yaml: error: grpo\.max_prompt_length: not a GRPOConfig field"):
        check_trl_kwargs({"max_prompt_length": 5120}, GRPOConfig, "grpo", from_dict({}, "c.yaml"))
    with pytest.raises(ConfigError, match=r"grpo\.reward_weights: set the weights in the reward section"):
        grpo_kwargs(from_dict({"grpo": {"reward_weights": [1, 1]}}), [0.8, 0.2])
    with pytest.raises(ConfigError, match=r"either it or data\.prompts_per_step"):
        grpo_kwargs(from_dict({"data": {"prompts_per_step": 4}, "grpo": {"gradient_accumulation_steps": 2}}), [1.0])


def test_cli_print_config_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "grpo", "--config", str(CONFIGS / "seed_parity.yaml"), "--print-config",
                 "model.path=/models/p"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["model"]["path"] == "/models/p" and printed["grpo"]["num_generations"] == 5
    bad = tmp_path / "bad.yaml"
    bad.write_text("grpo: {}\nmodle: {}\n")
    assert main(["train", "grpo", "--config", str(bad)]) == 1
    assert "bad.yaml:2: error: modle: unknown key" in capsys.readouterr().err
    assert main(["train", "sft", "--config", str(CONFIGS / "sft.yaml"), "data.source=/d"]) == 1
    assert "sft.yaml:9: error: model.path: required" in capsys.readouterr().err
