"""`load`: the built Scale-VQA dataset as a `datasets.Dataset` (imports `datasets` only when called)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from .dimensions import DIMENSIONS, SCALES, Dimension
from .errors import BadInputError, MissingExtraError, require_extra
from .item import LETTERS, ImageRefs, Item
from .release import canonical_split

SOURCE_ENV = "SCALE_VQA_DATASET"
SOURCES_GROUP = "scale_vqa.sources"
"""Entry-point group of the default sources: ``official = "module:function"``, the function returning a built
dataset folder (the official release, fetched and built once)."""


def official_source() -> Path:
    """The built folder of the official release, through the ``official`` entry point of :data:`SOURCES_GROUP`
    (the data extra's fetcher). Raises :class:`MissingExtraError` when none is installed."""
    found = [ep for ep in entry_points(group=SOURCES_GROUP) if ep.name == "official"]
    if not found:
        raise MissingExtraError("data", ["the official-release source"],
                                what=f"loading the official release (no source given and {SOURCE_ENV} unset)")
    source: Callable[[], os.PathLike[str] | str] = found[0].load()
    try:
        return Path(source())
    except BadInputError as exc:
        raise BadInputError(f"no dataset source given (pass source=<built folder or Hub id> or set {SOURCE_ENV}), "
                            f"and the official release could not be fetched: {exc}") from exc


def load(split: str | None = "validation", source: str | os.PathLike[str] | None = None, **kwargs: Any) -> Any:
    """Load a split (``val``/``validation``, ``train``, ``test``; None for all) of a built dataset.

    `source` is a folder made by ``scale-vqa build`` or a Hub dataset id (``org/name``); default: the
    ``SCALE_VQA_DATASET`` environment variable, else the official release, downloaded and built once per commit
    under the Hugging Face cache (later calls make no request). Extra keyword arguments go to
    ``datasets.load_dataset``. Needs the ``data`` extra.
    """
    source = source if source is not None else os.environ.get(SOURCE_ENV)
    if not source:
        source = official_source()
    path = Path(source)
    if path.exists():
        if not (path / "README.md").is_file() or not (path / "data").is_dir():
            hint = (" (it looks like a release: build it first with `scale-vqa build --release "
                    f"{path} --out DIR`)" if any(path.glob("*.json")) else "")
            raise BadInputError(f"{path} is not a built Scale-VQA dataset folder{hint}")
        source = str(path)
        kwargs.setdefault("cache_dir", str(build_cache_dir(path)))
    else:
        source = str(source)
        if source.count("/") != 1 or source.startswith((".", "/")):
            raise BadInputError(f"{source!r} is neither an existing folder nor a Hub dataset id (org/name)")
    require_extra("data", "datasets", what="loading the dataset")
    import datasets

    return datasets.load_dataset(source, split=canonical_split(split) if split else None, **kwargs)


def build_cache_dir(folder: Path) -> Path:
    """The ``datasets`` cache folder for one local build: keyed by the folder's absolute path and its files'
    names, sizes and modification times. ``datasets`` keys a local folder's cache by its name and config alone,
    so a rebuilt folder (or another folder of the same name) would otherwise be read from a stale cache."""
    import hashlib

    h = hashlib.sha256(str(folder.resolve()).encode())
    for f in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        st = f.stat()
        h.update(f"{f.relative_to(folder).as_posix()}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    base = os.environ.get("HF_DATASETS_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface"), "datasets")
    return Path(base) / "scale-vqa-builds" / h.hexdigest()[:20]


def item_from_row(row: Mapping[str, Any], split: str | None = None) -> Item:
    """A row of the built dataset (``answer`` and ``dimension`` as ClassLabel indices or names) → :class:`Item`."""
    options = tuple(row["options"])
    answer, dimension = row["answer"], row["dimension"]
    return Item(
        id=row["id"], question=row["question"], options=options,
        answer=LETTERS[answer] if isinstance(answer, int) else str(answer),
        dimension=DIMENSIONS[dimension] if isinstance(dimension, int) else Dimension.parse(dimension),
        rationale=row.get("rationale") or "",
        images=ImageRefs(*(row.get(f"{scale.value}_path") for scale in SCALES)),
        wsi_name=row.get("wsi_name"), path_id=row.get("path_id"), split=split,
    )
