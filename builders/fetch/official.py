"""The official release as a built dataset folder, fetched and built once per commit under the Hugging Face cache.

Layout: ``$HF_HOME/scale-vqa/<datasets--org--name>/refs/<revision>`` holds the commit a revision resolved to;
``…/<commit>/release`` the fetched files and ``…/<commit>/dataset`` the built folder. Once both exist, a call
makes no request at all (a newer commit of the revision is picked up by ``scale-vqa fetch``, not here).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

from scale_vqa.atomic import atomic_write_text
from scale_vqa.errors import require_extra

from .cli import FETCH_MODULES

CACHE_FOLDER = "scale-vqa"
REVISION_ENV = "SCALE_VQA_REVISION"


def cache_dir(repo_id: str, home: Path) -> Path:
    """Where the official release of `repo_id` is kept, under the Hugging Face home `home`."""
    return home / CACHE_FOLDER / ("datasets--" + repo_id.replace("/", "--"))


def _ref_file(root: Path, revision: str) -> Path:
    return root / "refs" / re.sub(r"[^A-Za-z0-9._-]", "_", revision)


def _built(folder: Path) -> bool:
    return (folder / "README.md").is_file() and (folder / "data").is_dir()


def official_dataset(revision: str | None = None, *, repo_id: str | None = None) -> Path:
    """The built dataset folder of the official release at `revision` (default: ``$SCALE_VQA_REVISION`` or
    ``main``), fetching and building it the first time. Needs the data extra."""
    require_extra("data", *FETCH_MODULES, what="loading the official Scale-VQA release")
    from builders.fetch.hub import HubSettings
    from builders.fetch.release import OFFICIAL_REPO, build_fetched, fetch_release

    revision = revision or os.environ.get(REVISION_ENV) or "main"
    repo_id = repo_id or OFFICIAL_REPO
    hub = HubSettings.from_env()
    root = cache_dir(repo_id, hub.home)
    ref = _ref_file(root, revision)
    if ref.is_file():  # fetched and built before: no request
        commit = ref.read_text(encoding="utf-8").strip()
        if _built(root / commit / "dataset"):
            return root / commit / "dataset"
    print(f"getting the official Scale-VQA release ({repo_id}@{revision}) into {root} (once per commit)",
          file=sys.stderr)
    staging = root / "staging" / re.sub(r"[^A-Za-z0-9._-]", "_", revision)
    summary = fetch_release(staging, repo_id=repo_id, revision=revision, hub=hub)
    folder = root / summary.commit
    folder.mkdir(parents=True, exist_ok=True)
    release = folder / "release"
    if release.exists():  # an earlier run fetched this commit already
        shutil.rmtree(staging, ignore_errors=True)
    else:
        staging.rename(release)
    summary.out = str(release)
    dataset = folder / "dataset"
    if not _built(dataset):
        build_fetched(summary, dataset, overwrite=True)
    atomic_write_text(ref, summary.commit + "\n")
    return dataset
