"""The one error path: every expected failure is a ScaleVQAError whose exit code follows the documented rule
(1 bad input, 2 usage or a missing extra, 3 a gate), printed once as ``error: …`` by ``scale_vqa.cli.main``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from scale_vqa import cli
from scale_vqa.errors import (
    EXIT_GATE,
    EXIT_INPUT,
    EXIT_USAGE,
    BadInputError,
    GateError,
    MissingExtraError,
    ScaleVQAError,
    UsageError,
    missing_modules,
    require_extra,
)
from scale_vqa.problems import InputError, ValidationReport


def test_exit_codes_follow_the_documented_rule() -> None:
    assert (BadInputError.exit_code, UsageError.exit_code, MissingExtraError.exit_code, GateError.exit_code) == (
        EXIT_INPUT, EXIT_USAGE, EXIT_USAGE, EXIT_GATE) == (1, 2, 2, 3)
    assert issubclass(InputError, BadInputError) and issubclass(InputError, ScaleVQAError)
    assert InputError(ValidationReport()).exit_code == 1


def test_require_extra_names_the_extra_and_the_pip_command_from_a_clone() -> None:
    require_extra("core", "json", "sqlite3")  # installed: no error
    with pytest.raises(MissingExtraError) as exc:
        require_extra("wsi", "json", "no_such_module_xyz", what="scale-vqa extract")
    message = str(exc.value)
    assert exc.value.missing == ["no_such_module_xyz"] and exc.value.exit_code == 2
    assert "scale-vqa extract needs the wsi extra" in message and 'pip install ".[wsi]"' in message
    assert missing_modules("json", "no_such_module_xyz", "also.not.there") == ["no_such_module_xyz", "also.not.there"]


@pytest.mark.parametrize(("error", "code"), [(BadInputError("bad.json:3: options.B: empty"), 1),
                                             (UsageError("--a and --b together"), 2),
                                             (MissingExtraError("app", ["gradio"]), 2),
                                             (GateError("leakage 64 % > 30 %"), 3)])
def test_main_catches_every_scale_vqa_error_once(monkeypatch, capsys, error: ScaleVQAError, code: int) -> None:
    def add_parser(sub: argparse._SubParsersAction) -> None:
        def run(args: argparse.Namespace) -> int:
            raise error
        sub.add_parser("boom").set_defaults(run=run)

    class EntryPoint:
        name, value = "boom", "test:boom"

        def load(self):
            return add_parser

    monkeypatch.setattr(cli, "command_entry_points", lambda: [EntryPoint()])
    assert cli.main(["boom"]) == code
    err = capsys.readouterr().err
    assert err == f"error: {error}\n"


def test_a_broken_command_module_does_not_take_the_others_down(monkeypatch, capsys) -> None:
    class Broken:
        name, value = "broken", "nowhere:add_parser"

        def load(self):
            raise ImportError("No module named 'nowhere'")

    real = cli.command_entry_points()
    monkeypatch.setattr(cli, "command_entry_points", lambda: [Broken(), *real])
    with pytest.raises(SystemExit) as exc:
        cli.main(["validate", "--help"])
    assert exc.value.code == 0
    captured = capsys.readouterr()
    assert "command 'broken'" in captured.err and "--images" in captured.out


def test_bad_input_is_exit_1_and_usage_is_exit_2_from_the_command_line(tmp_path: Path, capsys) -> None:
    key = tmp_path / "val.json"
    key.write_text("[{]", encoding="utf-8")
    assert cli.main(["validate", str(key)]) == 1
    assert cli.main(["score", "-p", str(tmp_path / "p.jsonl"), "-k", str(key)]) == 1
    assert f"{key}:1" in capsys.readouterr().err
    good = tmp_path / "good.json"
    good.write_text(json.dumps([{
        "No": 1, "question": "Q?", "options": {"A": "a", "B": "b"}, "answer": "A", "rationale": "r",
        "image_path": {"low_mag": None, "mid_mag": None, "high_mag": None},
        "extra_info": {"wsi_name": "s", "path_id": "p", "question_type": "type_A"}}]), encoding="utf-8")
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id": "good-00001", "prediction": "A"}\n{"oops"\n', encoding="utf-8")
    assert cli.main(["score", "-p", str(preds), "-k", str(good)]) == 1
    assert f"{preds}:2" in capsys.readouterr().err
    assert cli.main(["score", "-p", str(preds), "-k", str(good), "--name", "a", "--name", "b"]) == 2
    assert "more --name than --predictions" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["score"])  # argparse: missing required arguments
    assert exc.value.code == 2
