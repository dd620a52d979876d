"""Fetch a Scale-VQA release from a Hub dataset repository: the chosen splits' files and exactly the images they
reference.

The repository holds the split files under ``data/`` (``train.json``, ``val.json``, ``test.json`` or ``.jsonl``,
named as :func:`scale_vqa.release.find_split_files` expects) and the images at the relative paths the records
give (``image_path.low_mag`` …), relative to the repository root (the published release keeps them under
``<wsi>/rois/``). Steps, each through ``huggingface_hub``:

1. resolve the revision to a commit (``HfApi.dataset_info``); every later request names that commit;
2. ``snapshot_download`` of the split files (``allow_patterns``: their names), into `out` (``local_dir``), checked
   against the Hub's checksums (``HfApi.verify_repo_checksums``; a file that differs is deleted);
3. read and validate them with the core; list the images they reference that the repository lacks;
4. ``snapshot_download`` of the split files and the referenced images only;
5. check the images against the Hub's checksums as in step 2;
6. write ``fetch.json``.

Interrupted runs resume: finished files are recorded by the client in ``out/.cache/huggingface`` and skipped.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from builders.fetch.hub import REPO_TYPE, FetchError, HubSettings, hub_errors
from scale_vqa.atomic import atomic_write_text
from scale_vqa.problems import InputError
from scale_vqa.release import SPLIT_ALIASES, SPLIT_SUFFIXES, SPLITS, canonical_split, read_release

OFFICIAL_REPO = "iMVR-PL/Scale-VQA"
DATA_FOLDER = "data"
FETCH_JSON = "fetch.json"
IMAGE_ROOTS = ("", f"{DATA_FOLDER}/", "images/")
"""Where in the repository the records' image paths may be relative to, most likely first."""
SHOWN = 20


@dataclass
class FetchSummary:
    """What a fetch got; written to ``fetch.json``."""

    repo_id: str
    revision: str
    commit: str
    endpoint: str
    split_files: dict[str, str]
    """Split name → path of its file in the repository."""
    image_root: str
    """Folder of the repository the image paths are relative to ("" for its root)."""
    files: int
    bytes: int
    missing_images: list[str] = field(default_factory=list)
    out: str = ""

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "out"}

    @property
    def release_dir(self) -> Path:
        return Path(self.out) / DATA_FOLDER

    @property
    def image_dir(self) -> Path:
        return Path(self.out) / self.image_root if self.image_root else Path(self.out)


def _caseless(name: str) -> str:
    """An fnmatch pattern matching `name` in any letter case (the core finds split files case-insensitively)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else _escape(c) for c in name)


def _escape(path: str) -> str:
    """`path` as an fnmatch pattern matching only itself."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in path)


def split_patterns(splits: Iterable[str]) -> list[str]:
    """``allow_patterns`` for the split files of `splits` under ``data/`` (every name the core accepts)."""
    wanted = set(splits)
    return [f"{DATA_FOLDER}/{_caseless(alias)}{suffix}"
            for alias, split in SPLIT_ALIASES.items() if split in wanted for suffix in SPLIT_SUFFIXES]


def image_patterns(paths: set[str], tree: set[str]) -> list[str]:
    """``allow_patterns`` matching exactly `paths` among the repository's files `tree`: a folder all of whose files
    are wanted becomes one ``folder/*`` pattern (thousands of exact patterns make matching slow)."""
    by_folder: dict[str, list[str]] = {}
    for path in tree:
        by_folder.setdefault(path.rsplit("/", 1)[0] if "/" in path else "", []).append(path)
    patterns: list[str] = []
    done: set[str] = set()
    for folder in sorted({p.rsplit("/", 1)[0] for p in paths if "/" in p}):
        inside = [p for p in tree if p.startswith(folder + "/")]  # `*` crosses "/": every file below the folder
        if inside and all(p in paths for p in inside):
            patterns.append(_escape(folder) + "/*")
            done.update(inside)
    patterns += [_escape(p) for p in sorted(paths - done)]
    return patterns


def _choose_splits(splits: Iterable[str] | None) -> list[str]:
    if not splits:
        return list(SPLITS)
    chosen = []
    for name in splits:
        split = canonical_split(name)
        if split not in SPLITS:
            raise FetchError(f"unknown split {name!r}: choose from train, val (validation), test")
        if split not in chosen:
            chosen.append(split)
    return chosen


def _tree(repo_id: str, commit: str, out: Path) -> dict[str, int]:
    """Repository path → size, from the listing the client cached in `out` (no request)."""
    from huggingface_hub import get_cached_repo_tree

    return {f.path: f.size for f in get_cached_repo_tree(repo_id, repo_type=REPO_TYPE, revision=commit,
                                                         local_dir=out)}


def _split_files(tree: dict[str, int], chosen: list[str], repo_id: str, commit: str) -> dict[str, str]:
    from fnmatch import fnmatchcase

    found: dict[str, str] = {}
    for split in chosen:
        names = sorted(p for p in tree if any(fnmatchcase(p, pat) for pat in split_patterns([split])))
        if len(names) > 1:
            raise FetchError(f"{repo_id}@{commit[:12]} has several {split} files ({', '.join(names)}); "
                             "the release must have one")
        if names:
            found[split] = names[0]
    absent = [s for s in chosen if s not in found]
    if absent:
        present = sorted(p for p in tree if p.startswith(f"{DATA_FOLDER}/") and p.endswith(SPLIT_SUFFIXES))
        raise FetchError(f"{repo_id}@{commit[:12]} has no {' / '.join(absent)} split file under {DATA_FOLDER}/ "
                         f"(found: {', '.join(present) or 'none'}); choose other --splits or check --repo-id")
    return found


def _image_root(referenced: set[str], tree: dict[str, int]) -> str:
    hits = {root: sum(root + p in tree for p in referenced) for root in IMAGE_ROOTS}
    return max(IMAGE_ROOTS, key=lambda root: hits[root])  # ties keep the first (the repository root)


def resolve_commit(repo_id: str, revision: str, out: Path, hub: HubSettings) -> str:
    """The commit `revision` of `repo_id` is at (one request; offline: the one an earlier fetch into `out` got)."""
    from huggingface_hub import HfApi
    from huggingface_hub.file_download import REGEX_COMMIT_HASH

    if REGEX_COMMIT_HASH.fullmatch(revision):
        return revision
    if hub.offline:
        previous = read_fetch_json(out)
        if previous and previous.get("repo_id") == repo_id and previous.get("revision") == revision:
            return str(previous["commit"])
        raise FetchError(f"HF_HUB_OFFLINE is set and {out} holds no earlier fetch of {repo_id}@{revision}: unset "
                         "HF_HUB_OFFLINE to download it, or pass --revision with the commit you fetched before")
    info = HfApi(endpoint=hub.endpoint, token=hub.token).dataset_info(repo_id, revision=revision)
    if not info.sha:
        raise FetchError(f"the Hub at {hub.endpoint} gave no commit for {repo_id}@{revision}; check HF_ENDPOINT")
    return info.sha


def read_fetch_json(out: Path) -> dict[str, Any] | None:
    """The ``fetch.json`` of an earlier fetch into `out`, or None."""
    try:
        value = json.loads((out / FETCH_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _download(repo_id: str, commit: str, out: Path, patterns: list[str], hub: HubSettings, progress: bool) -> None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    silence = not progress and not are_progress_bars_disabled()
    if silence:
        disable_progress_bars()
    try:
        snapshot_download(repo_id, repo_type=REPO_TYPE, revision=commit, local_dir=out, allow_patterns=patterns,
                          endpoint=hub.endpoint, token=hub.token, local_files_only=hub.offline,
                          cache_dir=hub.hub_cache)
    finally:
        if silence:
            enable_progress_bars()


def _verify(repo_id: str, commit: str, out: Path, wanted: set[str], hub: HubSettings) -> None:
    """Check the files of `wanted` against the Hub's checksums (sha256 of LFS files, git blob id of the others);
    delete any that differ, so that the next run downloads them again."""
    from huggingface_hub import HfApi

    result = HfApi(endpoint=hub.endpoint, token=hub.token).verify_repo_checksums(
        repo_id, repo_type=REPO_TYPE, revision=commit, local_dir=out)
    bad = sorted((m for m in result.mismatches if m["path"] in wanted), key=lambda m: m["path"])
    if not bad:
        return
    for mismatch in bad:
        (out / mismatch["path"]).unlink(missing_ok=True)
    shown = "\n  ".join(f"{m['path']}: {m['algorithm']} {m['actual'][:16]}…, expected {m['expected'][:16]}…"
                        for m in bad[:SHOWN])
    more = f"\n  … and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
    raise FetchError(f"checksum mismatch: {len(bad)} downloaded file(s) differ from {repo_id}@{commit[:12]} "
                     f"(deleted; rerun the same command to download them again; if it happens again, the server "
                     f"at {hub.endpoint} serves corrupt files):\n  {shown}{more}")


def fetch_release(out: str | Path, *, repo_id: str = OFFICIAL_REPO, revision: str = "main",
                  splits: Iterable[str] | None = None, allow_missing_images: bool = False,
                  progress: bool = True, hub: HubSettings | None = None, commit: str | None = None) -> FetchSummary:
    """Download `splits` (default: all) of the release in `repo_id` at `revision`, and the images they reference,
    into `out`; validate and verify them; write ``out/fetch.json``. Returns the summary. `commit`, when the caller
    resolved `revision` already (:func:`resolve_commit`), saves that request.

    Raises :class:`FetchError` naming the cause and the fix, and :class:`~scale_vqa.problems.InputError` when the
    split files are not a valid release.
    """
    out = Path(out)
    hub = hub or HubSettings.from_env()
    chosen = _choose_splits(splits)
    if out.exists() and not out.is_dir():
        raise FetchError(f"--out {out} is a file; pass a folder")

    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    with hub_errors(repo_id, revision, hub):
        commit = commit or resolve_commit(repo_id, revision, out, hub)
        out.mkdir(parents=True, exist_ok=True)
        say(f"fetching {repo_id}@{revision} (commit {commit}) into {out}: splits {', '.join(chosen)}")
        _download(repo_id, commit, out, split_patterns(chosen), hub, progress)
        tree = _tree(repo_id, commit, out)
        split_files = _split_files(tree, chosen, repo_id, commit)
        if not hub.offline:  # before they are read: a corrupt split file is a checksum error, not a bad record
            _verify(repo_id, commit, out, set(split_files.values()), hub)
        result = read_release([out / path for path in split_files.values()])
        if not result.ok:
            raise InputError(result.report, f"split files of {repo_id}@{commit[:12]}")
        referenced = {path for item in result.items for _, path in item.images if path is not None}
        root = _image_root(referenced, tree)
        missing = sorted(p for p in referenced if root + p not in tree)
        if missing and not allow_missing_images:
            shown = "\n  ".join(missing[:SHOWN]) + (f"\n  … and {len(missing) - SHOWN} more"
                                                    if len(missing) > SHOWN else "")
            raise FetchError(f"{len(missing)} image(s) referenced by {', '.join(split_files.values())} are not in "
                             f"{repo_id}@{commit[:12]} (pass --allow-missing-images to fetch and build without "
                             f"them):\n  {shown}")
        images = {root + p for p in referenced} - {root + p for p in missing}
        wanted = set(split_files.values()) | images
        say(f"{len(result.items)} items reference {len(referenced)} image file(s)"
            + (f", {len(missing)} of them missing from the repository" if missing else "")
            + f"; downloading {len(wanted)} file(s), {sum(tree[p] for p in wanted) / 1e6:.1f} MB")
        _download(repo_id, commit, out, sorted(_escape(p) for p in split_files.values())
                  + image_patterns(images, set(tree)), hub, progress)
        if not hub.offline:
            say(f"checking {len(images)} image(s) against the Hub's checksums")
            _verify(repo_id, commit, out, images, hub)
    absent = sorted(p for p in wanted if not (out / p).is_file())
    if absent:  # the client returned without them: never report a fetch as complete when it is not
        raise FetchError(f"{len(absent)} file(s) of {repo_id}@{commit[:12]} are not in {out} after the download "
                         f"(e.g. {absent[0]}): rerun the same command to resume")
    summary = FetchSummary(repo_id=repo_id, revision=revision, commit=commit, endpoint=hub.endpoint,
                           split_files=split_files, image_root=root.rstrip("/"), files=len(wanted),
                           bytes=sum((out / p).stat().st_size for p in wanted), missing_images=missing,
                           out=str(out))
    atomic_write_text(out / FETCH_JSON, json.dumps(summary.to_json(), indent=2) + "\n")
    return summary


def build_fetched(summary: FetchSummary, build_out: str | Path, *, overwrite: bool = False,
                  progress: bool = True) -> Any:
    """Build the fetched splits into a dataset folder with ``scale-vqa build``'s builder; returns its summary.

    Only the splits of this fetch are built (an earlier fetch into the same folder may have left others)."""
    import shutil
    import tempfile

    from builders.dataset.export import build_dataset

    with tempfile.TemporaryDirectory(prefix=".scale-vqa-release-", dir=summary.out) as tmp:
        for path in summary.split_files.values():
            shutil.copyfile(Path(summary.out) / path, Path(tmp) / Path(path).name)
        return build_dataset(tmp, build_out, images=summary.image_dir,
                             allow_missing_images=bool(summary.missing_images), overwrite=overwrite,
                             progress=progress)
