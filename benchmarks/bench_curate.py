"""Curate benchmark: ``scale-vqa curate``'s construction plus its verification over ~1005 items, against one
plain pass of the audit's offline panel measured in the same run.

    python benchmarks/bench_curate.py [--val PATH] [--items 1005] [--adversaries offline]

Target (issue 19): curate + verification ≤ 60 s on 2 cores. The items are the real validation split replicated
with per-copy wording (``bench_audit.replicate``), so no similarity is reused from a cache; each copy of a region
is its own region (``path_id`` + copy), on the original's slide. Prints the times,
the ratio to the plain panel pass, and the verification headline (best adversary, retention).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_audit import replicate  # noqa: E402
from scale_vqa.release import load_items  # noqa: E402


def clear_caches() -> None:
    """Forget cached similarities and features, so each timed run starts cold."""
    from baselines.text_only import features, text

    for module in (features, text):
        for value in vars(module).values():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--val", default=str(REPO.parent / "shared" / "data" / "scale_vqa" / "val.json"))
    ap.add_argument("--items", type=int, default=1005)
    ap.add_argument("--adversaries", default="offline")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not Path(args.val).is_file():
        print(f"skipped: no validation file at {args.val}")
        return 0
    from baselines.text_only.panel import run_panel
    from baselines.text_only.registry import resolve
    from builders.curate.engine import Settings, construct
    from builders.curate.verify import run_verification

    items = [it.with_(path_id=f"{it.path_id}-{it.id.rsplit('-', 1)[1]}") if it.path_id else it
             for it in replicate(load_items(args.val), args.items)]  # each copy of a region is a region
    print(f"{len(items)} items, {os.cpu_count()} CPU(s), panel '{args.adversaries}'")
    clear_caches()
    t0 = time.perf_counter()
    run_panel(items, resolve(args.adversaries.split(",")), folds=5, seed=args.seed, shuffle_check=False,
              progress=False)
    t_panel = time.perf_counter() - t0
    clear_caches()
    t0 = time.perf_counter()
    c = construct(items, Settings(seed=args.seed), progress=False)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    v = run_verification(items, c.items, seed=args.seed, adversaries=args.adversaries.split(","), progress=False)
    t_verify = time.perf_counter() - t0
    total = t_build + t_verify
    print(f"plain panel pass:        {t_panel:7.1f} s")
    print(f"curate construction:     {t_build:7.1f} s")
    print(f"curate verification:     {t_verify:7.1f} s")
    print(f"curate + verification:   {total:7.1f} s  ({total / t_panel:.2f}× the plain panel pass; target ≤ 60 s)")
    print(f"kept {len(c.items)} of {len(items)}; best adversary {v.best.adversary} {v.best.accuracy:.1%}; "
          f"largest per-dimension {v.max_dim['observed']:.1%} (expected under chance {v.max_dim['expected']:.1%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
