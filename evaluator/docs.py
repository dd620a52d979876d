"""Scale-VQA items → lm-eval docs, and the image bytes behind them (read only when a doc's images are asked for).

A *source* is a dataset folder built by ``scale-vqa build`` (or a Hub id), or a release MCQ file / folder with
its images. Task loaders receive lm-eval's metadata, which includes every ``--model_args`` key, so our own keys
are namespaced: ``scale_vqa_source`` (default: ``$SCALE_VQA_DATASET``), ``scale_vqa_split`` (default ``test``),
``scale_vqa_images`` (a release's image folder; default ``images/`` beside the MCQ file) and
``scale_vqa_subset`` (a subset config of a built dataset or an MCQ file of ids, e.g. the audit's hard subset; a
file written by ``scale-vqa curate`` also brings its options: the ``matched`` tasks read config ``matched`` or
``scale_vqa_matched_subset``),
``scale_vqa_format`` (the prompt format, :mod:`scale_vqa.formats`: ``seed`` by default, ``labelled``,
``seed_sft``) and ``scale_vqa_system`` (the system prompt; default the format's, "" for none).

Each doc is plain JSON (so ``--log_samples`` output is traceable): the item id (a rotation id for CircularEval),
the prompt text with one ``<image>`` per image, its format, the system prompt, the gold letter as shown, and for
each image the item it comes from (another region's for ``shuffled``), its scale and its release path.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from scale_vqa.dimensions import Dimension, Scale
from scale_vqa.formats import DEFAULT_FORMAT, PromptFormat
from scale_vqa.item import Item
from scale_vqa.loading import SOURCE_ENV, item_from_row
from scale_vqa.prompt import Variant, prompts_for, rotate_options, shuffled_donors, split_rotation_id
from scale_vqa.release import IMAGE_PLACEHOLDER, canonical_split, find_split_files, load_items

DEFAULT_SPLIT = "test"
IMAGE_REF = "scale_vqa_ref"
"""Attribute of each image :func:`doc_images` returns: ``item:scale:path`` (where it came from)."""
MAX_SIDE = 1344
"""JPEG images are decoded at a reduced scale when both sides exceed this (``Image.draft``; lossless for the
model, whose processor resizes to ``max_pixels`` anyway)."""


class ImageStore(Protocol):
    def read(self, item_id: str, scale: Scale, path: str) -> bytes: ...


@dataclass(frozen=True)
class FolderImages:
    """Image files of a release: ``root / path``."""

    root: Path

    def read(self, item_id: str, scale: Scale, path: str) -> bytes:
        file = self.root / path
        try:
            return file.read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(f"item {item_id}: {scale.value} image not found: {file}") from None


@dataclass
class DatasetImages:
    """Image bytes stored in a built dataset (read undecoded, one cell at a time, from the memory-mapped table)."""

    dataset: Any
    rows: dict[str, int] = field(default_factory=dict)

    @functools.cached_property
    def columns(self) -> dict[Scale, Any]:
        """One single-column view per scale, so a read touches only the image it wants, not the row's three."""
        return {scale: self.dataset.select_columns([scale.value]) for scale in Scale}

    def read(self, item_id: str, scale: Scale, path: str) -> bytes:
        cell = self.columns[scale][self.rows[item_id]][scale.value]
        if not cell or not cell.get("bytes"):
            raise FileNotFoundError(f"item {item_id}: the dataset has no {scale.value} image")
        return cell["bytes"]


@dataclass
class Source:
    """The items of one split of a source, and where their images are read from."""

    key: str
    items: list[Item]
    images: ImageStore

    @functools.cached_property
    def donors(self) -> dict[str, Item]:
        return shuffled_donors(self.items)

    @functools.cached_property
    def by_id(self) -> dict[str, Item]:
        return {item.id: item for item in self.items}

    def item(self, doc_id: str) -> Item:
        """The item a doc id names, with its options rotated for a CircularEval rotation id."""
        base, k = split_rotation_id(doc_id)
        return rotate_options(self.by_id[base], k) if k else self.by_id[base]


def _is_built(path: Path) -> bool:
    return path.is_dir() and (path / "README.md").is_file() and (path / "data").is_dir()


def _release_file(path: Path, split: str) -> Path:
    if path.is_file():
        return path
    files = find_split_files(path)
    if split not in files:
        raise FileNotFoundError(f"{path}: no {split} split file (found {', '.join(files)}); pass scale_vqa_split "
                                "or a file")
    return files[split]


def _subset_ids(subset: str) -> set[str]:
    return {item.id for item in load_items(subset)}


def _curated(subset: str | None, items: list[Item]) -> list[Item]:
    """With an MCQ file written by ``scale-vqa curate`` as the subset, its items' options and answers (the
    matched blocks) replace the source's; other subset files only select ids."""
    if not subset or not Path(subset).is_file() or "curation" not in Path(subset).read_text(encoding="utf-8"):
        return items
    curated = {it.id: it for it in load_items(subset)}
    return [it.with_(options=curated[it.id].options, answer=curated[it.id].answer) if it.id in curated else it
            for it in items]


@functools.cache
def open_source(source: str, split: str = DEFAULT_SPLIT, images: str | None = None,
                subset: str | None = None) -> Source:
    """Open (once per process) the items of `split` of `source`; see the module docstring."""
    split = canonical_split(split)
    path = Path(source)
    key = "|".join((source, split, images or "", subset or ""))
    if _is_built(path) or (not path.exists() and source.count("/") == 1):
        return _open_built(source, split, subset, key)
    if not path.exists():
        raise FileNotFoundError(f"Scale-VQA source not found: {source} (a built dataset folder, a Hub id, or a "
                                "release MCQ file/folder)")
    file = _release_file(path, split)
    items = load_items(file, split=split)
    if subset:
        keep = _subset_ids(subset)
        items = _curated(subset, [item for item in items if item.id in keep])
    root = Path(images) if images else (file.parent / "images" if (file.parent / "images").is_dir() else file.parent)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root} (pass scale_vqa_images)")
    return Source(key, items, FolderImages(root))


def _open_built(source: str, split: str, subset: str | None, key: str) -> Source:
    import datasets

    from scale_vqa.loading import load

    config: dict[str, Any] = {}
    keep: set[str] | None = None
    if subset and Path(subset).is_file():
        keep = _subset_ids(subset)
    elif subset:
        config["name"] = subset
    try:
        ds = load(split, source=source, **config)
    except ValueError as exc:
        if subset and "BuilderConfig" in str(exc):
            raise ValueError(f"{source} has no {subset!r} config: build it with `scale-vqa build … "
                             f"--config {subset}=FILE` (e.g. the audit's --write-subset file)") from exc
        raise
    for col in (s.value for s in Scale):
        ds = ds.cast_column(col, datasets.Image(decode=False))
    items, rows = [], {}
    text_cols = [c for c in ds.column_names if c not in {s.value for s in Scale}]
    for i, row in enumerate(ds.select_columns(text_cols)):
        if keep is not None and row["id"] not in keep:
            continue
        items.append(item_from_row(row, split))
        rows[row["id"]] = i
    return Source(key, _curated(subset if keep is not None else None, items), DatasetImages(ds, rows))


def source_from(kwargs: Mapping[str, Any]) -> Source:
    """The source named by a task loader's keyword arguments (lm-eval metadata + dataset_kwargs)."""
    source = kwargs.get("scale_vqa_source") or os.environ.get(SOURCE_ENV)
    if not source:
        raise ValueError("no Scale-VQA data: pass --metadata '{\"scale_vqa_source\": \"DIR\"}' (a built dataset "
                         f"folder, a Hub id or a release MCQ file) or set {SOURCE_ENV}")
    subset = kwargs.get("scale_vqa_subset") or None
    if kwargs.get("scale_vqa_hard"):  # the hard-subset tasks: the audit's subset, config "hard" by default
        subset = kwargs.get("scale_vqa_hard_subset") or "hard"
    if kwargs.get("scale_vqa_matched"):  # the matched tasks: `scale-vqa curate`'s file, config "matched" by default
        subset = kwargs.get("scale_vqa_matched_subset") or "matched"
    return open_source(str(source), str(kwargs.get("scale_vqa_split") or DEFAULT_SPLIT),
                       kwargs.get("scale_vqa_images") or None, subset)


def make_docs(source: Source, variant: Variant | str, dimension: Dimension | str | None = None, *,
              system: str | None = None, prompt_format: PromptFormat | str | None = None) -> list[dict[str, Any]]:
    """The docs of one variant (one per prompt: four per item for ``circular``), optionally of one dimension.

    `system`: the system prompt (None: the format's; "": none); `prompt_format`: None for the default (``seed``).
    """
    variant = Variant(variant)
    fmt = PromptFormat.parse(prompt_format or DEFAULT_FORMAT)
    dim = Dimension.parse(dimension) if isinstance(dimension, str) else dimension
    donors = source.donors if variant is Variant.SHUFFLED else {}
    docs = []
    for item in source.items:
        if dim is not None and item.dimension is not dim:
            continue
        donor = donors.get(item.id, item)
        extra: dict[str, Any] = {"prompt_format": fmt}
        if system is not None:
            extra["system"] = system or None
        for prompt in prompts_for(item, variant, donor=donor, **extra):
            image_item = donor.id if variant is Variant.SHUFFLED else item.id
            docs.append({
                "id": prompt.item_id, "item_id": item.id, "dimension": item.dimension.value,
                "variant": variant.value, "prompt_format": fmt.value, "system": prompt.system or "",
                "text": prompt.text,
                "letters": prompt.letters, "answer": prompt.answer,
                "images": [{"item": image_item, "scale": s.scale.value, "path": s.path} for s in prompt.images],
                "source": source.key,
            })
    return docs


def task_dataset(**kwargs: Any) -> dict[str, Any]:
    """lm-eval ``custom_dataset``: ``{"test": Dataset}`` of docs for ``scale_vqa_variant``/``scale_vqa_dimension``."""
    import datasets

    source = source_from(kwargs)
    docs = make_docs(source, kwargs.get("scale_vqa_variant", "standard"), kwargs.get("scale_vqa_dimension"),
                     system=kwargs.get("scale_vqa_system"), prompt_format=kwargs.get("scale_vqa_format"))
    if not docs:
        raise ValueError(f"no items of dimension {kwargs.get('scale_vqa_dimension')} in {source.key}")
    columns = {key: [doc[key] for doc in docs] for key in docs[0]}
    return {"test": datasets.Dataset.from_dict(columns)}


def source_by_key(key: str) -> Source:
    source, split, images, subset = key.split("|")
    return open_source(source, split, images or None, subset or None)


def open_image(data: bytes, ref: str = "", max_side: int = MAX_SIDE) -> Any:
    """A PIL image over `data`, not yet decoded (decoding happens when the model first uses it); `ref`
    (``item:scale:path``) is kept on it as ``IMAGE_REF``."""
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    setattr(img, IMAGE_REF, ref)
    if img.format == "JPEG" and min(img.size) > max_side:
        img.draft("RGB", (max_side, max_side))
    return img


def doc_images(doc: Mapping[str, Any]) -> list[Any]:
    """The doc's images, one per ``<image>`` placeholder, in placeholder order. Raises on a count mismatch."""
    refs = doc["images"]
    n = doc["text"].count(IMAGE_PLACEHOLDER)
    if n != len(refs):
        raise ValueError(f"item {doc['id']}: the prompt has {n} {IMAGE_PLACEHOLDER} placeholders but "
                         f"{len(refs)} images")
    store = source_by_key(doc["source"]).images
    return [open_image(store.read(ref["item"], Scale(ref["scale"]), ref["path"]),
                       f"{ref['item']}:{ref['scale']}:{ref['path']}") for ref in refs]
