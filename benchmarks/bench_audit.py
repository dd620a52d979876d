"""Leak-audit benchmark: the offline panel (heuristics + learned, grouped 5-fold CV fit + predict) over ~1000
items, against a baseline measured in the same run.

    python benchmarks/bench_audit.py [--val PATH] [--items 1000]

Target (issue 4): the panel over ~1000 items in ≤ 30 s on 2 cores. Baseline: the simplest learned adversary a
user would write themselves — one TF-IDF + logistic regression pipeline, fit and predicted with the same folds.
The items are the real validation split, replicated with per-copy wording changes (so no similarity is reused
from a cache) up to the requested size.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from baselines.text_only.panel import grouped_folds  # noqa: E402
from baselines.text_only.registry import resolve  # noqa: E402
from builders.audit.engine import run_audit  # noqa: E402
from scale_vqa.item import Item  # noqa: E402
from scale_vqa.release import load_items  # noqa: E402

FILLER = ("noted", "seen", "present", "observed", "evident", "shown", "found", "visible")


def replicate(items: list[Item], n: int) -> list[Item]:
    """`n` items: copies of `items` whose question and options gain a copy-specific word. Copies keep their
    slide, so grouped CV never puts an item and its copy on both sides (accuracies stay honest)."""
    out = []
    copy = 0
    while len(out) < n:
        for it in items:
            if len(out) == n:
                break
            w = f"{FILLER[copy % len(FILLER)]}{copy}"
            out.append(it.with_(id=f"{it.id}-c{copy}", question=f"{it.question} ({w})",
                                options=tuple(f"{o} {w}" if i % 2 == copy % 2 else f"{w} {o}"
                                              for i, o in enumerate(it.options))))
        copy += 1
    return out


def clear_caches() -> None:
    """Forget cached similarities and features, so each timed run starts cold."""
    from baselines import features, text

    for fn in (text.similarity_matrix, text._pair_similarity, text.edit_degree, text.words,
               features._label_free_quantities):
        fn.cache_clear()


def baseline(items: list[Item]) -> float:
    """One TF-IDF + logistic-regression option scorer, fit and predicted on the same grouped folds."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    t0 = time.perf_counter()
    for test in grouped_folds(items, 5, 0):
        held = set(test)
        train = [it for i, it in enumerate(items) if i not in held]
        texts = [f"{it.question} || {o}" for it in train for o in it.options]
        y = [letter == it.answer for it in train for letter in it.letters]
        vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2).fit(texts)
        model = LogisticRegression(max_iter=2000).fit(vec.transform(texts), y)
        for i in test:
            it = items[i]
            scores = model.decision_function(vec.transform([f"{it.question} || {o}" for o in it.options]))
            _ = it.letters[int(np.argmax(scores))]
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--val", default=str(REPO.parent / "shared" / "data" / "scale_vqa" / "val.json"))
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    items = replicate(load_items(args.val), args.items)
    specs = resolve(["heuristics", "learned"])
    print(f"{len(items)} items, {len(specs)} adversaries ({', '.join(s.name for s in specs)}), "
          f"{os.cpu_count()} CPUs visible")
    base = baseline(items)
    clear_caches()
    t0 = time.perf_counter()
    serial = run_audit(items, specs, permutations=2000, shuffle_check=False, progress=False)
    one = time.perf_counter() - t0
    clear_caches()
    t0 = time.perf_counter()
    audit = run_audit(items, specs, permutations=2000, shuffle_check=False, progress=False, jobs=args.jobs)
    panel = time.perf_counter() - t0
    assert [a.letters for a in audit.adversaries] == [a.letters for a in serial.adversaries]
    clear_caches()
    t0 = time.perf_counter()
    full = run_audit(items, specs, permutations=2000, shuffle_check=True, progress=False, residual=True,
                     jobs=args.jobs)
    everything = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"baseline (one TF-IDF+LR adversary, 5-fold): {base:6.2f} s")
    print(f"panel fit + predict + flags, 1 process:      {one:6.2f} s  = {one / base:.1f}× baseline")
    print(f"panel fit + predict + flags, {args.jobs} processes:    {panel:6.2f} s  = {panel / base:.1f}× baseline; "
          f"target ≤ 30 s: {'met' if min(one, panel) <= 30 else 'MISSED'}")
    print(f"  + shuffle check + hard-subset residuals:   {everything:6.2f} s  = {everything / base:.1f}× baseline")
    print(f"peak RSS {rss:.0f} MB; best adversary {audit.best.name} {100 * audit.best.stats['all'].accuracy:.1f} %; "
          f"flagged {full.calibration.flagged}")
    slow = sorted(audit.adversaries, key=lambda a: -a.seconds)[:5]
    print("slowest adversaries: " + ", ".join(f"{a.name} {a.seconds:.1f}s" for a in slow))


if __name__ == "__main__":
    main()
