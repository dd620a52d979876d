"""The dataset card (README.md) of a built folder: YAML metadata the Hub and `load_dataset` read, then a
human summary with split sizes, a per-dimension table, the schema, license and citation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from builders.dataset.features import features
from scale_vqa import __version__
from scale_vqa.dimensions import DIMENSIONS, SCALES
from scale_vqa.markdown import markdown_table

if TYPE_CHECKING:
    from builders.dataset.export import BuildSummary, SplitStats

CITATION = """@article{phan2026scalevqa,
  title   = {Enhancing Pathological VLMs with Cross-scale Reasoning},
  author  = {Phan and others},
  journal = {arXiv preprint arXiv:2606.17412},
  year    = {2026}
}"""


def _file_name(path: str) -> str:
    """The last part of a path written with / or \\ separators."""
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return name
    return "100K<n<1M"


def card_yaml(summary: BuildSummary, *, license: str) -> str:
    """The YAML header (without the ``---`` fences)."""
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    from builders.dataset.export import data_files

    data = DatasetCardData(
        pretty_name="Scale-VQA", license=license, language=["en"],
        task_categories=["visual-question-answering", "multiple-choice"],
        tags=["pathology", "histopathology", "medical", "multi-scale", "whole-slide-image"],
        size_categories=[_size_category(summary.n_rows)],
    )
    configs = {"default": {"data_files": [{"split": s, "path": glob} for s, glob in data_files(summary)]}}
    configs.update({name: {"data_files": [{"split": s, "path": glob} for s, glob in data_files(summary, name)]}
                    for name in summary.subsets})
    MetadataConfigs(configs).to_dataset_card_data(data)

    def info(stats_by_split: dict[str, SplitStats]) -> DatasetInfo:
        splits = SplitDict()
        for stats in stats_by_split.values():
            splits.add(SplitInfo(name=stats.name, num_bytes=stats.num_bytes, num_examples=stats.n_rows))
        size = sum(s.num_bytes for s in stats_by_split.values())
        return DatasetInfo(features=features(), splits=splits, dataset_size=size)

    infos = {"default": info(summary.splits)} | {n: info(s.splits) for n, s in summary.subsets.items()}
    DatasetInfosDict(infos).to_dataset_card_data(data)
    return data.to_yaml()


def _subset_section(summary: BuildSummary) -> list[str]:
    """One paragraph per extra config: its size and, for an audit's hard subset, how it was made."""
    lines: list[str] = []
    for name, sub in summary.subsets.items():
        sizes = ", ".join(f"{s.name} {s.n_rows}" for s in sub.splits.values())
        lines += [f"### `{name}`", "", f"`load_dataset(…, \"{name}\")`: {sizes} items, listed by "
                  f"`{_file_name(sub.file)}`.", ""]
        c = sub.construction
        if c and c.get("strategy") == "matched":
            v = c.get("verification") or {}
            best = v.get("best") or {}
            groups = (f", region groups: the same {c.get('block_size')} regions share a block in every dimension"
                      if c.get("region_groups") else "")
            failed = v.get("failures") or []
            lines += [f"Made by `scale-vqa curate` (matched blocks of {c.get('block_size')}{groups}, seed "
                      f"{c.get('seed')}): {c.get('n_curated')} of {c.get('n_source')} items kept; every item keeps its "
                      "question, images, rationale and gold, and its distractors are the golds of other items of its "
                      "block." + (f" Best text-only adversary in verification: {best.get('adversary')} "
                                  f"{100 * best.get('accuracy', 0):.1f} %." if best else "")
                      + (f" Verification failed: {'; '.join(failed)}." if failed else ""), ""]
        elif c:
            rate = c.get("false_flag_rate", {})
            lines += [f"Made by `scale-vqa audit --write-subset`: {c.get('rule')} "
                      f"({len(c.get('adversaries', []))} adversaries, fitted by {c.get('fit')}, seed {c.get('seed')}); "
                      f"{c.get('n_flagged')} of {c.get('n_source')} items dropped; false-flag rate "
                      f"{100 * rate.get('permuted', 0):.1f} % (permuted gold) / {100 * rate.get('uniform', 0):.1f} % "
                      "(uniform gold).", ""]
            rows = [r for r in c.get("residual", {}).get("rows", []) if r.get("accuracy")]
            if rows:
                best = max(rows, key=lambda r: r["accuracy"]["all"])
                lines += [f"Residual text-only accuracy on these items (no circularity: {best['method']}): up to "
                          f"{100 * best['accuracy']['all']:.1f} % ({best['name']}). Text-only scorers still beat "
                          "chance here unless this number is near 1/K.", ""]
    return lines


def _dimension_table(summary: BuildSummary) -> list[str]:
    names = list(summary.splits)
    rows: list[list[object]] = [[f"`{dim.code}`", dim.value, *(summary.splits[s].dimensions.get(dim.value, 0)
                                                               for s in names)] for dim in DIMENSIONS]
    rows.append(["", "**total**", *(f"**{summary.splits[s].n_rows}**" for s in names)])
    return markdown_table(["code", "dimension", *names], rows, "ll" + "r" * len(names)).splitlines()


def _split_table(summary: BuildSummary) -> list[str]:
    header = ["split", "items", *(f"`{s.value}` images" for s in SCALES), "shards", "source"]
    rows = [[stats.name, stats.n_rows, *(stats.images.get(s.value, 0) for s in SCALES), len(stats.shards),
             f"`{_file_name(stats.file)}`"] for stats in summary.splits.values()]
    return markdown_table(header, rows, "lr" + "r" * len(SCALES) + "rl").splitlines()


FIELDS_TABLE = markdown_table(["field", "type", "meaning"], [
    ["`id`", "string", "stable item id (`val-00001`: split prefix + the release's `No`; else the release's own `id` or "
                       "a content hash)"],
    ["`question`", "string", "question text"],
    ["`options`", "list of strings", "option texts in letter order A, B, C … (2–10)"],
    ["`answer`", "ClassLabel `A`…`J`", "gold letter; its index is the position in `options`"],
    ["`rationale`", "string", "explanation of the gold answer"],
    ["`dimension`", "ClassLabel", "reasoning dimension: "
     + ", ".join(f"{i} `{d.value}` (`{d.code}`)" for i, d in enumerate(DIMENSIONS))],
    ["`wsi_name`", "string", "whole-slide image the region comes from (split or cross-validate by it)"],
    ["`path_id`", "string", "region id; the items of one region share its images"],
    ["`low_mag`, `mid_mag`, `high_mag`", "Image (nullable)", "the original image files, bytes unchanged"],
    ["`low_mag_path`, `mid_mag_path`, `high_mag_path`", "string (nullable)", "the release's relative image paths"],
])
"""The card's schema section."""


def render_card(summary: BuildSummary, *, license: str) -> str:
    from builders.dataset.export import MARKER

    first = next(iter(summary.splits))
    sources = "\n".join(f"- `{name}` sha256 `{digest}`" for name, digest in summary.source_files.items())
    body = [
        "# Scale-VQA",
        "",
        "Cross-scale pathology visual question answering: every row is a multiple-choice question grounded in "
        "three images of one tissue region at 1×, 4× and 20× equivalent magnification, with a gold letter, a "
        "rationale and one of five reasoning dimensions.",
        "",
        "## Splits",
        "",
        *_split_table(summary),
        "",
        "An image is `None` where the release has no image at that magnification.",
        "",
        "## Items per reasoning dimension",
        "",
        *_dimension_table(summary),
        "",
        *(["## Configs", "", "Besides `default` (every item):", "", *_subset_section(summary)]
          if summary.subsets else []),
        "## Usage",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        'ds = load_dataset("path/to/this/folder-or-hub-id")',
        f'row = ds["{first}"][0]',
        'row["low_mag"], row["mid_mag"], row["high_mag"]   # PIL images (or None)',
        'gold = row["options"][row["answer"]]               # options are in letter order A, B, …',
        "```",
        "",
        "## Fields",
        "",
        *FIELDS_TABLE.splitlines(),
        "",
        "## License",
        "",
        f"License: `{license}`. The questions and images belong to their authors; check their terms before use.",
        "",
        "## Citation",
        "",
        "```bibtex",
        CITATION,
        "```",
        "",
        "## Provenance",
        "",
        f"Built with scale-vqa {__version__} (`scale-vqa build`) from:",
        "",
        sources,
        "",
        "`checksums.sha256` lists the sha256 of every file in this folder (`sha256sum -c checksums.sha256`).",
        "",
        MARKER,
        "",
    ]
    return "---\n" + card_yaml(summary, license=license).rstrip("\n") + "\n---\n\n" + "\n".join(body)
