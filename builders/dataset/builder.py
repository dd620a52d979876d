"""`ScaleVQA`: a `datasets.GeneratorBasedBuilder` reading a release folder directly.

datasets 5 has no loading scripts, so instantiate the class yourself::

    from builders.dataset.builder import ScaleVQA

    builder = ScaleVQA(data_dir="release/", images="release/images")   # images default to data_dir
    builder.download_and_prepare()
    ds = builder.as_dataset()          # DatasetDict with train / validation / test, whichever exist

It yields exactly the rows ``scale-vqa build`` writes (same schema, same validation); use that command for a
Hub-ready folder of parquet shards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from builders.dataset.features import features
from builders.dataset.images import IMAGE_CHECKS
from builders.dataset.rows import RowMaker, load_release
from scale_vqa.item import Item


@dataclass
class ScaleVQAConfig(datasets.BuilderConfig):
    """`images`: folder the image paths are relative to (default: `data_dir`); `allow_missing_images`: a missing
    file becomes None instead of an error; `image_check`: ``fast`` / ``decode`` / ``none``."""

    images: str | None = None
    allow_missing_images: bool = False
    image_check: str = "fast"


class ScaleVQA(datasets.GeneratorBasedBuilder):
    """Scale-VQA MCQs with their 1×/4×/20× image triplets, from the released JSON splits and image folders."""

    BUILDER_CONFIG_CLASS = ScaleVQAConfig
    VERSION = datasets.Version("1.0.0")
    BUILDER_CONFIGS = [ScaleVQAConfig(name="default", version=VERSION,  # noqa: RUF012
                                      description="Scale-VQA MCQs with image triplets")]
    DEFAULT_CONFIG_NAME = "default"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("dataset_name", "scale_vqa")
        super().__init__(*args, **kwargs)

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(description=self.__doc__ or "", features=features(),
                                    homepage="https://github.com/scale-vqa/scale-vqa")

    def _split_generators(self, dl_manager: Any) -> list[datasets.SplitGenerator]:
        config: ScaleVQAConfig = self.config  # type: ignore[assignment]
        if not config.data_dir:
            raise ValueError("ScaleVQA needs data_dir: the folder holding train.json / val.json / test.json")
        if config.image_check not in IMAGE_CHECKS:
            raise ValueError(f"image_check must be one of {', '.join(IMAGE_CHECKS)}, not {config.image_check!r}")
        release = load_release(config.data_dir, config.images, allow_missing_images=config.allow_missing_images)
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={"items": release.items[split], "file": str(file),
                                                            "root": str(release.image_root)})
            for split, file in release.files.items()
        ]

    def _generate_examples(self, items: list[Item], file: str, root: str) -> Iterator[tuple[str, dict[str, Any]]]:
        config: ScaleVQAConfig = self.config  # type: ignore[assignment]
        maker = RowMaker(Path(root), check=config.image_check,  # type: ignore[arg-type]
                         allow_missing_images=config.allow_missing_images)
        for item in items:
            row = maker.row(item, file)
            if not maker.problems:
                yield item.id, row
        maker.raise_errors(f"images of {file}")
