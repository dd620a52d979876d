"""Dataset benchmarks, each printed as a ratio against a baseline measured in the same run.

    python benchmarks/bench_dataset.py [--items 1000] [--small 250] [--skip-build] [--skip-extract]

Needs the ``test`` extra (data + wsi + scikit-image + imagecodecs).

1. Build: N items × 3 unique JPEG images (512 px, H&E-like texture) → parquet with the bytes embedded. Ours
   (``builders.dataset.export.build_dataset``: streamed row groups, every image checked) against two naive
   ``datasets`` recipes that produce the same embedded parquet: (a) read every image into a list, then
   ``Dataset.from_list(rows).to_parquet()``; (b) ``Dataset.from_list`` of paths, then
   ``map(embed_table_storage)`` and ``to_parquet()`` (plain ``to_parquet`` would store paths, not images). Each
   run is a fresh process; reported: items/s of the build call and the process's peak RSS, at N and at a smaller
   N (flat memory means peak RSS barely moves with N).
2. Extraction (``benchmarks/bench_extract.py``): triplets/s from four 40× synthetic Aperio slides (one
   49152 × 36864 px file, levels 1/4/16/64, linked under four names so each gets its own regions; 512 px outputs;
   planning, reads, resizing and JPEG encodes included) with ``--backend openslide`` and ``--backend tiffslide``
   at 1 and 2 workers, their ratio, and whether the two backends wrote identical pixels.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {repo!r})
mode, release, out, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
import datasets, pyarrow, PIL.Image  # imports are not timed
from builders.dataset.features import features
datasets.disable_progress_bars()
base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
if mode == "ours":
    from builders.dataset.export import build_dataset
    build_dataset(release, out, progress=False)
else:
    from scale_vqa.release import load_items
    items = load_items(release + "/val.json")
    def row(item, embed):
        r = {{"id": item.id, "question": item.question, "options": list(item.options),
             "answer": "ABCDEFGHIJ".index(item.answer), "rationale": item.rationale, "dimension": 0,
             "wsi_name": item.wsi_name, "path_id": item.path_id}}
        for scale, rel in item.images:
            path = release + "/" + rel
            r[scale.value] = {{"bytes": open(path, "rb").read(), "path": None}} if embed else path
            r[scale.value + "_path"] = rel
        return r
    if mode == "naive_bytes":
        ds = datasets.Dataset.from_list([row(i, True) for i in items], features=features())
        ds.to_parquet(out + ".parquet")
    else:
        from datasets.table import embed_table_storage
        ds = datasets.Dataset.from_list([row(i, False) for i in items], features=features())
        ds = ds.with_format("arrow").map(embed_table_storage, batched=True, batch_size=100)
        ds.with_format(None).to_parquet(out + ".parquet")
elapsed = time.perf_counter() - t0
print(json.dumps({{"seconds": elapsed, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "import_rss_mb": base_rss / 1024}}))
"""


def make_release(root: Path, n: int, seed: int = 0) -> int:
    """`n` items, each with its own 3 JPEGs (512 px crops of the H&E texture). Returns the image bytes total."""
    import numpy as np
    from PIL import Image

    from scale_vqa.dimensions import DIMENSIONS
    from scale_vqa.item import ImageRefs, Item
    from scale_vqa.release import write_release
    from tests.helpers.synthetic_slide import he_texture

    tex = he_texture()
    rng = np.random.default_rng(seed)
    items, total = [], 0
    for k in range(n):
        refs = {}
        for scale in ("low_mag", "mid_mag", "high_mag"):
            y, x = rng.integers(0, tex.shape[0] - 512, 2)
            buf = io.BytesIO()
            Image.fromarray(tex[y:y + 512, x:x + 512]).save(buf, format="JPEG", quality=90)
            rel = f"S{k % 17:02d}/rois/item{k:05d}_{scale}.jpg"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(buf.getvalue())
            total += len(buf.getvalue())
            refs[scale] = rel
        items.append(Item(id=f"val-{k + 1:05d}", question=f"Question {k}?", options=("a", "b", "c", "d"),
                          answer="ABCD"[k % 4], dimension=DIMENSIONS[k % 5], rationale="r",
                          images=ImageRefs(**refs), wsi_name=f"S{k % 17:02d}", path_id=f"p{k}",
                          split="validation", number=k + 1))
    write_release(items, root / "val.json")
    return total


def run_child(mode: str, release: Path, out: Path, n: int) -> dict[str, float]:
    res = subprocess.run([sys.executable, "-c", CHILD.format(repo=str(REPO)), mode, str(release), str(out), str(n)],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "HF_DATASETS_CACHE": str(out.parent / "hf-cache")})
    return json.loads(res.stdout.strip().splitlines()[-1])


def bench_build(n_big: int, n_small: int) -> None:
    print(f"== build: items × 3 unique 512 px JPEGs → embedded parquet (fresh process per run; cpu count "
          f"{os.cpu_count()}, shared)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (n_small, n_big):
            release = Path(tmp) / f"rel{n}"
            mb = make_release(release, n) / 2**20
            for mode in ("ours", "naive_bytes", "naive_embed"):
                out = Path(tmp) / f"{mode}{n}"
                r = run_child(mode, release, out, n)
                rows.append((n, mode, n / r["seconds"], r["peak_rss_mb"], r["import_rss_mb"], mb))
    print(f"{'items':>6} {'recipe':<12} {'items/s':>9} {'peak RSS MB':>12} {'(after imports)':>16} {'images MB':>10}")
    for n, mode, ips, rss, base, mb in rows:
        print(f"{n:>6} {mode:<12} {ips:>9.1f} {rss:>12.0f} {base:>16.0f} {mb:>10.0f}")
    by = {(n, m): (ips, rss) for n, m, ips, rss, _, _ in rows}
    for n in (n_small, n_big):
        ours = by[(n, "ours")]
        for base in ("naive_bytes", "naive_embed"):
            other = by[(n, base)]
            print(f"  {n} items: ours vs {base}: {ours[0] / other[0]:.2f}× items/s, "
                  f"{ours[1] / other[1]:.2f}× peak RSS")
    for mode in ("ours", "naive_bytes", "naive_embed"):
        grow = by[(n_big, mode)][1] - by[(n_small, mode)][1]
        print(f"  peak RSS growth {n_small} → {n_big} items, {mode}: {grow:+.0f} MB")


def bench_extract(n_regions: int, repeat: int) -> None:
    """Extraction: both slide backends on the same slides, 1 and 2 workers (``bench_extract.py``)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_extract import run

    print()
    run(n_regions, repeat, 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--small", type=int, default=250)
    ap.add_argument("--regions", type=int, default=12, help="regions per slide (default 12)")
    ap.add_argument("--repeat", type=int, default=2, help="extraction runs per configuration (best is kept)")
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--skip-extract", action="store_true")
    args = ap.parse_args()
    if not args.skip_build:
        bench_build(args.items, args.small)
    if not args.skip_extract:
        bench_extract(args.regions, args.repeat)


if __name__ == "__main__":
    main()
