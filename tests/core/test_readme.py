"""The README's commands run as written: every ``scale-vqa …`` line of its shell blocks is accepted by the
command line's parser (the command and each option exist, required arguments are given), and the install and
test commands match what CI runs."""

from __future__ import annotations

import re
import shlex

import pytest

from scale_vqa.cli import build_parser
from tests.helpers.items import REPO

README = REPO / "README.md"


def shell_commands(text: str) -> list[str]:
    """The commands of the README's ```bash blocks, continuation lines joined, comments dropped."""
    commands: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def scale_vqa_argvs(command: str) -> list[list[str]]:
    """The argument lists of every ``scale-vqa`` call in one shell line (``a && b``, env assignments before)."""
    argvs = []
    if "scale-vqa " not in command:
        return []
    for part in re.split(r"&&|;|\|\|", command):
        words = shlex.split(part.replace("&", " ").replace("…", "VALUE"))
        while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
            words = words[1:]
        if words[:1] == ["scale-vqa"]:
            argvs.append([w for w in words[1:] if not (w.startswith("[") or w.endswith("]"))])
    return argvs


def test_every_scale_vqa_line_in_the_readme_parses() -> None:
    commands = [argv for line in shell_commands(README.read_text(encoding="utf-8")) for argv in scale_vqa_argvs(line)]
    assert len(commands) >= 20
    parser = build_parser()
    for argv in commands:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:
            pytest.fail(f"README: scale-vqa {' '.join(argv)} → exit {exc.code}")
        assert callable(getattr(args, "run", None)), argv


def test_the_readme_test_command_is_what_ci_runs() -> None:
    text = README.read_text(encoding="utf-8")
    test_command = next(c for c in shell_commands(text) if c.endswith("python -m pytest"))
    assert test_command.startswith("python3 -m venv .venv && . .venv/bin/activate && ")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci
    main_job = next(c for c in shell_commands(text) if c.endswith("scale-vqa demo"))
    assert main_job == "python3 -m venv .venv && . .venv/bin/activate && python -m pip install . && scale-vqa demo"
    assert "scale-vqa[" not in text  # the package is not on the index: installs are from a clone, ".[extra]"


def test_every_module_and_name_the_readme_mentions_exists() -> None:
    import importlib
    import importlib.util

    text = README.read_text(encoding="utf-8")
    groups = {"scale_vqa.commands", "scale_vqa.demo_steps"}  # entry-point groups, not modules
    missing = []
    for dotted in sorted(set(re.findall(
            r"\b((?:scale_vqa|builders|baselines|evaluator|leaderboard_app|training_reference)(?:\.\w+)+)", text))):
        if dotted in groups:
            continue
        parts = dotted.split(".")
        for i in range(len(parts), 0, -1):
            try:
                found = importlib.util.find_spec(".".join(parts[:i])) is not None
            except ModuleNotFoundError:  # a name inside a module, not a submodule
                found = False
            if found:
                obj = importlib.import_module(".".join(parts[:i]))
                for attr in parts[i:]:
                    obj = getattr(obj, attr, None)
                if obj is None:
                    missing.append(dotted)
                break
    assert missing == []
