"""run.json's provenance fields: model id and revision, package version, task hash, command."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import scale_vqa
from evaluator.provenance import model_revision, provenance, task_hash
from evaluator.taskgen import TASK_DIR


def test_provenance_names_model_revision_version_task_hash_and_command() -> None:
    lm = SimpleNamespace(model=SimpleNamespace(config=SimpleNamespace(_commit_hash="0123abcd")))
    meta = provenance({"pretrained": "org/Model-7B"}, lm, ["/usr/bin/scale-vqa", "eval", "--model", "hf"])
    assert meta == {"model_id": "org/Model-7B", "model_revision": "0123abcd",
                    "scale_vqa_version": scale_vqa.__version__, "task_hash": task_hash(),
                    "command": "scale-vqa eval --model hf"}
    assert len(meta["task_hash"]) == 64


def test_revision_argument_wins_and_an_api_model_has_none() -> None:
    lm = SimpleNamespace(model=SimpleNamespace(config=SimpleNamespace(_commit_hash="cache")))
    assert model_revision({"revision": "v1.1"}, lm) == "v1.1"
    assert model_revision({"model": "gpt-x"}, SimpleNamespace()) is None
    assert provenance({"model": "gpt-x"}, None, ["prog", "a b"])["command"] == "prog 'a b'"


def test_task_hash_changes_with_any_task_file(tmp_path) -> None:
    copy = tmp_path / "tasks"
    shutil.copytree(TASK_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert task_hash(copy) == task_hash(TASK_DIR)
    (copy / "utils.py").write_text((copy / "utils.py").read_text() + "\n# edited\n")
    assert task_hash(copy) != task_hash(TASK_DIR)
