"""Built dataset (``scale-vqa build``) → TRL conversational examples with an ``images`` list column.

Every prompt comes from the core :func:`scale_vqa.prompt.build_prompt`, in a named prompt format
(:mod:`scale_vqa.formats`), with the images at the core's placeholders, low → high, so training, the evaluator and
the leaderboard see the same text. The default is ``seed``, the seed's inference format (its system prompt, the
three images first, then ``"{question}\n(A) …"``): the seed's RL data (``rl_parquet/train.parquet``) is not
published, so its prompt format is unknown, and the README's inference format, which the model is evaluated with,
is the best evidence for it. ``seed_sft`` is the seed's SFT data format (its instruction asks for a
``<description>`` block before ``<think>``; the SFT target built here has no such block); ``labelled`` is
Scale-VQA's earlier format. Image bytes are passed through untouched.

Rows are dropped, and counted in :class:`DataStats`, when their prompt (image tokens included, as the
processor expands them) is longer than ``max_prompt_tokens`` (TRL has no ``max_prompt_length``; truncating
through image tokens breaks Qwen2.5-VL), when they have no image (unless ``allow_no_images``), and for SFT
when they have no rationale. A dataset with no image at all is refused unless ``allow_no_images``.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from types import EllipsisType
from typing import Any, Literal

from scale_vqa.dimensions import SCALES
from scale_vqa.errors import BadInputError
from scale_vqa.formats import DEFAULT_FORMAT, PromptFormat
from scale_vqa.item import ImageRefs, Item
from scale_vqa.loading import item_from_row
from scale_vqa.prompt import Prompt, build_prompt
from scale_vqa.release import canonical_split

Kind = Literal["grpo", "sft"]
IMAGE_COLUMNS = tuple(s.value for s in SCALES)


class DataError(BadInputError):
    """The dataset cannot be used for training as configured (exit 1)."""


@dataclass
class DataStats:
    """What preparation kept and dropped."""

    source: str
    split: str
    n_rows: int = 0
    kept: int = 0
    dropped_too_long: int = 0
    dropped_no_images: int = 0
    dropped_no_rationale: int = 0
    longest_kept: int = 0
    longest_seen: int = 0
    max_prompt_tokens: int = 0
    prompt_format: str = DEFAULT_FORMAT.value

    def summary(self) -> str:
        return (f"{self.source} [{self.split}] ({self.prompt_format} format): kept {self.kept}/{self.n_rows} prompts; "
                f"dropped "
                f"{self.dropped_too_long} over {self.max_prompt_tokens} tokens (longest seen {self.longest_seen}), "
                f"{self.dropped_no_images} without images, {self.dropped_no_rationale} without a rationale")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def row_item(row: dict[str, Any]) -> Item:
    """A built-dataset row → core :class:`Item` (:func:`scale_vqa.loading.item_from_row`), its images limited to
    the scales that hold one (:func:`present_images`)."""
    return item_from_row(row).with_(images=present_images(row))


def present_images(row: dict[str, Any]) -> ImageRefs:
    """References to the scales that hold an image in the row (its path, or the column name when it has none);
    a path whose image is missing (built with ``--allow-missing-images``) counts as missing."""
    return ImageRefs(*((row.get(f"{c}_path") or c) if row.get(c) is not None else None for c in IMAGE_COLUMNS))


def prompt_messages(prompt: Prompt) -> list[dict[str, Any]]:
    """TRL conversational messages: every content a list of parts (uniform for Arrow), ``{"type": "image"}``
    placeholders in the core prompt's order (TRL fills them from the ``images`` column in that order)."""
    messages = prompt.messages(lambda slot: {"type": "image", "text": None})
    for message in messages:
        if isinstance(message["content"], str):
            message["content"] = [{"type": "text", "text": message["content"]}]
    return messages


def example(row: dict[str, Any], kind: Kind = "grpo", system: str | EllipsisType | None = ...,
            prompt_format: PromptFormat | str = DEFAULT_FORMAT) -> dict[str, Any]:
    """One training example from a row whose image columns are undecoded (``{"bytes", "path"}``) or decoded.

    `system`: the system prompt (default: the format's own; None: no system turn)."""
    item = row_item(row)
    prompt = build_prompt(item, system=system, prompt_format=prompt_format)
    images = [row[slot.scale.value] for slot in prompt.images]
    out: dict[str, Any] = {"prompt": prompt_messages(prompt), "images": images, "id": item.id}
    if kind == "grpo":
        out.update(gold=item.answer, letters=item.letters, dimension=item.dimension.value,
                   rationale=item.rationale)
    else:
        target = f"<think>{item.rationale.strip()}</think>\n<answer>{item.answer}</answer>"
        out["completion"] = [{"role": "assistant", "content": [{"type": "text", "text": target}]}]
    return out


class PromptLength:
    """Prompt length in tokens as TRL will see it: chat template + generation prompt, images expanded."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor
        image_processor = processor.image_processor
        self._patches = getattr(image_processor, "get_number_of_image_patches", None)
        self._merge = getattr(image_processor, "merge_size", 1) ** 2

    def __call__(self, messages: list[dict[str, Any]], images: list[Any], *, exact: bool = False) -> int:
        if exact or self._patches is None:
            return self.exact(messages, images)
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        n = len(self.processor.tokenizer(text, add_special_tokens=False)["input_ids"])
        for image in images:
            width, height = _size(image)
            n += self._patches(height, width) // self._merge - 1  # one <|image_pad|> is already in the text
        return n

    def exact(self, messages: list[dict[str, Any]], images: list[Any]) -> int:
        """Run the processor itself (decodes and resizes every image: slow, used to check the fast path)."""
        from trl.data_utils import prepare_multimodal_messages

        filled = prepare_multimodal_messages(messages, images=[_decoded(im) for im in images])
        out = self.processor.apply_chat_template([filled], add_generation_prompt=True, tokenize=True,
                                                 return_dict=True)
        return len(out["input_ids"][0])


def _decoded(image: Any) -> Any:
    from PIL import Image

    if isinstance(image, dict):
        return Image.open(io.BytesIO(image["bytes"]) if image.get("bytes") else image["path"]).convert("RGB")
    return image


def _size(image: Any) -> tuple[int, int]:
    if isinstance(image, dict):
        from PIL import Image

        with Image.open(io.BytesIO(image["bytes"]) if image.get("bytes") else image["path"]) as im:
            return im.size
    return image.size


def features(kind: Kind = "grpo") -> Any:
    """Arrow schema of the prepared examples (explicit, so batches without images type the same)."""
    from datasets import Features, Image, List, Value

    parts = List({"type": Value("string"), "text": Value("string")})
    messages = List({"role": Value("string"), "content": parts})
    cols: dict[str, Any] = {"prompt": messages, "images": List(Image()), "id": Value("string")}
    if kind == "grpo":
        cols.update(gold=Value("string"), letters=Value("string"), dimension=Value("string"),
                    rationale=Value("string"))
    else:
        cols["completion"] = messages
    cols.update(prompt_tokens=Value("int32"), drop=Value("string"))
    return Features(cols)


def _mapped(row: dict[str, Any], *, kind: Kind, length: PromptLength, image_cols: list[str],
            allow_no_images: bool, max_prompt_tokens: int, prompt_format: str) -> dict[str, Any]:
    ex = example(row, kind, prompt_format=prompt_format)
    ex["prompt_tokens"], ex["drop"] = 0, ""
    if not any(row.get(c) is not None for c in image_cols) and not allow_no_images:
        ex["drop"] = "no_images"
    elif kind == "sft" and not (row.get("rationale") or "").strip():
        ex["drop"] = "no_rationale"
    else:
        ex["prompt_tokens"] = length(ex["prompt"], ex["images"])
        if ex["prompt_tokens"] > max_prompt_tokens:
            ex["drop"] = "too_long"
    return ex


def prepare(dataset: Any, processor: Any, *, kind: Kind = "grpo", max_prompt_tokens: int = 5120,
            allow_no_images: bool = False, limit: int | None = None, source: str = "dataset",
            split: str = "train", num_proc: int | None = None,
            prompt_format: PromptFormat | str | None = None) -> tuple[Any, DataStats]:
    """A built split (``datasets.Dataset``) → (TRL-ready ``Dataset``, :class:`DataStats`).

    `prompt_format`: None for the default (``seed``). Streams through the datasets cache (image bytes are never
    all in memory)."""
    from datasets import Image

    try:
        fmt = PromptFormat.parse(prompt_format or DEFAULT_FORMAT)
    except ValueError as exc:
        raise DataError(f"data.prompt_format: {exc}") from None
    missing = [c for c in ("id", "question", "options", "answer", "dimension") if c not in dataset.column_names]
    if missing:
        raise DataError(f"{source} [{split}]: not a built Scale-VQA dataset (missing column(s) {', '.join(missing)})")
    if limit is not None:
        dataset = dataset.select(range(min(limit, dataset.num_rows)))
    image_cols = [c for c in IMAGE_COLUMNS if c in dataset.column_names]
    for col in image_cols:
        dataset = dataset.cast_column(col, Image(decode=False))
    mapped = dataset.map(_mapped, remove_columns=dataset.column_names, features=features(kind), num_proc=num_proc,
                         fn_kwargs={"kind": kind, "length": PromptLength(processor), "image_cols": image_cols,
                                    "allow_no_images": allow_no_images, "max_prompt_tokens": max_prompt_tokens,
                                    "prompt_format": fmt.value},
                         desc="preparing prompts")
    drops, lengths = mapped["drop"], mapped["prompt_tokens"]
    if drops and drops.count("no_images") == len(drops):
        raise DataError(f"{source} [{split}]: the dataset has no images (was it built without them?); GRPO on "
                        "text alone is not the recipe. Set data.allow_no_images=true to train on text anyway")
    stats = DataStats(source, split, n_rows=dataset.num_rows, max_prompt_tokens=max_prompt_tokens,
                      prompt_format=fmt.value,
                      kept=drops.count(""), dropped_too_long=drops.count("too_long"),
                      dropped_no_images=drops.count("no_images"), dropped_no_rationale=drops.count("no_rationale"),
                      longest_kept=max((n for n, d in zip(lengths, drops, strict=True) if not d), default=0),
                      longest_seen=max(lengths, default=0))
    if not stats.kept:
        raise DataError(f"{source} [{split}]: no usable prompt left ({stats.summary()})")
    keep = [i for i, d in enumerate(drops) if not d]
    return mapped.select(keep).remove_columns("drop"), stats


def check_split(source: str, split: str) -> None:
    """Raise :class:`DataError` naming the splits `source` has when `split` is not one of them, before anything
    heavy loads (a source whose splits cannot be listed here, e.g. a Hub id offline, is left to the loader)."""
    from datasets import get_dataset_split_names

    try:
        splits = get_dataset_split_names(str(source))
    except Exception:  # not a dataset, no network …: the loader's own error says why
        return
    if splits and canonical_split(split) not in splits:
        suggestion = "train" if "train" in splits else splits[0]
        raise DataError(f"data.split: {source} has no {split!r} split (its splits: {', '.join(splits)}); "
                        f"add data.split={suggestion} to the command or set it in the config")


def load_prepared(source: str, split: str, processor: Any, *, kind: Kind = "grpo", max_prompt_tokens: int = 5120,
                  allow_no_images: bool = False, limit: int | None = None,
                  prompt_format: PromptFormat | str | None = None) -> tuple[Any, DataStats]:
    """Load a split with :func:`scale_vqa.load` and :func:`prepare` it."""
    from scale_vqa.loading import load

    check_split(source, split)
    try:
        dataset = load(split, source=source)
    except (ValueError, FileNotFoundError) as exc:
        raise DataError(f"data.source {source!r}: {exc}") from None
    return prepare(dataset, processor, kind=kind, max_prompt_tokens=max_prompt_tokens,
                   allow_no_images=allow_no_images, limit=limit, source=source, split=split,
                   prompt_format=prompt_format)
