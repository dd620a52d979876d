"""Hugging Face Space entry point for the Scale-VQA leaderboard.

Settings (Space secrets / variables):

* ``SCALE_VQA_KEY_REPO`` — a *private* dataset repo holding the answer key, and ``SCALE_VQA_KEY_FILE`` — its path
  there (e.g. ``test.json``); read with the Space's ``HF_TOKEN`` secret. Or ``SCALE_VQA_KEY`` — a local path.
* ``SCALE_VQA_PUBLIC_KEY`` — ``1`` when the key's answers are public (e.g. the released test split): rows are
  shown as self-reported with exact scores, as ``scale-vqa leaderboard --public-key`` does. Default ``0``: a
  private key, with the probing defences.
* ``SCALE_VQA_DB`` — the SQLite path; use the Space's persistent storage (``/data/leaderboard.sqlite``).
* ``SCALE_VQA_SEED_ROWS`` — optional reference rows file (``scale-vqa baselines table --export-leaderboard``);
  default: the seed paper's published rows shipped with the package.

Submitters sign in with their Hugging Face account (OAuth: set ``hf_oauth: true`` in the Space's README).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from leaderboard_app.seed_rows import SEED_ROWS_FILE

TRUE, FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def flag(env: Mapping[str, str], name: str) -> bool:
    """A yes/no setting; anything else is an error naming the variable (a typo must not open a private key)."""
    value = env.get(name, "").strip().lower()
    if value not in TRUE + FALSE:
        raise ValueError(f"{name}={env[name]!r}: use 1 (yes) or 0 (no)")
    return value in TRUE


def key_path(env: Mapping[str, str]) -> str:
    if env.get("SCALE_VQA_KEY"):
        return env["SCALE_VQA_KEY"]
    from huggingface_hub import hf_hub_download

    return hf_hub_download(env["SCALE_VQA_KEY_REPO"], env.get("SCALE_VQA_KEY_FILE", "test.json"),
                           repo_type="dataset", token=env.get("HF_TOKEN"))


def settings(env: Mapping[str, str]) -> dict[str, Any]:
    """:func:`leaderboard_app.app.make_app`'s arguments (besides the store) from the Space's variables."""
    return {"key_path": key_path(env), "on_space": True, "public_key": flag(env, "SCALE_VQA_PUBLIC_KEY"),
            "seed_rows": env.get("SCALE_VQA_SEED_ROWS") or SEED_ROWS_FILE}


def build(env: Mapping[str, str]) -> Any:
    """The Space's app for the variables `env`."""
    from leaderboard_app.app import make_app
    from leaderboard_app.store import SQLiteStore

    return make_app(store=SQLiteStore(env.get("SCALE_VQA_DB", "/data/leaderboard.sqlite")), **settings(env))


if __name__ == "__main__" or os.environ.get("SPACE_ID"):
    from leaderboard_app.app import log_to_stderr

    demo = build(os.environ)
    log_to_stderr()
    if __name__ == "__main__":
        demo.launch(max_file_size=8 * 2**20, footer_links=[], app_kwargs={"routes": demo.api_routes})
