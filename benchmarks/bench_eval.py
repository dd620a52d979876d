"""Evaluator benchmarks, each against a baseline measured in the same run.

    python benchmarks/bench_eval.py [--items 1005] [--side 1024] [--tasks scale_vqa] [--only startup|memory]

A synthetic test split (`--items` MCQs, 5 per region as in the release, three `--side`² JPEGs per region) is
evaluated by a model that decodes every image it is sent and answers at once, so the numbers are the
harness's own cost. Each measurement runs in a fresh Python process.

1. Start-up to the first request: ``scale-vqa eval``'s runner (our task folder only) vs the stock lm-eval path
   (``TaskManager`` indexing lm-eval's built-in tasks plus ours, as ``lm_eval --include_path`` does).
   Target ≤ 2 s (stock ≈ 17 s).
2. Peak memory (max RSS) for the whole split: the runner (images decoded when their request is served,
   released after each chunk) vs eager decoding (every image decoded when requests are built and held to the
   end, as a task returning decoded images does). Target ≤ 2 GB for 1005 items.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
T0 = time.perf_counter()
sys.path.insert(0, {repo!r})
mode, release, out, tasks = {mode!r}, {release!r}, {out!r}, {tasks!r}
from lm_eval.api.model import LM

class DecodingLM(LM):
    '''Decodes each image it is sent (as a real backend must), answers at once.'''
    first = None
    tokenizer_name = "bench"
    MULTIMODAL = True
    def chat_template(self, chat_template=False): return ""
    def apply_chat_template(self, chat_history, add_generation_prompt=True): return json.dumps(chat_history)
    def loglikelihood(self, requests): raise NotImplementedError
    def loglikelihood_rolling(self, requests): raise NotImplementedError
    def generate_until(self, requests, disable_tqdm=False):
        if DecodingLM.first is None:
            DecodingLM.first = time.perf_counter()
        out = []
        for req in requests:
            for img in (req.args[2]["visual"] if len(req.args) > 2 else []):
                img.convert("RGB").load()
            out.append("<think>t</think> <answer>B")
        return out

from evaluator import docs, runner
if mode == "eager":   # decode every image when requests are built, keep it to the end
    lazy = docs.open_image
    def eager(data, ref="", max_side=docs.MAX_SIDE):
        img = lazy(data, ref, max_side).convert("RGB"); img.load(); return img
    docs.open_image = eager
    runner._serve_in_chunks = lambda lm, chunk=0: None
if mode == "stock":   # what `lm_eval --include_path` does: index lm-eval's built-in tasks too
    from lm_eval.tasks import TaskManager
    import lm_eval
    lm = DecodingLM()
    manager = TaskManager(include_path=str(runner.TASK_DIR), metadata={{"scale_vqa_source": release,
                                                                          "scale_vqa_split": "test"}})
    lm_eval.simple_evaluate(model=lm, tasks=tasks.split(","), task_manager=manager, apply_chat_template=True,
                            limit=5)
else:
    lm = DecodingLM()
    backend = "openai" if mode == "startup-api" else "bench"  # an API client: no torch import at all
    runner.run_eval(backend, None, source=release, split="test", tasks=tasks, out=out, lm=lm,
                    limit=5 if mode.startswith("startup") else None)
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT " + json.dumps({{"to_first_request_s": DecodingLM.first - T0, "peak_rss_mb": rss_mb,
                              "total_s": time.perf_counter() - T0}}))
"""


def make_release(root: Path, n_items: int, side: int) -> Path:
    """`n_items` MCQs in ``root/test.json``, 5 per region, each region with three `side`² JPEG images."""
    from PIL import Image

    sys.path.insert(0, str(REPO))
    from scale_vqa.dimensions import DIMENSIONS
    from scale_vqa.item import ImageRefs, Item
    from scale_vqa.release import write_release

    rng = random.Random(0)
    items = []
    n_regions = (n_items + 4) // 5
    for r in range(n_regions):
        refs = {}
        for scale in ("low_mag", "mid_mag", "high_mag"):
            rel = f"slide{r % 20}/r{r}_{scale}.jpg"
            path = root / "images" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            # smooth noise: compresses like tissue (≈100–200 KB at 1024²), not like a flat colour
            small = Image.frombytes("RGB", (side // 16, side // 16), rng.randbytes(3 * (side // 16) ** 2))
            small.resize((side, side), Image.BILINEAR).save(path, "JPEG", quality=90)
            refs[scale] = rel
        for d in range(5):
            n = r * 5 + d
            if n >= n_items:
                break
            items.append(Item(id=f"test-{n + 1:05d}", question=f"Question {n}?", options=tuple(
                f"option {k} of {n}" for k in "ABCD"), answer="ABCD"[n % 4], dimension=DIMENSIONS[d],
                images=ImageRefs(**refs), wsi_name=f"slide{r % 20}", path_id=f"r{r}", split="test"))
    write_release(items, root / "test.json")
    return root / "test.json"


def child(mode: str, release: Path, out: Path, tasks: str) -> dict:
    code = CHILD.format(repo=str(REPO), mode=mode, release=str(release), out=str(out), tasks=tasks)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{mode} run failed:\n{proc.stderr[-3000:]}")


def import_floor() -> float:
    """Seconds a fresh process needs to import lm-eval's evaluator and torch (what every lm-eval run pays)."""
    code = ("import time; t = time.perf_counter(); import lm_eval.evaluator, lm_eval.tasks, torch; "
            "print(time.perf_counter() - t)")
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=1005)
    ap.add_argument("--side", type=int, default=1024, help="image side in pixels (default 1024)")
    ap.add_argument("--tasks", default="scale_vqa")
    ap.add_argument("--repeat", type=int, default=3, help="start-up runs per variant; the fastest counts")
    ap.add_argument("--only", choices=("startup", "memory"), help="run one of the two measurements")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        release = make_release(Path(tmp) / "release", args.items, args.side)
        print(f"synthetic split: {args.items} items, {3 * ((args.items + 4) // 5)} JPEGs of {args.side}² "
              f"({time.perf_counter() - t:.0f} s to make)")
        def fastest(mode: str) -> dict:  # start-up is noisy on a shared box: best of --repeat fresh processes
            runs = [child(mode, release, Path(tmp) / f"run-{mode}-{k}", args.tasks) for k in range(args.repeat)]
            return min(runs, key=lambda r: r["to_first_request_s"])

        if args.only != "memory":
            ours, api, stock = fastest("startup"), fastest("startup-api"), fastest("stock")
            floor = min(import_floor() for _ in range(args.repeat))
            t_ours, t_stock = ours["to_first_request_s"], stock["to_first_request_s"]
            print(f"\n1. start-up to first request (best of {args.repeat}): runner {t_ours:.2f} s "
                  f"(API backend, no torch: {api['to_first_request_s']:.2f} s), stock lm-eval index "
                  f"{t_stock:.2f} s → {t_stock / t_ours:.1f}× faster (target ≤ 2 s); importing lm-eval + torch "
                  f"alone takes {floor:.2f} s here", flush=True)
        if args.only != "startup":
            lazy = child("lazy", release, Path(tmp) / "run-lazy", args.tasks)
            print(f"2. runner, {args.items} items: peak {lazy['peak_rss_mb']:.0f} MB, {lazy['total_s']:.0f} s "
                  "(now the eager baseline: it also PNG-encodes every logged image to hash it, which takes minutes)",
                  flush=True)
            eager = child("eager", release, Path(tmp) / "run-eager", args.tasks)
            print(f"   peak memory, {args.items} items: runner {lazy['peak_rss_mb']:.0f} MB ({lazy['total_s']:.0f} s), "
                  f"eager decoding {eager['peak_rss_mb']:.0f} MB ({eager['total_s']:.0f} s) → "
                  f"{eager['peak_rss_mb'] / lazy['peak_rss_mb']:.1f}× less (target ≤ 2048 MB)")

if __name__ == "__main__":
    main()
