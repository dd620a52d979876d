"""The main job on a core-only install (``pip install . && scale-vqa demo``): every step whose extra is missing says
which ``pip install`` it needs and the demo goes on; the steps that need no extra still run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scale_vqa import errors
from scale_vqa.cli import main

HEAVY = {"datasets", "pyarrow", "PIL", "tqdm", "numpy", "scipy", "sklearn", "matplotlib", "rapidfuzz", "markdown_it",
         "gradio", "torch", "transformers", "lm_eval", "trl", "peft", "accelerate", "openslide"}


def test_demo_without_extras_skips_each_step_with_its_pip_command(tmp_path: Path, monkeypatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    real = errors.missing_modules
    monkeypatch.setattr(errors, "missing_modules", lambda *mods: [m for m in mods if m in HEAVY] + real(
        *(m for m in mods if m not in HEAVY)))
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    headers = re.findall(r"^== (\d+)\. ", text, re.MULTILINE)
    assert headers == ["1", "2", "3", "4", "5", "6", "7", "9", "10", "11"]
    skipped = re.findall(r'skipped: .* needs the (\w+) extra .*: python -m pip install "\.\[(\w+)\]"', text)
    assert [extra for extra, _ in skipped] == ["data", "audit", "app", "eval", "audit"]
    assert all(a == b for a, b in skipped)
    # the published table needs no extra; the train command is shown with what it still needs
    assert "| ScaleReasoner-R1 | 80.60 | 89.05 | 84.58 | 76.12 | 84.08 | **82.89** | 1005 |" in text
    train = next(line.strip() for line in text.splitlines() if line.strip().startswith("scale-vqa train grpo"))
    assert f"model.path={out / 'tiny-qwen2.5-vl'}" in train and f"data.source={out / 'dataset'}" in train
    assert "data.split=validation" in train and "the train extra" in text
    assert not (out / "dataset").exists() and not (out / "eval-run").exists()
