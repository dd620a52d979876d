"""The distribution: a wheel with every package and its data files, and a core with no dependency."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers.items import REPO

PACKAGES = ("scale_vqa", "builders", "evaluator", "baselines", "leaderboard_app", "training_reference")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(out)],
                   check=True, capture_output=True)
    (path,) = out.glob("scale_vqa-*.whl")
    return zipfile.ZipFile(path)


@pytest.mark.slow
def test_wheel_ships_every_package_file(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for package in PACKAGES:
        assert f"{package}/__init__.py" in names
        for file in (REPO / package).rglob("*"):
            if file.is_file() and "__pycache__" not in file.parts and file.suffix != ".pyc":
                rel = file.relative_to(REPO).as_posix()
                assert rel in names, f"{rel} is not in the wheel (package data?)"
    assert not any(n.startswith("tests/") for n in names)


@pytest.mark.slow
def test_only_pydantic_is_required_and_extras_are_declared(wheel: zipfile.ZipFile) -> None:
    meta = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    lines = wheel.read(meta).decode().splitlines()
    requires = [line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:")]
    # the core imports nothing outside the standard library (import-linter); pydantic types the spokes' configs
    assert [r for r in requires if "extra ==" not in r] == ["pydantic>=2.11"], requires
    extras = {line.split(":", 1)[1].strip() for line in lines if line.startswith("Provides-Extra:")}
    assert {"wsi", "eval", "api", "app", "train", "dev", "all", "vllm"} <= extras
    # hf-multimodal needs lm-eval's hf extra (accelerate, peft): the eval extra alone must run `scale-vqa eval`
    assert any(r.startswith("lm-eval[hf]") and 'extra == "eval"' in r for r in requires), requires
    all_deps = [r for r in requires if 'extra == "all"' in r]
    assert not any("vllm" in r for r in all_deps)  # vllm is CUDA-only, never part of all
    assert any(r.startswith("vllm") and 'extra == "vllm"' in r for r in requires)
    entry = next(n for n in wheel.namelist() if n.endswith("entry_points.txt"))
    text = wheel.read(entry).decode()
    assert "scale-vqa = scale_vqa.cli:main" in text
    # every command and demo step is registered by its own part of the toolkit
    for line in ("build = builders.dataset.cli:add_build_parser", "eval = evaluator.cli:add_eval_parser",
                 "train = training_reference.cli:add_train_parser", "validate = scale_vqa.commands.validate:add_parser",
                 "07-eval = evaluator.cli:demo_step"):
        assert line in text, line


def test_core_imports_only_the_standard_library() -> None:
    code = (
        "import sys, scale_vqa, scale_vqa.cli, scale_vqa.demo;"
        "std = set(sys.stdlib_module_names);"
        "mods = {m.split('.')[0] for m in sys.modules} - std - {'scale_vqa', '__main__', '_distutils_hack'};"
        "print(sorted(m for m in mods if not m.startswith('_')))"
    )
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True, cwd=Path("/"),
                         env={"PYTHONPATH": str(REPO)}).stdout.strip()
    assert out == "[]"
