"""``scale-vqa push``: upload a built dataset folder to the Hugging Face Hub."""

from __future__ import annotations

import os
from pathlib import Path

from builders.dataset.export import CARD, DATA_DIR, verify_checksums
from scale_vqa.errors import BadInputError


class PushError(BadInputError):
    """The folder cannot be uploaded: offline, no token, not a built folder, or the Hub refused (exit 1)."""


def _offline() -> bool:
    from huggingface_hub import constants

    env = (os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or "").strip().upper()
    return env in {"1", "ON", "YES", "TRUE"} or bool(constants.is_offline_mode())


def check_folder(folder: Path) -> None:
    """Raise PushError unless `folder` is a complete `scale-vqa build` output whose checksums match."""
    if not (folder / CARD).is_file() or not (folder / DATA_DIR).is_dir():
        raise PushError(f"{folder} is not a built dataset folder (no {CARD} or {DATA_DIR}/); run `scale-vqa build`")
    problems = verify_checksums(folder)
    if problems:
        raise PushError(f"{folder} does not match its checksums:\n  " + "\n  ".join(problems[:20]))


def push_folder(folder: str | Path, repo_id: str, *, token: str | None = None, private: bool = False,
                revision: str | None = None, message: str | None = None) -> str:
    """Upload `folder` as dataset repo `repo_id` (created if needed). Returns the commit URL.

    Raises PushError with a clear reason when the Hub is unreachable by configuration (HF_HUB_OFFLINE), no token
    is available, the folder is not a verified build, or the upload fails.
    """
    folder = Path(folder)
    check_folder(folder)
    if _offline():
        raise PushError("HF_HUB_OFFLINE is set: cannot upload while offline (unset it to push)")
    from huggingface_hub import HfApi, get_token

    token = token or get_token()
    if not token:
        raise PushError("no Hugging Face token: run `hf auth login`, set HF_TOKEN, or pass --token")
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset", revision=revision,
                                 commit_message=message or "Upload Scale-VQA dataset (scale-vqa push)",
                                 ignore_patterns=[".*"])
    except Exception as exc:  # network, auth and Hub errors come in many types; report them all the same way
        raise PushError(f"upload of {folder} to {repo_id} failed: {type(exc).__name__}: {exc}") from exc
    return str(getattr(info, "commit_url", info))
