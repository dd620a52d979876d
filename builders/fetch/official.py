"""The official release as a built dataset folder, fetched and built once per commit under the Hugging Face cache.

Layout: ``$HF_HOME/scale-vqa/datasets--iMVR-PL--Scale-VQA/refs/<revision>`` holds the commit a revision resolved
to; ``…/<commit>/release`` the fetched files (``scale-vqa fetch``'s ``--out``) and ``…/<commit>/dataset`` the built
folder. Once the ref and the built folder exist, a call makes no request at all (a newer commit of the revision is
picked up by ``scale-vqa fetch``, not here).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from scale_vqa.atomic import atomic_write_text
from scale_vqa.errors import require_extra

from .cli import FETCH_MODULES

CACHE_FOLDER = "scale-vqa"
REVISION_ENV = "SCALE_VQA_REVISION"
"""Revision of the official release that :func:`official_dataset` loads by default (default: ``main``)."""


def cache_dir(repo_id: str, home: Path) -> Path:
    """Where the official release of `repo_id` is kept, under the Hugging Face home `home`."""
    return home / CACHE_FOLDER / ("datasets--" + repo_id.replace("/", "--"))


def _ref_file(root: Path, revision: str) -> Path:
    return root / "refs" / re.sub(r"[^A-Za-z0-9._-]", "_", revision)


def _built(folder: Path) -> bool:
    return (folder / "README.md").is_file() and (folder / "data").is_dir()


def official_dataset(revision: str | None = None, *, repo_id: str | None = None) -> Path:
    """The built dataset folder of the official release at `revision` (default: ``$SCALE_VQA_REVISION`` or
    ``main``), fetched and built the first time. Needs the data extra.

    Images the split files reference but the repository lacks are stored as None, with a warning (the list is in
    ``release/fetch.json``)."""
    require_extra("data", *FETCH_MODULES, what="loading the official Scale-VQA release")
    from builders.fetch.hub import FetchError, HubSettings, hub_errors
    from builders.fetch.release import OFFICIAL_REPO, build_fetched, fetch_release, resolve_commit

    revision = revision or os.environ.get(REVISION_ENV) or "main"
    repo_id = repo_id or OFFICIAL_REPO
    hub = HubSettings.from_env()
    root = cache_dir(repo_id, hub.home)
    ref = _ref_file(root, revision)
    commit = ref.read_text(encoding="utf-8").strip() if ref.is_file() else None
    if commit and _built(root / commit / "dataset"):  # fetched and built before: no request
        return root / commit / "dataset"
    if commit is None:
        if hub.offline:
            raise FetchError(f"HF_HUB_OFFLINE is set and the official release ({repo_id}@{revision}) is not in "
                             f"{root} yet: unset HF_HUB_OFFLINE once to download it")
        with hub_errors(repo_id, revision, hub):
            commit = resolve_commit(repo_id, revision, root, hub)
    print(f"getting the official Scale-VQA release ({repo_id}@{revision}, commit {commit[:12]}) into "
          f"{root / commit} (once per commit)", file=sys.stderr)
    summary = fetch_release(root / commit / "release", repo_id=repo_id, revision=revision, commit=commit, hub=hub,
                            allow_missing_images=True)
    if summary.missing_images:
        print(f"warning: {len(summary.missing_images)} image(s) the split files reference are not in {repo_id}; "
              f"their columns are None (listed in {root / commit / 'release' / 'fetch.json'})", file=sys.stderr)
    dataset = root / commit / "dataset"
    build_fetched(summary, dataset, overwrite=True)
    atomic_write_text(ref, commit + "\n")
    return dataset
