"""``scale-vqa build``: a release folder → a Hub-ready dataset folder.

Layout of the output (what ``load_dataset(OUT)`` and the Hub read)::

    OUT/README.md                                   dataset card (YAML configs + dataset_info)
    OUT/data/{split}-00000-of-0000N.parquet         rows with the original image bytes embedded
    OUT/checksums.sha256                            sha256 of every other file (``sha256sum -c`` format)

Rows are streamed: at most one row group (default 100 rows) is in memory, and a shard is closed once it holds
`max_shard_bytes`. Everything is written with :func:`scale_vqa.atomic.atomic_dir` (a temporary folder beside OUT,
renamed into place at the end, with the umask's modes), so a failed build never leaves a half-written OUT.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builders.dataset.features import IMAGE_COLUMNS, features
from builders.dataset.images import ImageCheck
from builders.dataset.rows import Release, RowMaker, load_release
from builders.errors import replace_guard
from scale_vqa.atomic import atomic_dir
from scale_vqa.dimensions import DIMENSIONS, SCALES
from scale_vqa.errors import BadInputError
from scale_vqa.item import Item
from scale_vqa.problems import Problem

CHECKSUMS = "checksums.sha256"
CARD = "README.md"
DATA_DIR = "data"
MARKER = "<!-- built by scale-vqa build -->"
"""Written into every card, so `--overwrite` replaces only folders this command made."""
DEFAULT_SHARD_BYTES = 500 * 2**20
DEFAULT_ROW_GROUP = 100


@dataclass
class SplitStats:
    name: str
    file: str
    n_rows: int = 0
    num_bytes: int = 0
    shards: list[str] = field(default_factory=list)
    dimensions: Counter[str] = field(default_factory=Counter)
    images: Counter[str] = field(default_factory=Counter)
    """Images stored per scale (null in the release or missing files are not counted)."""


@dataclass
class BuildSummary:
    out: Path
    splits: dict[str, SplitStats]
    warnings: list[Problem]
    source_files: dict[str, str]
    """Split file name → sha256, recorded in the card."""
    subsets: dict[str, Subset] = field(default_factory=dict)
    """Extra configs (e.g. the audit's hard subset) by config name."""

    @property
    def n_rows(self) -> int:
        return sum(s.n_rows for s in self.splits.values())


class ShardWriter:
    """Writes row groups into ``{split}-NNNNN-of-NNNNN.parquet`` shards of at most about `max_bytes` each."""

    def __init__(self, folder: Path, split: str, *, max_bytes: int, row_group: int) -> None:
        import pyarrow.parquet as pq

        self._pq = pq
        self.folder, self.split, self.max_bytes, self.row_group = folder, split, max_bytes, row_group
        self.schema = features().arrow_schema
        self._text_cols = [n for n in self.schema.names if n not in IMAGE_COLUMNS]
        self._writer: Any = None
        self._bytes = 0
        self._parts: list[Path] = []
        self.num_bytes = 0

    def write(self, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa

        if not rows:
            return
        if self._writer is None:
            part = self.folder / f".{self.split}-part{len(self._parts):05d}.parquet"
            self._parts.append(part)
            self._writer = self._pq.ParquetWriter(part, self.schema, write_statistics=self._text_cols)
            self._bytes = 0
        table = pa.Table.from_pylist(rows, schema=self.schema)
        self._writer.write_table(table, row_group_size=self.row_group)
        self._bytes += table.nbytes
        self.num_bytes += table.nbytes
        if self._bytes >= self.max_bytes:
            self._close_part()

    def _close_part(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def finish(self) -> list[str]:
        """Close the last shard and give the shards their final names; returns them (relative to the folder)."""
        self._close_part()
        if not self._parts:  # an empty split still gets one (empty) shard so that it loads
            self.write_empty()
        n = len(self._parts)
        names = []
        for i, part in enumerate(self._parts):
            name = f"{self.split}-{i:05d}-of-{n:05d}.parquet"
            part.rename(self.folder / name)
            names.append(name)
        return names

    def write_empty(self) -> None:
        part = self.folder / f".{self.split}-part00000.parquet"
        self._pq.ParquetWriter(part, self.schema).close()
        self._parts.append(part)


def sha256_file(path: Path, chunk: int = 2**20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(folder: Path) -> None:
    """``checksums.sha256`` over every file of `folder` except itself (paths relative, sorted)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != CHECKSUMS)
    lines = [f"{sha256_file(p)}  {p.relative_to(folder).as_posix()}" for p in files]
    (folder / CHECKSUMS).write_text("\n".join(lines) + "\n", encoding="utf-8")


def verify_checksums(folder: str | Path) -> list[str]:
    """Problems with a built folder's checksums: missing, changed or unlisted files (empty when all match)."""
    folder = Path(folder)
    listing = folder / CHECKSUMS
    if not listing.is_file():
        return [f"{listing} not found (not a folder made by `scale-vqa build`?)"]
    problems, listed = [], set()
    for n, line in enumerate(listing.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        digest, _, rel = line.partition("  ")
        listed.add(rel)
        path = folder / rel
        if not path.is_file():
            problems.append(f"{CHECKSUMS}:{n}: {rel} is missing")
        elif sha256_file(path) != digest:
            problems.append(f"{CHECKSUMS}:{n}: {rel} has changed (sha256 differs)")
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel != CHECKSUMS and rel not in listed and not rel.startswith("."):
            problems.append(f"{rel} is not listed in {CHECKSUMS}")
    return problems


@dataclass
class Subset:
    """An extra config: the rows of the listed item ids, written under ``data/{name}/``."""

    name: str
    file: str
    ids: set[str]
    construction: dict[str, Any] | None
    """The audit's ``*.construction.json`` (or curate's ``curation.json``) when it sits beside the subset file."""
    splits: dict[str, SplitStats] = field(default_factory=dict)
    replacements: dict[str, Item] = field(default_factory=dict)
    """Curated items (``scale-vqa curate``) by id: their options and answer replace the release's."""

    def pick(self, item: Item) -> Item:
        """The release item as this config holds it (a curated item's options and answer; all else kept)."""
        new = self.replacements.get(item.id)
        if new is None:
            return item
        if new.gold_text != item.gold_text:
            raise BadInputError(f"subset {self.name} ({self.file}): item {item.id}'s gold text differs from the "
                                "release's (curate keeps every gold; was it curated from another release?)")
        return item.with_(options=new.options, answer=new.answer)


SUBSET_NAME = re.compile(r"[a-z][a-z0-9_]*")


def check_subset_name(name: str) -> str:
    """`name` if it can name a config; else ValueError."""
    if not SUBSET_NAME.fullmatch(name) or name == "default":
        raise ValueError(f"config name {name!r}: use lower-case letters, digits and _, not 'default'")
    return name


def read_subset(name: str, path: str | Path) -> Subset:
    """A subset config from an MCQ file (e.g. ``scale-vqa audit --write-subset``): only its item ids are used;
    the rows come from the release, so images and fields are the release's own."""
    from scale_vqa.release import load_items

    check_subset_name(name)
    path = Path(path)
    items = load_items(path)
    ids = {item.id for item in items}
    construction_file = path.with_name(path.name.split(".")[0] + ".construction.json")
    construction = json.loads(construction_file.read_text(encoding="utf-8")) if construction_file.is_file() else None
    replacements: dict[str, Item] = {}
    raw = json.loads(path.read_text(encoding="utf-8")) if path.suffix == ".json" else []
    curations = [r["extra_info"]["curation"] for r in (raw if isinstance(raw, list) else [])
                 if isinstance(r, dict) and isinstance(r.get("extra_info"), dict) and "curation" in r["extra_info"]]
    if curations:
        if any(isinstance(c, dict) and c.get("ceiling") for c in curations):
            raise BadInputError(f"subset {name} ({path}): made by `scale-vqa curate --ceiling`, which selects against "
                                "its own verifiers: a measurement, not a release; curate again without --ceiling")
        replacements = {item.id: item for item in items}  # matched blocks: the options are the file's
        record = path.with_name("curation.json")
        construction = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else construction
    return Subset(name, str(path), ids, construction, replacements=replacements)


def _is_our_build(folder: Path) -> bool:
    card = folder / CARD
    return card.is_file() and MARKER in card.read_text(encoding="utf-8", errors="replace")


def _replaceable(folder: Path) -> bool:
    """`--overwrite` may replace an earlier build or an empty folder."""
    return _is_our_build(folder) or (folder.is_dir() and not any(folder.iterdir()))


def _write_split(release: Release, split: str, maker: RowMaker, data: Path, stats: SplitStats, *,
                 max_shard_bytes: int, row_group: int, bar: Any, prefix: str = DATA_DIR) -> None:
    writer = ShardWriter(data, split, max_bytes=max_shard_bytes, row_group=row_group)
    buffer: list[dict[str, Any]] = []
    for row in maker.rows(release.items[split], stats.file):
        buffer.append(row)
        stats.n_rows += 1
        stats.dimensions[DIMENSIONS[row["dimension"]].value] += 1
        for scale in SCALES:
            stats.images[scale.value] += row[scale.value] is not None
        if len(buffer) >= row_group:
            writer.write(buffer)
            buffer = []
        bar.update(1)
    writer.write(buffer)
    stats.shards = [f"{prefix}/{name}" for name in writer.finish()]
    stats.num_bytes = writer.num_bytes


def build_dataset(release: str | Path, out: str | Path, *, images: str | Path | None = None,
                  allow_missing_images: bool = False, image_check: ImageCheck = "fast", overwrite: bool = False,
                  max_shard_bytes: int = DEFAULT_SHARD_BYTES, row_group: int = DEFAULT_ROW_GROUP,
                  license: str = "unknown", progress: bool = True,
                  subsets: Iterable[Subset] = ()) -> BuildSummary:
    """Build the dataset folder `out` from the split files in `release` (images under `images`, default
    `release`). Raises :class:`~scale_vqa.problems.InputError` listing every problem (bad records, missing or
    broken image files), :class:`~builders.errors.OutputExistsError` when `out` may not be replaced,
    :class:`~scale_vqa.errors.BadInputError` for subsets that do not fit the release, FileNotFoundError /
    ValueError for unusable folders; `out` is then left as it was. Each of `subsets` becomes an extra config
    (``load_dataset(out, name)``)."""
    from tqdm.auto import tqdm

    from builders.dataset.card import render_card

    out = Path(out)
    guard = replace_guard(overwrite=overwrite, ours=_replaceable, command="build")
    guard(out)  # before the release is read: a refused OUT fails in seconds
    rel = load_release(release, images, allow_missing_images=allow_missing_images)
    subsets = list(subsets)
    known = {item.id for items in rel.items.values() for item in items}
    for sub in subsets:
        unknown = sorted(sub.ids - known)
        if unknown:
            raise BadInputError(f"subset {sub.name} ({sub.file}): {len(unknown)} id(s) not in the release, e.g. "
                                + ", ".join(unknown[:5]))
    if len({sub.name for sub in subsets}) < len(subsets):
        raise BadInputError("two subsets have the same config name")
    with atomic_dir(out, may_replace=guard) as tmp:
        data = tmp / DATA_DIR
        data.mkdir()
        maker = RowMaker(rel.image_root, check=image_check, allow_missing_images=allow_missing_images)
        splits: dict[str, SplitStats] = {}
        total = rel.n_items + sum(len(sub.ids) for sub in subsets)
        with tqdm(total=total, desc="build", unit="item", disable=not progress) as bar:
            for split, file in rel.files.items():
                splits[split] = SplitStats(split, str(file))
                _write_split(rel, split, maker, data, splits[split], max_shard_bytes=max_shard_bytes,
                             row_group=row_group, bar=bar)
            for sub in subsets:
                folder = data / sub.name
                folder.mkdir()
                picked = Release(rel.files, {k: [sub.pick(it) for it in v if it.id in sub.ids]
                                             for k, v in rel.items.items()}, rel.image_root)
                for split, file in rel.files.items():
                    if picked.items[split]:
                        sub.splits[split] = SplitStats(split, str(file))
                        _write_split(picked, split, maker, folder, sub.splits[split], max_shard_bytes=max_shard_bytes,
                                     row_group=row_group, bar=bar, prefix=f"{DATA_DIR}/{sub.name}")
        maker.raise_errors(f"images of release {release}")
        summary = BuildSummary(out, splits, rel.warnings + maker.warnings,
                               {p.name: sha256_file(p) for p in rel.files.values()}, {s.name: s for s in subsets})
        (tmp / CARD).write_text(render_card(summary, license=license), encoding="utf-8")
        write_checksums(tmp)
    return summary


def data_files(summary: BuildSummary, subset: str | None = None) -> Iterable[tuple[str, str]]:
    """(split, glob) pairs for the card's ``configs`` section (of the default config, or of a subset)."""
    if subset is not None:
        return ((name, f"{DATA_DIR}/{subset}/{name}-*") for name in summary.subsets[subset].splits)
    return ((name, f"{DATA_DIR}/{name}-*") for name in summary.splits)
