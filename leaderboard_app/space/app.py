"""Hugging Face Space entry point for the Scale-VQA leaderboard.

Settings (Space secrets / variables):

* ``SCALE_VQA_KEY_REPO`` — a *private* dataset repo holding the answer key, and ``SCALE_VQA_KEY_FILE`` — its path
  there (e.g. ``test.json``); read with the Space's ``HF_TOKEN`` secret. Or ``SCALE_VQA_KEY`` — a local path.
* ``SCALE_VQA_DB`` — the SQLite path; use the Space's persistent storage (``/data/leaderboard.sqlite``).
* ``SCALE_VQA_SEED_ROWS`` — optional reference rows file (``scale-vqa baselines table --export-leaderboard``);
  default: the seed paper's published rows shipped with the package.

Submitters sign in with their Hugging Face account (OAuth: set ``hf_oauth: true`` in the Space's README).
"""

from __future__ import annotations

import os

from leaderboard_app.app import log_to_stderr, make_app
from leaderboard_app.seed_rows import SEED_ROWS_FILE
from leaderboard_app.store import SQLiteStore


def key_path() -> str:
    if os.environ.get("SCALE_VQA_KEY"):
        return os.environ["SCALE_VQA_KEY"]
    from huggingface_hub import hf_hub_download

    return hf_hub_download(os.environ["SCALE_VQA_KEY_REPO"], os.environ.get("SCALE_VQA_KEY_FILE", "test.json"),
                           repo_type="dataset", token=os.environ.get("HF_TOKEN"))


demo = make_app(key_path(), SQLiteStore(os.environ.get("SCALE_VQA_DB", "/data/leaderboard.sqlite")), on_space=True,
               seed_rows=os.environ.get("SCALE_VQA_SEED_ROWS") or SEED_ROWS_FILE)

log_to_stderr()

if __name__ == "__main__":
    demo.launch(max_file_size=8 * 2**20, footer_links=[], app_kwargs={"routes": demo.api_routes})
