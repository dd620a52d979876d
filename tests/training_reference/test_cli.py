"""``scale-vqa train`` as a new user meets it: the command the demo prints, run exactly as printed on the demo's
own model and dataset; a wrong split named before any model loads; a short console with one warning when the
rewards cannot teach anything; the exit codes of usage errors and a missing extra."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from scale_vqa.cli import main
from tests.training_reference.conftest import CONFIGS
from training_reference import cli

ZERO_VARIANCE = "every prompt's completions earned the same reward"


@pytest.mark.slow
def test_the_demo_train_command_trains_on_the_demo_outputs(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.demo_step(demo, {}) == 0
    printed = capsys.readouterr().out
    (command,) = [line.strip() for line in printed.splitlines() if line.strip().startswith("scale-vqa train")]
    args = shlex.split(command)
    assert args[0] == "scale-vqa" and "data.split=validation" in args
    assert main(args[1:]) == 0
    out, err = capsys.readouterr()
    run = demo / "train-run"
    assert f"trained 2 steps → {run}" in out
    assert len(out.splitlines()) <= 6, out  # data summary, one line per step, the end, the result
    assert [line.split(",")[0] for line in out.splitlines() if line.startswith("step ")] == [
        "step 1/2: loss 0", "step 2/2: loss 0"]
    assert err.count(ZERO_VARIANCE) == 1  # the planted model earns the same reward on every completion
    logs = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in logs if "loss" in e] == [1, 2] and logs[0]["frac_reward_zero_std"] == 1
    stats = json.loads((run / "data_stats.json").read_text())
    assert stats["split"] == "validation" and stats["kept"] == 8  # data.limit: 8 in smoke_cpu.yaml
    assert {p.name for p in run.glob("checkpoint-*")} == {"checkpoint-1", "checkpoint-2"}
    assert sorted(p.name for p in (run / "completions").glob("*.parquet")) == [
        "completions_00001.parquet", "completions_00002.parquet"]


def test_a_missing_split_is_named_before_the_model_loads(demo_data: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from training_reference import common, grpo

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("loaded before the split was checked")

    monkeypatch.setattr(grpo, "train", never)
    monkeypatch.setattr(common, "load_processor", never)
    code = main(["train", "grpo", "--config", str(CONFIGS / "smoke_cpu.yaml"),
                 f"model.path={demo_data}", f"data.source={demo_data / 'dataset'}"])
    err = capsys.readouterr().err
    assert code == 1
    assert "has no 'train' split (its splits: validation)" in err and "data.split=validation" in err


def test_console_line_of_a_logging_step() -> None:
    from training_reference.common import console_line

    logs = {"loss": 0.0123456, "grad_norm": 0.5, "learning_rate": 1e-6, "reward": 0.6, "reward_std": 0.46,
            "rewards/accuracy/mean": 0.5, "rewards/format/mean": 1.0, "kl": 0.0, "completions/mean_length": 14,
            "frac_reward_zero_std": 1.0}
    assert console_line(3, 40, logs) == ("step 3/40: loss 0.01235, reward 0.6 (accuracy 0.5, format 1), "
                                         "reward_std 0.46, kl 0, grad_norm 0.5, learning_rate 1e-06")
    assert console_line(40, 40, {"train_runtime": 12.34, "train_loss": 0.01}) == "done in 12.3 s, mean loss 0.01"


def test_usage_errors_and_a_missing_extra(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train"]) == 2
    assert "train needs a method" in capsys.readouterr().err
    monkeypatch.setattr(cli, "TRAIN_MODULES", ("scale_vqa_no_such_module",))
    assert main(["train", "grpo", "--config", str(CONFIGS / "smoke_cpu.yaml")]) == 2
    assert 'the train extra' in capsys.readouterr().err
