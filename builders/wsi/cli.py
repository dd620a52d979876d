"""``scale-vqa extract SLIDES… --out DIR``: whole-slide images → ROI triplets + a pre-MCQ manifest (``wsi`` extra)."""

from __future__ import annotations

import argparse
import os
import sys

from builders.wsi.slide import BACKENDS
from scale_vqa.errors import UsageError, missing_modules, require_extra


def add_extract_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract", help="cut nested 1×/4×/20× ROI triplets out of whole-slide images",
                       description="For each slide: find tissue on a thumbnail, choose non-overlapping regions "
                                   "(reproducible with --seed) and write each region at 1×, 4× and 20× equivalent "
                                   "magnification, read from the best pyramid level with grid-aligned reads. "
                                   "Writes DIR/<slide>/rois/*, DIR/manifest.json (release-format records without "
                                   "the MCQ fields) and DIR/extract_report.json. A slide that cannot be read is "
                                   "reported and skipped. Needs the wsi extra (OpenSlide and tiffslide).")
    p.add_argument("slides", nargs="+", metavar="SLIDE", help="whole-slide images (.svs, tiled .tif, …)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--base-mag", type=float, metavar="X",
                   help="objective magnification of level 0 (default: slide metadata, objective power or MPP)")
    p.add_argument("--size", type=int, default=512, metavar="PX", help="output image side (default 512)")
    p.add_argument("--regions", type=int, default=8, metavar="N", help="regions per slide (default 8)")
    p.add_argument("--seed", type=int, default=0, help="random seed for the choice of regions (default 0)")
    p.add_argument("--min-tissue", type=float, default=0.5, metavar="F",
                   help="least tissue fraction of a region's 20× and 4× windows (default 0.5)")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="slide reader: tiffslide (TIFF-family slides, faster), openslide (every format OpenSlide "
                        "reads), or auto (default): tiffslide for Aperio SVS and generic tiled TIFF, OpenSlide for "
                        "the rest")
    p.add_argument("--format", choices=("jpg", "png"), default="jpg", help="image format (default jpg)")
    p.add_argument("--quality", type=int, default=90, help="JPEG quality (default 90)")
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), metavar="N",
                   help="worker processes (default: CPU count, at most 4)")
    p.add_argument("--overwrite", action="store_true", help="replace DIR if an earlier extract made it")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run_extract)


def run_extract(args: argparse.Namespace) -> int:
    readers = {"openslide": ("openslide",), "tiffslide": ("tiffslide", "imagecodecs"),
               "auto": ("openslide",) if missing_modules("tiffslide", "imagecodecs") else ()}[args.backend]
    require_extra("wsi", *readers, "numpy", "PIL", "tqdm", what=f"scale-vqa extract --backend {args.backend}")
    from builders.wsi.extract import MANIFEST, ExtractConfig, extract

    if args.size < 8 or args.regions < 1 or not 0 <= args.min_tissue <= 1 or not 1 <= args.quality <= 100:
        raise UsageError("need --size >= 8, --regions >= 1, 0 <= --min-tissue <= 1, 1 <= --quality <= 100")
    config = ExtractConfig(size=args.size, regions=args.regions, base_mag=args.base_mag, seed=args.seed,
                           image_format=args.format, quality=args.quality, min_tissue=args.min_tissue,
                           backend=args.backend)
    summary = extract(args.slides, args.out, config, workers=args.workers, overwrite=args.overwrite,
                      progress=not args.quiet)
    for plan in summary.slides:
        if plan.status == "ok":
            print(f"{plan.path}: {len(plan.regions)} triplet(s), base {plan.base_mag:g}× ({plan.mag_source}), "
                  f"read with {plan.backend}")
        else:
            reason = str(plan.error).removeprefix(f"{plan.path}: ")
            print(f"{plan.path}: skipped: {reason}", file=sys.stderr)
    print(f"wrote {len(summary.records)} triplet(s) to {summary.out}; manifest: {summary.out / MANIFEST}")
    return 0
