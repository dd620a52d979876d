"""``scale-vqa eval`` and ``scale-vqa report`` from the command line: what is checked before a model loads (data
source, split, tasks, generation budget), the exit codes (1 bad input, 2 missing extra), and the demo's eval
step, whose printed command is the one it runs."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("lm_eval")
pytest.importorskip("transformers")

from evaluator import runner
from evaluator.cli import demo_step
from evaluator.preflight import check_generation_budget, context_length
from scale_vqa.cli import main
from scale_vqa.errors import BadInputError


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a model is a test failure: these checks must come first."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(runner, "build_model", refuse)


def eval_args(release: Path, out: Path, *extra: str, pretrained: str = "no-such-model") -> list[str]:
    return ["eval", "--model", "hf", "--model-args", f"pretrained={pretrained}", "--data", str(release.parent),
            "--out", str(out), "--device", "cpu", *extra]


def test_a_wrong_split_names_the_available_ones_before_the_model_loads(no_model: None, release: Path,
                                                                       tmp_path: Path, capsys) -> None:
    assert main(eval_args(release, tmp_path / "run", "--split", "train")) == 1
    err = capsys.readouterr().err
    assert "has no 'train' split; it has validation (pass --split validation)" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--data", "{tmp}/nowhere", "nowhere (a built dataset folder, a Hub id, or a release MCQ file/folder)"),
    ("--tasks", "scale_vqa_nope", "unknown task(s) scale_vqa_nope; available: scale_vqa, scale_vqa_blind"),
    ("--images", "{tmp}/no-images", "image folder not found"),
])
def test_bad_data_and_tasks_are_exit_1_before_the_model_loads(no_model: None, release: Path, tmp_path: Path,
                                                              capsys, flag: str, value: str, message: str) -> None:
    argv = eval_args(release, tmp_path / "run", "--split", "validation")
    if flag in argv:
        argv[argv.index(flag):argv.index(flag) + 2] = []
    assert main([*argv, flag, value.format(tmp=tmp_path)]) == 1
    assert message in capsys.readouterr().err


def test_a_generation_budget_at_the_context_is_refused_with_what_to_pass(no_model: None, tiny_vlm: Path,
                                                                         release: Path, tmp_path: Path,
                                                                         capsys) -> None:
    assert context_length("hf", {"pretrained": str(tiny_vlm)}) == 4096  # read from config.json, no weights
    # the demo's tiny model with the default budget: a clear message, not lm-eval's AssertionError
    assert main(eval_args(release, tmp_path / "run", "--split", "validation", pretrained=str(tiny_vlm))) == 1
    err = capsys.readouterr().err
    assert "the default --max-gen-toks 4096 leaves no room for the prompt" in err
    assert "pass --max-gen-toks below 4096" in err
    with pytest.raises(BadInputError, match="--max-gen-toks 5000 leaves no room"):
        check_generation_budget("hf", {"pretrained": str(tiny_vlm)}, 5000)
    check_generation_budget("hf", {"pretrained": str(tiny_vlm)}, 4095)
    check_generation_budget("hf", {"pretrained": str(tiny_vlm), "max_length": 8192}, None)
    with pytest.raises(BadInputError, match="context is 16384"):
        check_generation_budget("vllm", {"pretrained": "x", "max_model_len": 16384}, 16384)
    check_generation_budget("openai", {"model": "m"}, 10**6)  # a server's context is not known here


def test_a_missing_extra_is_exit_2_with_the_pip_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                        capsys) -> None:
    monkeypatch.setattr("scale_vqa.errors.missing_modules", lambda *modules: ["lm_eval"])
    assert main(["eval", "--model", "hf", "--data", "d", "--out", str(tmp_path / "o")]) == 2
    assert 'pip install ".[eval]"' in capsys.readouterr().err


def test_report_of_a_folder_that_is_no_run_is_exit_1(tmp_path: Path, capsys) -> None:
    assert main(["report", str(tmp_path / "nowhere")]) == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_the_demo_runs_the_eval_command_it_prints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys) -> None:
    """The printed command is the argv handed to ``scale-vqa``'s main (the demo's full run is in test_cli)."""
    from scale_vqa.demo import write_demo

    out = tmp_path / "demo"
    paths = write_demo(out)
    ran: list[list[str]] = []
    monkeypatch.setattr("scale_vqa.cli.main", lambda argv: ran.append(list(argv)) or 0)
    monkeypatch.setattr("evaluator.tiny_model.build_tiny_vlm", lambda path, **kw: Path(path))
    assert demo_step(out, paths) == 0
    printed = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("== 7. "))
    argv = shlex.split(printed.removeprefix("== 7. "))
    assert argv[0] == "scale-vqa" and argv[1:] == ran[0]
    assert ran[1] == ["report", str(out / "eval-run")]
    for pair in (["--model-args", f"pretrained={out / 'tiny-qwen2.5-vl'}"], ["--data", str(paths["release"])],
                 ["--split", "validation"], ["--max-gen-toks", "24"], ["--device", "cpu"]):
        i = argv.index(pair[0])
        assert argv[i:i + 2] == pair
