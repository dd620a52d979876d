"""The layering: the core imports no spoke (not even lazily), and the import-linter contract holds."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.helpers.items import REPO

SPOKE_IMPORT = re.compile(r"^\s*(from|import)\s+(builders|baselines|evaluator|leaderboard_app|training_reference)\b",
                          re.MULTILINE)


def test_the_core_names_no_spoke_in_an_import() -> None:
    offenders = [f"{path.relative_to(REPO)}:{text[:m.start()].count(chr(10)) + 1}"
                 for path in sorted((REPO / "scale_vqa").rglob("*.py"))
                 for text in [path.read_text(encoding="utf-8")] for m in SPOKE_IMPORT.finditer(text)]
    assert offenders == []


def test_import_linter_contracts_hold() -> None:
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter not installed (dev extra)")
    res = subprocess.run([exe], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:]
    assert "BROKEN" not in res.stdout and res.stdout.count("KEPT") >= 6


def test_no_file_cites_notes_users_do_not_have() -> None:
    tracked = [p for p in REPO.rglob("*") if p.is_file() and p.suffix in (".py", ".md", ".toml", ".yaml", ".txt", ".sh")
               and not {".venv", ".git", "build", "node_modules"} & set(p.relative_to(REPO).parts)]
    word = "FIELD" + "_NOTES"
    assert [str(p.relative_to(REPO)) for p in tracked if word in p.read_text(encoding="utf-8", errors="replace")] == []
