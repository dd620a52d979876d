"""GPU throughput of the evaluator backends on a *randomly initialised* Qwen2.5-VL-7B (built offline from its
architecture; CUDA machines here have no Hub access), 3 images per item at the release resolution.

    python benchmarks/bench_eval_gpu.py --items 64 --batch-sizes 1,4,8,16 --max-gen-toks 300 [--vllm]
    python benchmarks/bench_eval_gpu.py --tiny --items 4 --batch-sizes 1,2 --device cpu   # CPU smoke test

A random model never emits ``</answer>``, so every request generates exactly ``--max-gen-toks`` tokens (the
seed's answers are ≈300 tokens). For each batch size it runs ``scale-vqa eval``'s hf-multimodal path and reports
items/s, generated tokens/s and peak GPU memory; with ``--vllm`` (vLLM installed) it runs ``vllm-vlm`` on the
same model and prints the ratio to the best hf-multimodal batch size, and the projected time for the
1005-item test split.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]


def run_backend(backend: str, model: Path, release: Path, out: Path, *, batch: int | str, max_gen_toks: int,
                device: str, items: int) -> dict:
    import torch

    from evaluator.runner import run_eval

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    args = {"pretrained": str(model)}
    if backend == "vllm":
        args.update({"gpu_memory_utilization": 0.85, "max_model_len": 16384})
    result = run_eval(backend, args, source=str(release), split="test", tasks="scale_vqa", out=out,
                      batch_size=batch, device=device if backend == "hf" else None, max_gen_toks=max_gen_toks,
                      limit=None)
    wall = time.perf_counter() - t - result.timings["model_load_s"]
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else float("nan")
    n = sum(len(r.results) for r in result.reports.values())
    return {"backend": backend, "batch": batch, "items": n, "s": wall, "items_per_s": n / wall,
            "tokens_per_s": n * max_gen_toks / wall, "peak_gib": peak}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=64)
    ap.add_argument("--batch-sizes", default="1,4,8,16")
    ap.add_argument("--max-gen-toks", type=int, default=300)
    ap.add_argument("--side", type=int, default=1024, help="image side (release ROIs; default 1024)")
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--tiny", action="store_true", help="the tiny model instead of the 7B architecture")
    ap.add_argument("--vllm", action="store_true", help="also run vllm-vlm (needs vllm installed)")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()
    from bench_eval import make_release
    from bench_grpo import build_model  # the same random real-architecture Qwen2.5-VL as the GRPO benchmark

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        release = make_release(tmp_path / "release", args.items, args.side)
        t = time.perf_counter()
        device = "cuda" if args.device.startswith("cuda") else "cpu"
        model = build_model(tmp_path / "model", "tiny" if args.tiny else "7b", device)
        print(f"model built in {time.perf_counter() - t:.0f} s ({'tiny' if args.tiny else 'Qwen2.5-VL-7B random'})")
        for b in (int(x) for x in args.batch_sizes.split(",")):
            try:
                rows.append(run_backend("hf", model, release, tmp_path / f"hf-{b}", batch=b,
                                        max_gen_toks=args.max_gen_toks, device=args.device, items=args.items))
            except RuntimeError as exc:  # CUDA OOM: the largest batch that fits is the one before
                print(f"hf-multimodal batch {b}: {str(exc).splitlines()[0]}")
                break
            print(json.dumps(rows[-1]))
        if args.vllm:
            rows.append(run_backend("vllm", model, release, tmp_path / "vllm", batch="auto",
                                    max_gen_toks=args.max_gen_toks, device=args.device, items=args.items))
            print(json.dumps(rows[-1]))
    hf = [r for r in rows if r["backend"] == "hf"]
    if hf:
        best = max(hf, key=lambda r: r["items_per_s"])
        print(f"\nhf-multimodal best: batch {best['batch']}, {best['items_per_s']:.2f} items/s, peak "
              f"{best['peak_gib']:.1f} GiB → 1005 items in {1005 / best['items_per_s'] / 60:.1f} min")
        for r in rows:
            if r["backend"] == "vllm":
                print(f"vllm-vlm: {r['items_per_s']:.2f} items/s = {r['items_per_s'] / best['items_per_s']:.1f}× "
                      f"hf-multimodal (target ≥ 10×) → 1005 items in {1005 / r['items_per_s'] / 60:.1f} min")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
