"""What a run folder's ``run.json`` records about where its numbers came from: the model id and revision, the
package version, a hash of the task folder the run used, the command and (in the runner) the date. The leaderboard
shows these beside an uploaded run (``leaderboard_app.provenance`` validates them)."""

from __future__ import annotations

import hashlib
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import scale_vqa

from .taskgen import TASK_DIR


def task_hash(folder: Path = TASK_DIR) -> str:
    """sha256 over the task folder's files (the generated YAMLs, templates and ``utils.py``), by relative path and
    content: two runs with one hash ran the same task definitions."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def model_revision(args: Mapping[str, Any], lm: Any = None) -> str | None:
    """The revision the model was loaded at: ``revision=`` of the model arguments, else the commit hash that
    transformers recorded when it read the model from the Hugging Face cache (None when unknown, e.g. an API)."""
    if args.get("revision"):
        return str(args["revision"])
    config = getattr(getattr(lm, "model", None), "config", None)
    commit = getattr(config, "_commit_hash", None)
    return str(commit) if commit else None


def provenance(args: Mapping[str, Any], lm: Any = None, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """The ``run.json`` provenance fields of a run with model arguments `args` and (when built) model `lm`."""
    argv = sys.argv if argv is None else argv
    command = shlex.join(["scale-vqa", *argv[1:]] if argv and Path(argv[0]).name == "scale-vqa" else argv)
    return {"model_id": str(args.get("pretrained") or args.get("model") or ""),
            "model_revision": model_revision(args, lm), "scale_vqa_version": scale_vqa.__version__,
            "task_hash": task_hash(), "command": command}
