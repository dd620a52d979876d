"""``scale-vqa extract``: whole-slide images → nested ROI triplets at 1×, 4× and 20× + a pre-MCQ manifest.

Output folder::

    DIR/<slide>/rois/<slide>_r01_1x.jpg, …_r01_4x.jpg, …_r01_20x.jpg    one triplet per region
    DIR/manifest.json        release-format records without the MCQ fields (see below)
    DIR/extract_report.json  per slide: status, backend, format, base magnification and its source, level table,
                             regions, or why it was skipped

``manifest.json`` is a JSON array with one record per region: ``image_path`` (``low_mag``/``mid_mag``/``high_mag``,
relative to DIR) and ``extra_info`` (``wsi_name``, ``path_id``, and ``roi``: centre, windows, levels, tissue
fraction). It is a *pre-MCQ* manifest: the MCQ step adds ``question``, ``options``, ``answer``, ``rationale`` and
``extra_info.question_type`` to copies of a record (five per region, one per dimension), which makes it a release
that ``scale-vqa validate FILE --images DIR`` and ``scale-vqa build`` accept.

Slides are planned (thumbnail, tissue mask, regions) and read in worker processes through one
:class:`~builders.wsi.slide.Slide` interface (``--backend``: OpenSlide or tiffslide, see :mod:`builders.wsi.slide`);
each worker keeps its slides open, with their tile caches, across the regions it reads. A slide that cannot be
opened or read is reported and skipped, and the others' output is kept. DIR is written atomically.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import shutil
import uuid
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from builders.errors import replace_guard
from builders.wsi.slide import Slide, SlideError, base_magnification, open_slide, read_view, thumbnail, window_size
from builders.wsi.tissue import Region, choose_regions, slide_seed, tissue_mask
from scale_vqa.atomic import atomic_dir
from scale_vqa.dimensions import SCALES
from scale_vqa.errors import BadInputError, MissingExtraError

MANIFEST = "manifest.json"
REPORT = "extract_report.json"
MARKER = ".scale-vqa-extract"
CHUNK = 4
"""Regions per worker task."""
PRELOAD = ["builders.wsi.extract", "numpy", "PIL.Image", "tifffile", "tiffslide", "imagecodecs", "openslide"]
"""Modules the workers' fork server imports before forking them."""


@dataclass(frozen=True)
class ExtractConfig:
    size: int = 512
    regions: int = 8
    base_mag: float | None = None
    seed: int = 0
    image_format: str = "jpg"
    quality: int = 90
    min_tissue: float = 0.5
    backend: str = "auto"
    """``auto``, ``openslide`` or ``tiffslide`` (see :func:`builders.wsi.slide.open_slide`)."""
    mags: tuple[float, float, float] = (1.0, 4.0, 20.0)
    """Magnifications of the low, mid and high views."""


@dataclass
class SlidePlan:
    path: str
    name: str
    status: str = "ok"
    error: str | None = None
    backend: str | None = None
    vendor: str | None = None
    base_mag: float | None = None
    mag_source: str | None = None
    dimensions: tuple[int, int] | None = None
    level_downsamples: list[float] = field(default_factory=list)
    windows: tuple[int, int, int] | None = None
    regions: list[Region] = field(default_factory=list)
    tissue_fraction: float | None = None


def plan_slide(path: str, name: str, config: ExtractConfig) -> SlidePlan:
    """Open the slide, find its tissue and choose its regions; a problem becomes status ``skipped``."""
    plan = SlidePlan(path, name)
    try:
        slide = _slide(path, config.backend)
        plan.backend, plan.vendor = slide.backend, slide.vendor
        try:
            plan.base_mag, plan.mag_source = base_magnification(slide, config.base_mag)
            if plan.base_mag < max(config.mags):
                raise SlideError(f"base magnification {plan.base_mag:g}× is below the {max(config.mags):g}× view")
            plan.dimensions = tuple(slide.dimensions)  # type: ignore[assignment]
            plan.level_downsamples = [float(d) for d in slide.level_downsamples]
            plan.windows = tuple(window_size(plan.base_mag, m, config.size) for m in config.mags)  # type: ignore
            mask = tissue_mask(thumbnail(slide))
            plan.tissue_fraction = round(float(mask.mean()), 4)
            plan.regions = choose_regions(mask, plan.dimensions, plan.windows, config.regions,  # type: ignore
                                          seed=slide_seed(config.seed, name), min_tissue=config.min_tissue)
            if not plan.regions:
                raise SlideError(f"no region with at least {config.min_tissue:.0%} tissue "
                                 f"(tissue covers {plan.tissue_fraction:.1%} of the thumbnail)")
        except BaseException:
            _forget(path, config.backend)
            raise
    except MissingExtraError:
        raise
    except (SlideError, ValueError) as exc:
        plan.status, plan.error = "skipped", str(exc)
    except Exception as exc:  # a corrupt file can fail anywhere inside OpenSlide or Pillow
        plan.status, plan.error = "skipped", f"{type(exc).__name__}: {exc}"
    return plan


_OPEN: dict[tuple[str, str], Slide] = {}
KEEP_OPEN = 4
"""Slides a worker keeps open (with their tile caches) at once."""


def _slide(path: str, backend: str) -> Slide:
    """An open slide, kept open (with its tile cache) across the tasks of one worker process."""
    key = (path, backend)
    if key in _OPEN:
        _OPEN[key] = _OPEN.pop(key)  # most recently used last
    else:
        while len(_OPEN) >= KEEP_OPEN:
            _OPEN.pop(next(iter(_OPEN))).close()
        _OPEN[key] = open_slide(path, backend)
    return _OPEN[key]


def _forget(path: str, backend: str) -> None:
    """Close a slide that failed (a reader may be left in an error state)."""
    slide = _OPEN.pop((path, backend), None)
    if slide is not None:
        with contextlib.suppress(Exception):  # closing a broken reader may fail too; the slide is reported already
            slide.close()


def close_slides() -> None:
    """Close the slides this process keeps open (after an in-process run)."""
    while _OPEN:
        _OPEN.pop(next(iter(_OPEN))).close()


def _mag_label(mag: float) -> str:
    return f"{mag:g}x"


def region_files(name: str, index: int, config: ExtractConfig) -> dict[str, str]:
    """Relative image paths of region `index` (1-based) of slide `name`, per scale."""
    ext = "png" if config.image_format == "png" else "jpg"
    return {s.value: f"{name}/rois/{name}_r{index:02d}_{_mag_label(m)}.{ext}"
            for s, m in zip(SCALES, config.mags, strict=True)}


def extract_regions(path: str, name: str, base_mag: float, regions: list[tuple[int, Region]], out: str,
                    config: ExtractConfig) -> list[dict[str, Any]]:
    """Read and write the triplets of `regions` ((1-based index, region)); returns their manifest records."""
    try:
        return _extract_regions(_slide(path, config.backend), name, base_mag, regions, out, config)
    except BaseException:
        _forget(path, config.backend)
        raise


def _extract_regions(slide: Slide, name: str, base_mag: float, regions: list[tuple[int, Region]], out: str,
                     config: ExtractConfig) -> list[dict[str, Any]]:
    records = []
    for index, region in regions:
        files = region_files(name, index, config)
        windows: dict[str, Any] = {}
        for scale, mag in zip(SCALES, config.mags, strict=True):
            size = window_size(base_mag, mag, config.size)
            x, y = region.cx - size // 2, region.cy - size // 2
            image, read = read_view(slide, x, y, size, config.size)
            target = Path(out) / files[scale.value]
            target.parent.mkdir(parents=True, exist_ok=True)
            if config.image_format == "png":
                image.save(target, format="PNG")
            else:
                image.save(target, format="JPEG", quality=config.quality)
            windows[scale.value] = {"magnification": mag, "x": read.x, "y": read.y, "size": size,
                                    "level": read.level, "level_downsample": read.downsample}
        path_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"scale-vqa:{name}:{region.cx}:{region.cy}:{config.size}"))
        records.append({
            "image_path": files,
            "extra_info": {"wsi_name": name, "path_id": path_id,
                           "roi": {"center": [region.cx, region.cy], "tissue": region.tissue,
                                   "output_size": config.size, "windows": windows}},
        })
    return records


@dataclass
class ExtractSummary:
    out: Path
    slides: list[SlidePlan]
    records: list[dict[str, Any]]

    @property
    def skipped(self) -> list[SlidePlan]:
        return [s for s in self.slides if s.status != "ok"]


class _Deferred:
    """A call run when its result is asked for (the in-process stand-in for a Future)."""

    def __init__(self, fn: Any, args: tuple[Any, ...]) -> None:
        self.fn, self.args = fn, args

    def result(self) -> Any:
        return self.fn(*self.args)


class _InProcess(Executor):
    """Runs each task in this process when its result is read (workers=1: no start-up cost, same code path)."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        return _Deferred(fn, args)


def _executor(workers: int) -> Executor:
    if workers <= 1:
        return _InProcess()
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" not in methods:
        return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)  # imported once in the server, not once per worker (a missing one is
    # skipped; no effect when this process started its fork server earlier)
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)


class NoSlideError(BadInputError, RuntimeError):
    """No slide of the input could be extracted (exit 1)."""


def slide_names(paths: Sequence[str | Path]) -> list[str]:
    """A folder-safe, unique name per slide: the file stem (``-2``, ``-3`` … appended to repeats)."""
    names: list[str] = []
    for path in paths:
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(path).stem) or "slide"
        name, k = stem, 2
        while name in names:
            name, k = f"{stem}-{k}", k + 1
        names.append(name)
    return names


def extract(slides: Sequence[str | Path], out: str | Path, config: ExtractConfig | None = None, *,
            workers: int = 1, overwrite: bool = False, progress: bool = True) -> ExtractSummary:
    """Extract ROI triplets from `slides` into `out` (see the module docstring). Raises
    :class:`~builders.errors.OutputExistsError` (a FileExistsError) when `out` exists (and `overwrite` is off or
    another tool made it) and :class:`NoSlideError` (a RuntimeError) when no slide worked."""
    from tqdm.auto import tqdm

    config = config or ExtractConfig()
    out = Path(out)
    guard = replace_guard(overwrite=overwrite, ours=lambda folder: (folder / MARKER).exists(), command="extract")
    guard(out)
    try:
        with atomic_dir(out, may_replace=guard) as tmp:
            names = slide_names(slides)
            with _executor(workers) as pool:
                plans = [f.result() for f in [pool.submit(plan_slide, str(p), n, config) for p, n in zip(
                    slides, names, strict=True)]]
                records = _read_all(pool, plans, tmp, config, progress, tqdm)
            ok = [p for p in plans if p.status == "ok"]
            if not ok:
                reasons = "\n  ".join(p.error if p.error and p.error.startswith(str(p.path)) else f"{p.path}: {p.error}"
                                       for p in plans)
                raise NoSlideError(f"no slide could be extracted:\n  {reasons}")
            (tmp / MANIFEST).write_text(json.dumps(records, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            report = {"config": asdict(config), "slides": [_plan_dict(p) for p in plans]}
            (tmp / REPORT).write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            (tmp / MARKER).write_text("made by `scale-vqa extract`\n", encoding="utf-8")
    finally:
        if workers <= 1:
            close_slides()
    return ExtractSummary(out, plans, records)


def _read_all(pool: Executor, plans: list[SlidePlan], tmp: Path, config: ExtractConfig, progress: bool,
              tqdm: Any) -> list[dict[str, Any]]:
    """Submit every slide's regions in chunks; a slide whose read fails is marked skipped and its files removed."""
    tasks: list[tuple[SlidePlan, int, Any]] = []
    for plan in plans:
        if plan.status != "ok":
            continue
        indexed = list(enumerate(plan.regions, 1))
        for start in range(0, len(indexed), CHUNK):
            chunk = indexed[start:start + CHUNK]
            tasks.append((plan, len(chunk), pool.submit(extract_regions, plan.path, plan.name, plan.base_mag,
                                                        chunk, str(tmp), config)))
    by_slide: dict[str, list[dict[str, Any]]] = {}
    with tqdm(total=sum(n for _, n, _ in tasks), desc="extract", unit="triplet", disable=not progress) as bar:
        for plan, n, future in tasks:
            try:
                by_slide.setdefault(plan.name, []).extend(future.result())
            except Exception as exc:
                if plan.status == "ok":
                    plan.status, plan.error = "skipped", f"read failed: {type(exc).__name__}: {exc}"
            bar.update(n)
    records = []
    for plan in plans:
        if plan.status == "ok":
            records.extend(by_slide.get(plan.name, []))
        else:
            shutil.rmtree(tmp / plan.name, ignore_errors=True)
    return records


def _plan_dict(plan: SlidePlan) -> dict[str, Any]:
    data = asdict(plan)
    data["regions"] = len(plan.regions) if plan.status == "ok" else 0
    return data
