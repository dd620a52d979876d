"""Loading MCQ files in the released format, with validation that reports every problem.

The release format is a JSON array (or a `.jsonl` file) of records::

    {"No": 1, "question": "...", "options": {"A": "...", "B": "...", ...}, "answer": "A",
     "rationale": "...",
     "image_path": {"low_mag": "<rel path>", "mid_mag": "<rel path>", "high_mag": "<rel path or null>"},
     "extra_info": {"wsi_name": "...", "path_id": "...", "question_type": "type_A"}}

Stable ids (see :func:`item_id`): the record's own ``id`` when it has one; otherwise the split prefix and the
release's per-split number ``No`` (``val-00001``); otherwise the split prefix and a content hash.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text
from .dimensions import SCALES, Dimension
from .item import LETTERS, MAX_OPTIONS, MIN_OPTIONS, ImageRefs, Item
from .jsonfile import Record, kind_of, read_records
from .problems import InputError, Problem, Severity, ValidationReport

IMAGE_PLACEHOLDER = "<image>"
"""Marks where an image goes in prompt text; item text must not contain it."""

SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "val": "validation", "valid": "validation", "validation": "validation", "dev": "validation",
    "test": "test", "testing": "test",
}
_SPLIT_PREFIX = {"train": "train", "validation": "val", "test": "test"}
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
_KNOWN_KEYS = {
    "No", "id", "question", "options", "answer", "rationale", "image_path", "extra_info",
    "question_type", "dimension", "wsi_name", "path_id",
}


def canonical_split(name: str) -> str:
    """``val``/``dev``/``valid`` → ``validation`` and so on; other names are kept (lower-cased)."""
    key = name.strip().lower()
    return SPLIT_ALIASES.get(key, key)


def infer_split(path: str | Path) -> str:
    """Canonical split name from a file name: ``val.json`` → ``validation``; unknown stems stay as they are."""
    stem = Path(path).name.split(".")[0].lower()
    if stem in SPLIT_ALIASES:
        return SPLIT_ALIASES[stem]
    for token in reversed(re.split(r"[_\-.]", stem)):
        if token in SPLIT_ALIASES:
            return SPLIT_ALIASES[token]
    return re.sub(r"[^a-z0-9]+", "_", stem).strip("_") or "data"


def split_prefix(split: str) -> str:
    """Id prefix of a split: ``validation`` → ``val``; other names are used as they are."""
    return _SPLIT_PREFIX.get(split, split)


def content_hash(question: str, options: Sequence[str], images: ImageRefs) -> str:
    """12 hex digits identifying an item by its text and image paths."""
    payload = json.dumps([question, list(options), images.as_dict()], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def item_id(split: str, *, explicit: str | None = None, number: int | None = None,
            digest: str | None = None) -> str:
    """The stable id rule: explicit id > ``{prefix}-{No:05d}`` > ``{prefix}-h{content hash}``."""
    if explicit is not None:
        return explicit
    if number is not None:
        return f"{split_prefix(split)}-{number:05d}"
    if digest is None:
        raise ValueError("item_id needs an explicit id, a number or a content digest")
    return f"{split_prefix(split)}-h{digest}"


@dataclass
class LoadResult:
    """Valid items of one or more files, and every problem found (records with errors are left out)."""

    items: list[Item] = field(default_factory=list)
    report: ValidationReport = field(default_factory=ValidationReport)
    files: list[str] = field(default_factory=list)
    n_records: int = 0
    """Records read, valid or not."""
    duplicate_ids: list[str] = field(default_factory=list)
    duplicate_content: list[tuple[str, str]] = field(default_factory=list)
    """(id, id of the earlier item with the same question, options and images)."""

    @property
    def ok(self) -> bool:
        return self.report.ok


class _RecordChecker:
    """Validates one record, collecting problems instead of stopping at the first."""

    def __init__(self, file: str, record: Record, split: str) -> None:
        self.file, self.record, self.split = file, record, split
        self.problems: list[Problem] = []
        self.item_id: str | None = None

    def _add(self, severity: Severity, field_: str | None, message: str) -> None:
        self.problems.append(Problem(self.file, message, severity, self.record.line, self.record.index, field_))

    def error(self, field_: str | None, message: str) -> None:
        self._add("error", field_, message)

    def warn(self, field_: str | None, message: str) -> None:
        self._add("warning", field_, message)

    def text(self, obj: dict[str, Any], key: str, *, required: bool, where: str | None = None) -> str | None:
        where = where or key
        if key not in obj or obj[key] is None:
            if required:
                self.error(where, "missing" if key not in obj else "is null, expected a non-empty string")
            return None
        value = obj[key]
        if not isinstance(value, str):
            self.error(where, f"expected a string, got {kind_of(value)} {value!r:.40}")
            return None
        if has_surrogate(value):
            self.error(where, SURROGATE_MESSAGE)
            return None
        if required and not value.strip():
            self.error(where, "is empty")
            return None
        return value

    def placeholder(self, where: str, value: str | None) -> None:
        if value is not None and IMAGE_PLACEHOLDER in value:
            self.error(where, f"contains the image placeholder {IMAGE_PLACEHOLDER!r}, which prompts reserve")

    def check(self) -> Item | None:
        obj = self.record.value
        if not isinstance(obj, dict):
            self.error(None, f"expected an object (one item), got {kind_of(obj)}")
            return None
        for key in obj:
            if key not in _KNOWN_KEYS:
                self.warn(key, "unknown field (ignored)")
        extra = obj.get("extra_info")
        if extra is None:
            extra = {}
        elif not isinstance(extra, dict):
            self.error("extra_info", f"expected an object, got {kind_of(extra)}")
            extra = {}

        explicit, number = self._identity(obj)
        question = self.text(obj, "question", required=True)
        self.placeholder("question", question)
        options = self._options(obj.get("options"), "options" in obj)
        answer = self._answer(obj, options)
        rationale = self.text(obj, "rationale", required=False) or ""
        dimension = self._dimension(obj, extra)
        images = self._images(obj)
        wsi_name = self._meta(obj, extra, "wsi_name")
        path_id = self._meta(obj, extra, "path_id")

        digest = content_hash(question or "", options or (), images or ImageRefs())
        self.item_id = item_id(self.split, explicit=explicit, number=number, digest=digest)
        self.problems = [replace(p, item_id=self.item_id) for p in self.problems]
        if any(p.severity == "error" for p in self.problems):
            return None
        assert question is not None and options is not None and answer is not None
        assert dimension is not None and images is not None
        return Item(id=self.item_id, question=question, options=options, answer=answer,
                    dimension=dimension, rationale=rationale, images=images, wsi_name=wsi_name,
                    path_id=path_id, split=self.split, number=number)

    def _identity(self, obj: dict[str, Any]) -> tuple[str | None, int | None]:
        explicit = None
        if "id" in obj:
            value = obj["id"]
            if not isinstance(value, str):
                self.error("id", f"expected a string, got {kind_of(value)}")
            elif not _ID_RE.fullmatch(value) or len(value) > 200:
                self.error("id", f"{value!r:.60} is not a valid id (letters, digits, '.', '_', ':', '-';"
                                 " starting with a letter or digit)")
            else:
                explicit = value
        number = None
        if "No" in obj and obj["No"] is not None:
            value = obj["No"]
            if isinstance(value, bool) or not isinstance(value, int):
                self.error("No", f"expected a whole number, got {kind_of(value)} {value!r:.40}")
            elif value < 0:
                self.error("No", f"expected a number >= 0, got {value}")
            else:
                number = value
        return explicit, number

    def _options(self, value: Any, present: bool) -> tuple[str, ...] | None:
        if not present:
            self.error("options", "missing")
            return None
        if not isinstance(value, dict):
            hint = " (write them as {\"A\": \"...\", \"B\": \"...\"})" if isinstance(value, list) else ""
            self.error("options", f"expected an object mapping letters to option texts, got {kind_of(value)}"
                                  + hint)
            return None
        ok = True
        for key in value:
            if not isinstance(key, str) or len(key) != 1 or key not in LETTERS:
                hint = " (use upper case)" if key.upper() in LETTERS and len(key) == 1 else ""
                self.error(f"options.{key}", f"option key {key!r} is not a letter A–{LETTERS[-1]}{hint}")
                ok = False
        if not MIN_OPTIONS <= len(value) <= MAX_OPTIONS:
            self.error("options", f"has {len(value)} option(s), need {MIN_OPTIONS} to {MAX_OPTIONS}")
            return None
        if not ok:
            return None
        letters = sorted(value)
        expected = list(LETTERS[: len(value)])
        if letters != expected:
            self.error("options", f"letters {''.join(letters)} have gaps; expected {''.join(expected)}")
            return None
        texts: list[str] = []
        seen: dict[str, str] = {}
        for letter in expected:
            text = self.text(value, letter, required=True, where=f"options.{letter}")
            self.placeholder(f"options.{letter}", text)
            if text is None:
                ok = False
                continue
            norm = " ".join(text.split()).casefold()
            if norm in seen:
                self.warn(f"options.{letter}", f"same text as option {seen[norm]}: the options cannot all be "
                                               "told apart, so the item is ambiguous")
            seen.setdefault(norm, letter)
            texts.append(text)
        return tuple(texts) if ok else None

    def _answer(self, obj: dict[str, Any], options: tuple[str, ...] | None) -> str | None:
        answer = self.text(obj, "answer", required=True)
        if answer is None:
            return None
        letters = LETTERS[: len(options)] if options else None
        norm = answer.strip().upper()
        if letters is not None and (len(norm) != 1 or norm not in letters):
            self.error("answer", f"{answer!r} is not among the options {letters[0]}–{letters[-1]}")
            return None
        if len(norm) != 1 or norm not in LETTERS:
            self.error("answer", f"{answer!r} is not an option letter")
            return None
        if norm != answer:
            self.warn("answer", f"{answer!r} normalised to {norm!r}")
        return norm

    def _dimension(self, obj: dict[str, Any], extra: dict[str, Any]) -> Dimension | None:
        found: list[tuple[str, Any]] = [
            (where, src[key]) for where, src, key in (
                ("extra_info.question_type", extra, "question_type"),
                ("question_type", obj, "question_type"),
                ("dimension", obj, "dimension"),
            ) if src.get(key) is not None
        ]
        if not found:
            self.error("extra_info.question_type", "missing (the reasoning dimension, type_A … type_E)")
            return None
        dims: list[tuple[str, Dimension]] = []
        for where, value in found:
            if not isinstance(value, str):
                self.error(where, f"expected a string such as 'type_A', got {kind_of(value)}")
                continue
            try:
                dims.append((where, Dimension.parse(value)))
            except ValueError as exc:
                self.error(where, str(exc))
        if len({d for _, d in dims}) > 1:
            self.error(dims[1][0], f"conflicts with {dims[0][0]} ({dims[1][1].code} vs {dims[0][1].code})")
            return None
        return dims[0][1] if dims and len(dims) == len(found) else None

    def _images(self, obj: dict[str, Any]) -> ImageRefs | None:
        value = obj.get("image_path")
        if value is None:
            self.warn("image_path", "missing: the item has no images")
            return ImageRefs()
        if not isinstance(value, dict):
            self.error("image_path", f"expected an object with low_mag/mid_mag/high_mag, got {kind_of(value)}")
            return None
        keys = {s.value for s in SCALES}
        for key in value:
            if key not in keys:
                self.warn(f"image_path.{key}", "unknown scale key (ignored); expected low_mag, mid_mag, high_mag")
        refs: dict[str, str | None] = {}
        ok = True
        for scale in SCALES:
            path = value.get(scale.value)
            message = image_path_problem(path)
            if message:
                self.error(f"image_path.{scale.value}", message)
                ok = False
            refs[scale.value] = path
        return ImageRefs(**refs) if ok else None

    def _meta(self, obj: dict[str, Any], extra: dict[str, Any], key: str) -> str | None:
        values = []
        for where, src in ((f"extra_info.{key}", extra), (key, obj)):
            if src.get(key) is None:
                continue
            value = src[key]
            if not isinstance(value, str):
                self.error(where, f"expected a string, got {kind_of(value)}")
            elif has_surrogate(value):
                self.error(where, SURROGATE_MESSAGE)
            elif value.strip():
                values.append((where, value))
        if len({v for _, v in values}) > 1:
            self.error(values[1][0], f"conflicts with {values[0][0]} ({values[1][1]!r} vs {values[0][1]!r})")
        return values[0][1] if values else None


def _id_field(record: Record) -> str:
    """The field a record's id comes from, for messages about it."""
    value = record.value
    if isinstance(value, dict) and "id" not in value and "No" in value:
        return "No"
    return "id"


_WINDOWS_ABS = re.compile(r"^[A-Za-z]:[\\/]")
_SURROGATE = re.compile("[\ud800-\udfff]")
SURROGATE_MESSAGE = "contains an unpaired surrogate (\\ud800–\\udfff escape): not valid Unicode text"


def has_surrogate(text: str) -> bool:
    """True when `text` holds a lone UTF-16 surrogate (JSON allows the escape; UTF-8 cannot encode it)."""
    return _SURROGATE.search(text) is not None


def image_path_problem(path: Any) -> str | None:
    """Why `path` is not an acceptable relative image path (None when it is, or when it is null)."""
    if path is None:
        return None
    if not isinstance(path, str):
        return f"expected a relative path string or null, got {kind_of(path)}"
    if not path.strip():
        return "empty path (use null for a missing image)"
    if "\x00" in path:
        return "contains a NUL character"
    if has_surrogate(path):
        return SURROGATE_MESSAGE
    if "://" in path:
        return f"{path!r:.80} is a URL; image paths must be relative file paths"
    if path.startswith(("/", "\\")) or _WINDOWS_ABS.match(path):
        return f"{path!r:.80} is absolute; image paths must be relative to the image folder"
    if ".." in re.split(r"[\\/]", path):
        return f"{path!r:.80} contains '..'; image paths must stay inside the image folder"
    return None


SPLITS: tuple[str, ...] = ("train", "validation", "test")
"""Splits a release may have, in the order they are written."""
SPLIT_SUFFIXES = (".json", ".jsonl")


def find_split_files(release: str | Path) -> dict[str, Path]:
    """Split name → MCQ file in `release` (``train``/``val``/``test`` ``.json`` or ``.jsonl``, whichever exist).

    Raises FileNotFoundError when there is none, ValueError when two files name the same split.
    """
    root = Path(release)
    if not root.is_dir():
        raise FileNotFoundError(f"release folder not found: {root}")
    found: dict[str, Path] = {}
    for path in sorted(root.iterdir()):
        if not path.is_file() or path.suffix.lower() not in SPLIT_SUFFIXES:
            continue
        split = infer_split(path)
        if split not in SPLITS or path.name.split(".")[0].lower() not in SPLIT_ALIASES:
            continue
        if split in found:
            raise ValueError(f"{found[split].name} and {path.name} in {root} are both the {split} split; keep one")
        found[split] = path
    if not found:
        raise FileNotFoundError(f"no split file in {root} (expected train.json, val.json and/or test.json, "
                                "or .jsonl)")
    return {split: found[split] for split in SPLITS if split in found}



def read_release(paths: str | Path | Iterable[str | Path], *, split: str | None = None,
                 image_root: str | Path | None = None) -> LoadResult:
    """Read and validate one or more MCQ files; never raises on bad input.

    `split` overrides the split inferred from each file name. When `image_root` is given, every image path
    must name an existing file under it.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    result = LoadResult()
    first_seen: dict[str, Problem] = {}
    content_seen: dict[tuple[object, ...], Problem] = {}
    root = Path(image_root) if image_root is not None else None
    for path in paths:
        name = str(path)
        result.files.append(name)
        file_split = canonical_split(split) if split else infer_split(path)
        records, problems = read_records(path)
        result.report.extend(problems)
        result.n_records += len(records)
        for record in records:
            checker = _RecordChecker(name, record, file_split)
            item = checker.check()
            result.report.extend(checker.problems)
            here = Problem(name, "", line=record.line, index=record.index, item_id=checker.item_id)
            if checker.item_id is not None:
                if checker.item_id in first_seen:
                    prev = first_seen[checker.item_id]
                    result.duplicate_ids.append(checker.item_id)
                    result.report.add(Problem(name, f"duplicate id {checker.item_id!r} (first at {prev.file}:"
                                                    f"{prev.line} [{prev.index}])", "error", record.line,
                                              record.index, _id_field(record), checker.item_id))
                    continue
                first_seen[checker.item_id] = here
            if item is None:
                continue
            key = (item.question, item.options, item.images)
            if key in content_seen:
                prev = content_seen[key]
                result.duplicate_content.append((item.id, prev.item_id or ""))
                result.report.add(Problem(name, f"same question, options and images as {prev.file}:{prev.line} "
                                                f"[{prev.index}] (id {prev.item_id})", "warning", record.line,
                                          record.index, None, item.id))
            else:
                content_seen[key] = here
            if root is not None:
                missing = _missing_files(item, root, name, record)
                if missing:
                    result.report.extend(missing)
                    continue
            result.items.append(item)
    return result


def _missing_files(item: Item, root: Path, name: str, record: Record) -> list[Problem]:
    return [
        Problem(name, f"image file not found: {root / path}", "error", record.line, record.index,
                f"image_path.{scale.value}", item.id)
        for scale, path in item.images
        if path is not None and not (root / path).is_file()
    ]


def load_items(paths: str | Path | Iterable[str | Path], *, split: str | None = None,
               image_root: str | Path | None = None) -> list[Item]:
    """Valid items of the given files; raises :class:`InputError` listing every error if there is one."""
    result = read_release(paths, split=split, image_root=image_root)
    if not result.ok:
        raise InputError(result.report, ", ".join(result.files))
    return result.items


def write_release(items: Iterable[Item], path: str | Path) -> None:
    """Write items as a release-format JSON array (atomically)."""
    records = [item.to_release() for item in items]
    atomic_write_text(path, json.dumps(records, ensure_ascii=False, indent=2) + "\n")
